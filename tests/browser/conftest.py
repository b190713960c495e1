"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

- One headless Chromium per module; a fresh browser context (cookies, storage) per test.
- The browser is never downloaded (``playwright install`` is not run): Debian's ``/usr/bin/chromium``
  is used, which ``.ci/run`` installs. Where it is missing every test fails with a message saying so.
- Full-page screenshots of every page visited go to ``screenshots/`` (ignored by git).
- A page that logs a JavaScript error, breaks the Content Security Policy or gets an HTTP error for
  one of its requests fails the test that opened it.

Why ``DJANGO_ALLOW_ASYNC_UNSAFE``: Playwright's sync API drives its own asyncio event loop from the
main thread (through greenlets), so while the browser is open ``asyncio.get_running_loop()`` answers
in the main thread and Django refuses every ORM call made there (loading the demo, the reads of the
assertions, the suite's reconcile check and the live server's flush) with ``SynchronousOnlyOperation``.
Nothing here is really asynchronous: the main thread only ever blocks on the browser. The variable is
set for the lifetime of this module's browser only (the live server's own thread needs nothing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# On a closed network (this machine's, CI's) the connections Chromium opens in the background (Google's
# services, component updates, sync, QUIC probes) are refused; these flags keep it from opening them.
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Playwright's default wait (5 s) is short on a loaded 2-core CI machine; a real hang still fails fast.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}, which is missing. Install it "
            "with `apt-get update && apt-get install -y --no-install-recommends chromium "
            "fonts-noto-cjk` (.ci/run does this). Playwright's own browser download is not used.",
            pytrace=False,
        )
    with pytest.MonkeyPatch.context() as patch:
        # See the module's docstring: Playwright's loop runs in the main thread.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as driver:
            yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@dataclass
class Problems:
    """What went wrong in the browser while a test ran: console errors (CSP violations included),
    uncaught exceptions and HTTP errors."""

    entries: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on(
            "console",
            lambda message: (
                self.entries.append(f"console {message.type}: {message.text} ({page.url})")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: self.entries.append(f"page error: {error} ({page.url})"))
        page.on(
            "response",
            lambda response: (
                self.entries.append(f"HTTP {response.status}: {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.on("requestfailed", lambda request: self._failed(request))

    def _failed(self, request) -> None:  # type: ignore[no-untyped-def]
        # A download ends its navigation with "net::ERR_ABORTED": that is how Chromium reports it.
        if request.failure and "ERR_ABORTED" in request.failure:
            return
        self.entries.append(f"request failed: {request.url} ({request.failure})")


@pytest.fixture
def problems() -> Problems:
    return Problems()


def _open_page(browser: Browser, problems: Problems, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(
        viewport=viewport, locale="en-US", timezone_id="Asia/Shanghai", accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems.watch(page)
    yield page
    context.close()
    if problems.entries:
        pytest.fail("The browser reported problems:\n" + "\n".join(problems.entries), pytrace=False)


@pytest.fixture
def page(browser: Browser, problems: Problems, live_server) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A desktop-sized page (1280×800) in a new context, English by its Accept-Language."""
    yield from _open_page(browser, problems, DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, problems: Problems, live_server) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A phone-sized page (390×844, touch)."""
    yield from _open_page(browser, problems, PHONE)


@pytest.fixture
def demo(playwright_driver, transactional_db):  # type: ignore[no-untyped-def]
    """The demo (``installments.demo.demo_load``): Lumen Electronics, two months of history.
    Loaded per test: the live server's transactional database is flushed after each one."""
    from installments.demo import demo_load
    from merchants.models import Merchant

    logins = demo_load()
    return Merchant.objects.get(pk=logins.merchant_id), logins


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot of what the page shows now, as ``screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
