"""Webhook endpoints and the public key through Lago's v1 endpoints: shapes, refusals (a clear 4xx
that changes nothing), the limit of ten endpoints, tenancy, and the key as Lago serves it.

The address rule is on (WEBHOOKS_ALLOW_PRIVATE_URLS false, as in production): the URLs that must
be accepted name public IP addresses, which resolve without DNS."""

import base64
import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webhooks.api import WebhookEndpointOutput, webhook_endpoint_payload
from webhooks.models import MAX_ENDPOINTS_PER_ORGANIZATION, WEBHOOK_TYPES, WebhookEndpoint, WebhookKeys
from webhooks.services import keys_of

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
ENDPOINTS = "/api/v1/webhook_endpoints"
PUBLIC_KEY = "/api/v1/webhooks/public_key"
JSON_PUBLIC_KEY = "/api/v1/webhooks/json_public_key"
URL = "https://93.184.215.14/hooks/billing"
OTHER_URL = "http://1.1.1.1:8080/lago"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def private_urls_refused(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False


def body(**fields) -> dict:
    return {"webhook_endpoint": {"webhook_url": URL, **fields}}


def create(api, **fields) -> dict:
    response = api.post(ENDPOINTS, body(**fields))
    assert response.status_code == 200, response.content
    return response.json()["webhook_endpoint"]


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


def assert_not_found(response) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"status": 404, "error": "Not Found", "code": "webhook_endpoint_not_found"}


def stored() -> list[tuple]:
    return list(
        WebhookEndpoint.objects.order_by("created_at", "id").values_list(
            "webhook_url", "name", "signature_algo", "event_types"
        )
    )


# Create ----------------------------------------------------------------------------------------


def test_create_in_lagos_shape(api, organization):
    endpoint = create(
        api, signature_algo="hmac", name="Billing backend", event_types=["invoice.created", "customer.created"]
    )
    assert endpoint == {
        "lago_id": str(WebhookEndpoint.objects.get().pk),
        "lago_organization_id": str(organization.pk),
        "webhook_url": URL,
        "signature_algo": "hmac",
        "name": "Billing backend",
        "event_types": ["customer.created", "invoice.created"],
        "created_at": "2026-03-20T12:00:00Z",
    }


def test_a_url_alone_signs_with_jwt_and_listens_to_everything(api):
    endpoint = create(api)
    assert (endpoint["signature_algo"], endpoint["name"], endpoint["event_types"]) == ("jwt", None, None)
    assert stored() == [(URL, None, "jwt", None)]


def test_nulls_are_the_defaults(api):
    endpoint = create(api, signature_algo=None, name=None, event_types=None)
    assert (endpoint["signature_algo"], endpoint["name"], endpoint["event_types"]) == ("jwt", None, None)


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"webhook_url": None}, {"webhook_url": ["value_is_mandatory"]}),
        ({"webhook_url": ""}, {"webhook_url": ["value_is_mandatory"]}),
        ({"webhook_url": "not a url"}, {"webhook_url": ["invalid_url"]}),
        ({"webhook_url": "ftp://93.184.215.14/hooks"}, {"webhook_url": ["invalid_url"]}),
        ({"webhook_url": "http://93.184.215.14:99999/hooks"}, {"webhook_url": ["invalid_url"]}),
        ({"webhook_url": "https://" + "x" * 1020}, {"webhook_url": ["value_is_too_long"]}),
        ({"webhook_url": 42}, {"webhook_url": ["invalid_url"]}),  # text, as DRF reads numbers
        # Our own network: loopback, private, link-local (cloud metadata), unresolvable.
        ({"webhook_url": "http://127.0.0.1:8000/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "http://localhost/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "http://10.1.2.3/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "http://192.168.0.10/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "http://169.254.169.254/latest/meta-data"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "http://[::1]:8000/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "http://0x7f.1/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": "https://no-such-host.invalid/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"signature_algo": "rsa"}, {"signature_algo": ["value_is_invalid"]}),
        ({"signature_algo": 1}, {"signature_algo": ["value_is_invalid"]}),
        ({"event_types": ["invoice.created", "invoice.exploded"]}, {"event_types": ["value_is_invalid"]}),
        ({"event_types": "invoice.created"}, {"event_types": ["value_is_invalid"]}),
        ({"event_types": [1]}, {"event_types": ["value_is_invalid"]}),
        ({"name": "x" * 256}, {"name": ["value_is_too_long"]}),
        ({"name": "nul\x00inside"}, {"name": ["value_is_invalid"]}),
        ({"secret": "s3cret"}, {"secret": ["unknown_field"]}),
        ({"id": "8c1b5f7e-0000-4000-8000-000000000000"}, {"id": ["unknown_field"]}),
    ],
)
def test_bad_bodies_are_422_and_create_nothing(api, fields, details):
    assert errors_of(api.post(ENDPOINTS, body(**fields))) == details
    assert not WebhookEndpoint.objects.exists()


