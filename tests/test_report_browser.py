"""report.html as a person sees it: opened in headless Chromium and screenshotted.

The study writes a small study's report, Chromium (Debian's ``chromium``,
driven by Python playwright, never a browser playwright downloads) loads it
from the file, and the test checks what one would check by eye: every figure
loaded and shown at its own size, the headings, the table with the
reference row first, no console errors, nothing fetched from outside the
file, the verdict before the table, text large enough to read, and a
full-page screenshot with no blank figure cell. Skipped without chromium or
playwright (``.ci/run`` installs both). The documentation's screenshot of
the default study's report is taken by the docs build (``docs/gen_pages.py``).
"""

import os
import shutil
from pathlib import Path

import pytest
from test_cli import run_command

from sklearn_neuron._study.plots import CLASSIFICATION_FIGURES
from sklearn_neuron._study.report import _CLASSIFICATION_COLUMNS, _TEXT_KEYS

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
#: Flags that let Chromium run headless as root in a container, without network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A laptop-sized window: the report's body (70em) fits in it.
VIEWPORT = {"width": 1200, "height": 900}
#: A small study that still draws every figure, three panels wide (as wide
#: as the default study's).
SMALL_LOSSES = ["log_loss", "squared_error", "hinge"]
SMALL_STUDY = ["--cv", "2", "--losses", ",".join(SMALL_LOSSES), "--optimizers", "newton,lbfgs"]


def open_report(report, tmp_path, screenshot):
    """Load ``report`` in headless Chromium; return what the page shows.

    Writes a full-page screenshot to ``screenshot``. Returns a dict with the
    page's images, headings, table cells, console errors and the URLs it
    requested.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    problems, requests = [], []
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
        )
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(Path(report).resolve().as_uri(), wait_until="load")
            shown = page.evaluate(
                """() => ({
                  images: Array.from(document.images).map(i => ({
                    complete: i.complete, naturalWidth: i.naturalWidth,
                    naturalHeight: i.naturalHeight,
                    width: i.getBoundingClientRect().width,
                    box: (r => [r.left + scrollX, r.top + scrollY, r.width, r.height])(
                      i.getBoundingClientRect()),
                    figure: i.closest("figure") ? i.closest("figure").id : null,
                    caption: i.closest("figure") ?
                      i.closest("figure").querySelector("figcaption").textContent : ""
                  })),
                  title: document.title,
                  h1: Array.from(document.querySelectorAll("h1")).map(h => h.textContent),
                  h2: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
                  top: Object.fromEntries(["section.verdict", "table"].map(s => [s,
                    document.querySelector(s).getBoundingClientRect().top])),
                  fontSize: Object.fromEntries(["section.verdict li", "td", "figcaption"]
                    .map(s => [s, parseFloat(getComputedStyle(
                      document.querySelector(s)).fontSize)])),
                  verdict: Array.from(document.querySelectorAll("section.verdict li")).map(
                    li => li.textContent),
                  header: Array.from(document.querySelectorAll("thead th")).map(
                    th => th.textContent),
                  rows: Array.from(document.querySelectorAll("tbody tr")).map(
                    tr => Array.from(tr.cells).map(td => td.textContent)),
                  align: Array.from(document.querySelectorAll("tbody tr:first-child td"))
                    .map(td => getComputedStyle(td).textAlign),
                  tableFits: (d => d.scrollWidth <= d.clientWidth)(
                    document.querySelector("table").parentElement),
                  scrollWidth: document.documentElement.scrollWidth,
                  clientWidth: document.documentElement.clientWidth,
                  scrollHeight: document.documentElement.scrollHeight,
                  ratio: devicePixelRatio
                })"""
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return {**shown, "problems": problems, "requests": requests}


def check_report_page(shown, screenshot, figures, n_losses):
    """Assert what a person would check on the report of a classification study."""
    import matplotlib.image

    # Every figure loaded, in its own captioned <figure>, at its own size
    # (not scaled down: the text in it stays sharp), and nothing spills sideways.
    assert len(shown["images"]) == len(figures)
    assert [i["figure"] for i in shown["images"]] == [Path(f).stem for f in figures]
    for image in shown["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, image["figure"]
        assert image["naturalHeight"] > 100, image["figure"]
        assert image["width"] == image["naturalWidth"], image["figure"]
        assert image["caption"] == figures[image["figure"] + ".png"]
    assert shown["scrollWidth"] <= shown["clientWidth"]
    assert shown["tableFits"]  # the whole table in view, no scrolling inside it
    # One portable file: nothing requested but the file and its data URIs.
    assert [u for u in shown["requests"] if not u.startswith(("file:", "data:"))] == []
    assert shown["problems"] == []  # no console errors, no failed loads

    assert shown["h1"] == [shown["title"]]
    assert shown["title"].startswith("sklearn-neuron study: ")
    # The verdict first, above the table it is drawn from; text one can read.
    assert shown["h2"][0] == "Verdict" and "Figures" in shown["h2"]
    assert shown["top"]["section.verdict"] < shown["top"]["table"]
    assert shown["fontSize"]["section.verdict li"] >= 16
    assert min(shown["fontSize"].values()) >= 13
    assert len(shown["verdict"]) == n_losses
    assert shown["verdict"][0].startswith("log_loss with every optimizer: logistic regression")
    assert shown["header"] == [c[0] for c in _CLASSIFICATION_COLUMNS]
    reference = shown["rows"][0]
    assert reference[0] == "LogisticRegression" and reference[-1] == "reference"
    assert {row[0] for row in shown["rows"][1:]} == {"NeuronClassifier"}
    # Words left-aligned, numbers right-aligned.
    expected = [
        "left" if key in _TEXT_KEYS else "right" for _, key, _ in _CLASSIFICATION_COLUMNS
    ]
    assert shown["align"] == expected

    # The screenshot: a PNG of the whole page, and not blank anywhere a figure is.
    pixels = matplotlib.image.imread(screenshot)[..., :3]
    ratio = shown["ratio"]
    assert pixels.shape[1] == round(VIEWPORT["width"] * ratio)
    assert pixels.shape[0] == round(shown["scrollHeight"] * ratio)
    assert pixels.std() > 0.05
    assert (pixels.min(axis=2) < 0.9).mean() > 0.05  # ink, not a white page
    ink = pixels.min(axis=2) < 0.8
    for image in shown["images"]:
        left, top, width, height = (round(v * ratio) for v in image["box"])
        region = pixels[top : top + height, left : left + width]
        assert region.shape[:2] == (height, width), image["figure"]
        assert region.std() > 0.05, image["figure"]  # the figure was painted
        # No blank cell: each sixth of the figure (three across, two down)
        # has ink in it - a panel or the figure's legend.
        cells = [
            ink[top + r * height // 2 : top + (r + 1) * height // 2,
                left + c * width // 3 : left + (c + 1) * width // 3].mean()
            for r in range(2)
            for c in range(3)
        ]
        assert min(cells) > 0.005, (image["figure"], cells)
    # Every figure as wide as the page's widest: none leaves a blank band beside it.
    widths = [image["width"] for image in shown["images"]]
    assert min(widths) >= 0.8 * max(widths), widths


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_in_a_browser(tmp_path):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    result = run_command(*SMALL_STUDY, "--out", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    screenshot = tmp_path / "report.png"
    shown = open_report(tmp_path / "out" / "report.html", tmp_path, screenshot)
    check_report_page(shown, screenshot, CLASSIFICATION_FIGURES, len(SMALL_LOSSES))
