"""The support admin for organizations, staff users and API keys: found by the ids support pastes and
filtered by organization; an organization's timezone picked from the IANA list; a key never moves to
another organization and is revoked through the service, never deleted; the lists' queries do not
grow with the rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from organizations.models import ApiKey, Organization, User
from organizations.services import create_api_key, organization_for_api_key
from organizations.tests.factories import OrganizationFactory, UserFactory

MODELS = [Organization, User, ApiKey]


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def rows(organization, other_organization) -> dict:
    create_api_key(organization=other_organization, name="Other")
    UserFactory(organization=other_organization, email="staff@other.test")
    api_key, raw_key = create_api_key(organization=organization, name="Production")
    return {
        Organization: organization,
        User: UserFactory(organization=organization, email="staff@acme.test"),
        ApiKey: api_key,
        "raw_key": raw_key,
    }


SEARCHES = {
    Organization: lambda rows: str(rows[Organization].pk),
    User: lambda rows: "staff@acme.test",
    ApiKey: lambda rows: rows[ApiKey].prefix,
}
FILTERS = {
    Organization: lambda organization: {"default_currency__exact": organization.default_currency},
    User: lambda organization: {"organization__id__exact": organization.pk},
    ApiKey: lambda organization: {"organization__id__exact": organization.pk},
}


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_a_pasted_id_finds_the_row_under_a_filter(support_client, rows, model):
    response = support_client.get(
        url(model, "changelist"), {"q": SEARCHES[model](rows), **FILTERS[model](rows[Organization])}
    )
    assert listed(response) == [rows[model]]
    assert support_client.get(url(model, "change", rows[model].pk)).status_code == 200


def test_the_organization_filter_leaves_out_other_organizations(support_client, rows, other_organization):
    for model in (User, ApiKey):
        response = support_client.get(
            url(model, "changelist"), {"q": SEARCHES[model](rows), **FILTERS[model](other_organization)}
        )
        assert listed(response) == []
    usd = support_client.get(url(Organization, "changelist"), {"default_currency__exact": "USD"})
    assert listed(usd) == []


def test_the_timezone_is_chosen_from_the_iana_list(support_client, organization):
    page = url(Organization, "change", organization.pk)
    form = support_client.get(page).context["adminform"].form
    assert "Europe/Paris" in dict(form.fields["default_timezone"].choices)
    assert 'name="default_currency"' in support_client.get(page).content.decode()
    data = {
        "name": organization.name,
        "default_currency": "EUR",
        "default_timezone": "Mars/Olympus_Mons",
        "invoice_grace_period_days": 0,
        "net_payment_term": 0,
    }
    refused = support_client.post(page, data)
    assert refused.status_code == 200
    assert "default_timezone" in refused.context["adminform"].form.errors  # the message next to the field
    assert Organization.objects.get(pk=organization.pk).default_timezone == "UTC"
    saved = support_client.post(page, {**data, "default_timezone": "Europe/Paris"})
    assert saved.status_code == 302
    assert Organization.objects.get(pk=organization.pk).default_timezone == "Europe/Paris"


def test_the_organization_page_links_its_records(support_client, organization):
    page = support_client.get(url(Organization, "change", organization.pk)).content.decode()
    customers = f"{url(Customer, 'changelist')}?organization__id__exact={organization.pk}"
    assert customers in page
    assert f"{reverse('admin:invoicing_invoice_changelist')}?organization__id__exact={organization.pk}" in page


def test_a_key_keeps_its_organization_and_is_revoked_not_deleted(support_client, rows, other_organization):
    api_key, raw_key = rows[ApiKey], rows["raw_key"]
    page = url(ApiKey, "change", api_key.pk)
    form = support_client.get(page).context["adminform"].form
    assert "organization" not in form.fields and "revoked_at" not in form.fields
    support_client.post(page, {"name": "Renamed", "organization": other_organization.pk})
    api_key.refresh_from_db()
    assert api_key.name == "Renamed" and api_key.organization_id == rows[Organization].pk
    assert support_client.post(url(ApiKey, "delete", api_key.pk), {"post": "yes"}).status_code == 403
    response = support_client.post(
        url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [str(api_key.pk)]}, follow=True
    )
    assert "1 key(s) revoked." in response.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert organization_for_api_key(raw_key) is None


def test_changelists_cost_the_same_queries_for_2_and_20_rows(support_client, db):
    def queries(model) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = support_client.get(url(model, "changelist"))
        return len(captured.captured_queries), len(listed(response))

    def grow(count: int) -> None:
        for _ in range(count):
            organization = OrganizationFactory()
            UserFactory(organization=organization)
            create_api_key(organization=organization)

    grow(2)
    with_two = {model: queries(model) for model in MODELS}
    grow(18)
    for model in MODELS:
        count, shown = queries(model)
        assert count == with_two[model][0], model
        assert shown > with_two[model][1], model
