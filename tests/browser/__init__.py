"""Browser tests: the web app served by a real `planner serve` process, driven in headless Chromium.

Fixtures are in conftest.py (`browser`, `live_server`, `page`); `screenshot` below saves review
artifacts. Every test under this folder is marked `browser` (`pytest -m "not browser"` leaves them out).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# git-ignored; CI and reviewers pick screenshots up from here
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def artifact_name(name: str) -> str:
    """A file-name-safe form of a test or screenshot name (`test_x[a/b]` -> `test_x-a_b-`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("[", "-").replace("]", "-")).strip("_") or "screenshot"


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save `artifacts/screenshots/<name>.png` of `page` (the whole page by default) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{artifact_name(name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
