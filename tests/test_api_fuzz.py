"""Schemathesis fuzzing of every API operation against the OpenAPI schema the server publishes, deep
enough to reach each operation's success path.

Before the first operation, `tests.seeding.seed_every_resource` fills one organization with one of
everything the API serves (metrics, plans, customers, subscriptions with events, draft, finalized
and paid invoices, credit notes, coupons and applied coupons, add-ons, wallets and their
transactions, webhook endpoints), under a pinned clock, in a transaction rolled back after the last
operation. Each generated request then runs in a savepoint of its own, rolled back afterwards, so
every example starts from that same data: a DELETE cannot starve later examples, and a failure
found by Hypothesis replays and shrinks against the same rows.

Four in five generated cases are steered (`steer_case`, a `flatmap_case` hook drawing through
Hypothesis, so runs repeat and failures shrink): path parameters take seeded values
(`PATH_VALUES`); query filters and the body fields that must name something that exists (codes,
external ids, ids) take seeded values, and the fields whose valid values the schema does not spell
out (currencies, amounts that must add up, future dates, the names the services require) take
valid ones (`STEERING`); the other fields keep what Hypothesis generated, awkward strings
included. The rest go out as generated. The coverage phase's boundary cases keep their bodies and
queries but meet seeded objects in turn (`_aim_coverage_case`), so an update's validation runs
against a real row rather than stopping at a 404.

Every response is tallied per operation (`tests.fuzz_report`): an operation that never answered 2xx
fails its test (an error at its teardown, once all its examples ran), unless
`OPERATIONS_WITHOUT_2XX` names it with a reason; the table of cases, 2xx, 4xx and 5xx is printed at
the end of the module. Any 5xx and any response that breaks the schema fails at once (`CHECKS`).

`FUZZ_MAX_EXAMPLES` (15) sets the generated examples per operation and `FUZZ_COVERAGE` (`positive`)
the coverage phase's cases (`all` adds a wrong type for every field): the defaults keep the run
short enough for every test run, the README gives the longer run for before a release.

The schema is loaded at import and used through `schema.parametrize()` (one test per operation):
`schemathesis.pytest.from_fixture` 4.32 does not run under pytest 9 (it sets `Function._nodeid`).
Fetching the schema needs no database, which pytest-django blocks outside tests.
"""

import copy
import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import hypothesis
import pytest
import schemathesis
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from plans.services import create_plan
from tests.fuzz_report import Tally, no_success_message, table
from tests.seeding import SeededResources, seed_every_resource

SCHEMA_PATH = "/api/schema?format=json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
# The coverage phase's boundary cases: the valid ones by default ("positive", about 950 cases); "all"
# adds a wrong type for every field, some 2,300 more, for the longer run.
COVERAGE_MODE = os.environ.get("FUZZ_COVERAGE", "positive")
# The seeded data and every request see this clock (ticking from here): the same dates each run.
CLOCK = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)

# Operations allowed to finish without a 2xx, each with the reason. Empty: every operation's
# success path is reached.
OPERATIONS_WITHOUT_2XX: dict[str, str] = {}

# Strings that have broken web apps before, mixed into every generated string now and then.
AWKWARD_STRINGS = [
    "\x00",
    "nul\x00inside",
    "line\nbreak",
    "trailing newline\n",
    " ",
    "%",
    "%00",
    "..%2F..%2F",
    "ü€😀",
    "\u202etxet",
    "' OR '1'='1",
    "x" * 300,
]

# Metadata values reach the database only when the whole body is valid: aim some awkward ones there.
AWKWARD_METADATA_VALUES = ["nul\x00inside", "line\nbreak", "ü€😀", "v" * 100, "v" * 101]

# Values the customer services accept where the schema only says "string": without them nearly every
# generated customer body is a 422 and the success responses of its PUT and POST would go unchecked.
VALID_CUSTOMER_VALUES = {
    "currency": ["EUR", "USD", "JPY"],
    "country": ["FR", "us", "DE"],
    "timezone": ["UTC", "Europe/Paris", "America/New_York"],
    "email": ["billing@example.test", "a@example.test, b@example.test"],
    "billing_configuration.payment_provider": ["stripe", "gocardless", "adyen"],
    "billing_configuration.invoice_grace_period": [0, 7, 365],
    "metadata[*].key": ["plan", "region", "vat"],
}


def _dictionary_name(field: str) -> str:
    return "valid-" + field.replace("[*]", "").replace(".", "-").replace("_", "-")


