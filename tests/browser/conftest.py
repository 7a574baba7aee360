"""Fixtures for the browser tests: headless Debian Chromium driven by Playwright, and the real web app.

- `browser` (session): a Playwright `Browser` on Debian's Chromium (`/usr/bin/chromium`, or the binary
  named by PLANNER_CHROMIUM), launched headless with the flags this machine needs. Playwright gives every
  launch a new empty profile (user-data-dir) of its own. Chromium is never downloaded: when it is missing
  the tests are skipped, and they fail under CI=true (`make test` installs it: `make browser`).
- `live_server` (module): `planner serve` in a subprocess on 127.0.0.1 and a free port, on a new migrated
  SQLite database, with the UNLEASH_* variables passed through and PLANNER_DEV_LOGIN=true. One per test
  module: the tests of a module share its database, so a module's tests must not depend on each other's
  data; a test that needs a database of its own takes `fresh_live_server` (function scope) instead.
  Both yield a `LiveServer` (`.url`, `.database_url`, `.log`, `.env`).
- `page` (function): a new browser context (1366x900, 10 s default timeout) and page; when the test
  fails, a screenshot is saved to artifacts/screenshots/<test name>-failure.png. Requests off loopback
  never leave the browser: they are aborted and listed in `page.blocked_requests`. The test fails (at
  teardown, listing them) on any console error, uncaught page error, failed or blocked request, or
  response >= 500; a 4xx it provokes on purpose (a 422 form re-render) is no failure.
- `tests.browser.screenshot(page, name)` saves artifacts/screenshots/<name>.png (full page) and returns
  its path, for review artifacts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from shutil import which
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import ROOT, SCREENSHOTS, artifact_name
from tests.ports import free_port

HERE = Path(__file__).resolve().parent

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # without these Chromium calls out to Google's hosts, which the closed network refuses
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # and whatever a page asks for, no host name but localhost resolves: traffic stays on loopback
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
# Every page's files come from the planner itself; the `page` fixture aborts (and lists) any request
# that would leave loopback, so a page that starts to depend on a CDN fails its test.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
OFF_LOOPBACK = re.compile(r"^(https?|wss?)://(?!(127\.0\.0\.1|localhost|\[::1\])(:\d+)?([/?#]|$))", re.IGNORECASE)
VIEWPORT = {"width": 1366, "height": 900}
DEFAULT_TIMEOUT_MS = 10_000
SERVER_START_TIMEOUT_S = 30.0  # imports take a few seconds on a busy 2-core machine


def chromium_path() -> str:
    return os.environ.get("PLANNER_CHROMIUM") or "/usr/bin/chromium"


def _unavailable(reason: str) -> None:
    """Skip locally; in CI a missing browser is a broken setup, not a reason to skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so the browser tests may not be skipped (`make test` installs "
                    "Chromium with `make browser`)", pytrace=False)
    pytest.skip(f"{reason} (`make browser` installs it)")


# -- marking and failure screenshots ---------------------------------------------------------------

def pytest_collection_modifyitems(config, items):
    # this hook sees the whole session's items, not only this folder's
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# -- traffic ---------------------------------------------------------------------------------------

def off_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK_HOSTS


def _guard(route, blocked: list[str]) -> None:
    url = route.request.url
    if not off_loopback(url):
        route.continue_()
        return
    blocked.append(url)
    route.abort("blockedbyclient")


# Chromium reports every response >= 400 on the console, and htmx every one it does not swap; the
# statuses are judged from the responses themselves (a 422 a test provokes is fine, a 5xx is not)
NETWORK_REPORT = re.compile(r"^Failed to load resource: |^Response Status Error Code (\d{3}) from ")


def watch(page) -> list[str]:
    """Collect what goes wrong on `page`: console errors, uncaught exceptions, failed requests, 5xx answers."""
    problems: list[str] = []

    def console(message) -> None:
        if message.type != "error":
            return
        report = NETWORK_REPORT.match(message.text)
        if report and (report.group(1) is None or int(report.group(1)) < 500):
            return  # `requestfailed` and `response` below name the request itself
        where = message.location.get("url") or page.url
        problems.append(f"console error: {message.text} (at {where})")

    def response(answer) -> None:
        if answer.status >= 500:
            problems.append(f"server error: {answer.status} for {answer.request.method} {answer.url}")

    def request_failed(request) -> None:
        if off_loopback(request.url):
            problems.append(f"blocked (not loopback): {request.method} {request.url}")
        elif request.url.endswith("/favicon.svg"):
            return  # the tab's icon, fetched lazily after the page loaded: cut off by the next navigation, or
            # by the test's server stopping first; the page itself never asks for it
        else:
            problems.append(f"request failed: {request.method} {request.url} ({request.failure})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", response)
    page.on("requestfailed", request_failed)
    return problems


