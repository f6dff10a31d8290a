"""Browser fixtures shared by the end-to-end tests: one headless Chromium per run, a fresh context
per test, numbered screenshots of each step in /tmp/shots/<test name>/ for a human to look at."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from conftest import STAFF_PASSWORD

# Playwright's sync API runs an event loop in this thread; Django would refuse ORM calls from it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"  # Debian's; a browser is never downloaded
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS_DIR = Path("/tmp/shots")


@pytest.fixture(scope="session")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Shots:
    """Numbered full-page screenshots of one test's steps."""

    def __init__(self, page: Page, name: str):
        self.page = page
        self.directory = SHOTS_DIR / name
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, step: str) -> None:
        self.count += 1
        self.page.screenshot(path=self.directory / f"{self.count:02d}-{step}.png", full_page=True)


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser context per test; fails the test on any JavaScript error or failed request."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message):
        if message.type == "error":
            problems.append(f"console.error: {message.text} at {message.location.get('url')}")

    def on_response(response):
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on("console", on_console)
    page.on("response", on_response)

    def on_request_failed(request):
        # A navigation (form submit, redirect) cancels what the previous page was still loading.
        if request.failure != "net::ERR_ABORTED":
            problems.append(f"request failed: {request.url} ({request.failure})")

    page.on("requestfailed", on_request_failed)
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def shot(page, request) -> Shots:
    return Shots(page, request.node.name)


def log_in(page: Page, shot: Shots) -> None:
    page.goto("/login/")
    shot("login")
    page.get_by_label("Email").fill("staff@acme.test")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Staff land on the home dashboard; the tests start from the customers list.
    expect(page).not_to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Customers")
