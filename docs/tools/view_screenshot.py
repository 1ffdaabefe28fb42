"""Redraw docs/view.png: `discsim view` of the default scenario in headless Chromium, stepped to day 40.

.venv/bin/python docs/tools/view_screenshot.py          # needs Debian's chromium and the [view,test] extras
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main(day: int = 40, out: Path = ROOT / "docs" / "view.png") -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "view", str(ROOT / "scenarios" / "default.toml"), "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("discsim view did not start")
            if "open http://" in line:
                url = line.split("open ", 1)[1].split()[0]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 960})
            page.goto(url)
            for d in range(1, day + 1):  # one day per click, each waited for on the page
                page.get_by_role("button", name="Step +1 day").click()
                page.locator(".discsim-status").get_by_text(f"Day {d}", exact=True).wait_for()
            time.sleep(1.5)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
