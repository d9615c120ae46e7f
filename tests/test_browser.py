"""The built site, in a real browser: language links, launch buttons, search, links and images.

Needs the site built first (`make book` or `jupyter-book build .`) and Debian's `chromium`.
Run alone with `pytest -m browser`; screenshots land in _build/screenshots/ for a person to look at.
"""

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on a free localhost port for the duration of the module."""
    if not (HTML / "book" / "en" / "unit1" / "index.html").exists():
        pytest.fail("the site is not built: run `jupyter-book build .` first")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        # The site must work offline: block every request that leaves localhost.
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if urlparse(route.request.url).hostname == "127.0.0.1"
                else route.abort()
            ),
        )
        page = context.new_page()
        yield page
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_language_link_goes_to_the_twin_and_back(site, page):
    page.goto(f"{site}/book/en/unit1/index.html")
    assert page.locator("h1").first.inner_text().startswith("Unit 1")
    shot(page, "en-overview")
    page.locator("a.language-switch").click()
    page.wait_for_load_state()
    assert page.url.endswith("/book/zh/unit1/index.html")
    assert "第一单元" in page.locator("h1").first.inner_text()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    shot(page, "zh-overview")
    page.locator("a.language-switch").click()
    page.wait_for_load_state()
    assert page.url.endswith("/book/en/unit1/index.html")


def test_sidebar_lists_only_the_pages_language(site, page):
    for lang, other in [("en", "zh"), ("zh", "en")]:
        page.goto(f"{site}/book/{lang}/unit1/00_first_steps.html")
        hrefs = page.locator("nav.bd-docs-nav a").evaluate_all("els => els.map(e => e.href)")
        assert len(hrefs) >= 3
        assert all(f"/book/{lang}/" in h for h in hrefs), hrefs
        assert not any(f"/book/{other}/" in h for h in hrefs)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_colab_button_opens_the_paired_notebook(site, page, lang):
    page.goto(f"{site}/book/{lang}/unit1/00_first_steps.html")
    shot(page, f"{lang}-first-steps")
    colab = page.locator("a[href*='colab.research.google.com']")
    href = colab.first.get_attribute("href")
    assert href.endswith(f"book/{lang}/unit1/00_first_steps.ipynb"), href
    binder = page.locator("a[href*='mybinder.org']").first.get_attribute("href")
    assert f"book/{lang}/unit1/00_first_steps.ipynb" in binder


@pytest.mark.parametrize(
    ("query", "expected"),
    [("噪声", "/book/zh/unit1/00_first_steps"), ("scheduler", "/book/en/unit1/00_first_steps")],
)
def test_search_finds_chinese_and_english_words(site, page, query, expected):
    page.goto(f"{site}/search.html?q={query}")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=20000)
    hrefs = results.evaluate_all("els => els.map(e => e.href)")
    assert any(expected in h for h in hrefs), hrefs
    shot(page, "search-zh" if "/zh/" in expected else "search-en")


def internal_pages() -> list[Path]:
    return sorted(HTML.joinpath("book").rglob("*.html"))


def test_no_broken_internal_links_or_images(site, page):
    broken = []
    for html in internal_pages():
        url = f"{site}/{html.relative_to(HTML).as_posix()}"
        page.goto(url)
        targets = page.evaluate(
            """() => [
              ...Array.from(document.querySelectorAll('a[href]'), a => a.href),
              ...Array.from(document.images, i => i.src),
            ]"""
        )
        for target in {urldefrag(t)[0] for t in targets}:
            if urlparse(target).hostname != "127.0.0.1":
                continue
            local = HTML / urlparse(target).path.lstrip("/")
            if local.is_dir():
                local = local / "index.html"
            if not local.exists():
                broken.append(f"{html.relative_to(HTML)} -> {target}")
        sizes = page.evaluate(
            "() => Array.from(document.images, i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        broken += [
            f"{html.relative_to(HTML)} image {src}"
            for src, ok in sizes
            if not ok and urlparse(src).hostname == "127.0.0.1"
        ]
    assert not broken, "\n".join(broken)
    assert len(internal_pages()) >= 4


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_show_every_figure_their_notebook_produced(site, page, lang):
    # Guards against a build that runs the notebooks without the inline matplotlib backend.
    for notebook in sorted(ROOT.joinpath("book", "en").rglob("*.ipynb")):
        nb = nbformat.read(notebook, as_version=4)
        expected = sum(  # matplotlib figures, and the <img> an HTML animation plays in
            "image/png" in out.get("data", {}) or "<img" in out.get("data", {}).get("text/html", "")
            for cell in nb.cells
            for out in cell.get("outputs", [])
        )
        rel = notebook.relative_to(ROOT / "book" / "en").with_suffix(".html").as_posix()
        page.goto(f"{site}/book/{lang}/{rel}")
        shown = page.locator(".cell_output img").count()
        assert expected > 0 and shown == expected, f"{lang}/{rel}: {shown} of {expected} figures"


def test_landing_page_offers_both_languages(site, page):
    page.goto(f"{site}/index.html")
    page.wait_for_load_state()
    shot(page, "landing")
    links = page.locator("article a").evaluate_all("els => els.map(e => e.href)")
    assert any(urljoin(site, "/book/en/unit1/index.html") == h for h in links), links
    assert any(urljoin(site, "/book/zh/unit1/index.html") == h for h in links), links