def test_a_body_without_its_root_key_is_400(api):
    for payload in ({"webhook_url": URL}, {"webhook_endpoint": {}}, {"webhook_endpoint": URL}):
        response = api.post(ENDPOINTS, payload)
        assert response.status_code == 400, response.content
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: webhook_endpoint",
        }
    assert not WebhookEndpoint.objects.exists()


def test_a_private_url_is_accepted_when_the_server_allows_it(api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    assert create(api, webhook_url="http://127.0.0.1:9000/hooks")["webhook_url"] == "http://127.0.0.1:9000/hooks"
    # Still only http and https.
    assert errors_of(api.post(ENDPOINTS, body(webhook_url="file:///etc/passwd"))) == {"webhook_url": ["invalid_url"]}


def test_each_url_once_per_organization(api, other_api):
    create(api)
    assert errors_of(api.post(ENDPOINTS, body(name="Again"))) == {"webhook_url": ["value_already_exist"]}
    assert WebhookEndpoint.objects.count() == 1
    assert create(other_api)["webhook_url"] == URL  # another organization's list is its own


def test_ten_endpoints_at_most(api, other_api):
    for index in range(MAX_ENDPOINTS_PER_ORGANIZATION):
        create(api, webhook_url=f"{URL}/{index}")
    response = api.post(ENDPOINTS, body(webhook_url=f"{URL}/extra"))
    assert response.status_code == 405, response.content
    assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "webhook_endpoints_limit_reached"}
    assert WebhookEndpoint.objects.count() == MAX_ENDPOINTS_PER_ORGANIZATION
    assert create(other_api)["webhook_url"] == URL  # the limit is per organization

    first = api.get(ENDPOINTS).json()["webhook_endpoints"][-1]
    assert api.delete(f"{ENDPOINTS}/{first['lago_id']}").status_code == 200
    assert create(api, webhook_url=f"{URL}/extra")["webhook_url"] == f"{URL}/extra"


# Read ------------------------------------------------------------------------------------------


def test_get_list_and_meta(api, clock):
    empty = api.get(ENDPOINTS).json()
    assert empty == {
        "webhook_endpoints": [],
        "meta": {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0},
    }
    created = []
    for index in range(3):
        clock.shift(60)
        created.append(create(api, webhook_url=f"{URL}/{index}"))
    found = api.get(f"{ENDPOINTS}/{created[1]['lago_id']}")
    assert found.status_code == 200 and found.json() == {"webhook_endpoint": created[1]}
    assert found.json()["webhook_endpoint"]["created_at"] == "2026-03-20T12:02:00Z"

    first = api.get(ENDPOINTS).json()
    assert first["webhook_endpoints"] == created[::-1]  # newest first, as Lago's lists
    page = api.get(ENDPOINTS, page=2, per_page=2).json()
    assert page["webhook_endpoints"] == [created[0]]
    assert page["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 3}
    assert errors_of(api.get(ENDPOINTS, per_page="many")) == {"per_page": ["value_is_invalid"]}


def test_listing_costs_a_fixed_number_of_queries(api):
    create(api, webhook_url=f"{URL}/0")
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(ENDPOINTS).json()["webhook_endpoints"]) == 1
    for index in range(1, 6):
        create(api, webhook_url=f"{URL}/{index}", event_types=["invoice.created"])
    with CaptureQueriesContext(connection) as six:
        assert len(api.get(ENDPOINTS).json()["webhook_endpoints"]) == 6
    assert len(six.captured_queries) == len(one.captured_queries)


