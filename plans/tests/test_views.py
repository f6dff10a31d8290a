"""Staff pages for billable metrics and plans: login, lists, forms, plan view, deletion."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from events.models import UsageRollup
from plans import services
from plans.models import BillableMetric, Charge, Plan, Subscription, SubscriptionStatus
from plans.tests.factories import SubscriptionFactory


def make_metric(organization, code="api_calls", aggregation="count_agg", field_name=None, name=None):
    return services.create_billable_metric(
        organization=organization,
        data={
            "name": name or code.replace("_", " ").title(),
            "code": code,
            "aggregation_type": aggregation,
            "field_name": field_name,
        },
    )


def make_plan(organization, code="starter", charges=(), **overrides):
    data = {
        "name": code.title(),
        "code": code,
        "interval": "monthly",
        "amount_cents": 4999,
        "amount_currency": "EUR",
        "charges": list(charges),
        **overrides,
    }
    return services.create_plan(organization=organization, data=data)


def metric_data(**overrides) -> dict:
    return {
        "name": "Storage",
        "code": "storage",
        "description": "",
        "aggregation_type": "sum_agg",
        "field_name": "gb",
        **overrides,
    }


def plan_data(*charges, initial=0, **overrides) -> dict:
    data = {
        "name": "Pro",
        "code": "pro",
        "description": "",
        "interval": "monthly",
        "amount": "49.99",
        "amount_currency": "EUR",
        "trial_period": "",
        "charges-TOTAL_FORMS": str(len(charges)),
        "charges-INITIAL_FORMS": str(initial),
        "charges-MIN_NUM_FORMS": "0",
        "charges-MAX_NUM_FORMS": "50",
    }
    for index, charge in enumerate(charges):
        for key, value in charge.items():
            data[f"charges-{index}-{key}"] = value
    data.update(overrides)
    return data


def field_errors(html: str, field: str) -> str:
    """The error text rendered inside the container of `field`, as plain text, or ""."""
    label = rf'<div class="field has-error">\s*<label for="id_{re.escape(field)}">'
    match = re.search(label + r'.*?<div class="field-error"[^>]*>(.*?)</div>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


# Access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["plans:metric_list", "plans:metric_create", "plans:plan_list", "plans:plan_create"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_object_pages_require_login(client, organization):
    metric = make_metric(organization)
    plan = make_plan(organization)
    paths = [
        reverse("plans:metric_edit", args=[metric.pk]),
        reverse("plans:metric_delete", args=[metric.pk]),
        reverse("plans:plan_detail", args=[plan.pk]),
        reverse("plans:plan_edit", args=[plan.pk]),
        reverse("plans:plan_delete", args=[plan.pk]),
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    response = client.post(reverse("plans:plan_delete", args=[plan.pk]))
    assert response.status_code == 302
    assert Plan.objects.get(pk=plan.pk).deleted_at is None


def test_side_menu_lists_metrics_and_plans_above_customers_and_highlights_them(staff_client):
    page = staff_client.get(reverse("plans:metric_list")).content.decode()
    menu = page[page.index('<nav class="side-menu"') : page.index("</nav>")]
    assert menu.index("Billable metrics") < menu.index(">Plans<") < menu.index("Customers")
    assert re.search(r'class="active">Billable metrics<', menu)
    assert not re.search(r'class="active">Plans<', menu)
    plans_page = staff_client.get(reverse("plans:plan_create")).content.decode()
    assert re.search(r'class="active">Plans<', plans_page)


def test_other_organizations_objects_are_404(staff_client, other_organization):
    metric = make_metric(other_organization)
    plan = make_plan(other_organization)
    for path in (
        reverse("plans:metric_edit", args=[metric.pk]),
        reverse("plans:metric_delete", args=[metric.pk]),
        reverse("plans:plan_detail", args=[plan.pk]),
        reverse("plans:plan_edit", args=[plan.pk]),
        reverse("plans:plan_delete", args=[plan.pk]),
    ):
        assert staff_client.get(path).status_code == 404
    assert staff_client.post(reverse("plans:metric_delete", args=[metric.pk])).status_code == 404
    assert staff_client.post(reverse("plans:plan_delete", args=[plan.pk])).status_code == 404
    assert staff_client.post(reverse("plans:metric_edit", args=[metric.pk]), metric_data()).status_code == 404
    metric.refresh_from_db()
    plan.refresh_from_db()
    assert metric.deleted_at is None and metric.code == "api_calls"
    assert plan.deleted_at is None


# Billable metrics -------------------------------------------------------------------------------


def test_metric_list_is_scoped_newest_first(staff_client, organization, other_organization):
    old = make_metric(organization, "old_metric")
    BillableMetric.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    make_metric(organization, "storage", "sum_agg", "gb", name="Storage")
    make_metric(other_organization, "secret_metric")
    page = staff_client.get(reverse("plans:metric_list")).content.decode()
    assert "Add a billable metric" in page
    assert page.index("storage") < page.index("old_metric")
    assert "Sum" in page and ">gb<" in page
    assert "secret_metric" not in page


def test_metric_list_empty_state(staff_client):
    page = staff_client.get(reverse("plans:metric_list")).content.decode()
    assert "No billable metrics yet" in page and "Add a billable metric" in page


def test_metric_list_is_paginated_with_fixed_queries(staff_client, organization, django_assert_num_queries):
    for index in range(3):
        make_metric(organization, f"m{index}")
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse("plans:metric_list")).status_code == 200
    for index in range(3, 30):
        make_metric(organization, f"m{index}")
    with django_assert_num_queries(len(small.captured_queries)):
        response = staff_client.get(reverse("plans:metric_list"))
    assert response.content.decode().count('class="row-anchor"') == 20
    assert "Page 1 of 2" in response.content.decode()
    second = staff_client.get(reverse("plans:metric_list"), {"page": 2}).content.decode()
    assert second.count('class="row-anchor"') == 10


def test_create_metric(staff_client, organization):
    response = staff_client.post(reverse("plans:metric_create"), metric_data(description="Stored GB"))
    assert response.status_code == 302 and response["Location"] == reverse("plans:metric_list")
    metric = BillableMetric.objects.get(organization=organization, code="storage")
    assert (metric.name, metric.aggregation_type, metric.field_name, metric.description) == (
        "Storage",
        "sum_agg",
        "gb",
        "Stored GB",
    )
    assert "Billable metric created." in staff_client.get(response["Location"]).content.decode()


def test_count_metric_needs_no_field(staff_client, organization):
    response = staff_client.post(
        reverse("plans:metric_create"), metric_data(code="calls", aggregation_type="count_agg", field_name="")
    )
    assert response.status_code == 302
    assert BillableMetric.objects.get(code="calls").field_name is None


def test_metric_field_required_except_for_count_is_shown_next_to_the_field(staff_client):
    page = staff_client.get(reverse("plans:metric_create")).content.decode()
    assert "Required for every aggregation except count" in page
    response = staff_client.post(reverse("plans:metric_create"), metric_data(field_name=""))
    assert response.status_code == 200
    assert field_errors(response.content.decode(), "field_name") == "This field is required."
    assert not BillableMetric.objects.exists()


def test_metric_duplicate_code_is_shown_next_to_the_code(staff_client, organization):
    make_metric(organization, "storage")
    response = staff_client.post(reverse("plans:metric_create"), metric_data(name="Other"))
    assert field_errors(response.content.decode(), "code") == "Already used by another billable metric."
    assert BillableMetric.objects.filter(code="storage").count() == 1


def test_metric_missing_name_and_bad_aggregation(staff_client):
    response = staff_client.post(reverse("plans:metric_create"), metric_data(name="", aggregation_type="median"))
    html = response.content.decode()
    assert field_errors(html, "name") == "This field is required."
    assert "Select a valid choice" in field_errors(html, "aggregation_type")
    assert not BillableMetric.objects.exists()


def test_edit_metric_prefills_and_updates(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb", name="Storage")
    page = staff_client.get(reverse("plans:metric_edit", args=[metric.pk])).content.decode()
    assert 'value="storage"' in page and 'value="gb"' in page and "Save billable metric" in page
    response = staff_client.post(
        reverse("plans:metric_edit", args=[metric.pk]),
        metric_data(name="Storage GB", aggregation_type="max_agg", field_name="gigabytes"),
    )
    assert response.status_code == 302
    metric.refresh_from_db()
    assert (metric.name, metric.aggregation_type, metric.field_name) == ("Storage GB", "max_agg", "gigabytes")


def test_metric_in_use_locks_code_and_explains(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb")
    make_plan(
        organization,
        charges=[{"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "1"}}],
    )
    page = staff_client.get(reverse("plans:metric_edit", args=[metric.pk])).content.decode()
    assert re.search(r'name="code"[^>]*readonly', page)
    response = staff_client.post(reverse("plans:metric_edit", args=[metric.pk]), metric_data(code="renamed"))
    assert "Cannot change while a plan charges this metric" in field_errors(response.content.decode(), "code")
    metric.refresh_from_db()
    assert metric.code == "storage"


def locked_fields(html: str) -> set[str]:
    """The fields the page shows locked: read-only inputs, and selects whose help says so."""
    readonly = set(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*readonly', html))
    helped = set(re.findall(r'id="id_([a-z_]+)_helptext">Locked: see the note above.<', html))
    return readonly | helped


def test_metric_with_usage_but_no_live_charge_is_locked_with_the_reason(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb")
    # Events were counted under the metric for a subscription whose plan does not charge it.
    subscription = SubscriptionFactory(customer=CustomerFactory(organization=organization))
    UsageRollup.objects.create(
        subscription=subscription, billable_metric=metric, bucket_start=timezone.now(), events_count=3
    )
    assert not metric.charges.exists()
    html = staff_client.get(reverse("plans:metric_edit", args=[metric.pk])).content.decode()
    assert locked_fields(html) == {"code", "aggregation_type", "field_name"}
    note = re.search(r'<p class="lock-note">(.*?)</p>', html).group(1)
    assert "Code, aggregation and field name: cannot change" in note and "events were counted under it" in note
    response = staff_client.post(
        reverse("plans:metric_edit", args=[metric.pk]), metric_data(aggregation_type="max_agg", field_name="tb")
    )
    page = response.content.decode()
    assert "events were counted under it" in field_errors(page, "aggregation_type")
    metric.refresh_from_db()
    assert (metric.aggregation_type, metric.field_name) == ("sum_agg", "gb")


def test_metric_nothing_uses_is_not_locked(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb")
    html = staff_client.get(reverse("plans:metric_edit", args=[metric.pk])).content.decode()
    assert locked_fields(html) == set() and "lock-note" not in html


def test_delete_metric_with_confirmation(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb", name="Storage")
    page = staff_client.get(reverse("plans:metric_delete", args=[metric.pk])).content.decode()
    assert "Delete Storage?" in page and "Delete billable metric" in page
    metric.refresh_from_db()
    assert metric.deleted_at is None  # a GET never deletes
    response = staff_client.post(reverse("plans:metric_delete", args=[metric.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("plans:metric_list")
    metric.refresh_from_db()
    assert metric.deleted_at is not None
    assert "storage" not in staff_client.get(reverse("plans:metric_list")).content.decode()
    assert staff_client.get(reverse("plans:metric_edit", args=[metric.pk])).status_code == 404


def test_delete_metric_in_use_is_refused_and_names_the_plans(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb")
    make_plan(
        organization,
        "pro",
        charges=[{"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "1"}}],
    )
    page = staff_client.get(reverse("plans:metric_delete", args=[metric.pk])).content.decode()
    assert "cannot be deleted" in page and "Pro" in page and "Delete billable metric" not in page
    response = staff_client.post(reverse("plans:metric_delete", args=[metric.pk]))
    assert response.status_code == 409
    metric.refresh_from_db()
    assert metric.deleted_at is None


# Plans ----------------------------------------------------------------------------------------


def test_plan_list_is_scoped_and_formats_amounts(staff_client, organization, other_organization):
    metric = make_metric(organization)
    make_plan(
        organization,
        "starter",
        amount_cents=123450,
        amount_currency="EUR",
        charges=[
            {"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "0.5"}},
        ],
    )
    make_plan(organization, "tokyo", amount_cents=1000, amount_currency="JPY", interval="yearly")
    make_plan(organization, "kuwait", amount_cents=1500, amount_currency="KWD")
    make_plan(other_organization, "secret_plan")
    page = staff_client.get(reverse("plans:plan_list")).content.decode()
    assert "Add a plan" in page
    assert "1,234.50 EUR" in page and "1,000 JPY" in page and "1.500 KWD" in page
    assert "Yearly" in page and "Monthly" in page
    assert re.search(r'<td class="num">1</td>', page) and re.search(r'<td class="num">0</td>', page)
    assert "secret_plan" not in page


def test_plan_list_empty_state(staff_client):
    page = staff_client.get(reverse("plans:plan_list")).content.decode()
    assert "No plans yet" in page and "Add a plan" in page


def test_plan_list_has_fixed_queries(staff_client, organization, django_assert_num_queries):
    metric = make_metric(organization)
    charges = [{"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "1"}}] * 2
    for index in range(3):
        make_plan(organization, f"p{index}", charges=charges)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse("plans:plan_list")).status_code == 200
    for index in range(3, 30):
        make_plan(organization, f"p{index}", charges=charges)
    with django_assert_num_queries(len(small.captured_queries)):
        response = staff_client.get(reverse("plans:plan_list"))
    assert response.content.decode().count('class="row-anchor"') == 20


def test_create_plan_with_charges(staff_client, organization):
    calls = make_metric(organization, "calls")
    storage = make_metric(organization, "storage", "sum_agg", "gb")
    graduated = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0"},
        ]
    }
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data(
            {
                "billable_metric_id": str(calls.pk),
                "charge_model": "graduated",
                "tiers-from_value": ["0", "101"],
                "tiers-to_value": ["100", ""],
                "tiers-per_unit_amount": ["0", "0.01"],
                "tiers-flat_amount": ["", "0"],
                "invoice_display_name": "API calls",
            },
            {
                "billable_metric_id": str(storage.pk),
                "charge_model": "package",
                "package_amount": "10",
                "package_size": "1000",
                "free_units": "",
            },
            pay_in_advance="on",
            trial_period="14",
            description="For teams",
        ),
    )
    plan = Plan.objects.get(organization=organization, code="pro")
    assert response.status_code == 302 and response["Location"] == reverse("plans:plan_detail", args=[plan.pk])
    assert (plan.amount_cents, plan.amount_currency, plan.pay_in_advance, plan.trial_period, plan.description) == (
        4999,
        "EUR",
        True,
        14,
        "For teams",
    )
    charges = list(plan.charges.order_by("created_at"))
    assert [(c.billable_metric_id, c.charge_model) for c in charges] == [
        (calls.pk, "graduated"),
        (storage.pk, "package"),
    ]
    assert charges[0].properties == graduated and charges[0].invoice_display_name == "API calls"
    assert charges[1].properties == {"amount": "10", "package_size": 1000, "free_units": 0}


@pytest.mark.parametrize(
    ("amount", "currency", "cents"),
    [("49.99", "EUR", 4999), ("1000", "JPY", 1000), ("0", "USD", 0), ("12.5", "USD", 1250), ("1.005", "KWD", 1005)],
)
def test_base_amount_in_major_units_becomes_minor_units(staff_client, organization, amount, currency, cents):
    response = staff_client.post(reverse("plans:plan_create"), plan_data(amount=amount, amount_currency=currency))
    assert response.status_code == 302
    plan = Plan.objects.get(organization=organization, code="pro")
    assert (plan.amount_cents, plan.amount_currency) == (cents, currency)


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("49.999", "EUR", "EUR amounts have at most 2 decimals."),
        ("1000.5", "JPY", "JPY has no minor unit: enter a whole amount."),
        ("-1", "EUR", "Enter an amount of 0 or more, such as 49.99."),
        ("abc", "EUR", "Enter an amount of 0 or more, such as 49.99."),
        ("1,000.00", "EUR", "Use a dot for decimals and no thousands separator, such as 1234.50."),
        ("", "EUR", "This field is required."),
        ("99999999999999", "EUR", "This amount is too large."),
    ],
)
def test_bad_base_amount_is_shown_next_to_the_field(staff_client, amount, currency, message):
    response = staff_client.post(reverse("plans:plan_create"), plan_data(amount=amount, amount_currency=currency))
    assert response.status_code == 200
    assert field_errors(response.content.decode(), "amount") == message
    assert not Plan.objects.exists()


def test_plan_duplicate_code_is_shown_next_to_the_code(staff_client, organization):
    make_plan(organization, "pro")
    response = staff_client.post(reverse("plans:plan_create"), plan_data(name="Another"))
    assert field_errors(response.content.decode(), "code") == "Already used by another plan."
    assert Plan.objects.count() == 1


def test_bad_charge_terms_are_shown_on_their_row_and_input(staff_client, organization):
    metric = make_metric(organization)
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data(
            {"billable_metric_id": str(metric.pk), "charge_model": "standard", "amount": "1"},
            {"billable_metric_id": str(metric.pk), "charge_model": "standard", "amount": "0,5"},
            {"billable_metric_id": str(metric.pk), "charge_model": "package", "package_amount": "1"},
        ),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert field_errors(html, "charges-0-amount") == ""
    assert field_errors(html, "charges-1-amount") == "Enter a price of 0 or more, such as 0.5."
    assert field_errors(html, "charges-2-package_size") == "Enter a whole number of units, 1 or more."
    assert field_errors(html, "charges-2-package_amount") == ""
    assert not Plan.objects.exists() and not Charge.objects.exists()


def test_charge_needs_a_metric_of_the_organization(staff_client, organization, other_organization):
    foreign = make_metric(other_organization, "foreign")
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data({"billable_metric_id": str(foreign.pk), "charge_model": "standard", "amount": "1"}),
    )
    assert "Select a valid choice" in field_errors(response.content.decode(), "charges-0-billable_metric_id")
    assert "foreign" not in staff_client.get(reverse("plans:plan_create")).content.decode()
    assert not Plan.objects.exists()


def test_percentage_on_a_latest_metric_is_shown_on_the_row(staff_client, organization):
    metric = make_metric(organization, "seats", "latest_agg", "seats")
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data({"billable_metric_id": str(metric.pk), "charge_model": "percentage", "rate": "1"}),
    )
    assert "percentage model cannot price a metric aggregated with" in field_errors(
        response.content.decode(), "charges-0-charge_model"
    )
    assert not Plan.objects.exists()


def test_plan_form_has_the_charge_editor_and_its_row_template(staff_client, organization):
    make_metric(organization)
    page = staff_client.get(reverse("plans:plan_create")).content.decode()
    assert 'id="charge-row-template"' in page and 'data-row-template="charge-row-template"' in page
    template = page[page.index('<template id="charge-row-template">') :]
    for name in ("amount", "package_size", "rate", "per_transaction_max_amount", "tiers-from_value"):
        assert f'name="charges-__prefix__-{name}"' in template
    assert "<textarea" not in template and "JSON" not in page
    assert "plans/charge_editor.js" in page and "Add a charge" in page


def test_plan_form_without_metrics_invites_to_add_one(staff_client):
    page = staff_client.get(reverse("plans:plan_create")).content.decode()
    assert "Add a billable metric" in page and "Add a charge" not in page


def test_plan_detail_shows_plan_and_charges(staff_client, organization):
    metric = make_metric(organization, "storage", "sum_agg", "gb", name="Storage")
    plan = make_plan(
        organization,
        "pro",
        amount_cents=4999,
        trial_period=7,
        charges=[
            {
                "billable_metric_id": str(metric.pk),
                "charge_model": "package",
                "properties": {"amount": "10", "package_size": 1000, "free_units": 0},
            },
        ],
    )
    page = staff_client.get(reverse("plans:plan_detail", args=[plan.pk])).content.decode()
    assert "49.99 EUR" in page and "7 days" in page and "Monthly" in page
    assert "Storage" in page and "Package" in page
    assert "10.00 EUR per package of 1,000 units" in page and "package_size" not in page
    assert "Edit plan" in page and "Delete plan" in page


def test_edit_plan_prefills_and_replaces_charges(staff_client, organization):
    calls = make_metric(organization, "calls")
    storage = make_metric(organization, "storage", "sum_agg", "gb")
    plan = make_plan(
        organization,
        "pro",
        amount_cents=1050,
        charges=[
            {"billable_metric_id": str(calls.pk), "charge_model": "standard", "properties": {"amount": "1"}},
            {"billable_metric_id": str(storage.pk), "charge_model": "standard", "properties": {"amount": "2"}},
        ],
    )
    kept, removed = plan.charges.order_by("created_at")
    page = staff_client.get(reverse("plans:plan_edit", args=[plan.pk])).content.decode()
    assert 'value="10.50"' in page and "Save plan" in page
    assert f'value="{kept.pk}"' in page
    assert re.search(r'name="charges-1-amount" value="2"', page)
    response = staff_client.post(
        reverse("plans:plan_edit", args=[plan.pk]),
        plan_data(
            {
                "id": str(kept.pk),
                "billable_metric_id": str(calls.pk),
                "charge_model": "standard",
                "amount": "3",
            },
            {
                "id": str(removed.pk),
                "billable_metric_id": str(storage.pk),
                "charge_model": "standard",
                "amount": "2",
                "DELETE": "on",
            },
            initial=2,
            name="Pro 2",
            amount="20",
        ),
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.name, plan.amount_cents) == ("Pro 2", 2000)
    live = list(plan.charges.filter(deleted_at__isnull=True))
    assert [(c.pk, c.properties) for c in live] == [(kept.pk, {"amount": "3"})]


def test_edit_plan_with_subscriptions_locks_currency(staff_client, organization):
    plan = make_plan(organization, "pro")
    Subscription.objects.create(
        organization=organization,
        customer=CustomerFactory(organization=organization),
        plan=plan,
        external_id="sub",
        status=SubscriptionStatus.ACTIVE,
        subscription_at=timezone.now(),
    )
    response = staff_client.post(reverse("plans:plan_edit", args=[plan.pk]), plan_data(amount_currency="USD"))
    assert "Cannot change once the plan has subscriptions" in field_errors(response.content.decode(), "amount_currency")
    plan.refresh_from_db()
    assert plan.amount_currency == "EUR"


def test_plan_with_only_ended_subscriptions_shows_interval_and_currency_locked(staff_client, organization):
    plan = make_plan(organization, "pro")
    SubscriptionFactory(customer=CustomerFactory(organization=organization), plan=plan, status="terminated")
    html = staff_client.get(reverse("plans:plan_edit", args=[plan.pk])).content.decode()
    assert locked_fields(html) == {"interval", "amount_currency"}
    assert "Billing interval and currency: cannot change once the plan has subscriptions" in html
    response = staff_client.post(reverse("plans:plan_edit", args=[plan.pk]), plan_data(interval="yearly"))
    assert "Cannot change once the plan has subscriptions" in field_errors(response.content.decode(), "interval")
    plan.refresh_from_db()
    assert plan.interval == "monthly"
    free = make_plan(organization, "free")
    html = staff_client.get(reverse("plans:plan_edit", args=[free.pk])).content.decode()
    assert locked_fields(html) == set() and "lock-note" not in html


def test_delete_plan_with_confirmation(staff_client, organization):
    plan = make_plan(organization, "pro")
    subscription = Subscription.objects.create(
        organization=organization,
        customer=CustomerFactory(organization=organization),
        plan=plan,
        external_id="sub",
        status=SubscriptionStatus.ACTIVE,
        subscription_at=timezone.now(),
    )
    page = staff_client.get(reverse("plans:plan_delete", args=[plan.pk])).content.decode()
    assert "Delete Pro?" in page and "1 active subscription</strong> will be terminated" in page
    plan.refresh_from_db()
    assert plan.deleted_at is None
    response = staff_client.post(reverse("plans:plan_delete", args=[plan.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("plans:plan_list")
    plan.refresh_from_db()
    subscription.refresh_from_db()
    assert plan.deleted_at is not None and subscription.status == SubscriptionStatus.TERMINATED
    assert staff_client.get(reverse("plans:plan_detail", args=[plan.pk])).status_code == 404
    assert "Plan Pro deleted." in staff_client.get(reverse("plans:plan_list")).content.decode()


def test_htmx_submit_redirects_on_the_client(staff_client):
    response = staff_client.post(reverse("plans:metric_create"), metric_data(), headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("plans:metric_list")


def test_a_removed_row_stays_hidden_when_the_form_comes_back_with_errors(staff_client, organization):
    metric = make_metric(organization)
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data(
            {"billable_metric_id": str(metric.pk), "charge_model": "standard", "amount": "1"},
            {"billable_metric_id": "", "charge_model": "standard", "amount": "", "DELETE": "on"},
            amount="",
        ),
    )
    html = response.content.decode()
    assert field_errors(html, "amount") == "This field is required."
    removed_row = (
        r'<div class="charge-editor" data-row data-charge-editor hidden>'
        r'\s*<input type="hidden" name="charges-1-id"'
    )
    assert re.search(removed_row, html)
    assert field_errors(html, "charges-1-billable_metric_id") == ""
