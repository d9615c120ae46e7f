# The two commands of the README: `make book` (set up + build) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup book test notebooks clean

$(VENV)/.installed: requirements.txt code/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# Build the site, executing every notebook on this machine; any warning fails the build.
book: setup
	rm -rf _build/html
	$(BIN)/jupyter-book build . -W -n --keep-going

# Unit tests, nbval over the launchable notebooks, and the browser test against _build/html.
test: setup
	$(BIN)/pytest tests book/en --nbval-lax -p no:cacheprovider

# Regenerate the launchable .ipynb beside every executable page (executes the English ones).
notebooks: setup
	$(PY) tools/notebooks.py

clean:
	rm -rf _build
