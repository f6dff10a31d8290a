"""Tenancy and access: the create_organization command, API keys, cookies, admin."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from organizations import services as organization_services
from organizations.models import ApiKey, Organization, User
from organizations.services import create_api_key, hash_api_key, organization_for_api_key, revoke_api_keys


def run_command(*args) -> str:
    out = StringIO()
    call_command("create_organization", *args, stdout=out)
    return out.getvalue()


def printed_key(output: str) -> str:
    return output.strip().splitlines()[-1].removeprefix("API key: ")


def test_create_organization_with_staff_and_generated_key(db):
    output = run_command("--name", "Acme", "--staff-email", "Boss@Acme.test", "--staff-password", "s3cret-pass")
    organization = Organization.objects.get(name="Acme")
    user = User.objects.get(email="boss@acme.test")
    assert user.organization == organization and user.check_password("s3cret-pass")
    raw_key = printed_key(output)
    assert len(raw_key) >= 40
    assert organization_for_api_key(raw_key) == organization


def test_create_organization_twice_does_not_duplicate(db):
    run_command("--name", "Acme")
    output = run_command("--name", "Acme", "--api-key", "a-key-chosen-by-the-self-hoster")
    assert Organization.objects.filter(name="Acme").count() == 1
    assert "Using existing organization" in output
    assert printed_key(output) == "a-key-chosen-by-the-self-hoster"
    assert organization_for_api_key("a-key-chosen-by-the-self-hoster").name == "Acme"


def test_given_key_is_idempotent_and_stored_hashed(db):
    run_command("--name", "Acme", "--api-key", "a-key-chosen-by-the-self-hoster")
    run_command("--name", "Acme", "--api-key", "a-key-chosen-by-the-self-hoster")
    [api_key] = ApiKey.objects.all()
    assert api_key.key_hash == hash_api_key("a-key-chosen-by-the-self-hoster")
    assert api_key.key_hash != "a-key-chosen-by-the-self-hoster"


def test_a_key_cannot_belong_to_two_organizations(db):
    run_command("--name", "Acme", "--api-key", "a-key-chosen-by-the-self-hoster")
    with pytest.raises(CommandError):
        run_command("--name", "Other", "--api-key", "a-key-chosen-by-the-self-hoster")
    assert not Organization.objects.filter(name="Other").exists()


def test_staff_email_needs_a_password(db):
    with pytest.raises(CommandError):
        run_command("--name", "Acme", "--staff-email", "a@acme.test")


def test_generated_keys_are_random(organization):
    _, first = create_api_key(organization=organization)
    _, second = create_api_key(organization=organization)
    assert first != second
    assert not ApiKey.objects.filter(key_hash__in=[first, second]).exists()


@pytest.mark.parametrize(("debug", "secure"), [("false", "True"), ("true", "False")])
def test_cookies_are_secure_when_debug_is_off(debug, secure):
    env = {**os.environ, "DEBUG": debug, "SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "billing.settings"}
    env.pop("SESSION_COOKIE_SECURE", None)
    env.pop("CSRF_COOKIE_SECURE", None)
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.split() == [secure, secure, "True"]


def test_secret_key_is_required_without_debug():
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "", "DJANGO_SETTINGS_MODULE": "billing.settings"}
    code = "from django.conf import settings; settings.SECRET_KEY"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.fixture
def admin_client_(db, client):
    admin = User.objects.create_superuser("support@example.test", "support-pass")
    client.force_login(admin)
    return client


def test_admin_lists_organizations_staff_and_keys_without_secrets(admin_client_, organization):
    _, raw_key = create_api_key(organization=organization)
    for model in ("organization", "user", "apikey"):
        response = admin_client_.get(reverse(f"admin:organizations_{model}_changelist"))
        assert response.status_code == 200
    api_key = ApiKey.objects.get()
    page = admin_client_.get(reverse("admin:organizations_apikey_change", args=[api_key.pk])).content.decode()
    assert api_key.key_hash in page and raw_key not in page


def test_admin_creates_a_key_and_shows_it_once(admin_client_, organization):
    response = admin_client_.post(
        reverse("admin:organizations_apikey_add"), {"organization": organization.pk, "name": "CI"}, follow=True
    )
    message = next(str(m) for m in response.context["messages"])
    raw_key = message.rsplit(": ", 1)[1]
    assert organization_for_api_key(raw_key) == organization
    listing = admin_client_.get(reverse("admin:organizations_apikey_changelist")).content.decode()
    assert raw_key not in listing


def test_admin_searches_customers_and_shows_metadata_inline(admin_client_, organization):
    customer = CustomerFactory(organization=organization, external_id="findme-42", name="Acme", email="a@acme.test")
    CustomerMetadataFactory(customer=customer, key="crm", value="v1")
    CustomerFactory(organization=organization, external_id="other", name="Globex", email="g@globex.test")
    for term in ("findme", "Acme", "a@acme.test"):
        page = admin_client_.get(reverse("admin:customers_customer_changelist"), {"q": term}).content.decode()
        assert "findme-42" in page and "Globex" not in page, term
    page = admin_client_.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert 'value="crm"' in page


def test_admin_soft_deletes_through_the_service(admin_client_, organization):
    customer = CustomerFactory(organization=organization)
    admin_client_.post(
        reverse("admin:customers_customer_changelist"),
        {"action": "soft_delete", "_selected_action": [str(customer.pk)]},
    )
    customer.refresh_from_db()
    assert customer.deleted_at is not None


@pytest.fixture
def api_keys_remembered(settings):
    settings.API_KEY_CACHE_SECONDS = 5


def test_revoking_through_the_service_refuses_the_key_at_once(api, organization, api_keys_remembered):
    assert api.get("/api/v1/customers").status_code == 200  # the key is now remembered
    revoke_api_keys(api_keys=organization.api_keys.all())
    assert api.get("/api/v1/customers").status_code == 401


def test_a_key_revoked_elsewhere_is_refused_once_its_remembered_check_expires(
    api, organization, monkeypatch, api_keys_remembered
):
    # Another server process revokes the key: this one trusts its last check for
    # API_KEY_CACHE_SECONDS, then asks the database again.
    clock = [1000.0]
    monkeypatch.setattr(organization_services.time, "monotonic", lambda: clock[0])
    assert api.get("/api/v1/customers").status_code == 200
    organization.api_keys.update(revoked_at=timezone.now())
    clock[0] += 4.5
    assert api.get("/api/v1/customers").status_code == 200
    clock[0] += 1
    assert api.get("/api/v1/customers").status_code == 401


def test_a_remembered_key_spares_the_query(api, django_assert_num_queries, api_keys_remembered):
    api.get("/api/v1/customers")
    with django_assert_num_queries(0):
        assert organization_for_api_key(api.headers["Authorization"].split()[1]) is not None
