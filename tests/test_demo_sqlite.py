"""The README's first command, `bash scripts/demo.sh`, on SQLite: set-up, demo data, pages and API.

The demo's code paths (SQLite, DEBUG, Celery tasks in-process, static files served by runserver) run
nowhere else in the suite. Here the script's own set-up runs (DEMO_SETUP_ONLY=1: migrate,
collectstatic, seed_demo) on a temporary SQLite file, in the demo's environment: a fresh machine's
variables only, so no REDIS_URL, no CELERY_BROKER_URL and no SECRET_KEY, and DEBUG left to the
script. Only pip is skipped (DEMO_SKIP_INSTALL=1): the test's virtualenv already holds
requirements.txt. The test then starts the runserver the script execs, on a free loopback port, with
`--noreload`: the autoreloader would restart the server mid-test whenever a file of the checkout
changes (someone editing while the suite runs), and it is a second process to kill.

The staff pages are read over HTTP as the demo's staff user and the API is called with Lago's Python
client, with the login and the key the script printed. The demo runs on the real clock (a
subprocess cannot be pinned), so every expectation comes from the demo itself (a page against the
API's answer) or from seed_demo's constants, never from today's date. The tests share one demo and
run in file order; those that write (a customer upserted then deleted, one event) compare before
with after, so they hold whatever ran first.
"""

import html
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lago_python_client.client import Client as LagoClient
from lago_python_client.models import Customer as LagoCustomer
from lago_python_client.models.event import Event

from billing.templatetags.money import money
from customers.management.commands.seed_demo import DEMO_CUSTOMERS, DEMO_ORGANIZATION, MONTHS_OF_HISTORY, SUBSCRIBED
from invoicing.views import INVOICES_PER_PAGE

