"""What the browser and server tests share: Debian's Chromium under Playwright, free ports."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import service_missing

CHROMIUM = os.environ.get("STS_TEST_CHROMIUM", "/usr/bin/chromium")
# No background networking: this machine's closed network refuses Chromium's own traffic.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chromium_context(*, timeout_ms: int, **options: Any) -> Iterator[Any]:
    """A Playwright browser context in Debian's Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        service_missing("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("Chromium", f"playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(**options)
        context.set_default_timeout(timeout_ms)
        try:
            yield context
        finally:
            context.close()
            browser.close()
