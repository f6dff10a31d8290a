"""Staff pages for coupons: list, create, edit (locked once applied), terminate, delete."""

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coupons import services
from coupons.forms import LOCKED_WHEN_APPLIED
from coupons.models import AppliedCoupon, Coupon
from customers.tests.factories import CustomerFactory
from plans.tests.factories import BillableMetricFactory, PlanFactory


def make_coupon(organization, code="welcome", **overrides) -> Coupon:
    data = {
        "name": code.replace("_", " ").title(),
        "code": code,
        "coupon_type": "fixed_amount",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
        **overrides,
    }
    return services.create_coupon(organization=organization, data=data)


def coupon_data(**overrides) -> dict:
    """What the browser posts for a new fixed-amount coupon."""
    data = {
        "name": "Welcome",
        "code": "welcome",
        "description": "",
        "coupon_type": "fixed_amount",
        "amount": "12.50",
        "amount_currency": "EUR",
        "percentage_rate": "",
        "frequency": "once",
        "frequency_duration": "",
        "expiration": "no_expiration",
        "expiration_date": "",
        "reusable": "on",
        "applies_to": "all",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def posted_back(response, **overrides) -> dict:
    """What the browser posts back from a form page left as shown: its values, without the disabled
    fields (a browser never sends them), and the page's hidden inputs."""
    form = response.context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if field.disabled or value is False:
            continue
        data[name] = "on" if value is True else "" if value is None else value
    if 'name="terms_locked" value="1"' in response.content.decode():
        data["terms_locked"] = "1"
    data.update(overrides)
    return data


def field_errors(html: str, field: str) -> str:
    """The error text shown for `field`, as plain text, or ""."""
    match = re.search(rf'<div class="field-error" id="id_{re.escape(field)}_error"[^>]*>(.*?)</div>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def disabled_fields(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]*name="([a-z_]+)"[^>]*disabled', html))


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, currency="EUR")


# Access -----------------------------------------------------------------------------------------


def test_pages_require_login(client, organization):
    coupon = make_coupon(organization)
    for path in (
        reverse("coupons:list"),
        reverse("coupons:create"),
        reverse("coupons:edit", args=[coupon.pk]),
        reverse("coupons:terminate", args=[coupon.pk]),
        reverse("coupons:delete", args=[coupon.pk]),
    ):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.post(reverse("coupons:delete", args=[coupon.pk]))
    coupon.refresh_from_db()
    assert coupon.deleted_at is None


def test_side_menu_lists_add_ons_and_coupons_after_plans_and_highlights_coupons(staff_client):
    page = staff_client.get(reverse("coupons:list")).content.decode()
    menu = page[page.index('<nav class="side-menu"') : page.index("</nav>")]
    assert menu.index(">Plans<") < menu.index(">Add-ons<") < menu.index(">Coupons<") < menu.index(">Customers<")
    assert re.search(r'class="active">Coupons<', menu)
    assert not re.search(r'class="active">Add-ons<', menu)
    form_page = staff_client.get(reverse("coupons:create")).content.decode()
    assert re.search(r'class="active">Coupons<', form_page)


def test_other_organizations_coupons_are_404(staff_client, other_organization):
    coupon = make_coupon(other_organization)
    for name in ("coupons:edit", "coupons:terminate", "coupons:delete"):
        path = reverse(name, args=[coupon.pk])
        assert staff_client.get(path).status_code == 404
        assert staff_client.post(path, coupon_data(name="Stolen")).status_code == 404
    coupon.refresh_from_db()
    assert (coupon.name, coupon.status, coupon.deleted_at) == ("Welcome", "active", None)


# List -------------------------------------------------------------------------------------------


