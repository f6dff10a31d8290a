"""Tenancy, generated from the URL configuration: every API route and staff page that takes a path
parameter, called by organization A with organization B's ids, answers 404 and changes nothing.

The routes come from Django's resolver (tests/tenancy_routes.py), one test per route and method, so
a route added to any urls.py is called here without anyone listing it. Its parameters must be mapped
below to the seeded resources of an organization: a parameter nobody mapped fails its test, naming
the route and the parameter.

Both organizations get every resource from tests/seeding.py, once for the module, inside a
transaction rolled back at the end; each test runs in a savepoint of it, and each call in a savepoint
of its own, so a write that got through cannot mislead the next call. For each route and method:
- B's ids, every seeded one, each parameter in turn (the others A's own, so that a child looked up
  without its parent's organization is caught), then all of them B's: 404, in Lago's JSON shape on
  the API; for a write, every row of every table is the same after the call as before it.
- A's own ids: not 404, so the 404s above come from the organization and not from a wrong mapping.
"""

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product

import pytest
import time_machine
from django.apps import apps
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import path, re_path

from coupons.models import Coupon
from customers.models import Customer
from customers.services import create_customer
from customers.views import TABS
from invoicing.customer_deletion import delete_customer
from organizations.models import Organization
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory, UserFactory
from plans.models import AddOn, BillableMetric, Plan, Subscription
from tests.seeding import SeededResources, seed_every_resource
from tests.tenancy_routes import WRITE_METHODS, Route, routes_with_parameters
from webhooks.models import WebhookMessage
from webhooks.services import emit


@dataclass(frozen=True)
class Tenant:
    organization: Organization
    seeded: SeededResources
    # Beside what the seeding makes: a deleted customer, whose page is read by another path.
    deleted_customer: Customer

    def pks(self, model, field: str, values: Sequence[object]) -> list[object]:
        """The primary keys of this organization's rows whose `field` holds `values`, in their order
        (the staff pages address by id what the API addresses by code or external id)."""
        rows = model._base_manager.filter(organization=self.organization, **{f"{field}__in": values})
        found = dict(rows.values_list(field, "pk"))
        return [found[value] for value in values]


Values = Callable[[Tenant], Sequence[object]]

# A parameter that names an organization's object: (route prefix, parameter name) → that
# organization's values for it. The first value is the one A's own call uses; B's calls use them all.
# The first entry whose prefix starts the route wins, so a narrower route comes before a wider one.
OWNED: list[tuple[str, str, Values]] = [
    ("/api/v1/customers/<external_id>/applied_coupons/", "lago_id", lambda t: t.seeded.applied_coupon_ids),
    (
        "/api/v1/customers/",
        "external_id",
        lambda t: (*t.seeded.customer_external_ids, t.deleted_customer.external_id),
    ),
    ("/api/v1/subscriptions/", "external_id", lambda t: t.seeded.subscription_external_ids),
    ("/api/v1/billable_metrics/", "code", lambda t: t.seeded.metric_codes),
    ("/api/v1/plans/", "code", lambda t: t.seeded.plan_codes),
    ("/api/v1/coupons/", "code", lambda t: t.seeded.coupon_codes),
    ("/api/v1/add_ons/", "code", lambda t: t.seeded.add_on_codes),
    ("/api/v1/events/", "transaction_id", lambda t: t.seeded.event_transaction_ids),
    ("/api/v1/credit_notes/", "lago_id", lambda t: t.seeded.credit_note_ids),
    ("/api/v1/invoices/", "lago_id", lambda t: t.seeded.invoice_ids),
    ("/api/v1/wallets/", "lago_id", lambda t: t.seeded.wallet_ids),
    ("/api/v1/wallet_transactions/", "lago_id", lambda t: t.seeded.wallet_transaction_ids),
    ("/api/v1/webhook_endpoints/", "lago_id", lambda t: t.seeded.webhook_endpoint_ids),
    ("/", "metric_id", lambda t: t.pks(BillableMetric, "code", t.seeded.metric_codes)),
    ("/", "plan_id", lambda t: t.pks(Plan, "code", t.seeded.plan_codes)),
    ("/", "add_on_id", lambda t: t.pks(AddOn, "code", t.seeded.add_on_codes)),
    ("/", "coupon_id", lambda t: t.pks(Coupon, "code", t.seeded.coupon_codes)),
    (
        "/",
        "customer_id",
        lambda t: [*t.pks(Customer, "external_id", t.seeded.customer_external_ids), t.deleted_customer.pk],
    ),
    ("/", "subscription_id", lambda t: t.pks(Subscription, "external_id", t.seeded.subscription_external_ids)),
    ("/", "applied_coupon_id", lambda t: t.seeded.applied_coupon_ids),
    ("/", "wallet_id", lambda t: t.seeded.wallet_ids),
    ("/", "invoice_id", lambda t: t.seeded.invoice_ids),
    ("/", "credit_note_id", lambda t: t.seeded.credit_note_ids),
    ("/", "endpoint_id", lambda t: t.seeded.webhook_endpoint_ids),
    (
        "/",
        "message_id",
        lambda t: list(WebhookMessage.objects.filter(organization=t.organization).values_list("pk", flat=True)),
    ),
]

