"""What the API documentation says about each operation, in one place, and the drf-spectacular hook
that writes it into the OpenAPI schema (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).

Every operation of the schema has an entry in OPERATIONS, keyed by "METHOD /path" as the schema
writes the path: a summary, a description of what it does in our domain and the rules it enforces,
the errors it answers (Lago's codes), and an example (the request, as a curl command, and the
response). The hook turns an entry into the operation's `summary`, `description`, `x-codeSamples`
(Redoc's request samples) and the `examples` of its request body and responses, so that no API
module has to carry documentation. An entry wins over a description an API module still declares.

`billing/tests/test_api_docs.py` holds the table to the schema: an operation without an entry, an
example that its schema refuses, or an error status the operation does not declare, fails it.
"""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from drf_spectacular.drainage import warn

# The introduction of the docs page: what every operation shares, said once.
INTRODUCTION = """\
Lago's public v1 API, served by our own implementation: Lago's client libraries work against it
unchanged. Where we differ from Lago on purpose, the operation says so ("ours").

**Calling it.** Every path is under `/api/v1/`, without a trailing slash. Send the organization's
API key as `Authorization: Bearer <key>`; a missing or unknown key answers
`401 {"status": 401, "error": "Unauthorized"}` on every operation, before anything else is read.
Bodies are JSON wrapped in a root key (`{"customer": {...}}`); a body that is not JSON, or lacks
its root key, answers `400` with Lago's message. Records of another organization do not exist for
you: they answer 404, never 403.

**Rate limits.** Requests are counted per organization, all its keys together: by default 500 per
second for event ingestion, 200 for current usage and 50 for everything else. Over the limit, a
request answers `429 {"status": 429, "error": "Rate limit exceeded", "code": "rate_limit_exceeded"}`
with `Retry-After`; every counted answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset`.

**Unavailable.** While the database cannot be reached (a restart, a failover), a request answers
`503 {"status": 503, "error": "Service Unavailable", "code": "service_unavailable"}` with
`Retry-After: 1`: send it again. (A connection lost while a write commits can leave it done;
an event's `transaction_id` keeps such a retry from counting twice.)

**Identifiers in paths.** Customers and subscriptions are addressed by their `external_id`,
billable metrics, plans, coupons and add-ons by their `code`, events by their `transaction_id`, and
everything else by its `lago_id`. Ours: an id holding `/`, a space, `:`, `#` or `?` works when
percent-encoded (`acme%2Feu`).

**Values.** Money is an integer number of minor units (`amount_cents: 4900` is 49.00 EUR) with its
currency beside it. Decimal quantities (units, credits, rates) are strings: `"10.5"`. Charge prices
are decimal strings in major units (`"0.002"` per unit). Datetimes are ISO 8601 in UTC.

**Lists** are paginated: `page` (from 1) and `per_page` (100 by default, at most 1000), newest
first, with Lago's `meta` (`current_page`, `next_page`, `prev_page`, `total_pages`, `total_count`).

**Errors** come in Lago's shapes, and each operation lists the codes it answers: 404 for a record
that is not in your organization, 405 for an action the record's state refuses, 422 for input that
breaks a rule (codes per field):

```json
{"status": 404, "error": "Not Found", "code": "customer_not_found"}
{"status": 405, "error": "Method Not Allowed", "code": "not_voidable"}
{"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
 "error_details": {"email": ["invalid_email_format"]}}
```

A key no operation reads is refused (`unknown_field`), and so is a Lago option we don't offer,
unless it carries its neutral value (`not_supported`): a change never silently does nothing. A
query parameter holding a NUL character is `value_is_invalid`.

**Examples.** Each operation shows a request as a curl command (set `BILLING_URL` to this server
and `API_KEY` to your key) and the answer it gets. Webhooks (`/webhook_endpoints`) tell your backend
what changed, signed with JWT or HMAC.
"""

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Refusal:
    """An error an operation answers: its status, its Lago code (404 and 405) or its error details
    (422, `{field: [codes]}`), and when it happens."""

    status: int
    code: str | dict
    when: str


@dataclass(frozen=True)
class Doc:
    summary: str
    # What the operation does in our domain and the rules it follows (Markdown).
    description: str
    # The example: the request's path and query, its body, and the 200 response's body.
    request: str
    response: Any
    body: Any = None
    errors: tuple[Refusal, ...] = ()


# Example records -----------------------------------------------------------------------------
# One story told by every example: the organization "Acme" bills its customer Globex on the
# monthly plan "startup" (a base fee, API calls and storage). Ids are stable UUIDs.

_EXAMPLE_NAMESPACE = uuid.UUID("6f1d0c2a-3b4e-4f59-8a7b-9c0d1e2f3a4b")


def _id(name: str) -> str:
    return str(uuid.uuid5(_EXAMPLE_NAMESPACE, name))