def test_list_shows_terms_and_status_badges_of_this_organization_only(staff_client, organization, other_organization):
    plan = PlanFactory(organization=organization, name="Starter")
    make_coupon(organization, "welcome", amount_cents=123450)
    make_coupon(
        organization,
        "loyal",
        coupon_type="percentage",
        percentage_rate=Decimal("12.5"),
        frequency="recurring",
        frequency_duration=3,
        plan_codes=[plan.code],
    )
    ended = make_coupon(organization, "summer")
    services.terminate_coupon(coupon=ended)
    make_coupon(other_organization, "secret")
    page = staff_client.get(reverse("coupons:list")).content.decode()
    assert "Add a coupon" in page
    assert "1,234.50 EUR" in page and "12.5%" in page
    assert "Recurring, 3 billing periods" in page and "Once" in page
    assert "Plans: Starter" in page and "All plans and usage" in page
    assert '<span class="status status-active">Active</span>' in page
    assert '<span class="status status-terminated">Terminated</span>' in page
    assert "secret" not in page
    # A terminated coupon offers no edit and no terminate action.
    summer_row = page[page.index(">Summer<") :].split("</tr>")[0]
    assert ">Edit<" not in summer_row and ">Terminate<" not in summer_row and ">Delete<" in summer_row


def test_list_filters_by_status(staff_client, organization):
    make_coupon(organization, "welcome")
    services.terminate_coupon(coupon=make_coupon(organization, "summer"))
    active = staff_client.get(reverse("coupons:list"), {"status": "active"}).content.decode()
    assert "welcome" in active and "summer" not in active
    assert re.search(r'aria-selected="true"[^>]*>Active<', active)
    terminated = staff_client.get(reverse("coupons:list"), {"status": "terminated"}).content.decode()
    assert "summer" in terminated and "welcome" not in terminated
    unknown = staff_client.get(reverse("coupons:list"), {"status": "bogus"}).content.decode()
    assert "summer" in unknown and "welcome" in unknown