FUZZ_CONFIG = {
    "seed": 20240601,
    "dictionaries": {
        "awkward-strings": {"values": AWKWARD_STRINGS},
        "awkward-metadata-values": {"values": AWKWARD_METADATA_VALUES},
        **{_dictionary_name(field): {"values": values} for field, values in VALID_CUSTOMER_VALUES.items()},
    },
    "parameters": {
        "body.customer.metadata[*].value": {"dictionary": "awkward-metadata-values", "probability": 0.4},
        **{
            f"body.customer.{field}": {"dictionary": _dictionary_name(field), "probability": 0.8}
            for field in VALID_CUSTOMER_VALUES
        },
    },
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
        "dictionaries": {"string": {"dictionary": "awkward-strings", "probability": 0.15}},
        # The API key is ours to send (below); generated Authorization headers would only test 401s.
        "with-security-parameters": False,
    },
    "phases": {
        "stateful": {"enabled": False},
        "coverage": {"generation": {"mode": COVERAGE_MODE}},
    },
}


def _load_schema() -> schemathesis.BaseSchema:
    """The schema as the server publishes it, fetched in-process (the view needs no database)."""
    config = schemathesis.Config.from_dict(FUZZ_CONFIG)
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, WSGIHandler(), config=config)


schema = _load_schema()

# What the run saw, per operation label ("GET /api/v1/customers/{external_id}").
TALLIES: dict[str, Tally] = defaultdict(Tally)
# The seeded objects of the running module, for the steering hook (set by the `fuzz_world` fixture).
SEEDED: dict[str, SeededResources] = {}


# Steering ---------------------------------------------------------------------------------------


@cache
def _input_fields(label: str, root: str) -> frozenset[str]:
    """The fields the schema declares for the object under `root` in this operation's body: only
    these survive steering, as the API refuses undeclared ones (422) and the point is its 2xx."""
    components = schema.raw_schema["components"]["schemas"]
    operation = schema.find_operation_by_label(label)
    reference = operation.definition.raw["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    inner = components[reference.rsplit("/", 1)[1]]["properties"][root]
    inner_reference = inner.get("$ref") or inner.get("items", {}).get("$ref")
    return frozenset(components[inner_reference.rsplit("/", 1)[1]].get("properties", {}))


class Steer:
    """Draws, through Hypothesis, the seeded or valid values one case is steered to."""

    def __init__(self, draw: Callable, seeded: SeededResources, case: schemathesis.Case):
        self.draw = draw
        self.seeded = seeded
        self.case = case

    def pick(self, values: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(values)))

    def chance(self, percent: int) -> bool:
        """True about `percent` times in 100. Hypothesis favours small integers, so its simplest
        draw (0) gives the likelier outcome."""
        number = self.draw(st.integers(0, 99))
        return number < percent if percent >= 50 else number >= 100 - percent

    def either(self, generated: Any, values: Sequence[Any], percent: int = 80) -> Any:
        """A seeded or valid value most of the time, else what Hypothesis generated."""
        return self.pick(values) if self.chance(percent) else generated

    def path(self, **values: Sequence[Any]) -> None:
        self.case.path_parameters = {
            name: self.either(self.case.path_parameters.get(name), choices, 90) for name, choices in values.items()
        }

    def query(self, percent: int = 70, **values: Sequence[Any]) -> None:
        """Filters set to one of `values` or left out (`percent` of the time), else as generated."""
        query = dict(self.case.query or {})
        for name, choices in values.items():
            value = self.either(query.get(name), [*choices, None], percent)
            if value is None:
                query.pop(name, None)
            else:
                query[name] = value
        self.case.query = query

    def pages(self) -> None:
        self.query(page=[1, 2], per_page=[1, 20, 100])

    def body(self, root: str) -> dict[str, Any]:
        """The generated object under `root`, declared fields only; steer it, then call `done`."""
        body = self.case.body if isinstance(self.case.body, dict) else {}
        inner = body.get(root)
        inner = copy.deepcopy(inner) if isinstance(inner, dict) else {}
        fields = _input_fields(self.case.operation.label, root)
        return {key: value for key, value in inner.items() if key in fields}

    def done(self, root: str, inner: Any) -> None:
        self.case.body = {root: inner}

    def named(self, fields: dict[str, Any], *names: str) -> None:
        """Names and codes the services require (the schema has them optional): the generated text
        when there is some, else a fresh one."""
        for name in names:
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip() or self.chance(20):
                fields[name] = f"fuzz_{name}_{self.draw(st.integers(0, 10**6))}"

    def future(self, days: Sequence[int] = (1, 30, 400)) -> str:
        return (timezone.now() + timedelta(days=self.pick(days))).strftime("%Y-%m-%dT%H:%M:%SZ")

    def credits(self) -> str:
        # Whole cents at the seeded wallet's rate (1) and at the rates steered to (0.5, 1).
        return self.pick(["1", "2.5", "10.0", "20"])