def _meta(total_count: int = 1) -> dict:
    return {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": total_count}


CUSTOMER = {
    "lago_id": _id("customer"),
    "external_id": "globex",
    "name": "Globex Corporation",
    "firstname": None,
    "lastname": None,
    "customer_type": "company",
    "created_at": "2026-01-15T09:30:00Z",
    "updated_at": "2026-11-02T14:05:11Z",
    "country": "FR",
    "address_line1": "12 rue de la Paix",
    "address_line2": None,
    "state": None,
    "zipcode": "75002",
    "city": "Paris",
    "email": "billing@globex.example",
    "url": None,
    "phone": "+33 1 23 45 67 89",
    "legal_name": "Globex Corporation SAS",
    "legal_number": "123 456 789",
    "tax_identification_number": "FR12123456789",
    "currency": "EUR",
    "timezone": "Europe/Paris",
    "applicable_timezone": "Europe/Paris",
    "net_payment_term": 30,
    "finalize_zero_amount_invoice": "inherit",
    "billing_configuration": {
        "invoice_grace_period": 3,
        "payment_provider": "stripe",
        "provider_customer_id": "cus_Q1w2E3",
        "document_locale": "fr",
    },
    "shipping_address": {
        "address_line1": "8 quai Perrache",
        "address_line2": None,
        "city": "Lyon",
        "zipcode": "69002",
        "state": None,
        "country": "FR",
    },
    "metadata": [
        {
            "lago_id": _id("customer metadata"),
            "key": "crm_id",
            "value": "0017R00002",
            "display_in_invoice": False,
            "created_at": "2026-01-15T09:30:00Z",
        }
    ],
    "taxes": [],
}

API_CALLS = {
    "lago_id": _id("metric api_calls"),
    "name": "API calls",
    "code": "api_calls",
    "description": "Requests to the public API",
    "aggregation_type": "count_agg",
    "field_name": None,
    "recurring": False,
    "created_at": "2026-01-10T08:00:00Z",
    "filters": [],
    "weighted_interval": None,
    "expression": None,
}

STORAGE = {
    **API_CALLS,
    "lago_id": _id("metric storage_gb"),
    "name": "Storage",
    "code": "storage_gb",
    "description": "Gigabytes stored, summed over the period",
    "aggregation_type": "sum_agg",
    "field_name": "gb",
}

_CHARGE_DEFAULTS = {"pay_in_advance": False, "invoiceable": True, "prorated": False, "min_amount_cents": 0}

API_CALLS_CHARGE = {
    "lago_id": _id("charge api_calls"),
    "lago_billable_metric_id": API_CALLS["lago_id"],
    "billable_metric_code": "api_calls",
    "invoice_display_name": None,
    "created_at": "2026-01-10T08:05:00Z",
    "charge_model": "standard",
    "properties": {"amount": "0.002"},
    "filters": [],
    "taxes": [],
    **_CHARGE_DEFAULTS,
}

STORAGE_RANGES = [
    {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
    {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
]

STORAGE_CHARGE = {
    **API_CALLS_CHARGE,
    "lago_id": _id("charge storage_gb"),
    "lago_billable_metric_id": STORAGE["lago_id"],
    "billable_metric_code": "storage_gb",
    "invoice_display_name": "Storage (GB)",
    "charge_model": "graduated",
    "properties": {"graduated_ranges": STORAGE_RANGES},
}

PLAN = {
    "lago_id": _id("plan startup"),
    "name": "Startup",
    "invoice_display_name": None,
    "created_at": "2026-01-10T08:05:00Z",
    "code": "startup",
    "interval": "monthly",
    "description": "Base fee, API calls and storage",
    "amount_cents": 4900,
    "amount_currency": "EUR",
    "trial_period": 0,
    "pay_in_advance": False,
    "charges": [API_CALLS_CHARGE, STORAGE_CHARGE],
    "taxes": [],
    "usage_thresholds": [],
}

SUBSCRIPTION = {
    "lago_id": _id("subscription"),
    "external_id": "globex_startup",
    "lago_customer_id": CUSTOMER["lago_id"],
    "external_customer_id": "globex",
    "name": "Globex - Startup",
    "plan_code": "startup",
    "plan_amount_cents": 4900,
    "plan_amount_currency": "EUR",
    "status": "active",
    "billing_time": "calendar",
    "subscription_at": "2026-01-15T09:31:00Z",
    "started_at": "2026-01-15T09:31:00.000Z",
    "ending_at": None,
    "terminated_at": None,
    "canceled_at": None,
    "created_at": "2026-01-15T09:31:00Z",
    "current_billing_period_started_at": "2026-11-30T23:00:00Z",
    "current_billing_period_ending_at": "2026-12-31T22:59:59Z",
}

TERMINATED_SUBSCRIPTION = {
    **SUBSCRIPTION,
    "status": "terminated",
    "terminated_at": "2026-12-03T10:20:00Z",
    "current_billing_period_started_at": None,
    "current_billing_period_ending_at": None,
}

EVENT = {
    "lago_id": _id("event"),
    "transaction_id": "txn_2026-12-03_0001",
    "lago_customer_id": CUSTOMER["lago_id"],
    "code": "storage_gb",
    "timestamp": "2026-12-03T10:15:00.000Z",
    "precise_total_amount_cents": None,
    "properties": {"gb": 12.5},
    "lago_subscription_id": SUBSCRIPTION["lago_id"],
    "external_subscription_id": "globex_startup",
    "created_at": "2026-12-03T10:15:01Z",
}

COUPON = {
    "lago_id": _id("coupon welcome_10"),
    "name": "Welcome 10%",
    "code": "welcome_10",
    "description": "10% off the first three invoices",
    "coupon_type": "percentage",
    "amount_cents": None,
    "amount_currency": None,
    "percentage_rate": "10.0",
    "frequency": "recurring",
    "frequency_duration": 3,
    "reusable": False,
    "limited_plans": True,
    "limited_billable_metrics": False,
    "plan_codes": ["startup"],
    "billable_metric_codes": [],
    "created_at": "2026-01-12T11:00:00Z",
    "expiration": "time_limit",
    "expiration_at": "2027-06-30T21:59:59Z",
    "terminated_at": None,
}

INVOICE_ID = _id("invoice november")

APPLIED_COUPON = {
    "lago_id": _id("applied coupon"),
    "lago_coupon_id": COUPON["lago_id"],
    "coupon_code": "welcome_10",
    "coupon_name": "Welcome 10%",
    "coupon_description": "10% off the first three invoices",
    "coupon_status": "active",
    "coupon_deleted_at": None,
    "lago_customer_id": CUSTOMER["lago_id"],
    "external_customer_id": "globex",
    "status": "active",
    "amount_cents": None,
    "amount_cents_remaining": None,
    "amount_currency": None,
    "percentage_rate": "10.0",
    "frequency": "recurring",
    "frequency_duration": 3,
    "frequency_duration_remaining": 2,
    "expiration_at": "2027-06-30T21:59:59Z",
    "created_at": "2026-10-20T16:45:00Z",
    "terminated_at": None,
}

COUPON_CREDIT = {
    "lago_id": _id("coupon credit"),
    "amount_cents": 2525,
    "amount_currency": "EUR",
    "before_taxes": True,
    "item": {
        "lago_item_id": COUPON["lago_id"],
        "type": "coupon",
        "code": "welcome_10",
        "name": "Welcome 10%",
        "description": "10% off the first three invoices",
    },
    "invoice": {"lago_id": INVOICE_ID, "payment_status": "pending"},
}

ADD_ON = {
    "lago_id": _id("add-on onboarding"),
    "name": "Onboarding",
    "invoice_display_name": "Onboarding workshop",
    "code": "onboarding",
    "amount_cents": 50000,
    "amount_currency": "EUR",
    "created_at": "2026-01-10T08:10:00Z",
    "description": "A day of onboarding with our team",
    "taxes": [],
}


def _fee(name: str, *, item: dict, amount: str, amount_cents: int, coupons_cents: int, units: str, events: int) -> dict:
    """A charge or subscription fee of the November invoice (`fee_payload`'s shape); `amount` is
    `amount_cents` in major units, as Lago writes `precise_amount`."""
    return {
        "lago_id": _id(f"fee {name}"),
        "lago_invoice_id": INVOICE_ID,
        "lago_charge_id": None,
        "lago_subscription_id": SUBSCRIPTION["lago_id"],
        "external_subscription_id": "globex_startup",
        "lago_customer_id": CUSTOMER["lago_id"],
        "external_customer_id": "globex",
        "item": {**item, "filters": None, "filter_invoice_display_name": None, "grouped_by": {}},
        "pay_in_advance": False,
        "invoiceable": True,
        "amount_cents": amount_cents,
        "amount_currency": "EUR",
        "precise_amount": amount,
        "taxes_amount_cents": 0,
        "taxes_rate": 0.0,
        "precise_coupons_amount_cents": f"{coupons_cents}.0",
        "sub_total_excluding_taxes_amount_cents": amount_cents - coupons_cents,
        "total_amount_cents": amount_cents,
        "total_amount_currency": "EUR",
        "units": units,
        "total_aggregated_units": units,
        "description": item["name"],
        "events_count": events,
        "payment_status": "pending",
        "created_at": "2026-12-01T00:05:02Z",
        "from_date": "2026-10-31T23:00:00Z",
        "to_date": "2026-11-30T22:59:59Z",
        "self_billed": False,
        "applied_taxes": [],
    }


SUBSCRIPTION_FEE = _fee(
    "subscription",
    item={
        "type": "subscription",
        "code": "startup",
        "name": "Startup",
        "description": "Base fee, API calls and storage",
        "invoice_display_name": "Startup",
        "lago_item_id": SUBSCRIPTION["lago_id"],
        "item_type": "Subscription",
    },
    amount="49.0",
    amount_cents=4900,
    coupons_cents=490,
    units="1.0",
    events=0,
)
API_CALLS_FEE = {
    **_fee(
        "api_calls",
        item={
            "type": "charge",
            "code": "api_calls",
            "name": "API calls",
            "description": "Requests to the public API",
            "invoice_display_name": "API calls",
            "lago_item_id": API_CALLS["lago_id"],
            "item_type": "BillableMetric",
        },
        amount="196.0",
        amount_cents=19600,
        coupons_cents=1960,
        units="98000.0",
        events=98000,
    ),
    "lago_charge_id": API_CALLS_CHARGE["lago_id"],
}
STORAGE_FEE = {
    **_fee(
        "storage_gb",
        item={
            "type": "charge",
            "code": "storage_gb",
            "name": "Storage",
            "description": "Gigabytes stored, summed over the period",
            "invoice_display_name": "Storage (GB)",
            "lago_item_id": STORAGE["lago_id"],
            "item_type": "BillableMetric",
        },
        amount="7.5",
        amount_cents=750,
        coupons_cents=75,
        units="25.0",
        events=31,
    ),
    "lago_charge_id": STORAGE_CHARGE["lago_id"],
}

# The November invoice: 49.00 base fee + 196.00 of API calls + 7.50 of storage, less the 10% coupon.
INVOICE = {
    "lago_id": INVOICE_ID,
    "billing_entity_code": "default",
    "sequential_id": 42,
    "number": "ACME-000042",
    "purchase_order_number": None,
    "issuing_date": "2026-12-01",
    "payment_due_date": "2026-12-31",
    "net_payment_term": 30,
    "invoice_type": "subscription",
    "status": "finalized",
    "payment_status": "pending",
    "payment_dispute_lost_at": None,
    "payment_overdue": False,
    "currency": "EUR",
    "fees_amount_cents": 25250,
    "taxes_amount_cents": 0,
    "progressive_billing_credit_amount_cents": 0,
    "coupons_amount_cents": 2525,
    "credit_notes_amount_cents": 0,
    "sub_total_excluding_taxes_amount_cents": 22725,
    "sub_total_including_taxes_amount_cents": 22725,
    "total_amount_cents": 22725,
    "total_due_amount_cents": 22725,
    "total_paid_amount_cents": 0,
    "total_offsetted_credit_note_amount_cents": 0,
    "prepaid_credit_amount_cents": 0,
    "prepaid_granted_credit_amount_cents": None,
    "prepaid_purchased_credit_amount_cents": None,
    "file_url": None,
    "xml_url": None,
    "web_url": None,
    "version_number": 4,
    "self_billed": False,
    "created_at": "2026-12-01T00:05:02Z",
    "updated_at": "2026-12-04T00:05:03Z",
    "voided_at": None,
    "customer": CUSTOMER,
    "metadata": [],
    "applied_taxes": [],
}

INVOICE_DETAIL = {
    **INVOICE,
    "subscriptions": [SUBSCRIPTION],
    "billing_periods": [
        {
            "lago_subscription_id": SUBSCRIPTION["lago_id"],
            "external_subscription_id": "globex_startup",
            "lago_plan_id": PLAN["lago_id"],
            "subscription_from_datetime": "2026-10-31T23:00:00Z",
            "subscription_to_datetime": "2026-11-30T22:59:59Z",
            "charges_from_datetime": "2026-10-31T23:00:00Z",
            "charges_to_datetime": "2026-11-30T22:59:59Z",
            "fixed_charges_from_datetime": None,
            "fixed_charges_to_datetime": None,
            "invoicing_reason": "subscription_periodic",
        }
    ],
    "fees": [SUBSCRIPTION_FEE, API_CALLS_FEE, STORAGE_FEE],
    "credits": [COUPON_CREDIT],
    "error_details": [],
    "applied_invoice_custom_sections": [],
}

DRAFT_INVOICE = {
    **INVOICE_DETAIL,
    "sequential_id": None,
    "number": "ACME-DRAFT",
    "status": "draft",
    "coupons_amount_cents": 0,
    "sub_total_excluding_taxes_amount_cents": 25250,
    "sub_total_including_taxes_amount_cents": 25250,
    "total_amount_cents": 25250,
    "total_due_amount_cents": 25250,
    "fees": [
        {**fee, "precise_coupons_amount_cents": "0.0", "sub_total_excluding_taxes_amount_cents": fee["amount_cents"]}
        for fee in (SUBSCRIPTION_FEE, API_CALLS_FEE, STORAGE_FEE)
    ],
    "credits": [],
}

ONE_OFF_INVOICE_ID = _id("invoice one-off")
ONE_OFF_INVOICE = {
    **INVOICE,
    "lago_id": ONE_OFF_INVOICE_ID,
    "sequential_id": 43,
    "number": "ACME-000043",
    "issuing_date": "2026-12-03",
    "payment_due_date": "2027-01-02",
    "invoice_type": "one_off",
    "fees_amount_cents": 50000,
    "coupons_amount_cents": 0,
    "sub_total_excluding_taxes_amount_cents": 50000,
    "sub_total_including_taxes_amount_cents": 50000,
    "total_amount_cents": 50000,
    "total_due_amount_cents": 50000,
    "created_at": "2026-12-03T10:30:00Z",
    "updated_at": "2026-12-03T10:30:00Z",
    "subscriptions": [],
    "billing_periods": [],
    "fees": [
        {
            **_fee(
                "add-on",
                item={
                    "type": "add_on",
                    "code": "onboarding",
                    "name": "Onboarding",
                    "description": "A day of onboarding with our team",
                    "invoice_display_name": "Onboarding workshop",
                    "lago_item_id": ADD_ON["lago_id"],
                    "item_type": "AddOn",
                },
                amount="500.0",
                amount_cents=50000,
                coupons_cents=0,
                units="1.0",
                events=0,
            ),
            "lago_invoice_id": ONE_OFF_INVOICE_ID,
            "lago_subscription_id": None,
            "external_subscription_id": None,
            "description": "Onboarding workshop, December 9",
            "created_at": "2026-12-03T10:30:00Z",
            "from_date": None,
            "to_date": None,
        }
    ],
    "credits": [],
    "error_details": [],
    "applied_invoice_custom_sections": [],
}

CREDIT_NOTE = {
    "lago_id": _id("credit note"),
    "billing_entity_code": "default",
    "sequential_id": 1,
    "number": "ACME-000042-CN001",
    "lago_invoice_id": INVOICE_ID,
    "invoice_number": "ACME-000042",
    "purchase_order_number": None,
    "issuing_date": "2026-12-04",
    "status": "finalized",
    "credit_status": "available",
    "refund_status": None,
    "reason": "duplicated_charge",
    "description": "API calls counted twice on November 28",
    "currency": "EUR",
    "total_amount_cents": 1800,
    "precise_total_amount_cents": "1800.0",
    "taxes_amount_cents": 0,
    "precise_taxes_amount_cents": "0.0",
    "taxes_rate": 0.0,
    "sub_total_excluding_taxes_amount_cents": 1800,
    "balance_amount_cents": 1800,
    "credit_amount_cents": 1800,
    "refund_amount_cents": 0,
    "offset_amount_cents": 0,
    "coupons_adjustment_amount_cents": 0,
    "created_at": "2026-12-04T09:12:00Z",
    "updated_at": "2026-12-04T09:12:00Z",
    "refunded_at": None,
    "voided_at": None,
    "file_url": None,
    "xml_url": None,
    "self_billed": False,
    "customer": CUSTOMER,
    "items": [
        {
            "lago_id": _id("credit note item"),
            "amount_cents": 1800,
            "precise_amount_cents": "1800.0",
            "amount_currency": "EUR",
            "fee": API_CALLS_FEE,
        }
    ],
    "applied_taxes": [],
    "error_details": [],
}

_NO_OPTIONS = {
    "invoice_requires_successful_payment": False,
    "paid_top_up_min_amount_cents": None,
    "paid_top_up_max_amount_cents": None,
    "recurring_transaction_rules": [],
    "applies_to": {"fee_types": [], "billable_metric_codes": []},
    "applied_invoice_custom_sections": [],
    "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
}

# A wallet of 1 EUR credits: 50 granted at once, 100 bought (pending until their invoice is paid).
WALLET = {
    "lago_id": _id("wallet"),
    "lago_customer_id": CUSTOMER["lago_id"],
    "external_customer_id": "globex",
    "billing_entity_code": "default",
    "status": "active",
    "currency": "EUR",
    "name": "Prepaid credits",
    "code": None,
    "purchase_order_number": None,
    "priority": 50,
    "rate_amount": "1.0",
    "credits_balance": "50.0",
    "balance_cents": 5000,
    "credits_ongoing_balance": "50.0",
    "credits_ongoing_usage_balance": "0.0",
    "ongoing_balance_cents": 5000,
    "ongoing_usage_balance_cents": 0,
    "consumed_credits": "0.0",
    "consumed_amount_cents": 0,
    "created_at": "2026-12-03T10:40:00Z",
    "expiration_at": "2027-12-31T22:59:59Z",
    "last_balance_sync_at": None,
    "last_consumed_credit_at": None,
    "terminated_at": None,
    **_NO_OPTIONS,
}

TERMINATED_WALLET = {
    **WALLET,
    "status": "terminated",
    "credits_balance": "0.0",
    "balance_cents": 0,
    "credits_ongoing_balance": "0.0",
    "ongoing_balance_cents": 0,
    "terminated_at": "2026-12-20T08:00:00.000Z",
}


def _wallet_transaction(name: str, *, invoice_id: str | None, status: str, reason: str, settled_at: str | None) -> dict:
    """A transaction of the welcome pack (`wallet_transaction_payload`'s shape): credits worth 1 EUR each."""
    credits = {"purchased": "100.0", "granted": "50.0"}[reason]
    return {
        "lago_id": _id(f"wallet transaction {name}"),
        "lago_wallet_id": WALLET["lago_id"],
        "lago_invoice_id": invoice_id,
        "lago_credit_note_id": None,
        "lago_voided_invoice_id": None,
        "billing_entity_code": "default",
        "status": status,
        "source": "manual",
        "transaction_status": reason,
        "transaction_type": "inbound",
        "amount": credits,
        "credit_amount": credits,
        "remaining_amount_cents": None,
        "remaining_credit_amount": None,
        "priority": 50,
        "purchase_order_number": None,
        "settled_at": settled_at,
        "failed_at": None,
        "created_at": "2026-12-03T10:40:00Z",
        "invoice_requires_successful_payment": False,
        "metadata": [{"key": "reason", "value": "welcome pack"}],
        "name": "Welcome pack",
        "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
        "applied_invoice_custom_sections": [],
    }


# Paid credits wait for their credit invoice to be paid; granted ones are settled at once.
PURCHASE = _wallet_transaction(
    "purchased", invoice_id=_id("invoice credit"), status="pending", reason="purchased", settled_at=None
)
GRANT = _wallet_transaction(
    "granted", invoice_id=None, status="settled", reason="granted", settled_at="2026-12-03T10:40:00Z"
)

WEBHOOK_ENDPOINT = {
    "lago_id": _id("webhook endpoint"),
    "lago_organization_id": _id("organization"),
    "webhook_url": "https://hooks.acme.example/billing",
    "signature_algo": "jwt",
    "name": "Billing backend",
    "event_types": ["invoice.created", "invoice.payment_status_updated"],
    "created_at": "2026-02-01T12:00:00Z",
}

# The organization's RSA public key (PEM), base64-encoded (shortened here).
PUBLIC_KEY = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUlJQklqQU5CZ2txaGtpRzl3MEJBUUVGQUFPQ0FROEFNSUlCQ2dLQ0FRRUF..."


# Errors several operations share -------------------------------------------------------------

PAGE_OUT_OF_RANGE = Refusal(
    422,
    {"per_page": ["value_is_out_of_range"]},
    "`page` or `per_page` is not a whole number from 1 (`per_page` at most 1000): `value_is_invalid` "
    "when it is not a number.",
)
CUSTOMER_NOT_FOUND = Refusal(404, "customer_not_found", "No live customer has this external_id.")
INVOICE_NOT_FOUND = Refusal(404, "invoice_not_found", "No invoice of the organization has this id.")
WALLET_NOT_FOUND = Refusal(404, "wallet_not_found", "No wallet of the organization has this id.")
NUL_IN_QUERY = Refusal(
    422, {"external_subscription_id": ["value_is_invalid"]}, "A query parameter holds a NUL character."
)


# The operations ------------------------------------------------------------------------------

CUSTOMER_OPERATIONS = {
    "GET /api/v1/customers": Doc(
        summary="List customers",
        description="""
The organization's live customers, newest first. Deleted customers are not listed (their invoices,
credit notes, subscriptions and wallets stay readable by their own ids).

`search_term` keeps the customers whose name, external_id, email or legal name contains it,
ignoring case.
""",
        request="/api/v1/customers?search_term=globex&per_page=20",
        response={"customers": [CUSTOMER], "meta": _meta()},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/customers": Doc(
        summary="Create or update a customer",
        description="""
Creates the customer, or updates the live customer that already has this `external_id` (Lago's
upsert): the body only needs `external_id`.

- A key the body does not send keeps its stored value, at every level: the keys of
  `billing_configuration` and `shipping_address` too, and `metadata`, which is replaced as a whole
  only when the key is sent. An explicit `null` clears a field. (Ours: an upsert never wipes what
  it did not receive.)
- Two upserts of the same new `external_id` at once make one customer.
- A deleted customer's `external_id` is free again: the upsert then creates a new customer.
- `customer_type` is `company` or `individual`; `net_payment_term` is the days an invoice gives to
  pay (0 to 365; null: the organization's); `finalize_zero_amount_invoice` says whether an invoice
  of nothing is finalized or skipped (closed without a number): `finalize`, `skip`, or `inherit`
  the organization's; `billing_configuration.document_locale` is an ISO 639-1 language.
- `metadata`: at most 5 rows, keys unique, at most 20 characters per key and 100 per value; a row
  keeps its `lago_id` when sent with it. `email` may hold several addresses separated by commas.
- Sends the `customer.created` or `customer.updated` webhook.
""",
        request="/api/v1/customers",
        body={
            "customer": {
                "external_id": "globex",
                "name": "Globex Corporation",
                "email": "billing@globex.example",
                "currency": "EUR",
                "country": "FR",
                "timezone": "Europe/Paris",
                "billing_configuration": {"invoice_grace_period": 3, "payment_provider": "stripe"},
                "metadata": [{"key": "crm_id", "value": "0017R00002", "display_in_invoice": False}],
            }
        },
        response={"customer": CUSTOMER},
        errors=(
            Refusal(422, {"external_id": ["value_is_mandatory"]}, "`external_id` is missing or blank."),
            Refusal(422, {"country": ["not_a_valid_country_code"]}, "`country` is not an ISO 3166 alpha-2 code."),
            Refusal(422, {"timezone": ["invalid_timezone"]}, "`timezone` is not an IANA time zone."),
            Refusal(422, {"currency": ["value_is_invalid"]}, "`currency` is not an ISO 4217 code."),
            Refusal(422, {"email": ["invalid_email_format"]}, "An address of `email` is not an email address."),
            Refusal(422, {"customer_type": ["value_is_invalid"]}, "Neither `company` nor `individual`."),
            Refusal(
                422,
                {"finalize_zero_amount_invoice": ["invalid_value"]},
                "Not `inherit`, `finalize` or `skip`.",
            ),
            Refusal(422, {"document_locale": ["value_is_invalid"]}, "Not an ISO 639-1 language code."),
            Refusal(
                422,
                {"metadata": ["duplicated_key"]},
                "Two metadata rows share a key (`invalid_count` beyond 5 rows, `value_is_too_long`...).",
            ),
        ),
    ),
    "GET /api/v1/customers/{external_id}": Doc(
        summary="Get a customer",
        description="""
The live customer with this `external_id`, with its billing configuration and metadata. A deleted
customer is not found.
""",
        request="/api/v1/customers/globex",
        response={"customer": CUSTOMER},
        errors=(CUSTOMER_NOT_FOUND,),
    ),
    "PUT /api/v1/customers/{external_id}": Doc(
        summary="Update a customer",
        description="""
Changes the fields the body sends, and only those, as the upsert does (`null` clears a field;
`metadata`, when sent, replaces the rows).

Ours: the body may rename the customer's `external_id` while nothing is attached to it yet. Once
it has a subscription, an applied coupon, a wallet or an invoice (in any status), the
`external_id` is how your backend refers to it and is locked: a new value is refused and nothing
is saved. Sends the `customer.updated` webhook when something changed.
""",
        request="/api/v1/customers/globex",
        body={"customer": {"name": "Globex Corporation", "city": "Lyon", "zipcode": "69002"}},
        response={"customer": {**CUSTOMER, "city": "Lyon", "zipcode": "69002"}},
        errors=(
            CUSTOMER_NOT_FOUND,
            Refusal(
                422,
                {"external_id": ["value_is_not_editable"]},
                "A new `external_id` for a customer that has a subscription, coupon, wallet or invoice.",
            ),
            Refusal(422, {"external_id": ["value_already_exist"]}, "Another live customer has the new `external_id`."),
            Refusal(422, {"country": ["not_a_valid_country_code"]}, "A field breaks its rule, as in the upsert."),
        ),
    ),
    "DELETE /api/v1/customers/{external_id}": Doc(
        summary="Delete a customer",
        description="""
Deletes the customer at once and answers it as it was. From that moment it is gone from the
customer endpoints, its `external_id` is free for a new customer, and events for its
subscriptions are refused (`customer_is_deleted`). Sends the `customer.deleted` webhook (ours).

A background task then ends what the customer had, in this order: (1) active subscriptions are
terminated and billed as any termination, pending ones canceled; (2) every draft invoice is
finalized; (3) applied coupons are terminated; (4) the wallet is terminated and its remaining
credits voided. Coupons and credits end last on purpose: the final invoices take what the customer
was entitled to first. `GET /customers/{external_id}/deletion_preview` shows all of this
beforehand.

Nothing is lost: invoices, credit notes, terminated subscriptions, wallets and applied coupons stay
readable by their own ids and list filters.
""",
        request="/api/v1/customers/globex",
        response={"customer": CUSTOMER},
        errors=(CUSTOMER_NOT_FOUND,),
    ),
    "GET /api/v1/customers/{external_id}/deletion_preview": Doc(
        summary="Preview a customer's deletion (ours)",
        description="""
What `DELETE /customers/{external_id}` would do at this moment, changing nothing: the active
subscriptions it terminates (each billed by a termination invoice, and credited back for the
unused part of a base fee paid in advance), the pending ones it cancels, the draft invoices it
finalizes, the applied coupons it terminates, and the active wallet it terminates, voiding what is
left of its credits.

Amounts are estimates: usage keeps arriving until the deletion, and coupons, credit notes and
prepaid credits are taken when each invoice is finalized.
""",
        request="/api/v1/customers/globex/deletion_preview",
        response={
            "deletion_preview": {
                "lago_customer_id": CUSTOMER["lago_id"],
                "external_customer_id": "globex",
                "subscriptions": [
                    {
                        "lago_id": SUBSCRIPTION["lago_id"],
                        "external_id": "globex_startup",
                        "plan_code": "startup",
                        "status": "active",
                        "action": "terminate",
                        "estimated_invoice_amount_cents": 3099,
                        "estimated_credit_note_amount_cents": 0,
                        "currency": "EUR",
                    }
                ],
                "draft_invoices": [
                    {"lago_id": INVOICE_ID, "number": "ACME-DRAFT", "total_amount_cents": 25250, "currency": "EUR"}
                ],
                "applied_coupons": [
                    {
                        "lago_id": APPLIED_COUPON["lago_id"],
                        "lago_coupon_id": COUPON["lago_id"],
                        "coupon_code": "welcome_10",
                        "coupon_name": "Welcome 10%",
                    }
                ],
                "wallet": {
                    "lago_id": WALLET["lago_id"],
                    "currency": "EUR",
                    "credits_balance": "50.0",
                    "balance_cents": 5000,
                    "credits_voided_at_most": "50.0",
                },
            }
        },
        errors=(CUSTOMER_NOT_FOUND,),
    ),
    "GET /api/v1/customers/{external_id}/current_usage": Doc(
        summary="Get a subscription's current usage",
        description="""
What the active subscription `external_subscription_id` of this customer has used so far in its
current billing period, and what it will cost: per charge, the units, the number of events and
the amount, computed from the events by the same code that bills them at the end of the period.
The period runs in the customer's time zone; taxes are not modelled (0) and no invoice exists yet
(`lago_invoice_id` is null).
""",
        request="/api/v1/customers/globex/current_usage?external_subscription_id=globex_startup",
        response={
            "customer_usage": {
                "from_datetime": "2026-11-30T23:00:00Z",
                "to_datetime": "2026-12-31T22:59:59Z",
                "issuing_date": "2027-01-01",
                "currency": "EUR",
                "amount_cents": 2625,
                "taxes_amount_cents": 0,
                "total_amount_cents": 2625,
                "lago_invoice_id": None,
                "charges_usage": [
                    {
                        "units": "12500.0",
                        "total_aggregated_units": "12500.0",
                        "events_count": 12500,
                        "amount_cents": 2500,
                        "amount_currency": "EUR",
                        "pricing_unit_details": None,
                        "charge": {
                            "lago_id": API_CALLS_CHARGE["lago_id"],
                            "charge_model": "standard",
                            "invoice_display_name": None,
                        },
                        "billable_metric": {
                            "lago_id": API_CALLS["lago_id"],
                            "name": "API calls",
                            "code": "api_calls",
                            "aggregation_type": "count_agg",
                        },
                        "filters": [],
                        "grouped_usage": [],
                    },
                    {
                        "units": "12.5",
                        "total_aggregated_units": "12.5",
                        "events_count": 3,
                        "amount_cents": 125,
                        "amount_currency": "EUR",
                        "pricing_unit_details": None,
                        "charge": {
                            "lago_id": STORAGE_CHARGE["lago_id"],
                            "charge_model": "graduated",
                            "invoice_display_name": "Storage (GB)",
                        },
                        "billable_metric": {
                            "lago_id": STORAGE["lago_id"],
                            "name": "Storage",
                            "code": "storage_gb",
                            "aggregation_type": "sum_agg",
                        },
                        "filters": [],
                        "grouped_usage": [],
                    },
                ],
            }
        },
        errors=(
            CUSTOMER_NOT_FOUND,
            Refusal(
                405,
                "no_active_subscription",
                "The customer has no active subscription with this id: it is pending, terminated, another "
                "customer's, or `external_subscription_id` is missing.",
            ),
            NUL_IN_QUERY,
        ),
    ),
}

BILLABLE_METRIC_OPERATIONS = {
    "GET /api/v1/billable_metrics": Doc(
        summary="List billable metrics",
        description="""
The organization's billable metrics (deleted ones excepted), newest first. `filters` is always an
empty list: metric filters are not offered.
""",
        request="/api/v1/billable_metrics",
        response={"billable_metrics": [STORAGE, API_CALLS], "meta": _meta(2)},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/billable_metrics": Doc(
        summary="Create a billable metric",
        description="""
A billable metric says how the events of one `code` add up over a billing period:
`aggregation_type` is `count_agg` (the number of events), `sum_agg`, `max_agg`, `latest_agg` (the
sum, maximum or latest value of the event property `field_name`) or `unique_count_agg` (the number
of distinct values of `field_name`). `field_name` is required by all but `count_agg`, which keeps it
null.

The `code` is unique among the organization's live metrics. Lago's options we don't offer
(`recurring`, `filters`, `weighted_interval`, `expression`, `rounding_function`,
`rounding_precision`) are accepted only with their neutral value (false, empty, null).
""",
        request="/api/v1/billable_metrics",
        body={
            "billable_metric": {
                "name": "Storage",
                "code": "storage_gb",
                "description": "Gigabytes stored, summed over the period",
                "aggregation_type": "sum_agg",
                "field_name": "gb",
            }
        },
        response={"billable_metric": STORAGE},
        errors=(
            Refusal(422, {"code": ["value_already_exist"]}, "Another live metric has this code."),
            Refusal(422, {"aggregation_type": ["value_is_invalid"]}, "An aggregation type other than the five."),
            Refusal(422, {"field_name": ["value_is_mandatory"]}, "An aggregation that reads a property, without it."),
            Refusal(422, {"recurring": ["not_supported"]}, "A Lago option we don't offer, with another value."),
        ),
    ),
    "GET /api/v1/billable_metrics/{code}": Doc(
        summary="Get a billable metric",
        description="""
The live billable metric with this code: how the events sent under it add up over a billing period
(`aggregation_type`, and the property it reads, `field_name`).
""",
        request="/api/v1/billable_metrics/storage_gb",
        response={"billable_metric": STORAGE},
        errors=(Refusal(404, "billable_metric_not_found", "No live metric has this code."),),
    ),
    "PUT /api/v1/billable_metrics/{code}": Doc(
        summary="Update a billable metric",
        description="""
Changes the fields the body sends. Once a live plan prices the metric, or events were already
counted under it, its `code`, `aggregation_type` and `field_name` are fixed (changing them would
rewrite past usage); its name and description can still change.
""",
        request="/api/v1/billable_metrics/storage_gb",
        body={"billable_metric": {"name": "Storage (GB)", "description": "Gigabytes stored"}},
        response={"billable_metric": {**STORAGE, "name": "Storage (GB)", "description": "Gigabytes stored"}},
        errors=(
            Refusal(404, "billable_metric_not_found", "No live metric has this code."),
            Refusal(
                422,
                {"aggregation_type": ["value_is_not_editable"]},
                "The code, aggregation or field of a metric a live plan prices or events were counted under.",
            ),
            Refusal(422, {"code": ["value_already_exist"]}, "Another live metric has the new code."),
        ),
    ),
    "DELETE /api/v1/billable_metrics/{code}": Doc(
        summary="Delete a billable metric",
        description="""
Deletes the metric (its code is free again) and answers it as it was. A metric that a live plan
prices cannot be deleted: remove its charge from the plan (or delete the plan) first.
""",
        request="/api/v1/billable_metrics/storage_gb",
        response={"billable_metric": STORAGE},
        errors=(
            Refusal(404, "billable_metric_not_found", "No live metric has this code."),
            Refusal(405, "billable_metric_in_use", "A live plan has a charge on the metric."),
        ),
    ),
}

_PLAN_BODY = {
    "plan": {
        "name": "Startup",
        "code": "startup",
        "interval": "monthly",
        "description": "Base fee, API calls and storage",
        "amount_cents": 4900,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "trial_period": 0,
        "charges": [
            {
                "billable_metric_id": API_CALLS["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "0.002"},
            },
            {
                "billable_metric_id": STORAGE["lago_id"],
                "charge_model": "graduated",
                "invoice_display_name": "Storage (GB)",
                "properties": {"graduated_ranges": STORAGE_RANGES},
            },
        ],
    }
}

PLAN_NOT_FOUND = Refusal(404, "plan_not_found", "No live plan has this code.")
CHARGE_ERRORS = (
    Refusal(404, "billable_metrics_not_found", "A charge names a `billable_metric_id` that is no live metric's."),
    Refusal(422, {"charge_model": ["value_is_invalid"]}, "A charge model other than the five."),
    Refusal(
        422,
        {"charge_model": ["invalid_aggregation_type_or_charge_model"]},
        "A percentage charge on a `latest_agg` metric.",
    ),
    Refusal(422, {"amount": ["invalid_amount"]}, "A price that is not a decimal string of at least 0."),
    Refusal(
        422,
        {"graduated_ranges": ["invalid_graduated_ranges"]},
        "Ranges that do not start at 0 (or 1), leave a gap or overlap, or whose last range is not open.",
    ),
)

PLAN_OPERATIONS = {
    "GET /api/v1/plans": Doc(
        summary="List plans",
        description="""
The organization's live plans, newest first, each with its base fee and charges. Deleted plans are
not listed.
""",
        request="/api/v1/plans",
        response={"plans": [PLAN], "meta": _meta()},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/plans": Doc(
        summary="Create a plan",
        description="""
A plan is a price list: a base fee (`amount_cents` in `amount_currency`) per billing period
(`interval`: `weekly`, `monthly`, `quarterly` or `yearly`), paid in arrears, or in advance with
`pay_in_advance`, after an optional `trial_period` in days; and charges, each pricing the usage of
one billable metric with a charge model:

- `standard`: `{"amount": "0.002"}` per unit;
- `graduated`: `graduated_ranges`, each range priced per unit (plus a flat amount once entered);
- `volume`: `volume_ranges`, all units at the price of the range the total falls in;
- `package`: `{"amount": "5", "package_size": 1000, "free_units": 0}` per started package;
- `percentage`: `{"rate": "1.5"}` of the summed amounts, with optional `fixed_amount` per event,
  `free_units_per_events`, `free_units_per_total_aggregation` and per-transaction bounds.

Prices are decimal strings in major units. The `code` is unique among live plans.
""",
        request="/api/v1/plans",
        body=_PLAN_BODY,
        response={"plan": PLAN},
        errors=(
            Refusal(422, {"code": ["value_already_exist"]}, "Another live plan has this code."),
            Refusal(422, {"interval": ["value_is_invalid"]}, "An interval other than the four."),
            Refusal(422, {"amount_currency": ["value_is_invalid"]}, "Not an ISO 4217 currency."),
            Refusal(422, {"trial_period": ["value_is_invalid"]}, "Not a whole number of days from 0 to 3650."),
            *CHARGE_ERRORS,
        ),
    ),
    "GET /api/v1/plans/{code}": Doc(
        summary="Get a plan",
        description="""
The live plan with this code, with its base fee and its charges (each with its billable metric,
charge model and `properties`, prices in major units as decimal strings).
""",
        request="/api/v1/plans/startup",
        response={"plan": PLAN},
        errors=(PLAN_NOT_FOUND,),
    ),
    "PUT /api/v1/plans/{code}": Doc(
        summary="Update a plan",
        description="""
Changes the fields the body sends. `charges`, when sent, becomes the plan's whole list of charges: a
charge sent with its `id` (and the same metric) is kept and updated, the others are created, and
charges left out are removed. The new prices apply to the periods billed from now on.

Once the plan has subscriptions (even ended ones) its `interval` and `amount_currency` are fixed:
their periods and invoices were computed with them.
""",
        request="/api/v1/plans/startup",
        body={"plan": {"amount_cents": 5900, "description": "New base fee from January"}},
        response={"plan": {**PLAN, "amount_cents": 5900, "description": "New base fee from January"}},
        errors=(
            PLAN_NOT_FOUND,
            Refusal(422, {"interval": ["value_is_not_editable"]}, "A new interval or currency for a subscribed plan."),
            Refusal(422, {"code": ["value_already_exist"]}, "Another live plan has the new code."),
        ),
    ),
    "DELETE /api/v1/plans/{code}": Doc(
        summary="Delete a plan",
        description="""
Ends the plan's live subscriptions first, as Lago does: each active one is terminated and billed at
once (prorated base fee and usage so far), each pending one canceled. Then deletes the plan and its
charges (the code is free again) and answers the plan as it was.
""",
        request="/api/v1/plans/startup",
        response={"plan": PLAN},
        errors=(PLAN_NOT_FOUND,),
    ),
}

ADD_ON_NOT_FOUND = Refusal(404, "add_on_not_found", "No live add-on has this code.")

ADD_ON_OPERATIONS = {
    "GET /api/v1/add_ons": Doc(
        summary="List add-ons",
        description="""
The organization's live add-ons, newest first: the catalogue items a one-off invoice can bill.
Deleted add-ons are not listed.
""",
        request="/api/v1/add_ons",
        response={"add_ons": [ADD_ON], "meta": _meta()},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/add_ons": Doc(
        summary="Create an add-on",
        description="""
An add-on is a catalogue item billed once, on a one-off invoice (`POST /invoices`): a name, a code
unique among live add-ons and a price (`amount_cents` in `amount_currency`). Taxes are not
modelled: `tax_codes` is accepted only empty.
""",
        request="/api/v1/add_ons",
        body={
            "add_on": {
                "name": "Onboarding",
                "code": "onboarding",
                "invoice_display_name": "Onboarding workshop",
                "amount_cents": 50000,
                "amount_currency": "EUR",
                "description": "A day of onboarding with our team",
            }
        },
        response={"add_on": ADD_ON},
        errors=(
            Refusal(422, {"code": ["value_already_exist"]}, "Another live add-on has this code."),
            Refusal(
                422, {"amount_currency": ["value_is_mandatory"]}, "No currency (`value_is_invalid`: not ISO 4217)."
            ),
            Refusal(422, {"amount_cents": ["value_is_out_of_range"]}, "A negative or huge amount."),
        ),
    ),
    "GET /api/v1/add_ons/{code}": Doc(
        summary="Get an add-on",
        description="""
The live add-on with this code: its price (`amount_cents` in `amount_currency`), which a one-off
invoice bills unless the fee gives its own unit amount.
""",
        request="/api/v1/add_ons/onboarding",
        response={"add_on": ADD_ON},
        errors=(ADD_ON_NOT_FOUND,),
    ),
    "PUT /api/v1/add_ons/{code}": Doc(
        summary="Update an add-on",
        description="""
Changes the fields the body sends. Invoices already issued keep their fees as billed: a fee copies
its amount when it is made.
""",
        request="/api/v1/add_ons/onboarding",
        body={"add_on": {"amount_cents": 60000}},
        response={"add_on": {**ADD_ON, "amount_cents": 60000}},
        errors=(
            ADD_ON_NOT_FOUND,
            Refusal(422, {"code": ["value_already_exist"]}, "Another live add-on has the new code."),
        ),
    ),
    "DELETE /api/v1/add_ons/{code}": Doc(
        summary="Delete an add-on",
        description="""
Deletes the add-on and answers it as it was: its code is free again, and invoices already issued
keep their fees for it.
""",
        request="/api/v1/add_ons/onboarding",
        response={"add_on": ADD_ON},
        errors=(ADD_ON_NOT_FOUND,),
    ),
}

SUBSCRIPTION_NOT_FOUND = Refusal(
    404, "subscription_not_found", "No subscription with this external_id has the status asked (active by default)."
)
STATUS_INVALID = Refusal(422, {"status": ["value_is_invalid"]}, "`status` is not a subscription status.")

SUBSCRIPTION_OPERATIONS = {
    "GET /api/v1/subscriptions": Doc(
        summary="List subscriptions",
        description="""
The organization's subscriptions, newest first: the active ones, unless `status[]` asks for others
(`pending`, `active`, `terminated`, `canceled`; repeat it for several). `external_customer_id` keeps
one customer's; `plan_code` one plan's.
""",
        request="/api/v1/subscriptions?external_customer_id=globex&status[]=active&status[]=pending",
        response={"subscriptions": [SUBSCRIPTION], "meta": _meta()},
        errors=(STATUS_INVALID, PAGE_OUT_OF_RANGE),
    ),
    "POST /api/v1/subscriptions": Doc(
        summary="Assign a plan to a customer",
        description="""
Creates the subscription `external_id` of the customer `external_customer_id` to the plan
`plan_code`. A customer that does not exist yet is created with this external_id, as Lago does.

- `subscription_at` (ISO 8601, now by default) in the past or now: the subscription is `active`
  at once (to the second) and, on a plan paid in advance, its first period is invoiced now. In
  the future: it is `pending` until then.
- Billing periods follow `billing_time`: `calendar` (whole weeks, months, quarters or years in the
  customer's time zone, the first one prorated by days) or `anniversary` (from the start date).
- Posting the same subscription again answers the existing one. Another live subscription
  already has this `external_id`: refused (Lago would treat a new plan as an upgrade or a
  downgrade, which we don't offer yet).
- A customer without a currency takes the plan's; one with another currency is refused.
- Events are tied to this subscription by its `external_id` from now on.
- Sends the `subscription.started` webhook when it starts.
""",
        request="/api/v1/subscriptions",
        body={
            "subscription": {
                "external_customer_id": "globex",
                "plan_code": "startup",
                "external_id": "globex_startup",
                "name": "Globex - Startup",
                "billing_time": "calendar",
                "subscription_at": "2026-01-15T09:31:00Z",
            }
        },
        response={"subscription": {**SUBSCRIPTION, "plan": PLAN}},
        errors=(
            PLAN_NOT_FOUND,
            Refusal(422, {"external_id": ["value_already_exist"]}, "Another live subscription has this external_id."),
            Refusal(
                422, {"currency": ["currencies_does_not_match"]}, "The customer's currency is not the plan's currency."
            ),
            Refusal(422, {"billing_time": ["value_is_invalid"]}, "Neither `calendar` nor `anniversary`."),
            Refusal(422, {"subscription_at": ["invalid_date"]}, "Not an ISO 8601 date and time."),
        ),
    ),
    "GET /api/v1/subscriptions/{external_id}": Doc(
        summary="Get a subscription",
        description="""
The active subscription with this external_id, with its plan. `status` finds one in another status
(`pending`, `terminated`, `canceled`): several ended subscriptions may have shared the id, and the
newest is answered. A deleted customer's terminated subscriptions stay readable this way.
""",
        request="/api/v1/subscriptions/globex_startup",
        response={"subscription": {**SUBSCRIPTION, "plan": PLAN}},
        errors=(SUBSCRIPTION_NOT_FOUND, STATUS_INVALID),
    ),
    "DELETE /api/v1/subscriptions/{external_id}": Doc(
        summary="Terminate a subscription",
        description="""
Ends the active subscription now (or the pending one, with `?status=pending`) and answers it.

An active subscription becomes `terminated` and is billed at once: the base fee prorated to the
days used and the usage up to now; on a plan paid in advance, a credit note gives back the unused
part of the period first. A pending one becomes `canceled` and bills nothing. Sends the
`subscription.terminated` or `subscription.canceled` webhook.
""",
        request="/api/v1/subscriptions/globex_startup",
        response={"subscription": {**TERMINATED_SUBSCRIPTION, "plan": PLAN}},
        errors=(
            SUBSCRIPTION_NOT_FOUND,
            Refusal(422, {"status": ["value_is_invalid"]}, "`status` is neither `active` nor `pending`."),
        ),
    ),
}

_EVENT_BODY = {
    "transaction_id": "txn_2026-12-03_0001",
    "external_subscription_id": "globex_startup",
    "code": "storage_gb",
    "timestamp": "1796292900",
    "properties": {"gb": 12.5},
}

EVENT_OPERATIONS = {
    "POST /api/v1/events": Doc(
        summary="Send a usage event",
        description="""
Records one usage event for the subscription `external_subscription_id`, under the billable metric
`code`. It counts in the subscription's current usage and on its next invoice.

- `transaction_id` makes it idempotent: unique per organization, in the database; sending the same
  one again is refused and stores nothing new.
- `timestamp` is Unix seconds (an integer, a float or a numeric string); absent or null means now.
- `properties` holds the values the metric reads (`field_name`): a number for `sum_agg`,
  `max_agg` and `latest_agg` (a numeric string works too).
- Ours: the event is tied to the live subscription it names when it arrives. An event naming no
  live subscription, or one of a deleted customer, is refused and nothing is stored, where Lago
  would accept it and report it later; a customer re-created with an old external_id never
  inherits old events.
""",
        request="/api/v1/events",
        body={"event": _EVENT_BODY},
        response={"event": EVENT},
        errors=(
            Refusal(
                422,
                {"external_subscription_id": ["subscription_not_found"]},
                "No pending or active subscription has this external_id.",
            ),
            Refusal(
                422, {"external_subscription_id": ["customer_is_deleted"]}, "The subscription's customer was deleted."
            ),
            Refusal(422, {"code": ["billable_metric_not_found"]}, "No live billable metric has this code."),
            Refusal(422, {"transaction_id": ["value_already_exist"]}, "An event with this transaction_id was stored."),
            Refusal(422, {"timestamp": ["invalid_format"]}, "Not Unix seconds between 1970 and 9999."),
            Refusal(
                422,
                {"properties.gb": ["value_is_not_a_number"]},
                "The property a summing, max or latest metric reads is not a number.",
            ),
        ),
    ),
    "POST /api/v1/events/batch": Doc(
        summary="Send a batch of usage events",
        description="""
Up to 100 events in one request, each following the rules of `POST /events`, all or nothing: one
refused event refuses the whole batch and nothing is stored. Errors are keyed by the index of the
event in the batch, then by field. Two events of the batch with one `transaction_id` are refused
too. (There is no `events.errors` webhook: no accepted batch holds refused events.)
""",
        request="/api/v1/events/batch",
        body={
            "events": [
                _EVENT_BODY,
                {
                    "transaction_id": "txn_2026-12-03_0002",
                    "external_subscription_id": "globex_startup",
                    "code": "api_calls",
                    "timestamp": "1796292901",
                },
            ]
        },
        response={
            "events": [
                EVENT,
                {
                    **EVENT,
                    "lago_id": _id("event 2"),
                    "transaction_id": "txn_2026-12-03_0002",
                    "code": "api_calls",
                    "timestamp": "2026-12-03T10:15:01.000Z",
                    "properties": {},
                },
            ]
        },
        errors=(
            Refusal(
                422,
                {"1": {"external_subscription_id": ["subscription_not_found"]}},
                "An event breaks a rule of `POST /events`: its errors under its index.",
            ),
            Refusal(422, {"events": ["too_many_events"]}, "More than 100 events (`no_events`: an empty list)."),
        ),
    ),
    "GET /api/v1/events/{transaction_id}": Doc(
        summary="Get an event",
        description="""
The event stored with this `transaction_id`, as it was recorded: its metric `code`, its
`timestamp`, its `properties` and the subscription it was tied to when it arrived.
""",
        request="/api/v1/events/txn_2026-12-03_0001",
        response={"event": EVENT},
        errors=(Refusal(404, "event_not_found", "No event of the organization has this transaction_id."),),
    ),
}

INVOICE_STATE_REFUSED = Refusal(405, "invalid_type_or_status", "The invoice is not a draft.")

INVOICE_OPERATIONS = {
    "GET /api/v1/invoices": Doc(
        summary="List invoices",
        description="""
The organization's invoices, newest first, each with its customer (without fees: get one invoice
for its fees, subscriptions and billing periods). Filters, each given once or as a list
(`status[]=draft&status[]=finalized`; also `statuses[]` and `payment_statuses[]`, as Lago takes
them): `status` (`draft`, `finalized`, `voided`, or `closed`: an invoice of nothing, of a customer
who skips those, with no number and nothing due), `payment_status` (`pending`, `succeeded`,
`failed`), `invoice_type` (`subscription`, `one_off`, `credit`, `add_on`) and
`external_customer_id`, which still finds a deleted customer's invoices while no new customer has
taken its id.

Drafts carry a provisional `number` (`ACME-DRAFT`); the gap-free sequential number is taken at
finalization.
""",
        request="/api/v1/invoices?external_customer_id=globex&status=finalized&payment_status=pending",
        response={"invoices": [INVOICE], "meta": _meta()},
        errors=(
            Refusal(422, {"status": ["value_is_invalid"]}, "A filter value outside its list."),
            PAGE_OUT_OF_RANGE,
        ),
    ),
    "POST /api/v1/invoices": Doc(
        summary="Create a one-off invoice",
        description="""
Bills add-ons at once on a finalized `one_off` invoice, numbered now (`invoice.one_off_created`
webhook). Each fee names an add-on by `add_on_code`; its `units` default to 1 and its
`unit_amount_cents` to the add-on's price, and its amount is their product, rounded once, half up.
The currency defaults to the customer's (a customer without one takes it). One-off invoices take
no coupons and no prepaid credits, as in Lago.

Ours: an add-on priced in another currency needs its `unit_amount_cents` given, rather than being
billed as if its price were in this currency.
""",
        request="/api/v1/invoices",
        body={
            "invoice": {
                "external_customer_id": "globex",
                "currency": "EUR",
                "fees": [{"add_on_code": "onboarding", "units": 1, "description": "Onboarding workshop, December 9"}],
            }
        },
        response={"invoice": ONE_OFF_INVOICE},
        errors=(
            CUSTOMER_NOT_FOUND,
            ADD_ON_NOT_FOUND,
            Refusal(404, "fees_not_found", "`fees` is missing or empty."),
            Refusal(
                422,
                {"currency": ["currencies_does_not_match"]},
                "The currency is not the customer's, or an add-on in another currency comes without its unit amount.",
            ),
            Refusal(422, {"units": ["value_is_invalid"]}, "Units that are not a positive number."),
        ),
    ),
    "GET /api/v1/invoices/{lago_id}": Doc(
        summary="Get an invoice",
        description="""
The invoice with its fees, the subscriptions and billing periods it covers, and the credits its
coupons took. Amounts: `fees_amount_cents` less `coupons_amount_cents` is the subtotal; the
customer's credit notes (`credit_notes_amount_cents`) and wallet (`prepaid_credit_amount_cents`)
then pay part of it; `total_amount_cents` is what is left to pay, `total_due_amount_cents` what is
still due (0 once paid or voided).
""",
        request=f"/api/v1/invoices/{INVOICE_ID}",
        response={"invoice": INVOICE_DETAIL},
        errors=(INVOICE_NOT_FOUND,),
    ),
    "PUT /api/v1/invoices/{lago_id}": Doc(
        summary="Record an invoice's payment status",
        description="""
Sets `payment_status` (`pending`, `succeeded`, `failed`), as your payment provider reports it, and
sends the `invoice.payment_status_updated` webhook when it changes. A paid `credit` invoice
settles the prepaid credits it sold (they arrive in the wallet); a failed one fails their purchase.
Invoice `metadata` is not offered (accepted only empty). A voided invoice is frozen.
""",
        request=f"/api/v1/invoices/{INVOICE_ID}",
        body={"invoice": {"payment_status": "succeeded"}},
        response={
            "invoice": {
                **INVOICE_DETAIL,
                "payment_status": "succeeded",
                "total_due_amount_cents": 0,
                "total_paid_amount_cents": 22725,
            }
        },
        errors=(
            INVOICE_NOT_FOUND,
            Refusal(405, "update_on_voided_invoice", "The invoice is voided."),
            Refusal(422, {"payment_status": ["value_is_invalid"]}, "A payment status other than the three."),
        ),
    ),
    "PUT /api/v1/invoices/{lago_id}/finalize": Doc(
        summary="Finalize a draft invoice",
        description="""
Finalizes a draft before its grace period ends: its fees are computed again from the events, then
it takes the customer's coupons, credit-note balances and wallet credits, in that order, and its
gap-free sequential number. Sends the `invoice.created` webhook. (A draft of nothing, of a customer
who skips those, is `closed` instead: no number, nothing due.)
""",
        request=f"/api/v1/invoices/{INVOICE_ID}/finalize",
        response={"invoice": INVOICE_DETAIL},
        errors=(INVOICE_NOT_FOUND, INVOICE_STATE_REFUSED),
    ),
    "PUT /api/v1/invoices/{lago_id}/refresh": Doc(
        summary="Refresh a draft invoice",
        description="""
Computes a draft's fees again from the events received so far (late events count); it stays a
draft. Only drafts can be refreshed.
""",
        request=f"/api/v1/invoices/{INVOICE_ID}/refresh",
        response={"invoice": DRAFT_INVOICE},
        errors=(INVOICE_NOT_FOUND, INVOICE_STATE_REFUSED),
    ),
    "POST /api/v1/invoices/{lago_id}/void": Doc(
        summary="Void an invoice",
        description="""
A finalized invoice becomes `voided`: it keeps its number and amounts, and nothing is due any more.
What it took is given back: the coupons' uses, the credit-note balances and the wallet credits it
spent; a voided `credit` invoice cancels the credit purchase it sold. Sends `invoice.voided`.

Lago's void options are not offered: `generate_credit_note`, `refund_amount` and `credit_amount`,
top-level keys of an optional body, are accepted only with their neutral value (false, 0, 0).
""",
        request=f"/api/v1/invoices/{INVOICE_ID}/void",
        response={
            "invoice": {
                **INVOICE_DETAIL,
                "status": "voided",
                "total_due_amount_cents": 0,
                "voided_at": "2026-12-05T08:00:00Z",
            }
        },
        errors=(
            INVOICE_NOT_FOUND,
            Refusal(405, "not_voidable", "The invoice is a draft or already voided."),
            Refusal(
                422,
                {"generate_credit_note": ["not_supported"]},
                "A void option with another value than its neutral one.",
            ),
        ),
    ),
}

CREDIT_NOTE_NOT_FOUND = Refusal(404, "credit_note_not_found", "No credit note of the organization has this id.")
NOT_CREDITABLE = Refusal(405, "invalid_type_or_status", "The invoice is a draft or voided.")
FEE_NOT_FOUND = Refusal(404, "fee_not_found", "An item names a fee that is not one of this invoice's.")

CREDIT_NOTE_OPERATIONS = {
    "GET /api/v1/credit_notes": Doc(
        summary="List credit notes",
        description="""
The organization's credit notes, newest first. Filters: `external_customer_id`, `invoice_id`,
`credit_status` (`available`, `consumed`, `voided`), `refund_status` (`pending`, `succeeded`,
`failed`) and `reason`.
""",
        request="/api/v1/credit_notes?external_customer_id=globex&credit_status=available",
        response={"credit_notes": [CREDIT_NOTE], "meta": _meta()},
        errors=(
            Refusal(422, {"credit_status": ["value_is_invalid"]}, "A filter value outside its list."),
            PAGE_OUT_OF_RANGE,
        ),
    ),
    "POST /api/v1/credit_notes": Doc(
        summary="Create a credit note",
        description="""
Gives back part of a finalized invoice: `items` say how much of each of its fees
(`amount_cents` per `fee_id`), and the total is split between `credit_amount_cents` (a balance the
customer's next invoices use, oldest first) and `refund_amount_cents` (money you pay back; only on a
paid invoice). The two must add up to the items.

Never more than what is left: per fee (its amount less coupons and earlier credit notes) and for
the invoice as a whole; credit notes of one invoice are checked one at a time, under a lock. The
number is the invoice's with a suffix (`ACME-000042-CN001`). `reason` is one of
`duplicated_charge`, `product_unsatisfactory`, `order_change`, `order_cancellation`,
`fraudulent_charge`, `other`. Sends `credit_note.created`.
""",
        request="/api/v1/credit_notes",
        body={
            "credit_note": {
                "invoice_id": INVOICE_ID,
                "reason": "duplicated_charge",
                "description": "API calls counted twice on November 28",
                "credit_amount_cents": 1800,
                "refund_amount_cents": 0,
                "items": [{"fee_id": API_CALLS_FEE["lago_id"], "amount_cents": 1800}],
            }
        },
        response={"credit_note": CREDIT_NOTE},
        errors=(
            INVOICE_NOT_FOUND,
            FEE_NOT_FOUND,
            NOT_CREDITABLE,
            Refusal(422, {"reason": ["value_is_mandatory"]}, "No reason (`value_is_invalid`: not one of the six)."),
            Refusal(422, {"base": ["does_not_match_item_amounts"]}, "Credit plus refund differ from the items' sum."),
            Refusal(
                422,
                {"amount_cents": ["higher_than_remaining_fee_amount"]},
                "An item asks more than what is left on its fee.",
            ),
            Refusal(
                422,
                {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]},
                "A refund on an invoice that is not paid.",
            ),
            Refusal(
                422,
                {"base": ["higher_than_remaining_invoice_amount"]},
                "More than what is left on the invoice.",
            ),
        ),
    ),
    "POST /api/v1/credit_notes/estimate": Doc(
        summary="Estimate a credit note",
        description="""
What a credit note with these items could give back at most, changing nothing:
`max_creditable_amount_cents` (as credit) and `max_refundable_amount_cents` (as refund: 0 until the
invoice is paid), following the rules of `POST /credit_notes`.
""",
        request="/api/v1/credit_notes/estimate",
        body={
            "credit_note": {
                "invoice_id": INVOICE_ID,
                "items": [{"fee_id": API_CALLS_FEE["lago_id"], "amount_cents": 1800}],
            }
        },
        response={
            "estimated_credit_note": {
                "lago_invoice_id": INVOICE_ID,
                "invoice_number": "ACME-000042",
                "currency": "EUR",
                "taxes_amount_cents": 0,
                "precise_taxes_amount_cents": "0.0",
                "taxes_rate": 0.0,
                "sub_total_excluding_taxes_amount_cents": 1800,
                "max_creditable_amount_cents": 1800,
                "max_refundable_amount_cents": 0,
                "max_offsettable_amount_cents": 0,
                "coupons_adjustment_amount_cents": 0,
                "items": [{"lago_fee_id": API_CALLS_FEE["lago_id"], "amount_cents": 1800}],
                "applied_taxes": [],
            }
        },
        errors=(
            INVOICE_NOT_FOUND,
            FEE_NOT_FOUND,
            NOT_CREDITABLE,
            Refusal(422, {"items": ["value_is_mandatory"]}, "No items."),
            Refusal(
                422,
                {"amount_cents": ["higher_than_remaining_fee_amount"]},
                "An item asks more than what is left on its fee.",
            ),
        ),
    ),
    "GET /api/v1/credit_notes/{lago_id}": Doc(
        summary="Get a credit note",
        description="""
The credit note with its items (each with the fee it gives back on) and its customer.
`balance_amount_cents` is the credit still to use; `credit_status` becomes `consumed` once
invoices have used it all.
""",
        request=f"/api/v1/credit_notes/{CREDIT_NOTE['lago_id']}",
        response={"credit_note": CREDIT_NOTE},
        errors=(CREDIT_NOTE_NOT_FOUND,),
    ),
    "PUT /api/v1/credit_notes/{lago_id}": Doc(
        summary="Record a credit note's refund status",
        description="""
Sets `refund_status` (`pending`, `succeeded`, `failed`) of a credit note that refunds something;
`succeeded` stamps `refunded_at`. Credit note `metadata` is not offered (accepted only empty).
""",
        request=f"/api/v1/credit_notes/{CREDIT_NOTE['lago_id']}",
        body={"credit_note": {"refund_status": "succeeded"}},
        response={
            "credit_note": {
                **CREDIT_NOTE,
                "credit_amount_cents": 800,
                "balance_amount_cents": 800,
                "refund_amount_cents": 1000,
                "refund_status": "succeeded",
                "refunded_at": "2026-12-06T15:00:00Z",
                "updated_at": "2026-12-06T15:00:00Z",
            }
        },
        errors=(
            CREDIT_NOTE_NOT_FOUND,
            Refusal(422, {"refund_status": ["no_refund_amount"]}, "The credit note refunds nothing."),
            Refusal(422, {"refund_status": ["value_is_invalid"]}, "A status other than the three."),
        ),
    ),
    "PUT /api/v1/credit_notes/{lago_id}/void": Doc(
        summary="Void a credit note",
        description="""
Voids the credit still available on the note: its balance drops to 0 and no invoice can use it any
more. What invoices already used, and any refund, stay as they are.
""",
        request=f"/api/v1/credit_notes/{CREDIT_NOTE['lago_id']}/void",
        response={
            "credit_note": {
                **CREDIT_NOTE,
                "status": "voided",
                "credit_status": "voided",
                "balance_amount_cents": 0,
                "voided_at": "2026-12-06T15:00:00Z",
                "updated_at": "2026-12-06T15:00:00Z",
            }
        },
        errors=(
            CREDIT_NOTE_NOT_FOUND,
            Refusal(405, "not_voidable", "No credit is available: consumed, voided already, or a refund only."),
        ),
    ),
}

COUPON_NOT_FOUND = Refusal(404, "coupon_not_found", "No live coupon has this code.")

COUPON_OPERATIONS = {
    "GET /api/v1/coupons": Doc(
        summary="List coupons",
        description="""
The organization's coupons, newest first: active and terminated ones (a terminated coupon can no
longer be applied); deleted ones are not listed.
""",
        request="/api/v1/coupons",
        response={"coupons": [COUPON], "meta": _meta()},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/coupons": Doc(
        summary="Create a coupon",
        description="""
A coupon takes a `fixed_amount` (`amount_cents` in `amount_currency`) or a `percentage`
(`percentage_rate`, above 0 and at most 100, up to 5 decimals) off subscription invoices, at
finalization:

- `frequency`: `once`, `recurring` (for `frequency_duration` billing periods) or `forever`;
- `expiration`: `no_expiration`, or `time_limit` until `expiration_at` (in the future), after which
  the clock terminates it and no customer can receive it;
- `reusable`: whether a customer may receive it again;
- `applies_to`: limited to `plan_codes` or to `billable_metric_codes` (not both); a coupon limited
  to metrics reduces only their charges' fees.

The `code` is unique among live coupons.
""",
        request="/api/v1/coupons",
        body={
            "coupon": {
                "name": "Welcome 10%",
                "code": "welcome_10",
                "description": "10% off the first three invoices",
                "coupon_type": "percentage",
                "percentage_rate": 10,
                "frequency": "recurring",
                "frequency_duration": 3,
                "reusable": False,
                "expiration": "time_limit",
                "expiration_at": "2027-06-30T21:59:59Z",
                "applies_to": {"plan_codes": ["startup"]},
            }
        },
        response={"coupon": COUPON},
        errors=(
            Refusal(404, "plans_not_found", "`applies_to` names a plan code that is no live plan's (or a metric's)."),
            Refusal(422, {"code": ["value_already_exist"]}, "Another live coupon has this code."),
            Refusal(422, {"percentage_rate": ["value_is_mandatory"]}, "A term the coupon type or frequency needs."),
            Refusal(
                422, {"applies_to": ["only_plans_or_billable_metrics"]}, "Limited to plans and to metrics at once."
            ),
            Refusal(422, {"expiration_at": ["invalid_date"]}, "A time limit that is already past."),
        ),
    ),
    "GET /api/v1/coupons/{code}": Doc(
        summary="Get a coupon",
        description="""
The live coupon with this code, terminated or not: its terms, its limits (`plan_codes`,
`billable_metric_codes`) and its expiration.
""",
        request="/api/v1/coupons/welcome_10",
        response={"coupon": COUPON},
        errors=(COUPON_NOT_FOUND,),
    ),
    "PUT /api/v1/coupons/{code}": Doc(
        summary="Update a coupon",
        description="""
Changes the fields the body sends; `applies_to`, when sent, replaces the limits. Once the coupon has
been applied to a customer, only its name, description and expiration may change: a change of any
other term is refused rather than ignored (terms sent unchanged are fine). A terminated coupon is
frozen.
""",
        request="/api/v1/coupons/welcome_10",
        body={"coupon": {"expiration_at": "2027-12-31T22:59:59Z"}},
        response={"coupon": {**COUPON, "expiration_at": "2027-12-31T22:59:59Z"}},
        errors=(
            COUPON_NOT_FOUND,
            Refusal(404, "billable_metrics_not_found", "`applies_to` names a metric code that is no live metric's."),
            Refusal(405, "coupon_is_terminated", "The coupon is terminated."),
            Refusal(422, {"percentage_rate": ["coupon_is_applied"]}, "A term of a coupon already applied."),
        ),
    ),
    "DELETE /api/v1/coupons/{code}": Doc(
        summary="Delete a coupon",
        description="""
Terminates the coupon and every active application of it (they stop reducing invoices), deletes it
(its code is free again) and answers it as it was.
""",
        request="/api/v1/coupons/welcome_10",
        response={"coupon": {**COUPON, "terminated_at": "2026-12-05T08:00:00Z"}},
        errors=(COUPON_NOT_FOUND,),
    ),
}

APPLIED_COUPONS_LIST = {"applied_coupons": [{**APPLIED_COUPON, "credits": [COUPON_CREDIT]}], "meta": _meta()}
APPLIED_STATUS_INVALID = Refusal(
    422, {"status": ["value_is_invalid"]}, "`status` is neither `active` nor `terminated`."
)

APPLIED_COUPON_OPERATIONS = {
    "GET /api/v1/applied_coupons": Doc(
        summary="List applied coupons",
        description="""
The coupons given to customers, newest first, each with the credits it took off invoices. Filters:
`external_customer_id` (a deleted customer's stay listed by its id until a new customer takes it),
`status` (`active`, `terminated`) and `coupon_code[]` (repeat it for several).
""",
        request="/api/v1/applied_coupons?external_customer_id=globex&status=active",
        response=APPLIED_COUPONS_LIST,
        errors=(APPLIED_STATUS_INVALID, PAGE_OUT_OF_RANGE),
    ),
    "POST /api/v1/applied_coupons": Doc(
        summary="Apply a coupon to a customer",
        description="""
Gives the coupon `coupon_code` to the customer `external_customer_id`, on the coupon's terms or on
overridden ones (`amount_cents`, `amount_currency`, `percentage_rate`, `frequency`,
`frequency_duration`, within the coupon's type). The customer's next subscription invoices take it
at finalization: coupons limited to metrics first, then to plans, then the others, oldest first.

Refused, as in Lago: a terminated or deleted coupon, a non-reusable coupon the customer has ever
had, a limited coupon covering a plan or metric that another active limited coupon of the customer
already covers. Ours: a fixed amount in another currency than the customer's is refused here
rather than skipped at billing; a customer without a currency takes the coupon's.
""",
        request="/api/v1/applied_coupons",
        body={
            "applied_coupon": {"external_customer_id": "globex", "coupon_code": "welcome_10", "frequency_duration": 3}
        },
        response={
            "applied_coupon": {
                **APPLIED_COUPON,
                "frequency_duration_remaining": 3,
                "created_at": "2026-12-03T11:00:00Z",
            }
        },
        errors=(
            CUSTOMER_NOT_FOUND,
            Refusal(404, "coupon_not_found", "No live, active coupon has this code."),
            Refusal(
                405, "plan_overlapping", "Another active limited coupon of the customer covers the same plan or metric."
            ),
            Refusal(422, {"coupon": ["coupon_is_not_reusable"]}, "The customer already had this non-reusable coupon."),
            Refusal(
                422,
                {"amount_currency": ["currencies_does_not_match"]},
                "A fixed amount in another currency than the customer's.",
            ),
        ),
    ),
    "GET /api/v1/customers/{external_id}/applied_coupons": Doc(
        summary="List a customer's applied coupons",
        description="""
The coupons given to this live customer, newest first, each with the credits it took off invoices;
`status` and `coupon_code[]` filter as in `GET /applied_coupons`.
""",
        request="/api/v1/customers/globex/applied_coupons?status=active",
        response=APPLIED_COUPONS_LIST,
        errors=(CUSTOMER_NOT_FOUND, APPLIED_STATUS_INVALID, PAGE_OUT_OF_RANGE),
    ),
    "DELETE /api/v1/customers/{external_id}/applied_coupons/{lago_id}": Doc(
        summary="Terminate a customer's applied coupon",
        description="""
The coupon stops reducing the customer's invoices; credits it already gave stay. Terminating it
again answers it unchanged.
""",
        request=f"/api/v1/customers/globex/applied_coupons/{APPLIED_COUPON['lago_id']}",
        response={
            "applied_coupon": {**APPLIED_COUPON, "status": "terminated", "terminated_at": "2026-12-05T08:00:00Z"}
        },
        errors=(
            CUSTOMER_NOT_FOUND,
            Refusal(404, "applied_coupon_not_found", "The customer has no applied coupon with this id."),
        ),
    ),
}

WALLET_OPERATIONS = {
    "GET /api/v1/wallets": Doc(
        summary="List wallets",
        description="""
The organization's wallets, newest first, terminated ones included. `external_customer_id` keeps
one customer's (a deleted customer's stay listed by its id until a new customer takes it). In a
list, the ongoing balance is the one stored at the last balance sync (`last_balance_sync_at`); get
one wallet for its balance computed now.
""",
        request="/api/v1/wallets?external_customer_id=globex",
        response={"wallets": [WALLET], "meta": _meta()},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/wallets": Doc(
        summary="Create a wallet",
        description="""
Opens the customer's wallet of prepaid credits, each worth `rate_amount` of `currency` (the
customer's by default; a customer without one takes it), and adds its first credits in the same
transaction: `granted_credits` are settled at once; `paid_credits` are sold on a finalized `credit`
invoice and stay pending until it is paid. At finalization, a subscription invoice is paid from
the wallet after its coupons and credit notes.

Ours: one active wallet per customer. Credits are at least 0 with at most 5 decimals; an
`expiration_at` in the future terminates the wallet then (what is left is voided). Lago's options we
don't offer (`code`, `priority`, recurring top-ups, `applies_to`, top-up limits, payment method...)
are accepted only with their neutral value. Sends `wallet.created`.
""",
        request="/api/v1/wallets",
        body={
            "wallet": {
                "external_customer_id": "globex",
                "name": "Prepaid credits",
                "rate_amount": "1.0",
                "currency": "EUR",
                "granted_credits": "50.0",
                "paid_credits": "100.0",
                "expiration_at": "2027-12-31T22:59:59Z",
                "transaction_name": "Welcome pack",
                "transaction_metadata": [{"key": "reason", "value": "welcome pack"}],
            }
        },
        response={"wallet": WALLET},
        errors=(
            Refusal(422, {"customer": ["customer_not_found"]}, "No live customer has `external_customer_id`."),
            Refusal(422, {"customer": ["wallet_already_exists"]}, "The customer already has an active wallet."),
            Refusal(422, {"rate_amount": ["value_is_mandatory"]}, "No rate (`value_is_invalid`: not above 0)."),
            Refusal(422, {"currency": ["currencies_does_not_match"]}, "A currency other than the customer's."),
            Refusal(422, {"paid_credits": ["invalid_amount"]}, "Credits below 0 or with more than 5 decimals."),
            Refusal(422, {"expiration_at": ["invalid_date"]}, "An expiration already past."),
        ),
    ),
    "GET /api/v1/wallets/{lago_id}": Doc(
        summary="Get a wallet",
        description="""
The wallet and its balances: `credits_balance` / `balance_cents` (settled credits), and the ongoing
balance, computed now, less what current usage and draft invoices already promise
(`credits_ongoing_usage_balance`, `ongoing_usage_balance_cents`). A deleted customer's wallet stays
readable.
""",
        request=f"/api/v1/wallets/{WALLET['lago_id']}",
        response={
            "wallet": {
                **WALLET,
                "credits_ongoing_balance": "23.75",
                "credits_ongoing_usage_balance": "26.25",
                "ongoing_balance_cents": 2375,
                "ongoing_usage_balance_cents": 2625,
            }
        },
        errors=(WALLET_NOT_FOUND,),
    ),
    "PUT /api/v1/wallets/{lago_id}": Doc(
        summary="Update a wallet",
        description="""
Renames the wallet or moves its expiration (`null` removes it). A terminated wallet is frozen, and a
deleted customer's wallet cannot change. Sends `wallet.updated`.
""",
        request=f"/api/v1/wallets/{WALLET['lago_id']}",
        body={"wallet": {"name": "Prepaid credits 2027", "expiration_at": None}},
        response={"wallet": {**WALLET, "name": "Prepaid credits 2027", "expiration_at": None}},
        errors=(
            WALLET_NOT_FOUND,
            Refusal(405, "wallet_is_terminated", "The wallet is terminated."),
            Refusal(422, {"expiration_at": ["invalid_date"]}, "An expiration already past."),
        ),
    ),
    "DELETE /api/v1/wallets/{lago_id}": Doc(
        summary="Terminate a wallet",
        description="""
Terminates the wallet and answers it. Ours: what is left of its credits is voided through an
outbound `voided` transaction, so the books balance (Lago leaves the balance on the terminated
wallet). Terminating it again changes nothing. Sends `wallet.terminated`.
""",
        request=f"/api/v1/wallets/{WALLET['lago_id']}",
        response={"wallet": TERMINATED_WALLET},
        errors=(WALLET_NOT_FOUND,),
    ),
    "GET /api/v1/wallets/{lago_id}/wallet_transactions": Doc(
        summary="List a wallet's transactions",
        description="""
The credits that came in and went out of the wallet, newest first. Filters: `status` (`pending`,
`settled`, `failed`), `transaction_type` (`inbound`, `outbound`) and `transaction_status`
(`purchased`, `granted`, `voided`, `invoiced`).
""",
        request=f"/api/v1/wallets/{WALLET['lago_id']}/wallet_transactions?transaction_type=inbound",
        response={"wallet_transactions": [GRANT, PURCHASE], "meta": _meta(2)},
        errors=(
            WALLET_NOT_FOUND,
            Refusal(422, {"transaction_type": ["value_is_invalid"]}, "A filter value outside its list."),
            PAGE_OUT_OF_RANGE,
        ),
    ),
    "POST /api/v1/wallet_transactions": Doc(
        summary="Top up or void a wallet's credits",
        description="""
Paid, granted and voided credits in one request, all or nothing: up to three transactions, made in
that order. Granted credits arrive at once; paid credits are sold on a finalized `credit` invoice
and arrive when it is paid (`PUT /invoices/{lago_id}` with `payment_status: succeeded`); voided
credits leave at once, never more than the balance. Sends `wallet_transaction.created`.
""",
        request="/api/v1/wallet_transactions",
        body={
            "wallet_transaction": {
                "wallet_id": WALLET["lago_id"],
                "paid_credits": "100.0",
                "granted_credits": "50.0",
                "name": "Welcome pack",
                "metadata": [{"key": "reason", "value": "welcome pack"}],
            }
        },
        response={"wallet_transactions": [PURCHASE, GRANT]},
        errors=(
            Refusal(422, {"wallet_id": ["wallet_not_found"]}, "No wallet of a live customer has this id."),
            Refusal(422, {"wallet_id": ["wallet_is_terminated"]}, "The wallet is terminated."),
            Refusal(422, {"voided_credits": ["insufficient_credits"]}, "More credits voided than the balance."),
            Refusal(422, {"granted_credits": ["invalid_amount"]}, "Credits below 0 or with more than 5 decimals."),
        ),
    ),
    "GET /api/v1/wallet_transactions/{lago_id}": Doc(
        summary="Get a wallet transaction",
        description="""
One movement of credits: `amount` is what the credits are worth in the wallet's currency;
`lago_invoice_id` names the invoice that sold (purchased) or spent (invoiced) them.
""",
        request=f"/api/v1/wallet_transactions/{PURCHASE['lago_id']}",
        response={"wallet_transaction": PURCHASE},
        errors=(
            Refusal(404, "wallet_transaction_not_found", "No wallet transaction of the organization has this id."),
        ),
    ),
}

WEBHOOK_ENDPOINT_NOT_FOUND = Refusal(404, "webhook_endpoint_not_found", "No endpoint of the organization has this id.")
WEBHOOK_URL_REFUSED = Refusal(
    422,
    {"webhook_url": ["url_not_allowed"]},
    "The URL resolves to a loopback, private, link-local or reserved address (or to none); `invalid_url`: not http(s).",
)

WEBHOOK_OPERATIONS = {
    "GET /api/v1/webhook_endpoints": Doc(
        summary="List webhook endpoints",
        description="""
The organization's webhook endpoints (at most 10), newest first, with the message types each
receives.
""",
        request="/api/v1/webhook_endpoints",
        response={"webhook_endpoints": [WEBHOOK_ENDPOINT], "meta": _meta()},
        errors=(PAGE_OUT_OF_RANGE,),
    ),
    "POST /api/v1/webhook_endpoints": Doc(
        summary="Create a webhook endpoint",
        description="""
An endpoint receives a POST for each change of the types it listens to (`event_types`; null or
absent: every type), in Lago's body, signed with `signature_algo`: `jwt` (the default; verify with
the public key of `GET /webhooks/json_public_key`) or `hmac` (the organization's HMAC key, in the
staff pages). Messages leave after the change is committed, are retried, and each delivery is
logged.

At most 10 endpoints per organization, each URL once. A URL must be http(s), and (unless the
server allows private addresses) must not resolve to our own network.
""",
        request="/api/v1/webhook_endpoints",
        body={
            "webhook_endpoint": {
                "webhook_url": "https://hooks.acme.example/billing",
                "signature_algo": "jwt",
                "name": "Billing backend",
                "event_types": ["invoice.created", "invoice.payment_status_updated"],
            }
        },
        response={"webhook_endpoint": WEBHOOK_ENDPOINT},
        errors=(
            Refusal(405, "webhook_endpoints_limit_reached", "The organization already has 10 endpoints."),
            Refusal(422, {"webhook_url": ["value_already_exist"]}, "Another endpoint has this URL."),
            WEBHOOK_URL_REFUSED,
            Refusal(422, {"event_types": ["value_is_invalid"]}, "An unknown message type."),
        ),
    ),
    "GET /api/v1/webhook_endpoints/{lago_id}": Doc(
        summary="Get a webhook endpoint",
        description="""
The webhook endpoint with this id: where messages go, how they are signed and which types it
receives (`event_types` null: every type).
""",
        request=f"/api/v1/webhook_endpoints/{WEBHOOK_ENDPOINT['lago_id']}",
        response={"webhook_endpoint": WEBHOOK_ENDPOINT},
        errors=(WEBHOOK_ENDPOINT_NOT_FOUND,),
    ),
    "PUT /api/v1/webhook_endpoints/{lago_id}": Doc(
        summary="Update a webhook endpoint",
        description="""
Changes only the fields the body sends, with the rules of creation. Messages already written keep
the URL they were written for.
""",
        request=f"/api/v1/webhook_endpoints/{WEBHOOK_ENDPOINT['lago_id']}",
        body={"webhook_endpoint": {"event_types": None}},
        response={"webhook_endpoint": {**WEBHOOK_ENDPOINT, "event_types": None}},
        errors=(
            WEBHOOK_ENDPOINT_NOT_FOUND,
            Refusal(422, {"webhook_url": ["value_already_exist"]}, "Another endpoint has the new URL."),
            WEBHOOK_URL_REFUSED,
        ),
    ),
    "DELETE /api/v1/webhook_endpoints/{lago_id}": Doc(
        summary="Delete a webhook endpoint",
        description="""
Deletes the endpoint and answers it as it was. Messages already written for it are still
delivered; no new ones are written.
""",
        request=f"/api/v1/webhook_endpoints/{WEBHOOK_ENDPOINT['lago_id']}",
        response={"webhook_endpoint": WEBHOOK_ENDPOINT},
        errors=(WEBHOOK_ENDPOINT_NOT_FOUND,),
    ),
    "GET /api/v1/webhooks/json_public_key": Doc(
        summary="Get the webhooks' public key",
        description="""
The organization's RSA public key (PEM), base64-encoded, which verifies the `X-Lago-Signature` of
JWT-signed webhooks (what `lago-python-client`'s `webhooks.public_key()` reads and decodes).
""",
        request="/api/v1/webhooks/json_public_key",
        response={"webhook": {"public_key": PUBLIC_KEY}},
    ),
    "GET /api/v1/webhooks/public_key": Doc(
        summary="Get the webhooks' public key as text",
        description="""
The same key as `GET /webhooks/json_public_key`, base64-encoded, as plain text. Lago marks it
deprecated in favour of the JSON one.
""",
        request="/api/v1/webhooks/public_key",
        response=PUBLIC_KEY,
    ),
}

# Analytics (analytics/selectors.py): Lago's shapes, amounts per month and currency. Only finalized
# invoices count; months without anything to show are left out.
ANALYTICS_INTRO = """
`months=N` keeps the last N months, the current one included (none: every month); `currency` keeps
one currency (amounts never mix currencies: each row has one).
"""
MONTHS_OUT_OF_RANGE = Refusal(
    422, {"months": ["value_is_out_of_range"]}, "`months` is below 1 (`value_is_invalid`: not a whole number)."
)
CURRENCY_INVALID = Refusal(422, {"currency": ["value_is_invalid"]}, "`currency` is not an ISO 4217 code.")
NO_CUSTOMER_FILTER = Refusal(
    422, {"external_customer_id": ["not_supported"]}, "`external_customer_id`, which this figure does not take."
)
ANALYTICS_CUSTOMER_NOT_FOUND = Refusal(
    404, "customer_not_found", "No customer of the organization, live or deleted, ever had `external_customer_id`."
)

ANALYTICS_OPERATIONS = {
    "GET /api/v1/analytics/gross_revenue": Doc(
        summary="Gross revenue per month",
        description=f"""
What the organization invoiced, per month of issue and currency: the totals of its finalized
invoices (after coupons, credit notes and prepaid credits, as `total_amount_cents` is), less what
their credit notes refund, and how many invoices there were (`invoices_count`). Ours: a failed
refund gave nothing back and is not taken off. The oldest month first.
{ANALYTICS_INTRO}
`external_customer_id` keeps one customer's invoices (a deleted customer's too, while no new
customer has taken its id).
""",
        request="/api/v1/analytics/gross_revenue?currency=EUR&months=3",
        response={
            "gross_revenues": [
                {"month": "2026-10-01T00:00:00.000Z", "amount_cents": 1702300, "currency": "EUR", "invoices_count": 77},
                {"month": "2026-11-01T00:00:00.000Z", "amount_cents": 1841250, "currency": "EUR", "invoices_count": 81},
                {"month": "2026-12-01T00:00:00.000Z", "amount_cents": 50000, "currency": "EUR", "invoices_count": 1},
            ]
        },
        errors=(ANALYTICS_CUSTOMER_NOT_FOUND, MONTHS_OUT_OF_RANGE, CURRENCY_INVALID),
    ),
    "GET /api/v1/analytics/mrr": Doc(
        summary="Monthly recurring revenue",
        description=f"""
The monthly recurring revenue per month and currency: the subscription (base) fees of finalized
invoices, less their coupons, brought to one month by their plan's interval. A monthly fee counts
in the month it was invoiced; a quarterly or yearly fee is spread evenly over the months it covers
(forward from the invoice for a plan paid in advance, back from it for one paid in arrears); weekly
fees count as their average times 52/12 weeks, per weekly subscription. Usage charges are not
recurring and do not count. The oldest month first.
{ANALYTICS_INTRO}""",
        request="/api/v1/analytics/mrr?currency=EUR&months=2",
        response={
            "mrrs": [
                {"month": "2026-11-01T00:00:00.000Z", "amount_cents": 387100, "currency": "EUR"},
                {"month": "2026-12-01T00:00:00.000Z", "amount_cents": 396900, "currency": "EUR"},
            ]
        },
        errors=(MONTHS_OUT_OF_RANGE, CURRENCY_INVALID, NO_CUSTOMER_FILTER),
    ),
    "GET /api/v1/analytics/invoiced_usage": Doc(
        summary="Invoiced usage per month",
        description=f"""
What usage-based charges brought in, per month of issue, billable metric (`code`) and currency:
the charge fees of finalized invoices, less their coupons. The newest month first, then the
largest amount, as Lago orders them. (Lago also counts the fees of drafts and voided invoices, by
the fee's creation date: we count what was invoiced, by the invoice's issuing date.)
{ANALYTICS_INTRO}""",
        request="/api/v1/analytics/invoiced_usage?currency=EUR&months=1",
        response={
            "invoiced_usages": [
                {"month": "2026-11-01T00:00:00.000Z", "code": "api_calls", "currency": "EUR", "amount_cents": 1264400},
                {"month": "2026-11-01T00:00:00.000Z", "code": "storage_gb", "currency": "EUR", "amount_cents": 61750},
            ]
        },
        errors=(MONTHS_OUT_OF_RANGE, CURRENCY_INVALID, NO_CUSTOMER_FILTER),
    ),
    "GET /api/v1/analytics/overdue_balance": Doc(
        summary="Overdue balance per month",
        description=f"""
What customers owe past their payment due date, per month of that due date and currency: the
totals of the finalized invoices that are not paid (payment `pending` or `failed`) and whose due
date has passed, with their ids (`lago_invoice_ids`). The oldest month first.
{ANALYTICS_INTRO}
`external_customer_id` keeps one customer's invoices.
""",
        request="/api/v1/analytics/overdue_balance?currency=EUR&external_customer_id=globex",
        response={
            "overdue_balances": [
                {
                    "month": "2026-11-01T00:00:00.000Z",
                    "amount_cents": 22725,
                    "currency": "EUR",
                    "lago_invoice_ids": [_id("invoice october")],
                }
            ]
        },
        errors=(ANALYTICS_CUSTOMER_NOT_FOUND, MONTHS_OUT_OF_RANGE, CURRENCY_INVALID),
    ),
    "GET /api/v1/analytics/invoice_collection": Doc(
        summary="Invoice collection per month",
        description=f"""
How invoices are being paid: the finalized invoices issued each month, counted (`invoices_count`)
and summed (`amount_cents`) per payment status (`pending`, `succeeded`, `failed`) and currency.
The oldest month first.
{ANALYTICS_INTRO}""",
        request="/api/v1/analytics/invoice_collection?currency=EUR&months=1",
        response={
            "invoice_collections": [
                {
                    "month": "2026-11-01T00:00:00.000Z",
                    "payment_status": "pending",
                    "invoices_count": 7,
                    "amount_cents": 151250,
                    "currency": "EUR",
                },
                {
                    "month": "2026-11-01T00:00:00.000Z",
                    "payment_status": "succeeded",
                    "invoices_count": 74,
                    "amount_cents": 1690000,
                    "currency": "EUR",
                },
            ]
        },
        errors=(MONTHS_OUT_OF_RANGE, CURRENCY_INVALID, NO_CUSTOMER_FILTER),
    ),
}

# Analytics endpoints being added: listed here before they reach the schema (the docs test allows
# these, and only these, to be absent from it).
PENDING_OPERATIONS = frozenset(ANALYTICS_OPERATIONS)

OPERATIONS: dict[str, Doc] = {
    **CUSTOMER_OPERATIONS,
    **BILLABLE_METRIC_OPERATIONS,
    **PLAN_OPERATIONS,
    **ADD_ON_OPERATIONS,
    **SUBSCRIPTION_OPERATIONS,
    **EVENT_OPERATIONS,
    **INVOICE_OPERATIONS,
    **CREDIT_NOTE_OPERATIONS,
    **COUPON_OPERATIONS,
    **APPLIED_COUPON_OPERATIONS,
    **WALLET_OPERATIONS,
    **WEBHOOK_OPERATIONS,
    **ANALYTICS_OPERATIONS,
}


# The sections of the docs, in the order a new integration meets them: each tag (drf-spectacular
# names it after the path's first segment) with its title and what it is about.
TAGS = {
    "customers": ("Customers", "The customers you bill, addressed by your own `external_id`."),
    "billable_metrics": ("Billable metrics", "What usage is measured: how the events of one code add up."),
    "plans": ("Plans", "Price lists: a base fee per billing period and charges on billable metrics."),
    "add_ons": ("Add-ons", "Catalogue items billed once, on a one-off invoice."),
    "subscriptions": ("Subscriptions", "A plan assigned to a customer: billing periods and invoices start here."),
    "events": ("Events", "Usage, sent by your backend, tied to a subscription as it arrives."),
    "invoices": ("Invoices", "What customers owe: subscription, one-off and credit invoices."),
    "credit_notes": ("Credit notes", "Money given back on a finalized invoice, as credit or refund."),
    "coupons": ("Coupons", "Discounts a customer can receive."),
    "applied_coupons": ("Applied coupons", "Coupons given to customers, and what each took off invoices."),
    "wallets": ("Wallets", "Prepaid credits that pay a customer's invoices."),
    "wallet_transactions": ("Wallet transactions", "Credits in and out of a wallet."),
    "webhook_endpoints": ("Webhook endpoints", "Where the messages about changes go."),
    "webhooks": ("Webhooks", "The key that verifies JWT-signed messages."),
    "analytics": ("Analytics", "Revenue, usage and collection per month."),
}


# The hook ------------------------------------------------------------------------------------

ERROR_PHRASES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 422: "Unprocessable Entity"}
# The answers every operation shares (billing/api/errors.py); the introduction explains them.
UNAUTHORIZED = {"status": 401, "error": "Unauthorized"}
RATE_LIMITED = {"status": 429, "error": "Rate limit exceeded", "code": "rate_limit_exceeded"}
UNAVAILABLE = {"status": 503, "error": "Service Unavailable", "code": "service_unavailable"}
# The answers every authenticated operation may give whatever it does (billing/api/errors.py), added
# to each one here rather than listed on every view.
SHARED_ANSWERS = {
    "429": "Over the organization's rate limit; retry after `Retry-After` seconds.",
    "503": "The database cannot be reached; send the request again after `Retry-After` seconds.",
}


def error_body(refusal: Refusal) -> dict:
    """The body Lago answers for `refusal` (billing.api.errors.lago_exception_handler's shapes)."""
    if refusal.status == 422:
        return {"status": 422, "error": ERROR_PHRASES[422], "code": "validation_errors", "error_details": refusal.code}
    return {"status": refusal.status, "error": ERROR_PHRASES[refusal.status], "code": refusal.code}


def _flat_codes(details: dict, prefix: str = "") -> list[tuple[str, str]]:
    """`{"1": {"code": ["x"]}}` as [("1.code", "x")]: the field paths of error details, with their codes."""
    pairs = []
    for key, value in details.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs.extend(_flat_codes(value, f"{path}."))
        else:
            pairs.extend((path, code) for code in value)
    return pairs


def error_label(refusal: Refusal) -> str:
    if isinstance(refusal.code, dict):
        return ", ".join(f"{path}: {code}" for path, code in _flat_codes(refusal.code))
    return refusal.code


def _code_cell(refusal: Refusal) -> str:
    """The code as the table shows it: `field`: `code` for a 422, so that a narrow column wraps between them."""
    if isinstance(refusal.code, dict):
        return "<br>".join(f"`{path}`: `{code}`" for path, code in _flat_codes(refusal.code))
    return f"`{refusal.code}`"


def _errors_table(errors: tuple[Refusal, ...]) -> str:
    rows = [f"| {refusal.status} | {_code_cell(refusal)} | {refusal.when} |" for refusal in errors]
    return "\n".join(["**Errors**", "", "| Status | Code | When |", "|---|---|---|", *rows])


def curl_command(method: str, doc: Doc) -> str:
    """The example request as a shell command (BILLING_URL and API_KEY come from the environment)."""
    globoff = " --globoff" if "[" in doc.request else ""  # curl would read `status[]` as a range
    verb = "" if method == "GET" else f" -X {method}"
    lines = [f'curl{verb}{globoff} "$BILLING_URL{doc.request}"', '  -H "Authorization: Bearer $API_KEY"']
    if doc.body is not None:
        body = json.dumps(doc.body, indent=2).replace("'", "'\\''")
        lines += ['  -H "Content-Type: application/json"', f"  -d '{body}'"]
    return " \\\n".join(lines)


def _set_examples(content: dict, examples: dict[str, dict]) -> None:
    """Give each JSON media type of a request body or response these named examples."""
    for media_type, media in content.items():
        if media_type == "application/json":
            media["examples"] = examples


def _describe(operation: dict, method: str, doc: Doc) -> None:
    responses = operation.get("responses", {})
    success = responses.get("200", {}).get("content", {})
    description = [doc.description.strip()]
    if success and "application/json" not in success:
        # A plain-text answer: its example is shown here, its schema is left as it is.
        description.append(f"Example response:\n\n```\n{doc.response}\n```")
    if doc.errors:
        description.append(_errors_table(doc.errors))
    operation["summary"] = doc.summary
    operation["description"] = "\n\n".join(description)
    operation["x-codeSamples"] = [{"lang": "Shell", "label": "curl", "source": curl_command(method, doc)}]

    if doc.body is not None and "requestBody" in operation:
        _set_examples(operation["requestBody"].get("content", {}), {"example": {"value": doc.body}})
    _set_examples(success, {"example": {"value": doc.response}})

    by_status: dict[str, dict[str, dict]] = {}
    if "401" in responses:
        by_status["401"] = {"unauthorized": {"summary": "Missing or unknown API key", "value": UNAUTHORIZED}}
    if "429" in responses:
        by_status["429"] = {"rate_limited": {"summary": "Over the organization's rate limit", "value": RATE_LIMITED}}
    if "503" in responses:
        by_status["503"] = {"unavailable": {"summary": "The database cannot be reached", "value": UNAVAILABLE}}
    if "400" in responses and isinstance(doc.body, dict) and len(doc.body) == 1:
        root_key = next(iter(doc.body))
        message = f"BadRequest: param is missing or the value is empty or invalid: {root_key}"
        by_status["400"] = {
            "missing_root_key": {"summary": f"No `{root_key}` object", "value": {"status": 400, "error": message}}
        }
    for refusal in doc.errors:
        examples = by_status.setdefault(str(refusal.status), {})
        # Redoc shows an example's summary as plain text.
        examples[error_label(refusal)] = {"summary": refusal.when.replace("`", ""), "value": error_body(refusal)}
    for status, examples in by_status.items():
        if status in responses:
            _set_examples(responses[status].get("content", {}), examples)


def _add_shared_answers(operation: dict) -> None:
    """The rate limit's 429 and the unavailable database's 503, on every operation that takes a key."""
    responses = operation.get("responses", {})
    if "401" not in responses:
        return
    for status, description in SHARED_ANSWERS.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            },
        )


def describe_operations(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: write OPERATIONS into the schema. An operation without
    an entry keeps what it had, with a warning (`manage.py spectacular --fail-on-warn` stops on
    it, and the docs test fails); the schema itself still answers."""
    result.setdefault("info", {})["description"] = INTRODUCTION
    result["tags"] = [
        {"name": name, "x-displayName": title, "description": about} for name, (title, about) in TAGS.items()
    ]
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in HTTP_METHODS:
                continue
            _add_shared_answers(operation)
            key = f"{method.upper()} {path}"
            doc = OPERATIONS.get(key)
            if doc is None:
                warn(f"{key} has no entry in billing/api/descriptions.py: the docs show no description for it")
                continue
            _describe(operation, method.upper(), doc)
    return result
