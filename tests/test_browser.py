"""The built site, in a real browser with the network cut: maths, language links, launch buttons,
search, links and images, and no asset from another host.

Needs the site built first (`make book`) and Debian's `chromium`. The English build is at the
root of _build/html, the Chinese build under _build/html/zh/. Run alone with `pytest -m browser`;
screenshots land in screenshots/ (git-ignored) for a person to look at.
"""

import functools
import html.parser
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
ZH = HTML / "zh"
SHOTS = ROOT / "screenshots"
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
    if not (ZH / "book" / "zh" / "unit1" / "index.html").exists():
        pytest.fail("the site is not built: run `make book` first")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def url_of(lang: str, name: str) -> str:
    """The path of a page of the English build (root) or the Chinese one (zh/)."""
    return f"/book/en/{name}.html" if lang == "en" else f"/zh/book/zh/{name}.html"


class Network:
    """What the page asked for that was blocked or failed, and what it logged as an error."""

    def __init__(self):
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    def route(self, route):
        # The site must work offline: block every request that leaves localhost.
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def clear(self):
        self.blocked.clear()
        self.failed.clear()
        self.errors.clear()


@pytest.fixture(scope="module")
def network():
    return Network()


@pytest.fixture(scope="module")
def page(site, network):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", network.route)
        page = context.new_page()
        page.on("requestfailed", lambda r: network.failed.append(r.url))
        page.on("console", lambda m: m.type == "error" and network.errors.append(m.text))
        page.on("pageerror", lambda e: network.errors.append(str(e)))
        yield page
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def typeset(page, network) -> None:
    """Wait until MathJax has typeset the page (it loads from the site's own _mathjax/)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15000
        )
    except PlaywrightTimeout:
        pytest.fail(f"MathJax did not load; blocked {network.blocked}, failed {network.failed}")
    page.evaluate("() => MathJax.startup.promise")


@pytest.mark.parametrize(
    ("lang", "name"),
    [("en", "unit1/index"), ("en", "unit1/00_first_steps"), ("zh", "unit1/00_first_steps")],
)
def test_formulas_are_typeset_offline(site, page, network, lang, name):
    network.clear()
    page.goto(site + url_of(lang, name))
    page.wait_for_load_state("networkidle")
    typeset(page, network)
    maths = page.locator(".math").count()
    rendered = page.locator(".math mjx-container").count()
    assert maths > 0, f"{name} has no formula to check"
    assert rendered == maths, f"{rendered} of {maths} formulas typeset"
    text = page.locator("article").inner_text()
    raw = [m for m in ("\\(", "\\[", "$$") if m in text]
    assert not raw, f"raw TeX delimiters visible: {raw}"
    assert not network.blocked, f"requests to other hosts: {network.blocked}"
    assert not network.failed, f"failed requests: {network.failed}"
    assert not network.errors, f"console errors: {network.errors}"
    shot(page, f"{lang}-{name.replace('/', '-')}-maths")


class Assets(html.parser.HTMLParser):
    """The URLs of the scripts, stylesheets, fonts, images and media a page loads."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "source", "video", "audio", "iframe") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if any(k in rel for k in ("stylesheet", "preload", "icon", "modulepreload")):
                self.urls.append(attrs["href"])


def foreign_assets(root) -> list[str]:
    """Every http(s):// asset a built HTML page or stylesheet refers to."""
    found = []
    for page in root.rglob("*.html"):
        parser = Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        found += [f"{page.relative_to(root)}: {u}" for u in parser.urls if "://" in u]
    for css in root.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css.read_text("utf-8")):
            found.append(f"{css.relative_to(root)}: {url}")
    return found


def test_built_site_loads_nothing_from_other_hosts():
    assert (HTML / "_mathjax" / "tex-chtml.js").is_file() and (
        HTML / "_mathjax" / "LICENSE"
    ).is_file()
    assert len(list(HTML.rglob("*.html"))) > 10
    assert not foreign_assets(HTML), "\n".join(foreign_assets(HTML))