ROOT = Path(__file__).resolve().parent.parent
SETUP_TIMEOUT = 300.0  # migrate, collectstatic and seed_demo, on a busy two-core machine
SERVE_DEADLINE = 60.0  # a deadline, not a wait: the loop returns as soon as the server answers
REQUEST_TIMEOUT = 30.0
# The only variables a fresh machine's shell passes on: none of the settings' (DATABASE_URL,
# REDIS_URL, CELERY_*, SECRET_KEY, DEBUG, ...) leaks in from the test run.
MACHINE_VARIABLES = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR")
STAFF_LOGIN = re.compile(r"^Staff login: (\S+) / (\S+)$", re.MULTILINE)
API_KEY = re.compile(r"^API key[^:]*: (\S+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def printed(pattern: re.Pattern, output: str) -> list:
    """What seed_demo printed on the line `pattern` matches: exactly one such line."""
    found = pattern.findall(output)
    assert len(found) == 1, f"expected one line matching {pattern.pattern!r}:\n{output}"
    return found


def demo_environment(database: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in MACHINE_VARIABLES if name in os.environ}
    env.update(DATABASE_URL=f"sqlite:///{database}", DEMO_SKIP_INSTALL="1", DEMO_SETUP_ONLY="1")
    return env


def run_demo_set_up(env: dict[str, str]) -> str:
    """`bash scripts/demo.sh` up to its server: what it printed (its exit status checked)."""
    finished = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    return output


class DemoServer:
    """The script's `manage.py runserver`, without the autoreloader; its output in a file."""

    def __init__(self, env: dict[str, str], port: int, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [".venv/bin/python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=ROOT,
                # The script exports DEBUG=true before it runs anything; the server gets the same.
                env={**env, "DEBUG": "true", "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/login/", timeout=REQUEST_TIMEOUT).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            try:  # a short pause, cut short if the server dies
                code = self.process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"runserver exited with {code}:\n{self.output()}")
        pytest.fail(f"runserver never answered:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Demo:
    url: str
    env: dict[str, str]
    output: str  # what the script printed
    email: str
    password: str
    api_key: str
    seconds_to_set_up: float
    seconds_to_serve: float


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    env = demo_environment(folder / "demo.sqlite3")
    started = time.monotonic()
    output = run_demo_set_up(env)
    set_up = time.monotonic()
    [(email, password)] = printed(STAFF_LOGIN, output)
    [api_key] = printed(API_KEY, output)
    server = DemoServer(env, free_port(), folder / "runserver.log")
    try:
        server.wait_until_serving(set_up + SERVE_DEADLINE)
        yield Demo(
            url=server.url,
            env=env,
            output=output,
            email=email,
            password=password,
            api_key=api_key,
            seconds_to_set_up=set_up - started,
            seconds_to_serve=time.monotonic() - set_up,
        )
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lago(demo) -> LagoClient:
    return LagoClient(api_key=demo.api_key, api_url=demo.url)


@pytest.fixture(scope="module")
def staff(demo) -> Iterator[httpx.Client]:
    """A browser-like session logged in with the printed staff login, through the login form."""
    with httpx.Client(base_url=demo.url, timeout=REQUEST_TIMEOUT) as client:
        form = client.get("/login/")
        assert form.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        answer = client.post(
            "/login/",
            data={"csrfmiddlewaretoken": token, "username": demo.email, "password": demo.password, "next": ""},
        )
        # Logged in: redirected into the app (a wrong login shows the form again, with a 200).
        assert answer.status_code == 302, answer.text
        landing = client.get(answer.headers["location"], follow_redirects=True)
        assert landing.status_code == 200 and landing.url.path != "/login/", landing.url
        yield client


def text_of(page: httpx.Response) -> str:
    """A page's visible text, tags dropped and whitespace collapsed, for matching words not markup."""
    assert page.status_code == 200, f"{page.request.url}: {page.status_code}\n{page.text[:2000]}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def htmx_get(client: httpx.Client, path: str, target: str) -> httpx.Response:
    """What htmx asks for when a link swaps `#target`: the fragment, not the whole page."""
    return client.get(path, headers={"HX-Request": "true", "HX-Target": target})


def live_customer_count(lago: LagoClient) -> int:
    return lago.customers.find_all({"per_page": 1})["meta"]["total_count"]


# The set-up -------------------------------------------------------------------------------------


def test_the_script_sets_up_the_demo_on_sqlite(demo):
    print(f"demo.sh set-up {demo.seconds_to_set_up:.1f} s, runserver answering {demo.seconds_to_serve:.1f} s later")
    assert f"Demo organization: {DEMO_ORGANIZATION}" in demo.output
    assert "Open http" not in demo.output  # DEMO_SETUP_ONLY: no server started, nothing announced
    # On the SQLite file it was given (DATABASE_URL), not the checkout's db.sqlite3.
    assert Path(demo.env["DATABASE_URL"].removeprefix("sqlite:///")).stat().st_size > 100_000
    # The README prints the same staff login as the script.
    readme = (ROOT / "README.md").read_text()
    assert f"`{demo.email}`" in readme and f"`{demo.password}`" in readme
    # The URLs the script announces answer: the site sends a visitor to log in, the docs page is
    # served offline (Redoc from the sidecar package).
    with httpx.Client(base_url=demo.url, timeout=REQUEST_TIMEOUT, follow_redirects=True) as visitor:
        assert visitor.get("/").url.path == "/login/"
        docs = visitor.get("/api/docs")
        assert docs.status_code == 200 and "redoc" in docs.text.lower()


# The staff pages ---------------------------------------------------------------------------------


def test_customers_list_with_its_static_files_and_search(staff):
    page = staff.get("/customers/")
    text = text_of(page)
    for name, external_id, *_ in DEMO_CUSTOMERS:
        assert name in text and external_id in text
    # DEBUG's static files (runserver serves them, htmx's debug script included) all load.
    assets = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text))
    assert any(asset.endswith(".css") for asset in assets) and any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        loaded = staff.get(asset)
        assert loaded.status_code == 200 and loaded.content, asset

    found = text_of(staff.get("/customers/", params={"q": "globex"}))
    assert "Globex GmbH" in found and "Acme Corporation" not in found


def test_customer_page_and_its_usage_tab_show_the_current_usage(staff, lago):
    external_id = SUBSCRIBED[0]
    customer = lago.customers.find(external_id)
    [subscription] = lago.subscriptions.find_all({"external_customer_id": external_id})["subscriptions"]
    usage = lago.customers.current_usage(external_id, subscription.external_id)
    # Months of seeded events, the current month's included.
    assert usage.amount_cents > 0 and sum(charge.events_count for charge in usage.charges_usage) > 0

    overview = text_of(staff.get(f"/customers/{customer.lago_id}/"))
    assert customer.name in overview and "Usage" in overview

    # The tab as a click on it loads it: the fragment only.
    tab = htmx_get(staff, f"/customers/{customer.lago_id}/usage/", "tab-panel")
    assert "<html" not in tab.text
    text = text_of(tab)
    assert subscription.external_id in text
    assert "Current usage" in text
    total = re.search(r'data-testid="usage-total">([^<]+)<', tab.text).group(1)
    assert total == money(usage.amount_cents, usage.currency)
    for charge in usage.charges_usage:
        row = re.search(rf'<tr data-charge="{charge.billable_metric.code}">(.*?)</tr>', tab.text, re.DOTALL)
        assert row, charge.billable_metric.code
        cells = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row.group(1))).split())
        assert str(charge.events_count) in cells.split()
        assert money(charge.amount_cents, usage.currency) in cells


