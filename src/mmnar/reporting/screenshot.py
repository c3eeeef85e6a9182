"""A PNG of the HTML report as a browser shows it: Debian's Chromium, headless, offline.

Used to check that ``snakemake --report`` output really renders (its pages are drawn by
JavaScript, so a file that parses can still show nothing) and to make the README's picture:
``python -m mmnar.reporting.screenshot results/report.html docs/images/report.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000")
"""Headless, and no background connections: the machines this runs on have no open network."""


def chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


def screenshot(html: Path, png: Path, width: int = 1400, height: int = 900, timeout: float = 120) -> Path:
    """Render ``html`` (a local file) to ``png``; raises if Chromium is missing or writes nothing."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH (Debian: apt-get install chromium)")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={png}", Path(html).resolve().as_uri()],
                       check=True, capture_output=True, timeout=timeout)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot of {html}")
    return png


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
