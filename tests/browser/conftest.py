"""Real-browser tests: Playwright for Python driving Debian's Chromium.

The browser is the system's /usr/bin/chromium (scripts/test installs it on Debian);
Playwright never downloads one (never run `playwright install`). Without it, or without
the playwright package, the browser tests skip and say why. The site runs on
pytest-django's live_server (a real socket, a transactional database).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"  # git-ignored
TIMEOUT_MS = 10_000


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: Debian's chromium package drives these tests "
            "(scripts/test installs it as root; or: sudo apt-get install chromium)"
        )
    return None


@pytest.fixture(scope="module")
def browser(django_db_setup: None, live_server: Any) -> Iterator[Any]:
    """Chromium, for this module's tests. The database and the live server start first,
    and the browser stops before the next module: while Playwright's sync API is active
    it keeps an asyncio loop on this thread, and Django refuses ORM calls under a running
    loop (SynchronousOnlyOperation). The tests' own queries are ordinary synchronous
    calls on the usual thread, so for this module only that guard is switched off."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot as tests/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(tab: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take