# -- the browser -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium under Playwright, one for the whole session."""
    executable = chromium_path()
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        _unavailable(f"Chromium is not installed at {executable}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    playwright = sync_playwright().start()
    try:
        try:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:
            raise RuntimeError(f"Chromium at {executable} did not start under Playwright: {exc}") from exc
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, request):
    """A new context and page per test; the test fails on a JavaScript error, a failed request or a 5xx, and a
    screenshot of the page is saved when it fails."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    blocked: list[str] = []
    # a pattern, not a Python predicate: Playwright matches it in the driver, so loopback requests
    # are not stopped to ask Python
    context.route(OFF_LOOPBACK, lambda route: _guard(route, blocked))
    page = context.new_page()
    page.blocked_requests = blocked  # what the page asked for off loopback, aborted; tests may assert on it
    problems = watch(page)
    try:
        yield page
    finally:
        try:
            page.evaluate("0")  # a round trip to the driver delivers the events still on their way
        except Exception:  # noqa: BLE001 - a closed or crashed page has nothing more to say
            pass
        call = request.node.stash.get(_REPORTS, {}).get("call")
        failed = call is not None and call.failed
        if failed or (call is not None and problems):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            path = SCREENSHOTS / f"{artifact_name(request.node.name)}-failure.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"failure screenshot: {path} (page {page.url})")
            except Exception as exc:  # noqa: BLE001 - the test's own failure is what matters
                print(f"failure screenshot not saved: {exc}")
        if failed:
            for line in problems:
                print(line)
        context.close()
    if problems and call is not None and not failed:
        pytest.fail(f"the page had {len(problems)} problem(s) while the test ran:\n  " + "\n  ".join(problems),
                    pytrace=False)


# -- the web app -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    database_url: str  # the server's SQLite database, e.g. for seeding with the planner's own code
    log: Path  # the server's stdout and stderr
    env: dict[str, str] = field(repr=False)  # the environment it runs with: holds the Unleash tokens, never print it

    def __truediv__(self, path: str) -> str:
        """`live_server / "health"` -> the full URL."""
        return f"{self.url}/{path.lstrip('/')}"


def _planner_command() -> str:
    # the `planner` script of the venv that runs pytest, else the one on PATH
    beside = Path(sys.executable).with_name("planner")
    if beside.exists():
        return str(beside)
    found = which("planner")
    if not found:
        raise RuntimeError("the `planner` command is not installed (pip install -e '.[dev]')")
    return found


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def serve(directory: Path, extra_env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Run `planner serve` on a new database in `directory` until the block ends. Its controller is off unless
    `extra_env` turns it on: the lead's own Apply is what most journeys test."""
    planner = _planner_command()
    database_url = f"sqlite:///{directory / 'planner.db'}"
    env = {**os.environ, "PLANNER_DATABASE_URL": database_url, "PLANNER_DEV_LOGIN": "true", "PLANNER_CONTROLLER": "false",
           "_TYPER_STANDARD_TRACEBACK": "1",  # plain tracebacks in the errors below, not Rich's boxes
           **(extra_env or {})}
    upgrade = subprocess.run([planner, "db", "upgrade"], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)
    if upgrade.returncode != 0:
        raise RuntimeError(f"`planner db upgrade` failed ({upgrade.returncode}):\n{upgrade.stdout}{upgrade.stderr}")

    for attempt in range(3):  # the free port can be taken between choosing it and binding it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = directory / f"server-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([planner, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                       cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    output = _tail(log)
                    if "address already in use" in output.lower() and attempt < 2:
                        break  # try another port
                    raise RuntimeError(f"`planner serve` exited with {process.returncode} before answering "
                                       f"/health; its output:\n{output}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"`planner serve` did not answer {url}/health with 200 within "
                                       f"{SERVER_START_TIMEOUT_S:.0f} s; its output:\n{_tail(log)}")
                time.sleep(0.1)
            if process.poll() is not None:
                continue
            yield LiveServer(url=url, database_url=database_url, log=log, env=env)
            return
        finally:
            _stop(process)
    raise RuntimeError("`planner serve` found no free port in 3 attempts")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """The web app on a new database, shared by the tests of one module."""
    with serve(tmp_path_factory.mktemp("live-server")) as server:
        yield server


@pytest.fixture
def fresh_live_server(tmp_path) -> Iterator[LiveServer]:
    """The web app on a database of this test's own (a new process: about a second more per test)."""
    with serve(tmp_path) as server:
        yield server
