"""The API docs page in headless Chromium with the network cut off: every request that would leave the
live server is refused and recorded, and the page must still render whole (Redoc, its fonts, the
schema, an operation's description, errors and examples). The `page` fixture also fails the test on
any console error, failed request or HTTP error. Screenshots go to /tmp/shots/api_docs/."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import SHOTS_DIR

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# Redoc renders the whole schema (70 operations) before it shows anything: on a busy machine that
# takes a while. A deadline, not a wait: the test goes on as soon as the page is there.
RENDERED_WITHIN_MS = 120_000


@pytest.fixture
def outside_requests(page: Page, live_server) -> list[str]:
    """Cut the browser off from every server but the live one; what it tried to reach elsewhere."""
    here = urlsplit(live_server.url).netloc
    tried: list[str] = []

    def only_here(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != here:
            tried.append(route.request.url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    page.context.route("**/*", only_here)  # the context's route also sees the page's workers
    return tried


def screenshot(page: Page, name: str) -> None:
    directory = SHOTS_DIR / "api_docs"
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=directory / f"{name}.png")


def test_the_docs_render_with_the_network_cut_off(page: Page, outside_requests):
    page.goto("/api/docs#tag/customers/operation/upsert_customer")
    operation = page.locator('[data-section-id="tag/customers/operation/upsert_customer"]')
    heading = operation.get_by_role("heading", name="Create or update a customer")
    expect(heading).to_be_visible(timeout=RENDERED_WITHIN_MS)

    # The introduction and the sections, with their titles.
    expect(page.locator("h1")).to_contain_text("Billing API (Lago v1 compatible)")
    expect(page.get_by_role("menuitem", name="Subscriptions", exact=True)).to_be_visible()
    # The operation's own description and its errors, from billing/api/descriptions.py.
    expect(operation.get_by_text("Two upserts of the same new")).to_be_visible()
    expect(operation.get_by_role("cell", name="country: not_a_valid_country_code")).to_be_visible()
    # Its response example, then its request as a curl command.
    expect(operation.get_by_text('"Globex Corporation"').first).to_be_visible()
    screenshot(page, "01-upsert-customer")
    operation.get_by_role("tab", name="curl").click()
    expect(operation.get_by_text('curl -X POST "$BILLING_URL/api/v1/customers"')).to_be_visible()
    screenshot(page, "02-upsert-customer-curl")

    # Fonts are the system's: no web font was declared, let alone fetched.
    assert page.evaluate("document.fonts.size") == 0
    heading_font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert heading_font.startswith("system-ui"), heading_font
    # Redoc's credit logo (cdn.redoc.ly) was never asked for.
    assert page.evaluate("document.querySelector('img[alt=\"redocly logo\"]').getAttribute('src')") is None
    assert outside_requests == []
