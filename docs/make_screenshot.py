"""Make docs/report.png: a headless-Chromium screenshot of an HTML report.

    python docs/make_screenshot.py                      # the synthetic example report
    python docs/make_screenshot.py sparselrp_demo/report.html   # e.g. the demo's report

The screenshot is taken by :func:`sparselrp.plot.screenshot.screenshot_html`, the
same code the browser test (tests/test_report_browser.py) runs; the example
report is built by :func:`sparselrp.plot._example.example_report_inputs`, which
the test uses too. Needs Debian's chromium package (``make browser``).
"""

import argparse
import sys
import tempfile
from pathlib import Path

from sparselrp.plot import write_report
from sparselrp.plot._example import example_report_inputs
from sparselrp.plot.screenshot import screenshot_html


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", nargs="?", help="report to capture (default: build the synthetic example)")
    ap.add_argument("-o", "--output", default=str(Path(__file__).with_name("report.png")), help="PNG to write")
    ap.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    ap.add_argument("--max-height", type=int, default=4200, help="crop the page to this height")
    ap.add_argument("--sequences", type=int, default=2, help="sequences in the synthetic example")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html
        if html is None:
            html = Path(tmp) / "report.html"
            write_report(html, **example_report_inputs(n=args.sequences))
        info = screenshot_html(html, args.output, width=args.width, max_height=args.max_height)
    bad = [i for i in info["images"] if not i["naturalWidth"]]
    if info["console_errors"] or bad:
        print(f"warning: {len(info['console_errors'])} console errors, {len(bad)} undecoded images",
              file=sys.stderr)
    print(f"{args.output}: {len(info['images'])} images, page {info['width']}x{info['height']} px")


if __name__ == "__main__":
    main()
