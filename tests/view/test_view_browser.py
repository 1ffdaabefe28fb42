"""``discsim view`` in a real browser: headless Chromium (Debian's, no browser download) driven by playwright.

The server is the real command on a free port. Every request the page makes that leaves this machine is refused
and recorded: the page must render from the server alone (no CDN).
"""

import io
import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str):
    """Skip where a developer lacks the browser; in CI (.ci/run installs it) a missing browser is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (.ci/run should have installed it)")
    pytest.skip(reason)


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def server_url():
    """``discsim view`` of the default scenario on a free port; stopped after the tests."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "view", ROOT / "scenarios" / "default.toml", "--port", "0", "--days", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline, url = time.monotonic() + 120, None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                if "open http://" in line:
                    url = line.split("open ", 1)[1].split()[0]
        if url is None:
            proc.kill()
            pytest.fail(f"discsim view did not start: {proc.stderr.read()[-2000:]}")
        assert urlparse(url).hostname == "127.0.0.1"  # the default binds to loopback only
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the 'test' extra")
    chromium = _chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _image(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _rows(page) -> int:
    return page.evaluate("() => Bokeh.documents[0].get_model_by_name('traces').data.day.length")


def test_page_renders_offline_and_step_play_pause_update_it(server_url, browser, tmp_path):
    t0 = time.monotonic()
    page = browser.new_page(viewport={"width": 1480, "height": 1000})
    outside, errors = [], []

    def only_this_machine(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_machine)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server_url)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].get_model_by_name('traces')",
        timeout=30_000,
    )
    section, vas = page.locator(".discsim-section"), page.locator(".discsim-trace-vas")
    section.wait_for(state="visible")
    assert _rows(page) == 1  # day 0
    before = {"section": _image(section.screenshot()), "vas": _image(vas.screenshot())}

    page.get_by_role("button", name="Step +1 day").click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('traces').data.day.length == 2")
    page.get_by_role("button", name="Step +1 day").click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('traces').data.day.length == 3")
    page.locator(".discsim-status").get_by_text("Day 2", exact=True).wait_for()  # rendered in the page
    page.wait_for_timeout(300)  # let the canvases repaint
    after = {"section": _image(section.screenshot()), "vas": _image(vas.screenshot())}
    for name in before:  # the section (cells, field, title) and the pain trace were redrawn
        h, w = (min(a, b) for a, b in zip(before[name].shape[:2], after[name].shape[:2]))  # colour bar labels widen
        change = np.abs(before[name][:h, :w] - after[name][:h, :w]).mean()
        assert change > 0.05, f"{name} did not change after Step"

    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('traces').data.day.length >= 6", timeout=20_000)
    page.get_by_role("button", name="❚❚ Pause").click()
    page.wait_for_timeout(600)
    paused = _rows(page)
    page.wait_for_timeout(800)
    assert _rows(page) == paused and paused >= 6

    shot = tmp_path / "view.png"
    page.screenshot(path=str(shot), full_page=True)
    pixels = _image(shot.read_bytes())
    assert pixels.std() > 20  # not blank: text, a heat map, outlines, cells and traces
    assert (np.abs(pixels - 255).sum(axis=2) > 30).mean() > 0.1  # a tenth of the page is not white
    assert not outside, f"the page asked for resources off this machine: {outside}"
    assert not errors, errors
    page.close()
    assert time.monotonic() - t0 < 60