def test_language_link_goes_to_the_twin_and_back(site, page):
    page.goto(site + url_of("en", "unit1/index"))
    assert page.locator("h1").first.inner_text().startswith("Unit 1")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.locator("a.language-switch").click()
    page.wait_for_load_state()
    assert page.url.endswith(url_of("zh", "unit1/index"))
    assert "第一单元" in page.locator("h1").first.inner_text()
    shot(page, "zh-overview")
    page.locator("a.language-switch").click()
    page.wait_for_load_state()
    assert page.url.endswith(url_of("en", "unit1/index"))


def test_chinese_pages_have_a_chinese_interface(site, page):
    # Written by the build (language zh_CN), not patched in by JavaScript.
    source = (ZH / "book" / "zh" / "unit1" / "00_first_steps.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in source
    page.goto(site + url_of("zh", "unit1/00_first_steps"))
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("input[name=q]").first.get_attribute("placeholder") == "搜索课程…"
    assert "下一页" in page.locator(".prev-next-area").inner_text()
    assert "目录" in page.locator(".bd-sidebar-secondary").inner_text()
    launch = page.locator(".dropdown-launch-buttons button").first.get_attribute("aria-label")
    colab_link = page.locator("a[href*='colab.research.google.com']").first
    # Bootstrap moves a tooltip's title into data-bs-original-title once the page has loaded.
    colab = colab_link.get_attribute("data-bs-original-title") or colab_link.get_attribute("title")
    for label in (launch, colab):
        assert label and re.search(r"[\u4e00-\u9fff]", label), label
    page.locator("div.highlight pre").first.hover()
    tooltip = page.locator("button.copybtn").first.get_attribute("data-tooltip")
    assert tooltip and re.search(r"[\u4e00-\u9fff]", tooltip), tooltip


def test_sidebar_lists_only_the_pages_language(site, page):
    for lang, other in [("en", "zh"), ("zh", "en")]:
        page.goto(site + url_of(lang, "unit1/00_first_steps"))
        hrefs = page.locator("nav.bd-docs-nav a").evaluate_all("els => els.map(e => e.href)")
        assert len(hrefs) >= 4
        assert all(f"/book/{lang}/" in h for h in hrefs), hrefs
        assert not any(f"/book/{other}/" in h for h in hrefs)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_colab_button_opens_the_paired_notebook(site, page, lang):
    page.goto(site + url_of(lang, "unit1/00_first_steps"))
    shot(page, f"{lang}-first-steps")
    colab = page.locator("a[href*='colab.research.google.com']")
    href = colab.first.get_attribute("href")
    assert href.endswith(f"book/{lang}/unit1/00_first_steps.ipynb"), href
    binder = page.locator("a[href*='mybinder.org']").first.get_attribute("href")
    assert f"book/{lang}/unit1/00_first_steps.ipynb" in binder


def search(site, page, lang: str, query: str) -> list[str]:
    root = "" if lang == "en" else "/zh"
    page.goto(f"{site}{root}/search.html?q={query}")
    # Sphinx writes the summary line once the last result is listed.
    page.wait_for_function(
        "() => document.querySelector('#search-results p.search-summary')?.innerText.trim()",
        timeout=20000,
    )
    results = page.locator("#search-results ul.search li a")
    return results.evaluate_all("els => els.map(e => e.href)")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("噪声", "00_first_steps"),
        ("去噪", "01_introduction_to_diffusers"),
        ("扩散模型的训练", "01_introduction_to_diffusers"),
        ("时间步", "02_diffusion_models_from_scratch"),
        ("调度器", "01_introduction_to_diffusers"),
    ],
)
def test_chinese_search_finds_course_terms_on_chinese_pages(site, page, query, expected):
    hrefs = search(site, page, "zh", query)
    assert any(url_of("zh", f"unit1/{expected}") in h for h in hrefs), hrefs
    if query != "扩散模型的训练":  # a course term is one term of the index, not pieces of it
        assert page.evaluate("q => splitQuery(q)", query) == [query]
    assert all("/zh/book/zh/" in h for h in hrefs), hrefs
    if query == "扩散模型的训练":
        shot(page, "search-zh")