def test_invoices_list_and_a_past_invoice_with_its_usage_fees(staff, lago):
    listed = lago.invoices.find_all({"per_page": INVOICES_PER_PAGE})["invoices"]
    assert len(listed) == INVOICES_PER_PAGE  # the demo has more than a page of them
    page = text_of(staff.get("/invoices/"))
    # The page lists the API's first page, newest first, in the same order.
    position = 0
    for invoice in listed:
        position = page.find(invoice.number, position)
        assert position != -1, (invoice.number, [invoice.number for invoice in listed], page)
        position += len(invoice.number)
    assert {invoice.customer.name for invoice in listed} <= {name for name, *_ in DEMO_CUSTOMERS}
    for invoice in listed:
        assert money(invoice.total_amount_cents, invoice.currency) in page

    # The oldest billed period of a subscribed customer: a whole past month of usage.
    history = lago.invoices.find_all(
        {"external_customer_id": SUBSCRIBED[1], "invoice_type": "subscription", "per_page": 100}
    )["invoices"]
    invoice = lago.invoices.find(history[-1].lago_id)
    usage_fees = [fee for fee in invoice.fees.__root__ if fee.item.type == "charge" and fee.amount_cents > 0]
    assert invoice.status == "finalized" and usage_fees
    detail = text_of(staff.get(f"/invoices/{invoice.lago_id}/"))
    assert invoice.number in detail and invoice.customer.name in detail
    for fee in usage_fees:
        assert fee.item.code in detail and money(fee.amount_cents, fee.amount_currency) in detail
    assert money(invoice.total_amount_cents, invoice.currency) in detail


# The API, through Lago's Python client -----------------------------------------------------------


def test_customers_listed_upserted_and_deleted_with_its_cascade_in_process(lago, staff):
    listed = lago.customers.find_all({"per_page": 100})
    external_ids = {customer.external_id for customer in listed["customers"]}
    assert {external_id for _, external_id, *_ in DEMO_CUSTOMERS} <= external_ids
    count = listed["meta"]["total_count"]

    external_id = f"demo_test_{uuid.uuid4().hex[:8]}"
    created = lago.customers.create(LagoCustomer(external_id=external_id, name="Tyrell Corp", currency="USD"))
    updated = lago.customers.create(LagoCustomer(external_id=external_id, city="Los Angeles"))
    assert updated.lago_id == created.lago_id
    assert (updated.name, updated.city, updated.currency) == ("Tyrell Corp", "Los Angeles", "USD")
    assert live_customer_count(lago) == count + 1

    # Deleting starts the cascade's Celery task on commit: with no broker it has run before the answer.
    lago.customers.destroy(external_id)
    assert live_customer_count(lago) == count
    assert "Deletion finished" in text_of(staff.get(f"/customers/{created.lago_id}/"))


def test_an_event_moves_the_current_usage(lago):
    external_id = SUBSCRIBED[2]
    [subscription] = lago.subscriptions.find_all({"external_customer_id": external_id})["subscriptions"]

    def api_calls():
        usage = lago.customers.current_usage(external_id, subscription.external_id)
        [charge] = [charge for charge in usage.charges_usage if charge.billable_metric.code == "api_calls"]
        return charge

    before = api_calls()
    lago.events.create(
        Event(
            transaction_id=f"demo_test_{uuid.uuid4().hex}",
            external_subscription_id=subscription.external_id,
            code="api_calls",
        )
    )
    after = api_calls()
    assert after.events_count == before.events_count + 1
    assert Decimal(after.units) == Decimal(before.units) + 1


def test_invoices_bill_the_months_of_history_of_every_subscription(lago):
    for external_id in SUBSCRIBED:
        invoices = lago.invoices.find_all(
            {"external_customer_id": external_id, "invoice_type": "subscription", "per_page": 100}
        )["invoices"]
        # One per ended month since the subscription started, half a year ago.
        assert len(invoices) >= MONTHS_OF_HISTORY, external_id
        assert {invoice.status for invoice in invoices} == {"finalized"}, external_id
        assert all(invoice.fees_amount_cents > 0 for invoice in invoices), external_id


# Running it again ---------------------------------------------------------------------------------


def test_a_second_run_prints_a_new_key_and_keeps_the_data(demo, lago):
    """The README: "a fresh API key (a new one on every run)". The set-up again, on the same database.

    Last in the file: seed_demo sets the staff password again, which ends the staff session."""
    count = live_customer_count(lago)
    output = run_demo_set_up(demo.env)
    [api_key] = printed(API_KEY, output)
    assert api_key != demo.api_key
    assert printed(STAFF_LOGIN, output) == [(demo.email, demo.password)]
    again = LagoClient(api_key=api_key, api_url=demo.url)
    assert live_customer_count(again) == count  # the demo data was not seeded twice
