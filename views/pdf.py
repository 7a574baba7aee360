"""HTML to PDF through headless Chromium's own print (the engine the browser tests and a lead's browser use, so
the inline SVG charts and the print stylesheet come out as on screen; no Python library or system fonts
stack of its own to install). PLANNER_CHROMIUM names another binary than Debian's /usr/bin/chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

TIMEOUT = 120.0


class PdfUnavailable(RuntimeError):
    """No Chromium to print with, or it failed: the message says which and what to do."""


def chromium() -> str:
    named = os.environ.get("PLANNER_CHROMIUM")
    if named:
        if not (Path(named).is_file() and os.access(named, os.X_OK)):
            raise PdfUnavailable(f"PLANNER_CHROMIUM={named} is not an executable Chromium")
        return named
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        raise PdfUnavailable("printing a PDF needs Chromium: install Debian's `chromium` (apt-get install chromium) "
                             "or name one with PLANNER_CHROMIUM=/path/to/chromium")
    return found


def html_to_pdf(html: str, out: Path) -> None:
    """Write `html` (self-contained: no network is used) as a PDF to `out`."""
    binary = chromium()
    with tempfile.TemporaryDirectory(prefix="planner-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp}/profile",
                   "--no-pdf-header-footer", f"--print-to-pdf={target}", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PdfUnavailable(f"Chromium did not print within {TIMEOUT:.0f} s") from None
        if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PdfUnavailable(f"Chromium could not print the report (exit {done.returncode}): {last[0][:300]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, out)