# Update ----------------------------------------------------------------------------------------


def test_update_changes_only_what_it_is_sent(api):
    created = create(api, name="Billing backend", event_types=["invoice.created"])
    path = f"{ENDPOINTS}/{created['lago_id']}"
    response = api.put(path, {"webhook_endpoint": {"webhook_url": OTHER_URL, "signature_algo": "hmac"}})
    assert response.status_code == 200, response.content
    assert response.json()["webhook_endpoint"] == {
        **created,
        "webhook_url": OTHER_URL,
        "signature_algo": "hmac",
    }
    assert stored() == [(OTHER_URL, "Billing backend", "hmac", ["invoice.created"])]

    # A null list of types listens to every type again; a null name clears it.
    response = api.put(path, {"webhook_endpoint": {"event_types": None, "name": None}})
    assert response.status_code == 200, response.content
    assert (response.json()["webhook_endpoint"]["event_types"], response.json()["webhook_endpoint"]["name"]) == (
        None,
        None,
    )
    assert api.get(path).json()["webhook_endpoint"] == response.json()["webhook_endpoint"]


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"webhook_url": None}, {"webhook_url": ["value_is_mandatory"]}),
        ({"webhook_url": "gopher://93.184.215.14/"}, {"webhook_url": ["invalid_url"]}),
        ({"webhook_url": "http://10.0.0.1/hooks"}, {"webhook_url": ["url_not_allowed"]}),
        ({"webhook_url": OTHER_URL}, {"webhook_url": ["value_already_exist"]}),
        ({"signature_algo": "none"}, {"signature_algo": ["value_is_invalid"]}),
        ({"event_types": ["customer.exploded"]}, {"event_types": ["value_is_invalid"]}),
        ({"webhook_url": URL, "enabled": False}, {"enabled": ["unknown_field"]}),
    ],
)
def test_a_refused_update_changes_nothing(api, fields, details):
    created = create(api, name="Billing backend", event_types=["invoice.created"])
    create(api, webhook_url=OTHER_URL)
    before = stored()
    assert errors_of(api.put(f"{ENDPOINTS}/{created['lago_id']}", {"webhook_endpoint": fields})) == details
    assert stored() == before


# Delete ----------------------------------------------------------------------------------------


def test_delete_answers_the_endpoint_and_forgets_it(api):
    created = create(api)
    path = f"{ENDPOINTS}/{created['lago_id']}"
    response = api.delete(path)
    assert response.status_code == 200 and response.json() == {"webhook_endpoint": created}
    assert not WebhookEndpoint.objects.exists()
    assert_not_found(api.get(path))
    assert_not_found(api.delete(path))
    assert create(api)["lago_id"] != created["lago_id"]  # its URL is free again


# Ids and tenancy -------------------------------------------------------------------------------


def test_unknown_and_malformed_ids_are_404(api):
    create(api)
    for lago_id in ("8c1b5f7e-0000-4000-8000-000000000000", "nope", "1234", "nul%00", "%20"):
        path = f"{ENDPOINTS}/{lago_id}"
        for response in (api.get(path), api.put(path, body(name="x")), api.delete(path)):
            assert_not_found(response)
    assert stored() == [(URL, None, "jwt", None)]


