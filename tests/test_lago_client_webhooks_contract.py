"""Lago's Python client (1.55.0) drives webhook endpoints and reads the public key of JWT signatures
over HTTP. If the client raises, parses wrongly or needs a workaround, our API is wrong, not the test.

The address rule is on (WEBHOOKS_ALLOW_PRIVATE_URLS false): the endpoints name public IP addresses,
which resolve without DNS; nothing is sent to them."""

from datetime import UTC, datetime

import jwt
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import WebhookEndpoint

from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from webhooks.models import MAX_ENDPOINTS_PER_ORGANIZATION
from webhooks.models import WebhookEndpoint as StoredEndpoint
from webhooks.services import keys_of

pytestmark = pytest.mark.django_db(transaction=True)

URL = "https://93.184.215.14/hooks/billing"
OTHER_URL = "http://1.1.1.1:8080/lago"


@pytest.fixture(autouse=True)
def private_urls_refused(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def org():
    return OrganizationFactory(name="Webhook Co")


@pytest.fixture
def lago(live_server, org):
    _, raw_key = create_api_key(organization=org)
    return Client(api_key=raw_key, api_url=live_server.url)


def refused(call) -> LagoApiError:
    with pytest.raises(LagoApiError) as error:
        call()
    return error.value


def test_webhook_endpoint_create_find_find_all_update_destroy(lago, org):
    created = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=URL))
    assert created.lago_id and created.lago_organization_id == str(org.pk)
    assert (created.webhook_url, created.signature_algo, created.name, created.event_types) == (URL, "jwt", None, None)
    assert created.created_at.endswith("Z")

    second = lago.webhook_endpoints.create(
        WebhookEndpoint(
            webhook_url=OTHER_URL,
            signature_algo="hmac",
            name="Accounting",
            event_types=["invoice.created", "credit_note.created"],
        )
    )
    assert (second.signature_algo, second.name) == ("hmac", "Accounting")
    assert second.event_types == ["credit_note.created", "invoice.created"]

    found = lago.webhook_endpoints.find(created.lago_id)
    assert found == created

    listed = lago.webhook_endpoints.find_all()
    assert {endpoint.lago_id for endpoint in listed["webhook_endpoints"]} == {created.lago_id, second.lago_id}
    assert listed["meta"]["total_count"] == 2
    page = lago.webhook_endpoints.find_all({"per_page": 1, "page": 2})
    assert len(page["webhook_endpoints"]) == 1 and page["meta"]["prev_page"] == 1

    # The client sends only what is set (no nulls): the rest stays as it was.
    updated = lago.webhook_endpoints.update(
        WebhookEndpoint(signature_algo="hmac", event_types=["customer.created"]), created.lago_id
    )
    assert (updated.webhook_url, updated.signature_algo, updated.event_types) == (URL, "hmac", ["customer.created"])
    assert lago.webhook_endpoints.find(created.lago_id) == updated

    destroyed = lago.webhook_endpoints.destroy(created.lago_id)
    assert destroyed == updated
    assert [str(pk) for pk in StoredEndpoint.objects.values_list("pk", flat=True)] == [second.lago_id]

    error = refused(lambda: lago.webhook_endpoints.find(created.lago_id))
    assert error.status_code == 404 and error.response["code"] == "webhook_endpoint_not_found"
    assert refused(lambda: lago.webhook_endpoints.destroy("not-a-uuid")).status_code == 404


def test_refusals_reach_the_client_as_lago_errors(lago):
    cases = [
        (WebhookEndpoint(webhook_url="http://127.0.0.1:8000/hooks"), {"webhook_url": ["url_not_allowed"]}),
        (WebhookEndpoint(webhook_url="ftp://93.184.215.14/hooks"), {"webhook_url": ["invalid_url"]}),
        (WebhookEndpoint(webhook_url=URL, signature_algo="rsa"), {"signature_algo": ["value_is_invalid"]}),
        (WebhookEndpoint(webhook_url=URL, event_types=["invoice.exploded"]), {"event_types": ["value_is_invalid"]}),
    ]
    for endpoint, details in cases:
        error = refused(lambda endpoint=endpoint: lago.webhook_endpoints.create(endpoint))
        assert error.status_code == 422 and error.response["error_details"] == details
    assert not StoredEndpoint.objects.exists()

    for index in range(MAX_ENDPOINTS_PER_ORGANIZATION):
        lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=f"{URL}/{index}"))
    error = refused(lambda: lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=f"{URL}/extra")))
    assert error.status_code == 405 and error.response["code"] == "webhook_endpoints_limit_reached"
    assert StoredEndpoint.objects.count() == MAX_ENDPOINTS_PER_ORGANIZATION


def test_the_public_key_verifies_a_jwt_signed_with_the_organizations_key(lago, org):
    public_key = lago.webhooks.public_key()
    keys = keys_of(organization_id=org.pk)
    assert public_key.decode() == keys.public_key_pem

    now = datetime.now(UTC)
    claims = {"data": '{"webhook_type":"invoice.created"}', "iss": "http://localhost:8000", "iat": now}
    token = jwt.encode(claims, keys.private_key_pem, algorithm="RS256")
    decoded = jwt.decode(token, public_key, algorithms=["RS256"], issuer="http://localhost:8000")
    assert decoded["data"] == claims["data"]

    # Another organization's key does not verify it.
    other = OrganizationFactory(name="Someone Else")
    forged = jwt.encode(claims, keys_of(organization_id=other.pk).private_key_pem, algorithm="RS256")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, public_key, algorithms=["RS256"])


def test_without_a_valid_key_the_client_gets_401(live_server):
    bad = Client(api_key="not-a-key", api_url=live_server.url)
    for call in (bad.webhooks.public_key, bad.webhook_endpoints.find_all, lambda: bad.webhook_endpoints.find("x")):
        assert refused(call).status_code == 401
