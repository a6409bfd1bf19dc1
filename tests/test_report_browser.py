"""The report renders in headless Chromium: loads, every image decoded, no console errors,
no network requests; the screenshot is made by the same code as docs/report.png
(docs/make_screenshot.py). Skipped only when Chromium is not installed (`make browser`)."""

import io

import pytest

from sparselrp.plot import write_report
from sparselrp.plot._example import example_report_inputs
from sparselrp.plot.report import SECTIONS
from sparselrp.plot.screenshot import find_chromium, inspect_html, screenshot_html

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="chromium is not installed (Debian package `chromium`; `make browser` installs it)",
)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, **example_report_inputs(n=4))
    return path


def test_report_loads_in_chromium_with_all_images(report_html, tmp_path):
    png = tmp_path / "shot.png"
    info = screenshot_html(report_html, png, width=1280, max_height=2500)
    n_img = report_html.read_text().count("<img ")
    assert n_img >= 5
    assert len(info["images"]) == n_img
    for img in info["images"]:
        assert img["complete"] and img["decoded"], img
        assert img["naturalWidth"] > 0 and img["naturalHeight"] > 0, img
        assert img["src"].startswith("data:image/")
    assert info["console_errors"] == []
    assert info["requests"] == []
    assert info["sections"] == [sid for sid, _ in SECTIONS]
    assert info["title"] == "sparselrp report (synthetic example)"
    assert info["width"] <= 1280  # no horizontal overflow
    # the screenshot is a real PNG of the requested size
    from PIL import Image

    data = png.read_bytes()
    img = Image.open(io.BytesIO(data))
    assert img.size == (1280, min(2500, info["height"]))
    # and not blank: the page has a dark header and coloured logos
    colours = img.convert("RGB").resize((64, 128)).getcolors(64 * 128)
    assert colours is not None and len(colours) > 20


def test_inspector_catches_broken_pages(tmp_path):
    """The checks above can fail: an external reference, a broken image and a script error are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><title>bad</title><link rel="stylesheet" href="http://example.org/x.css">'
        '</head><body><img src="http://example.org/a.png" alt="external">'
        '<img src="data:image/png;base64,AAAA" alt="broken">'
        "<script>console.error('boom'); missing_function();</script></body></html>"
    )
    info = inspect_html(bad)
    assert [i["naturalWidth"] for i in info["images"]] == [0, 0]
    assert not any(i["decoded"] for i in info["images"])
    errors = " | ".join(info["console_errors"])
    assert "boom" in errors and "missing_function" in errors and "ERR_NAME_NOT_RESOLVED" in errors
    assert sorted(info["requests"]) == ["http://example.org/a.png", "http://example.org/x.css"]


def test_inspect_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        inspect_html(tmp_path / "nope.html")