# A parameter that names nobody's data: the same values for every organization, each one called.
SHARED: list[tuple[str, str, Sequence[object]]] = [
    ("/customers/<customer_id>/<tab>/", "tab", [tab for tab, _ in TABS]),
]

MID_MONTH = datetime(2026, 3, 17, 10, 0, tzinfo=UTC)
ROUTES = routes_with_parameters()
CASES = [pytest.param(route, method, id=f"{method} {route.path}") for route in ROUTES for method in route.methods]


def _mapping(table: list, route: Route, name: str):
    return next(
        (found for prefix, parameter, found in table if parameter == name and route.path.startswith(prefix)), None
    )


def unmapped_parameters(route: Route) -> list[str]:
    return [
        name
        for name in route.parameters
        if _mapping(OWNED, route, name) is None and _mapping(SHARED, route, name) is None
    ]


def _owned_values(route: Route, tenant: Tenant) -> dict[str, Sequence[object]]:
    return {
        name: list(values(tenant)) for name in route.parameters if (values := _mapping(OWNED, route, name)) is not None
    }


def _shared_choices(route: Route) -> Iterator[dict[str, object]]:
    names = [name for name in route.parameters if _mapping(SHARED, route, name) is not None]
    for chosen in product(*(_mapping(SHARED, route, name) for name in names)):
        yield dict(zip(names, chosen, strict=True))


def _foreign_calls(own: dict[str, Sequence], other: dict[str, Sequence]) -> Iterator[dict[str, object]]:
    """Parameter values with at least one of B's: each of B's values for one parameter while the
    others are A's, then (with several parameters) all of them B's."""
    mine = {name: values[0] for name, values in own.items()}
    for name, values in other.items():
        for value in values:
            yield {**mine, name: value}
    if len(other) > 1:
        yield {name: values[0] for name, values in other.items()}


def _check_seeded(route: Route, own: dict[str, Sequence], other: dict[str, Sequence]) -> None:
    for name in own:
        if not own[name] or not other[name]:
            pytest.fail(f"{route.path}: the seeding gave no value for {name!r} to one of the organizations")
        shared = set(map(str, own[name])) & set(map(str, other[name]))
        if shared:
            pytest.fail(f"{route.path}: both organizations have {name}={sorted(shared)}; the test needs distinct ids")


def _table_digests_sql() -> str:
    """One query: the row count and a digest of the rows of every table Django manages."""
    quote = connection.ops.quote_name
    return " UNION ALL ".join(
        f"SELECT '{model._meta.label}', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        f" FROM {quote(model._meta.db_table)} t"
        for model in apps.get_models()
        if model._meta.managed
    )