def _customer_ids(s: Steer) -> Sequence[str]:
    return s.seeded.customer_external_ids


def _customer_body(s: Steer) -> None:
    customer = s.body("customer")
    if s.case.method == "POST" and s.chance(60):
        customer["external_id"] = s.pick(_customer_ids(s))
    if customer.get("currency") not in (None, "EUR"):
        # Seeded customers bill in EUR already: another currency is refused once they have invoices.
        customer["currency"] = s.either(customer["currency"], ["EUR"], 70)
    if s.case.method == "PUT" or "external_id" in customer:
        customer.setdefault("external_id", s.case.path_parameters.get("external_id") or s.pick(_customer_ids(s)))
    s.done("customer", customer)


def _metric_body(s: Steer) -> None:
    metric = s.body("billable_metric")
    if s.case.method == "POST":
        s.named(metric, "name", "code")
    metric["aggregation_type"] = s.either(
        metric.get("aggregation_type"), ["count_agg", "sum_agg", "max_agg", "unique_count_agg", "latest_agg"]
    )
    if metric["aggregation_type"] != "count_agg" and s.chance(80):
        metric["field_name"] = s.pick(["units", "gb", "seats"])
    if s.case.method == "PUT" and s.chance(50):
        # A charged metric keeps its code, aggregation and field: change the rest.
        for locked in ("code", "aggregation_type", "field_name"):
            metric.pop(locked, None)
    s.done("billable_metric", metric)


def _charges(s: Steer) -> list[dict[str, Any]]:
    return [
        {
            "billable_metric_id": s.pick(s.seeded.metric_ids),
            "charge_model": s.pick(["standard", "package", "graduated", "volume"]),
            "properties": s.pick([None, {"amount": "0.5"}]),
            "invoice_display_name": s.pick([None, "Usage"]),
        }
        for _ in range(s.pick([0, 1, 2]))
    ]


def _plan_body(s: Steer) -> None:
    plan = s.body("plan")
    if s.case.method == "POST":
        s.named(plan, "name", "code")
    plan["interval"] = s.either(plan.get("interval"), ["monthly", "yearly", "weekly", "quarterly"])
    plan["amount_currency"] = s.either(plan.get("amount_currency"), ["EUR", "USD"])
    plan["amount_cents"] = s.either(plan.get("amount_cents"), [0, 1999, 10**6])
    plan["trial_period"] = s.either(plan.get("trial_period"), [None, 0, 14])
    if s.chance(70):
        plan["charges"] = _charges(s)
    if s.case.method == "PUT" and s.chance(60):
        # A plan with subscriptions keeps its interval and currency.
        plan.pop("interval", None)
        plan.pop("amount_currency", None)
    s.done("plan", plan)


def _add_on_body(s: Steer) -> None:
    add_on = s.body("add_on")
    if s.case.method == "POST":
        s.named(add_on, "name", "code")
    add_on["amount_cents"] = s.either(add_on.get("amount_cents"), [0, 500, 99999])
    add_on["amount_currency"] = s.either(add_on.get("amount_currency"), ["EUR", "USD"])
    s.done("add_on", add_on)


def _coupon_body(s: Steer) -> None:
    coupon = s.body("coupon")
    if s.case.method == "POST":
        s.named(coupon, "name", "code")
    kind = s.either(coupon.get("coupon_type"), ["fixed_amount", "percentage"], 90)
    coupon["coupon_type"] = kind
    if kind == "fixed_amount":
        coupon["amount_cents"] = s.either(coupon.get("amount_cents"), [1, 2500])
        coupon["amount_currency"] = s.either(coupon.get("amount_currency"), ["EUR", "USD"])
        coupon.pop("percentage_rate", None)
    else:
        coupon["percentage_rate"] = s.either(coupon.get("percentage_rate"), [0.5, 10, 100])
        coupon.pop("amount_cents", None)
        coupon.pop("amount_currency", None)
    coupon["frequency"] = s.either(coupon.get("frequency"), ["once", "recurring", "forever"], 90)
    coupon["frequency_duration"] = s.either(coupon.get("frequency_duration"), [1, 12])
    coupon["expiration"] = s.either(coupon.get("expiration"), ["no_expiration", "time_limit"], 90)
    coupon["expiration_at"] = s.either(coupon.get("expiration_at"), [s.future()])
    if s.chance(30):
        coupon["applies_to"] = s.pick(
            [
                {"plan_codes": [s.pick(s.seeded.plan_codes)]},
                {"billable_metric_codes": [s.pick(s.seeded.metric_codes)]},
                None,
            ]
        )
    if s.case.method == "PUT" and s.case.path_parameters.get("code") not in s.seeded.unapplied_coupon_codes:
        # An applied coupon changes only its name, description and expiration.
        coupon = {key: value for key, value in coupon.items() if key in ("name", "description", "expiration")}
        coupon["expiration"] = "no_expiration"
    s.done("coupon", coupon)