def test_list_status_tab_answers_the_table_fragment_to_htmx(staff_client, organization):
    make_coupon(organization, "welcome")
    response = staff_client.get(
        reverse("coupons:list"), {"status": "active"}, headers={"HX-Request": "true", "HX-Target": "coupon-table"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="coupon-table">') and "welcome" in html
    assert "side-menu" not in html


def test_list_empty_states(staff_client):
    page = staff_client.get(reverse("coupons:list")).content.decode()
    assert "No coupons yet" in page and "Add a coupon" in page
    filtered = staff_client.get(reverse("coupons:list"), {"status": "terminated"}).content.decode()
    assert "No terminated coupons" in filtered


def test_list_is_paginated_with_a_fixed_number_of_queries(staff_client, organization, django_assert_num_queries):
    plans = [PlanFactory(organization=organization) for _ in range(2)]
    metric = BillableMetricFactory(organization=organization)

    def add(index: int) -> None:
        if index % 2:
            make_coupon(organization, f"c{index}", plan_codes=[plan.code for plan in plans])
        else:
            make_coupon(organization, f"c{index}", billable_metric_codes=[metric.code])

    for index in range(3):
        add(index)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse("coupons:list")).status_code == 200
    for index in range(3, 30):
        add(index)
    with django_assert_num_queries(len(small.captured_queries)):
        response = staff_client.get(reverse("coupons:list"))
    assert response.content.decode().count('class="row-anchor"') == 20
    assert "Page 1 of 2" in response.content.decode()
    second = staff_client.get(reverse("coupons:list"), {"status": "active", "page": 2}).content.decode()
    assert second.count('class="row-anchor"') == 10
    assert "?status=active&page=1" in second  # the filter survives paging


# Create -----------------------------------------------------------------------------------------


def test_create_form_offers_every_option_without_javascript(staff_client, organization):
    PlanFactory(organization=organization, name="Starter", code="starter")
    BillableMetricFactory(organization=organization, name="Storage", code="storage")
    page = staff_client.get(reverse("coupons:create")).content.decode()
    for name in ("coupon_type", "frequency", "expiration", "applies_to"):
        assert re.search(rf'type="radio" name="{name}"', page)
    assert re.search(r'name="coupon_type" value="fixed_amount"[^>]*checked', page)
    for marker in ('data-when-type="fixed_amount"', 'data-when-type="percentage"', 'data-when-frequency="recurring"'):
        assert marker in page
    assert 'data-when-expiration="time_limit"' in page and 'data-when-applies="plans"' in page
    assert 'value="starter"' in page and 'value="storage"' in page
    assert re.search(r'name="reusable"[^>]*checked', page)
    assert re.search(r'<option value="EUR"', page) and "Create coupon" in page


def test_create_fixed_amount_coupon_in_major_units(staff_client, organization):
    response = staff_client.post(reverse("coupons:create"), coupon_data(description="For new customers"))
    assert response.status_code == 302 and response["Location"] == reverse("coupons:list")
    coupon = Coupon.objects.get(organization=organization, code="welcome")
    assert (coupon.coupon_type, coupon.amount_cents, coupon.amount_currency, coupon.percentage_rate) == (
        "fixed_amount",
        1250,
        "EUR",
        None,
    )
    assert (coupon.frequency, coupon.expiration, coupon.reusable, coupon.description) == (
        "once",
        "no_expiration",
        True,
        "For new customers",
    )
    assert "Coupon created." in staff_client.get(response["Location"]).content.decode()


def test_create_percentage_recurring_coupon_limited_to_plans_ignores_hidden_fields(staff_client, organization):
    starter = PlanFactory(organization=organization, code="starter")
    PlanFactory(organization=organization, code="pro")
    metric = BillableMetricFactory(organization=organization, code="storage")
    response = staff_client.post(
        reverse("coupons:create"),
        coupon_data(
            coupon_type="percentage",
            amount="not read",  # typed before switching to a percentage: ignored
            percentage_rate="12.5",
            frequency="recurring",
            frequency_duration="3",
            reusable=None,
            applies_to="plans",
            plan_codes=["starter"],
            billable_metric_codes=[metric.code],  # checked under another option: ignored
        ),
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get(code="welcome")
    assert (coupon.coupon_type, coupon.percentage_rate, coupon.amount_cents, coupon.amount_currency) == (
        "percentage",
        Decimal("12.5"),
        None,
        None,
    )
    assert (coupon.frequency, coupon.frequency_duration, coupon.reusable) == ("recurring", 3, False)
    assert list(coupon.plans.all()) == [starter] and not coupon.billable_metrics.exists()


def test_create_coupon_limited_to_billable_metrics(staff_client, organization):
    metric = BillableMetricFactory(organization=organization, code="storage")
    response = staff_client.post(
        reverse("coupons:create"), coupon_data(applies_to="billable_metrics", billable_metric_codes=["storage"])
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get(code="welcome")
    assert list(coupon.billable_metrics.all()) == [metric] and not coupon.plans.exists()


def test_expiration_day_ends_in_the_organizations_timezone(staff_client, organization):
    organization.default_timezone = "Asia/Tokyo"
    organization.save()
    day = (timezone.now() + timedelta(days=30)).date()
    page = staff_client.get(reverse("coupons:create")).content.decode()
    assert "until the end of that day (Asia/Tokyo)" in page
    response = staff_client.post(
        reverse("coupons:create"), coupon_data(expiration="time_limit", expiration_date=day.isoformat())
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get(code="welcome")
    assert coupon.expiration_at == datetime.combine(day, time.max, tzinfo=ZoneInfo("Asia/Tokyo"))
    edit = staff_client.get(reverse("coupons:edit", args=[coupon.pk])).content.decode()
    assert f'value="{day.isoformat()}"' in edit
    listing = staff_client.get(reverse("coupons:list")).content.decode()
    assert f"Until {day:%b} {day.day}, {day.year}" in listing


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": ""}, "amount", "This field is required."),
        ({"amount": "0"}, "amount", "Enter an amount above 0, such as 10.00."),
        ({"amount": "12.555"}, "amount", "EUR amounts have at most 2 decimals."),
        ({"amount": "1,000"}, "amount", "Use a dot for decimals and no thousands separator, such as 1234.50."),
        ({"amount": "99999999999999"}, "amount", "This amount is too large."),
        ({"amount": "12.5", "amount_currency": "JPY"}, "amount", "JPY has no minor unit: enter a whole amount."),
        ({"coupon_type": "percentage"}, "percentage_rate", "This field is required."),
        (
            {"coupon_type": "percentage", "percentage_rate": "150"},
            "percentage_rate",
            "Enter a percentage above 0 and up to 100, with at most 5 decimals, such as 12.5.",
        ),
        (
            {"coupon_type": "percentage", "percentage_rate": "ten"},
            "percentage_rate",
            "Enter a percentage with a dot for decimals, such as 12.5.",
        ),
        ({"frequency": "recurring"}, "frequency_duration", "A recurring coupon needs a number of billing periods."),
        (
            {"frequency": "recurring", "frequency_duration": "0"},
            "frequency_duration",
            "Enter a number of billing periods from 1 to 10,000.",
        ),
        (
            {"frequency": "recurring", "frequency_duration": "two"},
            "frequency_duration",
            "Enter a whole number of billing periods, such as 3.",
        ),
        ({"expiration": "time_limit"}, "expiration_date", "This field is required."),
        (
            {"expiration": "time_limit", "expiration_date": "2020-01-01"},
            "expiration_date",
            "Choose a day that has not passed yet.",
        ),
        (
            {"expiration": "time_limit", "expiration_date": "soon"},
            "expiration_date",
            "Enter a date, such as 2030-12-31.",
        ),
        ({"applies_to": "plans"}, "plan_codes", "Choose at least one plan."),
        ({"applies_to": "billable_metrics"}, "billable_metric_codes", "Choose at least one billable metric."),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_errors_are_shown_next_to_their_field_and_create_nothing(staff_client, overrides, field, message):
    response = staff_client.post(reverse("coupons:create"), coupon_data(**overrides))
    assert response.status_code == 200
    assert field_errors(response.content.decode(), field) == message
    assert not Coupon.objects.exists()


def test_every_error_shows_at_the_first_submit(staff_client):
    response = staff_client.post(
        reverse("coupons:create"),
        coupon_data(name="", amount="", frequency="recurring", expiration="time_limit", applies_to="plans"),
    )
    html = response.content.decode()
    assert field_errors(html, "name") == "This field is required."
    assert field_errors(html, "amount") == "This field is required."
    assert field_errors(html, "frequency_duration") == "A recurring coupon needs a number of billing periods."
    assert field_errors(html, "expiration_date") == "This field is required."
    assert field_errors(html, "plan_codes") == "Choose at least one plan."
    assert not Coupon.objects.exists()


def test_duplicate_code_is_shown_next_to_the_code(staff_client, organization):
    make_coupon(organization, "welcome")
    response = staff_client.post(reverse("coupons:create"), coupon_data(name="Another"))
    assert field_errors(response.content.decode(), "code") == "Already used by another coupon."
    assert Coupon.objects.count() == 1


def test_a_plan_of_another_organization_cannot_be_chosen(staff_client, organization, other_organization):
    PlanFactory(organization=other_organization, code="foreign")
    assert "foreign" not in staff_client.get(reverse("coupons:create")).content.decode()
    response = staff_client.post(reverse("coupons:create"), coupon_data(applies_to="plans", plan_codes=["foreign"]))
    assert "Select a valid choice" in field_errors(response.content.decode(), "plan_codes")
    assert not Coupon.objects.exists()


# Edit -------------------------------------------------------------------------------------------


def test_edit_prefills_and_updates_through_the_service(staff_client, organization):
    plan = PlanFactory(organization=organization, code="starter")
    coupon = make_coupon(organization, "welcome", amount_cents=1050, plan_codes=[plan.code], reusable=False)
    shown = staff_client.get(reverse("coupons:edit", args=[coupon.pk]))
    page = shown.content.decode()
    assert 'value="10.50"' in page and "Save coupon" in page and disabled_fields(page) == set()
    assert re.search(r'name="applies_to" value="plans"[^>]*checked', page)
    assert re.search(r'value="starter"[^>]*checked', page)
    assert not re.search(r'name="reusable"[^>]*checked', page)
    response = staff_client.post(
        reverse("coupons:edit", args=[coupon.pk]),
        posted_back(shown, name="Welcome back", amount="20", applies_to="all"),
    )
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert (coupon.name, coupon.amount_cents, coupon.reusable) == ("Welcome back", 2000, False)
    assert not coupon.plans.exists()


def test_applied_coupon_shows_its_terms_disabled_with_the_reason(staff_client, organization, customer):
    PlanFactory(organization=organization)
    BillableMetricFactory(organization=organization)
    coupon = make_coupon(organization, "welcome")
    services.apply_coupon(customer=customer, coupon=coupon)
    page = staff_client.get(reverse("coupons:edit", args=[coupon.pk])).content.decode()
    assert disabled_fields(page) == set(LOCKED_WHEN_APPLIED)
    assert disabled_fields(page) >= {"code", "coupon_type", "amount", "frequency", "reusable", "plan_codes"}
    assert not {"name", "description", "expiration", "expiration_date"} & disabled_fields(page)
    note = re.search(r'<p class="lock-note">(.*?)</p>', page, re.S).group(1)
    assert "Code, discount, frequency, reusability and what it applies to: cannot change once the coupon" in note
    assert "the name, description and expiration can still change" in note


def test_applied_coupon_name_and_expiration_still_change(staff_client, organization, customer):
    coupon = make_coupon(organization, "welcome")
    services.apply_coupon(customer=customer, coupon=coupon)
    shown = staff_client.get(reverse("coupons:edit", args=[coupon.pk]))
    day = (timezone.now() + timedelta(days=10)).date()
    data = posted_back(shown, name="Renamed", expiration="time_limit", expiration_date=day.isoformat())
    assert "amount" not in data and data["terms_locked"] == "1"  # the browser does not send disabled fields
    response = staff_client.post(reverse("coupons:edit", args=[coupon.pk]), data)
    assert response.status_code == 302, field_errors(response.content.decode(), "amount")
    coupon.refresh_from_db()
    assert (coupon.name, coupon.expiration, coupon.amount_cents) == ("Renamed", "time_limit", 1000)
    assert coupon.expiration_at.date() >= day


def test_a_term_changed_on_a_page_shown_before_the_coupon_was_applied_is_refused(staff_client, organization, customer):
    coupon = make_coupon(organization, "welcome")
    shown = staff_client.get(reverse("coupons:edit", args=[coupon.pk]))
    assert disabled_fields(shown.content.decode()) == set()
    services.apply_coupon(customer=customer, coupon=coupon)  # meanwhile, from a customer's page
    response = staff_client.post(reverse("coupons:edit", args=[coupon.pk]), posted_back(shown, amount="99"))
    html = response.content.decode()
    assert response.status_code == 200
    assert field_errors(html, "amount") == "Cannot change once the coupon has been applied to a customer."
    # The page now shows the stored terms locked, ready to save what can still change.
    assert 'value="10.00"' in html and "amount" in disabled_fields(html) and 'name="terms_locked"' in html
    coupon.refresh_from_db()
    assert coupon.amount_cents == 1000
    assert "Coupon saved." not in staff_client.get(reverse("coupons:list")).content.decode()


def test_unchanged_expiration_set_by_the_api_is_kept_to_the_second(staff_client, organization):
    moment = (timezone.now() + timedelta(days=5)).replace(hour=10, minute=0, second=0, microsecond=0)
    coupon = make_coupon(organization, "welcome", expiration="time_limit", expiration_at=moment)
    shown = staff_client.get(reverse("coupons:edit", args=[coupon.pk]))
    response = staff_client.post(reverse("coupons:edit", args=[coupon.pk]), posted_back(shown, name="Renamed"))
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert (coupon.name, coupon.expiration_at) == ("Renamed", moment)


def test_terminated_coupon_is_shown_read_only_and_cannot_be_saved(staff_client, organization):
    coupon = make_coupon(organization, "welcome")
    services.terminate_coupon(coupon=coupon)
    page = staff_client.get(reverse("coupons:edit", args=[coupon.pk])).content.decode()
    assert "This coupon is terminated: it can no longer be edited." in page
    assert "Save coupon" not in page and ">Terminate<" not in page
    assert {"name", "code", "amount", "expiration"} <= disabled_fields(page)
    response = staff_client.post(reverse("coupons:edit", args=[coupon.pk]), coupon_data(name="Renamed"))
    assert response.status_code == 409
    assert "This coupon is terminated: it can no longer be edited." in response.content.decode()
    coupon.refresh_from_db()
    assert coupon.name == "Welcome"


# Terminate and delete -----------------------------------------------------------------------------


def test_terminate_with_confirmation_keeps_applications(staff_client, organization, customer):
    coupon = make_coupon(organization, "welcome")
    applied = services.apply_coupon(customer=customer, coupon=coupon)
    page = staff_client.get(reverse("coupons:terminate", args=[coupon.pk])).content.decode()
    assert "Terminate Welcome?" in page and "1 customer</strong> who has it keeps it" in page
    coupon.refresh_from_db()
    assert coupon.status == "active"  # a GET changes nothing
    response = staff_client.post(reverse("coupons:terminate", args=[coupon.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("coupons:list")
    coupon.refresh_from_db()
    applied.refresh_from_db()
    assert (coupon.status, applied.status) == ("terminated", "active")
    assert "Coupon Welcome terminated." in staff_client.get(response["Location"]).content.decode()
    again = staff_client.get(reverse("coupons:terminate", args=[coupon.pk])).content.decode()
    assert "already terminated" in again and "Terminate coupon" not in again


def test_delete_with_confirmation_ends_active_applications(staff_client, organization, customer):
    coupon = make_coupon(organization, "welcome")
    applied = services.apply_coupon(customer=customer, coupon=coupon)
    page = staff_client.get(reverse("coupons:delete", args=[coupon.pk])).content.decode()
    assert "Delete Welcome?" in page and "1 active application</strong> will end now" in page
    assert "Delete coupon" in page
    coupon.refresh_from_db()
    assert coupon.deleted_at is None
    response = staff_client.post(reverse("coupons:delete", args=[coupon.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("coupons:list")
    coupon.refresh_from_db()
    applied.refresh_from_db()
    assert coupon.deleted_at is not None and applied.status == "terminated"
    assert "welcome" not in staff_client.get(reverse("coupons:list")).content.decode().replace("Welcome", "")
    assert staff_client.get(reverse("coupons:edit", args=[coupon.pk])).status_code == 404
    # Its code is free again.
    assert staff_client.post(reverse("coupons:create"), coupon_data()).status_code == 302
    assert AppliedCoupon.objects.filter(status="active").count() == 0


def test_a_plan_deleted_since_is_marked_and_must_be_unchecked(staff_client, organization):
    old = PlanFactory(organization=organization, name="Old", code="old")
    PlanFactory(organization=organization, name="New", code="new")
    coupon = make_coupon(organization, "welcome", plan_codes=["old"])
    old.deleted_at = timezone.now()
    old.save()
    shown = staff_client.get(reverse("coupons:edit", args=[coupon.pk]))
    assert "Old (old, deleted)" in shown.content.decode()
    response = staff_client.post(reverse("coupons:edit", args=[coupon.pk]), posted_back(shown, name="Renamed"))
    assert (
        field_errors(response.content.decode(), "plan_codes") == "A chosen plan no longer exists: choose another one."
    )
    coupon.refresh_from_db()
    assert coupon.name == "Welcome"
    response = staff_client.post(
        reverse("coupons:edit", args=[coupon.pk]), posted_back(shown, name="Renamed", plan_codes=["new"])
    )
    assert response.status_code == 302
    assert [plan.code for plan in coupon.plans.all()] == ["new"]


def test_an_applied_coupon_limited_to_a_deleted_plan_can_still_be_renamed(staff_client, organization, customer):
    old = PlanFactory(organization=organization, code="old")
    coupon = make_coupon(organization, "welcome", plan_codes=["old"])
    services.apply_coupon(customer=customer, coupon=coupon)
    old.deleted_at = timezone.now()
    old.save()
    shown = staff_client.get(reverse("coupons:edit", args=[coupon.pk]))
    response = staff_client.post(reverse("coupons:edit", args=[coupon.pk]), posted_back(shown, name="Renamed"))
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert coupon.name == "Renamed" and [plan.code for plan in coupon.plans.all()] == ["old"]