def test_another_organizations_endpoint_is_404(api, other_api):
    created = create(api, name="Mine")
    path = f"{ENDPOINTS}/{created['lago_id']}"
    assert_not_found(other_api.get(path))
    assert_not_found(other_api.put(path, body(name="Theirs")))
    assert_not_found(other_api.delete(path))
    assert other_api.get(ENDPOINTS).json()["webhook_endpoints"] == []
    assert stored() == [(URL, "Mine", "jwt", None)]


def test_every_endpoint_needs_a_key(client):
    paths = (
        ("get", ENDPOINTS),
        ("post", ENDPOINTS),
        ("get", f"{ENDPOINTS}/x"),
        ("put", f"{ENDPOINTS}/x"),
        ("delete", f"{ENDPOINTS}/x"),
        ("get", PUBLIC_KEY),
        ("get", JSON_PUBLIC_KEY),
    )
    for method, path in paths:
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401, (path, response.content)
        assert response.json() == {"status": 401, "error": "Unauthorized"}
    # The plain-text key too answers Lago's JSON, whatever the caller accepts.
    response = client.get(PUBLIC_KEY, headers={"Accept": "text/plain"})
    assert response.status_code == 401 and response.json() == {"status": 401, "error": "Unauthorized"}


# The public key --------------------------------------------------------------------------------


def test_the_public_key_is_the_organizations_pem_in_base64(api, organization, other_api, other_organization):
    pem = keys_of(organization_id=organization.pk).public_key_pem
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")

    raw = api.get(PUBLIC_KEY)
    assert raw.status_code == 200
    assert raw["Content-Type"] == "text/plain; charset=utf-8"
    assert base64.b64decode(raw.content, validate=True).decode() == pem

    as_json = api.get(JSON_PUBLIC_KEY)
    assert as_json.status_code == 200 and as_json["Content-Type"] == "application/json"
    assert as_json.json() == {"webhook": {"public_key": raw.content.decode()}}

    # Whatever the caller accepts; each organization its own key, the same on every call.
    assert api.client.get(PUBLIC_KEY, headers={**api.headers, "Accept": "text/plain"}).content == raw.content
    assert api.get(PUBLIC_KEY).content == raw.content
    theirs = base64.b64decode(other_api.get(JSON_PUBLIC_KEY).json()["webhook"]["public_key"]).decode()
    assert theirs == keys_of(organization_id=other_organization.pk).public_key_pem != pem


def test_the_public_key_is_made_on_first_use(api, organization):
    assert not WebhookKeys.objects.filter(organization=organization).exists()
    public_key = api.get(JSON_PUBLIC_KEY).json()["webhook"]["public_key"]
    assert base64.b64decode(public_key).decode() == WebhookKeys.objects.get(organization=organization).public_key_pem


# The schema ------------------------------------------------------------------------------------


def test_the_writer_writes_what_the_schema_documents(api, client):
    create(api, name="Billing backend", event_types=list(WEBHOOK_TYPES[:2]))
    payload = webhook_endpoint_payload(WebhookEndpoint.objects.get())
    assert list(payload) == list(WebhookEndpointOutput().fields)
    json.dumps(payload)
    schema = client.get("/api/schema", {"format": "json"}).json()
    operations = {
        operation["operationId"]
        for path, item in schema["paths"].items()
        if path.startswith(("/api/v1/webhook_endpoints", "/api/v1/webhooks/"))
        for operation in item.values()
    }
    assert operations == {
        "list_webhook_endpoints",
        "create_webhook_endpoint",
        "get_webhook_endpoint",
        "update_webhook_endpoint",
        "delete_webhook_endpoint",
        "get_webhook_public_key",
        "get_webhook_json_public_key",
    }
    raw = schema["paths"]["/api/v1/webhooks/public_key"]["get"]["responses"]["200"]["content"]
    assert raw == {"text/plain": {"schema": {"type": "string"}}}
    output = schema["components"]["schemas"]["WebhookEndpointOutput"]
    assert set(output["required"]) >= {"lago_id", "lago_organization_id", "webhook_url", "created_at"}