def _applied_coupon_body(s: Steer) -> None:
    applied = s.body("applied_coupon")
    applied["external_customer_id"] = s.either(applied.get("external_customer_id"), _customer_ids(s), 90)
    applied["coupon_code"] = s.either(applied.get("coupon_code"), s.seeded.coupon_codes, 90)
    if s.chance(70):
        # Overrides must fit the coupon's type: leave them to the unsteered cases.
        for override in ("amount_cents", "amount_currency", "percentage_rate", "frequency", "frequency_duration"):
            applied.pop(override, None)
    s.done("applied_coupon", applied)


def _credit_note_items(s: Steer) -> tuple[str, list[dict[str, Any]], int]:
    """An invoice, items on its fees within what is left on each, and their total."""
    fee = s.pick(s.seeded.creditable_fees)
    amount = s.pick(sorted({1, max(fee.remaining_cents // 2, 1), fee.remaining_cents}))
    return fee.invoice_id, [{"fee_id": fee.fee_id, "amount_cents": amount}], amount


def _credit_note_body(s: Steer) -> None:
    note = s.body("credit_note")
    invoice_id, items, total = _credit_note_items(s)
    refund = s.pick([0, total // 2, total]) if invoice_id in s.seeded.paid_invoice_ids else 0
    note.update(invoice_id=invoice_id, items=items, credit_amount_cents=total - refund, refund_amount_cents=refund)
    note["reason"] = s.either(note.get("reason"), ["duplicated_charge", "order_change", "other"], 70)
    s.done("credit_note", note)


def _refund_status(s: Steer) -> None:
    s.path(lago_id=s.seeded.refund_credit_note_ids)
    note = s.body("credit_note")
    note["refund_status"] = s.either(note.get("refund_status"), ["pending", "succeeded", "failed"])
    s.done("credit_note", note)


def _payment_status(s: Steer) -> None:
    invoice = s.body("invoice")
    invoice["payment_status"] = s.either(invoice.get("payment_status"), ["pending", "succeeded", "failed"])
    s.done("invoice", invoice)


def _estimate_body(s: Steer) -> None:
    note = s.body("credit_note")
    invoice_id, items, _ = _credit_note_items(s)
    note.update(invoice_id=invoice_id, items=items)
    s.done("credit_note", note)


def _event(s: Steer, event: Any, position: int, percent: int) -> dict[str, Any]:
    """One event on a seeded subscription and metric; `percent` is how often each field is steered."""
    event = {key: value for key, value in event.items() if key in _EVENT_FIELDS} if isinstance(event, dict) else {}
    summed = s.chance(40)
    codes = s.seeded.summed_metric_codes if summed else s.seeded.countable_metric_codes
    event["code"] = s.either(event.get("code"), codes, percent)
    event["external_subscription_id"] = s.either(
        event.get("external_subscription_id"), s.seeded.subscription_external_ids, percent
    )
    # A seeded transaction id now and then: the duplicate must be refused with a 422, not a 500.
    transaction_id = event.get("transaction_id")
    if not isinstance(transaction_id, str) or not transaction_id or s.chance(100 - percent):
        transaction_id = f"tr_fuzz_{s.draw(st.integers(0, 10**6))}"
    event["transaction_id"] = s.either(f"{transaction_id}-{position}", s.seeded.event_transaction_ids, 5)
    event["timestamp"] = s.either(
        event.get("timestamp"), [None, str(int(timezone.now().timestamp())), "1.5e9", 1773480000], percent
    )
    if summed or s.chance(100 - percent):
        event["properties"] = s.pick([{"units": 1}, {"units": "2.5"}, {"units": 10**6}, None])
    return event


_EVENT_FIELDS = frozenset({"transaction_id", "external_subscription_id", "code", "timestamp", "properties"})


def _event_body(s: Steer) -> None:
    s.done("event", _event(s, s.body("event"), 0, 80))


def _batch_body(s: Steer) -> None:
    """A batch is refused whole for one bad event: its events are steered harder than a single one."""
    generated = s.case.body.get("events") if isinstance(s.case.body, dict) else None
    events = generated[: s.pick([1, 3, 100])] if isinstance(generated, list) and generated else [{}]
    s.done("events", [_event(s, event, position, 97) for position, event in enumerate(events)])


def _one_off_body(s: Steer) -> None:
    invoice = s.body("invoice")
    invoice["external_customer_id"] = s.either(invoice.get("external_customer_id"), _customer_ids(s), 90)
    invoice["currency"] = s.either(invoice.get("currency"), [None, "EUR"])
    invoice["fees"] = [
        {
            "add_on_code": s.pick(s.seeded.add_on_codes),
            "units": s.pick([None, 1, 2.5]),
            "unit_amount_cents": s.pick([None, 0, 1250]),
            "description": s.pick([None, "One-off"]),
        }
        for _ in range(s.pick([1, 2]))
    ]
    s.done("invoice", invoice)


def _subscription_body(s: Steer) -> None:
    subscription = s.body("subscription")
    subscription["external_customer_id"] = s.either(subscription.get("external_customer_id"), _customer_ids(s))
    subscription["plan_code"] = s.either(subscription.get("plan_code"), s.seeded.plan_codes, 90)
    s.named(subscription, "external_id")
    subscription["billing_time"] = s.either(subscription.get("billing_time"), [None, "calendar", "anniversary"])
    subscription["subscription_at"] = s.either(subscription.get("subscription_at"), [None, s.future((1, 45))])
    s.done("subscription", subscription)


def _wallet_body(s: Steer) -> None:
    wallet = s.body("wallet")
    wallet["external_customer_id"] = s.either(wallet.get("external_customer_id"), s.seeded.customers_without_wallet)
    wallet["rate_amount"] = s.either(wallet.get("rate_amount"), ["1", "0.5", "1.0"])
    wallet["currency"] = s.either(wallet.get("currency"), [None, "EUR"])
    wallet["paid_credits"] = s.either(wallet.get("paid_credits"), [None, s.credits()])
    wallet["granted_credits"] = s.either(wallet.get("granted_credits"), [None, s.credits()])
    wallet["expiration_at"] = s.either(wallet.get("expiration_at"), [None, s.future()])
    s.done("wallet", wallet)


def _wallet_update_body(s: Steer) -> None:
    wallet = s.body("wallet")
    wallet["expiration_at"] = s.either(wallet.get("expiration_at"), [None, s.future()])
    s.done("wallet", wallet)


def _wallet_transaction_body(s: Steer) -> None:
    top_up = s.body("wallet_transaction")
    top_up["wallet_id"] = s.either(top_up.get("wallet_id"), s.seeded.wallet_ids, 90)
    for kind in ("paid_credits", "granted_credits", "voided_credits"):
        top_up[kind] = s.either(top_up.get(kind), [None, s.credits()])
    s.done("wallet_transaction", top_up)


def _webhook_endpoint_body(s: Steer) -> None:
    endpoint = s.body("webhook_endpoint")
    # Public addresses: the rule against private ones stays on, and no name needs DNS.
    url = s.pick(["https://93.184.215.14/hooks", "http://1.1.1.1:8080/lago", "https://[2606:4700::1111]/w"])
    endpoint["webhook_url"] = s.either(endpoint.get("webhook_url"), [f"{url}/{s.pick(range(10**6))}"], 85)
    endpoint["signature_algo"] = s.either(endpoint.get("signature_algo"), [None, "jwt", "hmac"])
    s.done("webhook_endpoint", endpoint)


def _analytics(s: Steer, with_customer: bool = False) -> None:
    filters = {"currency": ["EUR", "eur"], "months": [1, 3, 12]}
    if with_customer:
        filters["external_customer_id"] = _customer_ids(s)
    s.query(**filters)


def _current_usage(s: Steer) -> None:
    customer, subscription = s.pick(s.seeded.subscriptions_by_customer)
    s.path(external_id=[customer])
    s.query(95, external_subscription_id=[subscription])


def _applied_coupon_path(s: Steer) -> None:
    customer, applied_coupon = s.pick(s.seeded.applied_coupons_by_customer)
    s.path(external_id=[customer], lago_id=[applied_coupon])


def _pages_and(**filters: Callable[[SeededResources], Sequence[Any]]) -> Callable[[Steer], None]:
    """Steering for a list: small pages, and filters on seeded values (a callable of the seed) or fixed ones."""

    def steer(s: Steer) -> None:
        s.pages()
        s.query(**{name: values(s.seeded) if callable(values) else values for name, values in filters.items()})

    return steer


def _customers(seeded: SeededResources) -> Sequence[str]:
    return seeded.customer_external_ids


def _invoices(seeded: SeededResources) -> Sequence[str]:
    return seeded.invoice_ids


# The seeded values each path parameter takes, per operation (also given to the coverage phase's
# cases, whose bodies and queries then meet a real object rather than a 404).
PATH_VALUES: dict[str, Callable[[SeededResources], dict[str, Sequence[str]]]] = {
    "/api/v1/add_ons/{code}": lambda seeded: {"code": seeded.add_on_codes},
    "/api/v1/billable_metrics/{code}": lambda seeded: {"code": seeded.metric_codes},
    "/api/v1/coupons/{code}": lambda seeded: {"code": seeded.coupon_codes},
    "/api/v1/credit_notes/{lago_id}": lambda seeded: {"lago_id": seeded.credit_note_ids},
    "/api/v1/credit_notes/{lago_id}/void": lambda seeded: {"lago_id": seeded.voidable_credit_note_ids},
    "/api/v1/customers/{external_id}": lambda seeded: {"external_id": _customers(seeded)},
    "/api/v1/customers/{external_id}/applied_coupons": lambda seeded: {"external_id": _customers(seeded)},
    "/api/v1/customers/{external_id}/applied_coupons/{lago_id}": lambda seeded: {
        "external_id": [pair[0] for pair in seeded.applied_coupons_by_customer],
        "lago_id": seeded.applied_coupon_ids,
    },
    "/api/v1/customers/{external_id}/current_usage": lambda seeded: {
        "external_id": [pair[0] for pair in seeded.subscriptions_by_customer]
    },
    "/api/v1/customers/{external_id}/deletion_preview": lambda seeded: {"external_id": _customers(seeded)},
    "/api/v1/events/{transaction_id}": lambda seeded: {"transaction_id": seeded.event_transaction_ids},
    "/api/v1/invoices/{lago_id}": lambda seeded: {"lago_id": _invoices(seeded)},
    "/api/v1/invoices/{lago_id}/finalize": lambda seeded: {"lago_id": seeded.draft_invoice_ids},
    "/api/v1/invoices/{lago_id}/refresh": lambda seeded: {"lago_id": seeded.draft_invoice_ids},
    "/api/v1/invoices/{lago_id}/void": lambda seeded: {"lago_id": seeded.finalized_invoice_ids},
    "/api/v1/plans/{code}": lambda seeded: {"code": seeded.plan_codes},
    "/api/v1/subscriptions/{external_id}": lambda seeded: {"external_id": seeded.subscription_external_ids},
    "/api/v1/wallet_transactions/{lago_id}": lambda seeded: {"lago_id": seeded.wallet_transaction_ids},
    "/api/v1/wallets/{lago_id}": lambda seeded: {"lago_id": seeded.wallet_ids},
    "/api/v1/wallets/{lago_id}/wallet_transactions": lambda seeded: {"lago_id": seeded.wallet_ids},
    "/api/v1/webhook_endpoints/{lago_id}": lambda seeded: {"lago_id": seeded.webhook_endpoint_ids},
}

# Steering beyond the path: query filters and bodies, per operation label.
STEERING: dict[str, Callable[[Steer], None]] = {
    "GET /api/v1/add_ons": _pages_and(),
    "POST /api/v1/add_ons": _add_on_body,
    "PUT /api/v1/add_ons/{code}": _add_on_body,
    "GET /api/v1/analytics/gross_revenue": lambda s: _analytics(s, with_customer=True),
    "GET /api/v1/analytics/invoice_collection": _analytics,
    "GET /api/v1/analytics/invoiced_usage": _analytics,
    "GET /api/v1/analytics/mrr": _analytics,
    "GET /api/v1/analytics/overdue_balance": lambda s: _analytics(s, with_customer=True),
    "GET /api/v1/applied_coupons": _pages_and(
        external_customer_id=_customers,
        status=["active", "terminated"],
        **{"coupon_code[]": lambda seeded: seeded.coupon_codes},
    ),
    "POST /api/v1/applied_coupons": _applied_coupon_body,
    "GET /api/v1/billable_metrics": _pages_and(),
    "POST /api/v1/billable_metrics": _metric_body,
    "PUT /api/v1/billable_metrics/{code}": _metric_body,
    # A metric that a plan charges cannot go: mostly the uncharged one.
    "DELETE /api/v1/billable_metrics/{code}": lambda s: s.path(
        code=s.seeded.uncharged_metric_codes * 3 + s.seeded.metric_codes[:1]
    ),
    "GET /api/v1/coupons": _pages_and(),
    "POST /api/v1/coupons": _coupon_body,
    "PUT /api/v1/coupons/{code}": _coupon_body,
    "GET /api/v1/credit_notes": _pages_and(
        external_customer_id=_customers,
        invoice_id=lambda seeded: seeded.finalized_invoice_ids,
        reason=["other", "order_change"],
        credit_status=["available", "voided"],
        refund_status=["pending", "succeeded"],
    ),
    "POST /api/v1/credit_notes": _credit_note_body,
    "PUT /api/v1/credit_notes/{lago_id}": _refund_status,
    "PUT /api/v1/invoices/{lago_id}": _payment_status,
    "POST /api/v1/credit_notes/estimate": _estimate_body,
    "GET /api/v1/customers": _pages_and(search_term=["Seeded", "acme"]),
    "POST /api/v1/customers": _customer_body,
    "PUT /api/v1/customers/{external_id}": _customer_body,
    "GET /api/v1/customers/{external_id}/applied_coupons": _pages_and(status=["active", "terminated"]),
    "DELETE /api/v1/customers/{external_id}/applied_coupons/{lago_id}": _applied_coupon_path,
    "GET /api/v1/customers/{external_id}/current_usage": _current_usage,
    "POST /api/v1/events": _event_body,
    "POST /api/v1/events/batch": _batch_body,
    "GET /api/v1/invoices": _pages_and(
        external_customer_id=_customers,
        status=["draft", "finalized"],
        payment_status=["pending", "succeeded"],
        invoice_type=["subscription", "one_off", "credit"],
    ),
    "POST /api/v1/invoices": _one_off_body,
    "GET /api/v1/plans": _pages_and(),
    "POST /api/v1/plans": _plan_body,
    "PUT /api/v1/plans/{code}": _plan_body,
    "GET /api/v1/subscriptions": _pages_and(
        external_customer_id=_customers, plan_code=lambda seeded: seeded.plan_codes
    ),
    "POST /api/v1/subscriptions": _subscription_body,
    "GET /api/v1/subscriptions/{external_id}": lambda s: s.query(status=["active"]),
    "DELETE /api/v1/subscriptions/{external_id}": lambda s: s.query(status=["active"]),
    "POST /api/v1/wallet_transactions": _wallet_transaction_body,
    "GET /api/v1/wallets": _pages_and(external_customer_id=_customers),
    "POST /api/v1/wallets": _wallet_body,
    "PUT /api/v1/wallets/{lago_id}": _wallet_update_body,
    "GET /api/v1/wallets/{lago_id}/wallet_transactions": _pages_and(
        status=["settled", "pending"], transaction_type=["inbound", "outbound"]
    ),
    "GET /api/v1/webhook_endpoints": _pages_and(),
    "POST /api/v1/webhook_endpoints": _webhook_endpoint_body,
    "PUT /api/v1/webhook_endpoints/{lago_id}": _webhook_endpoint_body,
}


# Share of the generated cases that are steered; the rest go out as Hypothesis made them.
STEERED_PERCENT = 80


def steer_case(context, case: schemathesis.Case) -> st.SearchStrategy:
    """The `flatmap_case` hook: most cases of an operation steered to the seeded objects."""
    paths = PATH_VALUES.get(case.operation.path)
    steering = STEERING.get(case.operation.label)
    if paths is None and steering is None:
        return st.just(case)  # nothing to steer: Hypothesis may see the operation's few cases exhausted

    @st.composite
    def steered(draw: Callable) -> schemathesis.Case:
        if draw(st.integers(0, 99)) >= STEERED_PERCENT:
            return case
        steer = Steer(draw, SEEDED["current"], case)
        if paths is not None:
            steer.path(**paths(steer.seeded))
        if steering is not None:
            steering(steer)
        return case

    return steered()


def _aim_coverage_case(case: schemathesis.Case, turn: int) -> None:
    """A coverage-phase case that does not probe the path gets seeded path values, in turn, so
    that its query or body is checked against a real object."""
    paths = PATH_VALUES.get(case.operation.path)
    meta = case.meta
    if paths is None or meta is None or meta.phase.name != TestPhase.COVERAGE:
        return
    if getattr(meta.phase.data, "parameter_location", None) == ParameterLocation.PATH:
        return
    values = paths(SEEDED["current"])
    if all(case.path_parameters.get(name) in choices for name, choices in values.items()):
        return  # aimed already: Hypothesis replays a failing example as it first ran
    case.path_parameters = {name: choices[turn % len(choices)] for name, choices in values.items()}


# Fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_world(request, django_db_setup, django_db_blocker):
    """One seeded organization and its API key for the whole module, rolled back at its end; the
    table of what each operation answered is printed then."""
    with django_db_blocker.unblock(), time_machine.travel(CLOCK, tick=True), transaction.atomic():
        organization = OrganizationFactory(name="Fuzz Billing")
        _, api_key = create_api_key(organization=organization)
        SEEDED["current"] = seed_every_resource(organization)
        try:
            yield api_key
        finally:
            SEEDED.clear()
            transaction.set_rollback(True)
    _print_table(request.config)


def _print_table(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not TALLIES:
        return
    with capture.global_and_fixture_disabled():  # else the table would be captured with the test's output
        reporter.write_line("")
        reporter.write_sep("-", "API fuzz: generated cases and their answers, per operation")
        for line in table(TALLIES):
            reporter.write_line(line)


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Keep the test's database connection across in-process requests.

    A real server closes stale connections at the start and end of each request; here that would
    close the connection that holds the test's transaction (Django's test client does the same).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def reaches_success_path(request):
    """After all of an operation's examples: it answered 2xx at least once (else this test fails)."""
    yield
    label = request.node.operation_label
    tally = TALLIES[label]
    if tally.failed or label in OPERATIONS_WITHOUT_2XX:
        return
    if tally.successes == 0:
        pytest.fail(no_success_message(label, tally), pytrace=False)


# Each example runs in its own savepoint (below), so the function-scoped fixtures are a fixed
# starting state rather than state leaking between examples. Successful writes (billing a
# termination, finalizing a draft) take longer than Hypothesis' default deadline on a loaded machine.
SUPPRESSED = [hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow]


def _call_in_savepoint(case: schemathesis.Case, tally: Tally | None = None, headers: dict | None = None):
    with transaction.atomic():
        try:
            response = case.call(headers=headers)
            if tally is not None:
                tally.record(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"headers": headers})
            return response
        except Exception:
            if tally is not None:
                tally.failed = True
            raise
        finally:
            transaction.set_rollback(True)


@schema.hooks.apply(steer_case, name="flatmap_case")
@schema.parametrize()
@hypothesis.settings(suppress_health_check=SUPPRESSED, deadline=None)
def test_api_conforms_to_its_schema(case, fuzz_world, db, reaches_success_path):
    tally = TALLIES[case.operation.label]
    _aim_coverage_case(case, turn=tally.cases)
    _call_in_savepoint(case, tally, headers={"Authorization": f"Bearer {fuzz_world}"})


@schema.parametrize()
@hypothesis.settings(max_examples=3, phases=[hypothesis.Phase.generate], suppress_health_check=SUPPRESSED)
def test_api_without_key_answers_401(case, db):
    case.headers = {key: value for key, value in (case.headers or {}).items() if key.lower() != "authorization"}
    response = _call_in_savepoint(case)
    assert response.status_code == 401, response.text
    assert json.loads(response.text) == {"status": 401, "error": "Unauthorized"}


def test_a_date_before_year_1000_is_refused(api, organization):
    """Found by this fuzz run: a subscription starting in year 130 was stored and answered as
    "130-12-18T14:13:24Z", which no client reads as a date (the API writes years with strftime).
    Dates before year 1000 are refused now, in UTC: an offset cannot slip one through."""
    create_plan(
        organization=organization,
        data={"name": "Basic", "code": "basic", "interval": "monthly", "amount_cents": 100, "amount_currency": "EUR"},
    )

    def subscribe(external_id: str, subscription_at: str):
        body = {"external_customer_id": "cust_1", "plan_code": "basic", "external_id": external_id}
        return api.post("/api/v1/subscriptions", {"subscription": body | {"subscription_at": subscription_at}})

    for too_early in ("0130-12-18T14:13:24Z", "1000-01-01T02:00:00+05:00"):
        response = subscribe("sub_early", too_early)
        assert response.status_code == 422, response.content
        assert response.json()["error_details"] == {"subscription_at": ["invalid_date"]}
    response = subscribe("sub_1000", "1000-01-01T00:00:00Z")
    assert response.status_code == 200, response.content
    assert response.json()["subscription"]["subscription_at"] == "1000-01-01T00:00:00Z"