# A write refused with a 404 must leave every table as it was, B's rows and everyone else's.
def database_digest() -> dict[str, tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(_table_digests_sql())
        return {label: (count, digest) for label, count, digest in cursor.fetchall()}


def _changed_tables(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changed = [label for label in before if before[label] != after[label]]
    return [f"{label} ({before[label][0]} → {after[label][0]} rows)" for label in changed]


@dataclass
class Caller:
    """Organization A, as its API client and as a logged-in member of its staff."""

    api: Client
    api_key: str
    staff: Client

    def call(self, route: Route, method: str, url: str) -> HttpResponse:
        if route.is_api:
            kwargs = {"headers": {"Authorization": f"Bearer {self.api_key}"}}
            if method in ("POST", "PUT", "PATCH"):
                # An empty object: the lookup comes first, so it decides before any validation.
                kwargs.update(data="{}", content_type="application/json")
            return getattr(self.api, method.lower())(url, **kwargs)
        return getattr(self.staff, method.lower())(url)


def _not_found_problem(route: Route, response: HttpResponse) -> str | None:
    if response.status_code != 404:
        return f"answered {response.status_code}, not 404: {response.content[:200]!r}"
    if not route.is_api:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"404 without Lago's JSON body: {response.content[:200]!r}"
    if not isinstance(body, dict) or (body.get("status"), body.get("error")) != (404, "Not Found"):
        return f"404 not in Lago's shape: {body!r}"
    if not str(body.get("code")).endswith("_not_found"):
        return f"404 without a `<resource>_not_found` code: {body!r}"
    return None


def _call_isolated(caller: Caller, route: Route, method: str, url: str, *, compare_rows: bool) -> tuple:
    """The response and, for a write, the tables it changed; everything it did is rolled back."""
    with transaction.atomic():
        before = database_digest() if compare_rows else None
        response = caller.call(route, method, url)
        changed = _changed_tables(before, database_digest()) if compare_rows else []
        transaction.set_rollback(True)
    return response, changed


def _seeded_tenant(name: str) -> Tenant:
    organization = OrganizationFactory(name=name)
    seeded = seed_every_resource(organization)
    customer = Customer.objects.get(organization=organization, external_id=seeded.customer_external_ids[0])
    # Messages in the webhook log (one per endpoint), which the seeding leaves empty.
    emit(
        organization_id=organization.pk, webhook_type="customer.updated", object_type="customer", object_id=customer.pk
    )
    data = {"external_id": f"gone_{organization.pk.hex[:6]}", "name": "Gone", "currency": "EUR"}
    deleted = delete_customer(customer=create_customer(organization=organization, data=data))
    return Tenant(organization=organization, seeded=seeded, deleted_customer=deleted)


@pytest.fixture(scope="module")
def tenants(django_db_setup, django_db_blocker) -> Iterator[tuple[Tenant, Tenant]]:
    """A and B, each with every resource, seeded once for the module and rolled back after it. The
    clock starts mid-month and runs on, so that no period ends while the module runs."""
    with (
        time_machine.travel(MID_MONTH, tick=True),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield _seeded_tenant("Alpha Tenancy"), _seeded_tenant("Bravo Tenancy")
        transaction.set_rollback(True)


@pytest.fixture
def caller(tenants, db) -> Caller:
    own = tenants[0].organization
    _, api_key = create_api_key(organization=own)
    staff = Client()
    staff.force_login(UserFactory(organization=own))
    return Caller(api=Client(), api_key=api_key, staff=staff)


@pytest.mark.parametrize(("route", "method"), CASES)
def test_another_organizations_ids_are_not_found(route: Route, method: str, tenants, caller: Caller) -> None:
    missing = unmapped_parameters(route)
    if missing:
        pytest.fail(f"{route.path}: map its parameter(s) {missing} in OWNED or SHARED of tests/test_tenancy.py")
    own_tenant, other_tenant = tenants
    own, other = _owned_values(route, own_tenant), _owned_values(route, other_tenant)
    _check_seeded(route, own, other)
    problems = []
    for shared in _shared_choices(route):
        for values in _foreign_calls(own, other):
            values = {**values, **shared}
            url = route.url(values)
            if not route.resolves_to_itself(url, values):
                problems.append(f"{url} does not reach {route.path} with {values}")
                continue
            response, changed = _call_isolated(caller, route, method, url, compare_rows=method in WRITE_METHODS)
            if problem := _not_found_problem(route, response):
                problems.append(f"{method} {url} {problem}")
            if changed:
                problems.append(f"{method} {url} changed {', '.join(changed)}")
        values = {**{name: found[0] for name, found in own.items()}, **shared}
        url = route.url(values)
        response, _ = _call_isolated(caller, route, method, url, compare_rows=False)
        if response.status_code == 404:
            problems.append(f"{method} {url} with A's own ids answered 404: the mapping names the wrong thing")
    assert not problems, "\n".join(problems)


def test_the_walker_finds_the_tenant_routes_and_their_methods() -> None:
    by_path = {route.path: route for route in ROUTES}
    assert by_path["/api/v1/customers/<external_id>"].methods == ("GET", "PUT", "DELETE")
    assert by_path["/api/v1/invoices/<lago_id>/void"].methods == ("POST",)
    assert by_path["/customers/<customer_id>/edit/"].methods == ("GET", "POST")
    assert by_path["/invoices/<invoice_id>/finalize/"].methods == ("POST",)
    assert all(route.methods for route in ROUTES), [route.path for route in ROUTES if not route.methods]
    assert not [route.path for route in ROUTES if route.path.startswith(("/admin/", "/login/", "/logout/"))]


def _view(request, **kwargs) -> HttpResponse:
    return HttpResponse()


NEW_ROUTES = (
    path("gadgets/<uuid:gadget_id>/", _view),
    re_path(r"^api/v1/gadgets/(?P<code>[^/]+)/parts/(?P<part_id>[^/]+)$", _view),
)


def test_a_route_nobody_mapped_is_named_with_its_parameter() -> None:
    new = {route.path: route for route in routes_with_parameters(NEW_ROUTES)}
    assert set(new) == {"/gadgets/<gadget_id>/", "/api/v1/gadgets/<code>/parts/<part_id>"}
    assert new["/gadgets/<gadget_id>/"].methods == ("GET", "POST")
    assert unmapped_parameters(new["/gadgets/<gadget_id>/"]) == ["gadget_id"]
    # "code" is mapped only under the known API prefixes, not for any route that happens to use it.
    assert unmapped_parameters(new["/api/v1/gadgets/<code>/parts/<part_id>"]) == ["code", "part_id"]
