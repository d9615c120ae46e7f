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
# Two Jupyter Book builds share one execution cache: English (with the landing page) into
# _build/html, then Chinese (`language: zh_CN`, _config.zh.yml) copied to _build/html/zh.
ZH_CONFIG := _build/zh/_config.yml
book: setup
	rm -rf _build/html _build/zh/_build/html
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(PY) _ext/merge_config.py _config.yml _config.zh.yml $(ZH_CONFIG)
	$(BIN)/jupyter-book build . -W -n --keep-going --config $(ZH_CONFIG) --toc _toc.zh.yml --path-output _build/zh
	cp -r _build/zh/_build/html _build/html/zh

# Unit tests, the browser test against _build/html, and nbval over the launchable notebooks in
# a fresh venv where the package is installed as Colab installs it (tests/test_fresh_venvs.py).
test: setup
	$(BIN)/pytest tests -p no:cacheprovider

# Regenerate the launchable .ipynb beside every executable page (executes the English ones).
notebooks: setup
	$(PY) tools/notebooks.py

clean:
	rm -rf _build