def test_english_search_finds_english_pages(site, page):
    hrefs = search(site, page, "en", "scheduler")
    assert any(url_of("en", "unit1/00_first_steps") in h for h in hrefs), hrefs
    assert not any("/zh/" in h for h in hrefs), hrefs


def internal_pages() -> list[Path]:
    return sorted(HTML.joinpath("book").rglob("*.html")) + sorted(
        ZH.joinpath("book").rglob("*.html")
    )


def test_no_broken_internal_links_or_images(site, page):
    broken = []
    for html_file in internal_pages():
        url = f"{site}/{html_file.relative_to(HTML).as_posix()}"
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
                broken.append(f"{html_file.relative_to(HTML)} -> {target}")
        sizes = page.evaluate(
            "() => Array.from(document.images, i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        broken += [
            f"{html_file.relative_to(HTML)} image {src}"
            for src, ok in sizes
            if not ok and urlparse(src).hostname == "127.0.0.1"
        ]
    assert not broken, "\n".join(broken)
    assert len(internal_pages()) >= 10


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
        rel = notebook.relative_to(ROOT / "book" / "en").with_suffix("").as_posix()
        page.goto(site + url_of(lang, rel))
        shown = page.locator(".cell_output img").count()
        assert expected > 0 and shown == expected, f"{lang}/{rel}: {shown} of {expected} figures"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_diffusers_chapter_shows_the_benchmark_plot(site, page, lang):
    page.goto(site + url_of(lang, "unit1/01_introduction_to_diffusers"))
    plots = page.evaluate(
        """() => Array.from(document.images).filter(i => i.src.includes('quality_vs_minutes'))
            .map(i => i.complete ? i.naturalWidth : 0)"""
    )
    assert len(plots) == 1 and plots[0] > 500, plots


def test_landing_page_shows_the_course_in_both_languages(site, page):
    page.goto(f"{site}/index.html")  # Jupyter Book's redirect to the root page
    page.wait_for_url("**/book/index.html")
    page.wait_for_load_state("networkidle")
    shot(page, "landing")
    links = page.locator("article a").evaluate_all("els => els.map(e => e.href)")
    for lang in ("en", "zh"):
        for name in ("index", "00_first_steps", "01_introduction_to_diffusers"):
            assert urljoin(site, url_of(lang, f"unit1/{name}")) in links, (lang, name, links)
    figures = page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell_output img'), i => i.naturalWidth)"
    )
    assert len(figures) == 2 and all(w > 100 for w in figures), figures
    assert page.locator(".dropdown-launch-buttons").count() == 0
    minutes = page.locator(".cpu-minutes").all_inner_texts()
    assert len(minutes) == 6 and all(float(m) > 0 for m in minutes), minutes


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_execution_report_lists_every_notebook_with_its_run(site, page, lang):
    page.goto(site + url_of(lang, "unit1/index"))
    page.locator("article a[href$='execution_report.html']").first.click()
    page.wait_for_load_state()
    assert page.url.endswith(url_of(lang, "unit1/execution_report"))
    tables = page.locator("article table")
    runs = tables.first.locator("tbody tr").all_inner_texts()
    notebooks = sorted(ROOT.joinpath("book", lang).rglob("*.ipynb"))
    landing = 1 if lang == "en" else 0  # the English build also runs the landing page
    assert len(runs) == len(notebooks) + landing, runs
    for row in runs:
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row) and re.search(r"\d+\.\d", row), row
    machine = tables.nth(1).inner_text()
    assert "torch" in machine and "diffusers" in machine
    shot(page, f"{lang}-execution-report")
