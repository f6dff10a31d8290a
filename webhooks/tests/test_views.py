"""Staff pages of Developers → Webhooks: endpoints (add, edit, delete through the services), the signing
keys (HMAC key revealed on demand and rotatable, public key for JWT), and the delivery log with each
message's attempts and Resend."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from webhooks import services
from webhooks.models import (
    MAX_ENDPOINTS_PER_ORGANIZATION,
    WEBHOOK_TYPES,
    MessageStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def private_urls_allowed(settings):
    """Test URLs need no DNS; the test of the address rule switches it back off."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def make_endpoint(organization, url="https://hooks.example.com/billing", **data) -> WebhookEndpoint:
    return services.create_endpoint(organization=organization, data={"webhook_url": url, **data})


def make_message(endpoint, *, status=MessageStatus.PENDING, attempts=0, created_at=None, **fields) -> WebhookMessage:
    return WebhookMessage.objects.create(
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        webhook_url=endpoint.webhook_url,
        webhook_type=fields.pop("webhook_type", "invoice.created"),
        object_type=fields.pop("object_type", "invoice"),
        object_id=fields.pop("object_id", "3f9c0a52-6a1e-4a0e-9d39-6b1a1f0f4c11"),
        status=status,
        attempts=attempts,
        created_at=created_at or timezone.now(),
        **fields,
    )


def endpoint_data(**overrides) -> dict:
    """What the browser posts for a new endpoint listening to every event."""
    data = {
        "webhook_url": "https://hooks.example.com/billing",
        "name": "",
        "signature_algo": "jwt",
        "listens_to": "all",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def field_errors(html: str, field: str) -> str:
    """The error text shown next to `field`, as plain text, or ""."""
    match = re.search(rf'<div class="field-error" id="id_{re.escape(field)}_error"[^>]*>(.*?)</div>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def text(response) -> str:
    return unescape(response.content.decode())


# The menu and the endpoints ----------------------------------------------------------------------


def test_developers_webhooks_entry_in_the_side_menu(staff_client):
    page = text(staff_client.get(reverse("customers:list")))
    assert "Developers" in page and f'href="{reverse("webhooks:index")}"' in page
    webhooks = staff_client.get(reverse("webhooks:index")).content.decode()
    assert re.search(rf'href="{reverse("webhooks:index")}" class="active">Webhooks<', webhooks)
    for name in ("webhooks:message_list", "webhooks:endpoint_create", "webhooks:hmac_key_rotate"):
        assert 'class="active">Webhooks<' in staff_client.get(reverse(name)).content.decode()


def test_pages_need_a_logged_in_member(client, db):
    response = client.get(reverse("webhooks:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert client.get(reverse("webhooks:hmac_key")).status_code == 302


def test_empty_state_invites_to_add_an_endpoint(staff_client):
    page = text(staff_client.get(reverse("webhooks:index")))
    assert "No webhook endpoints yet" in page and "Add an endpoint" in page


def test_endpoints_list(staff_client, organization, other_organization):
    make_endpoint(organization, "https://a.example.com/hook", name="Backend", signature_algo="hmac")
    make_endpoint(organization, "https://b.example.com/hook", event_types=["invoice.voided", "customer.created"])
    make_endpoint(other_organization, "https://other.example.com/hook")
    page = text(staff_client.get(reverse("webhooks:index")))
    assert "https://a.example.com/hook" in page and "Backend" in page and "HMAC-SHA256" in page
    assert "All events" in page
    assert "https://b.example.com/hook" in page and "JWT (RS256)" in page
    assert page.index("customer.created") < page.index("invoice.voided")  # the service sorts them
    assert "https://other.example.com/hook" not in page
    assert timezone.localdate().strftime("%b") in page  # created


def test_add_an_endpoint_listening_to_every_event(staff_client, organization):
    response = staff_client.post(reverse("webhooks:endpoint_create"), endpoint_data(name="Main"))
    assert response.status_code == 302 and response.url == reverse("webhooks:index")
    endpoint = WebhookEndpoint.objects.get(organization=organization)
    assert endpoint.webhook_url == "https://hooks.example.com/billing"
    assert endpoint.name == "Main" and endpoint.signature_algo == "jwt" and endpoint.event_types is None
    assert "Webhook endpoint added." in text(staff_client.get(response.url))


def test_add_an_endpoint_for_some_events(staff_client, organization):
    form = text(staff_client.get(reverse("webhooks:endpoint_create")))
    for webhook_type in WEBHOOK_TYPES:  # every type we send is offered
        assert f'value="{webhook_type}"' in form
    data = endpoint_data(listens_to="some", event_types=["wallet.created", "customer.deleted"], signature_algo="hmac")
    assert staff_client.post(reverse("webhooks:endpoint_create"), data).status_code == 302
    endpoint = WebhookEndpoint.objects.get(organization=organization)
    assert endpoint.event_types == ["customer.deleted", "wallet.created"] and endpoint.signature_algo == "hmac"


def test_some_events_need_at_least_one_type(staff_client, organization):
    response = staff_client.post(reverse("webhooks:endpoint_create"), endpoint_data(listens_to="some"))
    assert response.status_code == 200
    assert "Choose at least one event type" in field_errors(text(response), "event_types")
    assert not WebhookEndpoint.objects.exists()


def test_types_checked_then_all_events_chosen_mean_all(staff_client, organization):
    data = endpoint_data(listens_to="all", event_types=["invoice.created"])
    assert staff_client.post(reverse("webhooks:endpoint_create"), data).status_code == 302
    assert WebhookEndpoint.objects.get(organization=organization).event_types is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://hooks.example.com/x", "Enter an http:// or https:// URL"),
        ("https://", "Enter an http:// or https:// URL"),
        ("", "This field is required."),
    ],
)
def test_url_errors_are_shown_next_to_the_field(staff_client, url, words):
    response = staff_client.post(reverse("webhooks:endpoint_create"), endpoint_data(webhook_url=url))
    assert response.status_code == 200
    assert words in field_errors(text(response), "webhook_url")
    assert not WebhookEndpoint.objects.exists()


def test_private_address_refused_unless_allowed(staff_client, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = staff_client.post(
        reverse("webhooks:endpoint_create"), endpoint_data(webhook_url="http://127.0.0.1/hook")
    )
    assert "webhooks are only sent to public addresses" in field_errors(text(response), "webhook_url")
    assert not WebhookEndpoint.objects.exists()


def test_a_url_used_twice_is_refused_next_to_the_field(staff_client, organization, other_organization):
    make_endpoint(other_organization)  # another organization's URL does not count
    make_endpoint(organization)
    response = staff_client.post(reverse("webhooks:endpoint_create"), endpoint_data())
    assert field_errors(text(response), "webhook_url") == "Another endpoint already uses this URL."
    assert WebhookEndpoint.objects.filter(organization=organization).count() == 1


def test_the_limit_of_endpoints_is_shown_and_kept(staff_client, organization):
    for index in range(MAX_ENDPOINTS_PER_ORGANIZATION - 1):
        make_endpoint(organization, f"https://hooks.example.com/{index}")
    page = text(staff_client.get(reverse("webhooks:index")))
    assert '<a class="button primary" href="/developers/webhooks/endpoints/new/">Add an endpoint</a>' in page
    make_endpoint(organization, "https://hooks.example.com/last")
    page = text(staff_client.get(reverse("webhooks:index")))
    limit = "The organization has as many webhook endpoints as allowed: delete one to add another."
    assert f"{MAX_ENDPOINTS_PER_ORGANIZATION} of {MAX_ENDPOINTS_PER_ORGANIZATION}</span>" in page
    assert limit in page and re.search(r"<button[^>]*disabled[^>]*>Add an endpoint</button>", page)
    form = text(staff_client.get(reverse("webhooks:endpoint_create")))
    assert limit in form and "Add endpoint</button>" not in form
    # A page opened before the limit was reached: the service refuses, in the same words.
    response = staff_client.post(reverse("webhooks:endpoint_create"), endpoint_data(webhook_url="https://x.example"))
    assert response.status_code == 409 and limit in text(response)
    assert WebhookEndpoint.objects.filter(organization=organization).count() == MAX_ENDPOINTS_PER_ORGANIZATION


def test_edit_an_endpoint(staff_client, organization):
    endpoint = make_endpoint(organization, name="Old", event_types=["invoice.created"])
    form = staff_client.get(reverse("webhooks:endpoint_edit", args=[endpoint.pk]))
    assert form.context["form"].initial == {
        "webhook_url": endpoint.webhook_url,
        "name": "Old",
        "signature_algo": "jwt",
        "listens_to": "some",
        "event_types": ["invoice.created"],
    }
    data = endpoint_data(webhook_url="https://new.example.com/hook", name="", signature_algo="hmac")
    response = staff_client.post(reverse("webhooks:endpoint_edit", args=[endpoint.pk]), data)
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.webhook_url == "https://new.example.com/hook" and endpoint.name is None
    assert endpoint.signature_algo == "hmac" and endpoint.event_types is None


def test_a_refused_edit_changes_nothing(staff_client, organization):
    make_endpoint(organization, "https://taken.example.com")
    endpoint = make_endpoint(organization, "https://mine.example.com")
    response = staff_client.post(
        reverse("webhooks:endpoint_edit", args=[endpoint.pk]), endpoint_data(webhook_url="https://taken.example.com")
    )
    page = text(response)
    assert field_errors(page, "webhook_url") == "Another endpoint already uses this URL."
    assert '<div class="muted mono">https://mine.example.com</div>' in page  # the stored URL heads the page
    endpoint.refresh_from_db()
    assert endpoint.webhook_url == "https://mine.example.com"


def test_delete_an_endpoint_after_confirmation(staff_client, organization):
    endpoint = make_endpoint(organization, signature_algo="hmac")
    message = make_message(endpoint)
    make_message(endpoint, status=MessageStatus.SUCCEEDED, attempts=1)
    confirm = text(staff_client.get(reverse("webhooks:endpoint_delete", args=[endpoint.pk])))
    assert "Delete this webhook endpoint?" in confirm and endpoint.webhook_url in confirm
    assert "1 message waiting for delivery" in confirm and "signed with JWT rather than HMAC" in confirm
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()  # nothing before the click
    response = staff_client.post(reverse("webhooks:endpoint_delete", args=[endpoint.pk]))
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    message.refresh_from_db()
    assert message.endpoint_id is None and message.webhook_url == endpoint.webhook_url  # still delivered


def test_another_organizations_endpoints_are_404(staff_client, other_organization):
    endpoint = make_endpoint(other_organization)
    for name in ("webhooks:endpoint_edit", "webhooks:endpoint_delete"):
        assert staff_client.get(reverse(name, args=[endpoint.pk])).status_code == 404
        assert staff_client.post(reverse(name, args=[endpoint.pk]), endpoint_data()).status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.webhook_url == "https://hooks.example.com/billing"


# Signing keys ------------------------------------------------------------------------------------


def test_the_hmac_key_is_not_in_the_page_until_revealed(staff_client, organization):
    keys = services.keys_of(organization_id=organization.pk)
    page = staff_client.get(reverse("webhooks:index")).content.decode()
    assert keys.hmac_key not in page
    assert 'hx-get="/developers/webhooks/hmac-key/"' in page and ">Reveal</a>" in page
    fragment = staff_client.get(reverse("webhooks:hmac_key"), headers={**HTMX, "HX-Target": "hmac-key"})
    assert fragment.status_code == 200
    assert keys.hmac_key in fragment.content.decode()
    assert "<html" not in fragment.content.decode()  # a fragment for the page
    assert "no-store" in fragment["Cache-Control"]
    hidden = staff_client.get(reverse("webhooks:index"), headers={**HTMX, "HX-Target": "hmac-key"}).content.decode()
    assert keys.hmac_key not in hidden and ">Reveal</a>" in hidden and "<html" not in hidden


def test_without_javascript_reveal_shows_the_page_with_the_key(staff_client, organization):
    keys = services.keys_of(organization_id=organization.pk)
    response = staff_client.get(reverse("webhooks:hmac_key"))
    page = response.content.decode()
    assert "<html" in page and keys.hmac_key in page and "no-store" in response["Cache-Control"]


def test_each_organization_sees_its_own_key(staff_client, organization, other_organization):
    other = services.keys_of(organization_id=other_organization.pk)
    mine = services.keys_of(organization_id=organization.pk)
    fragment = staff_client.get(reverse("webhooks:hmac_key"), headers=HTMX).content.decode()
    assert mine.hmac_key in fragment and other.hmac_key not in fragment
    page = staff_client.get(reverse("webhooks:index")).content.decode()
    assert mine.public_key_pem.strip() in page and other.public_key_pem.strip() not in page


def test_public_key_for_jwt_is_shown_whole_and_copyable(staff_client, organization):
    page = staff_client.get(reverse("webhooks:index")).content.decode()
    keys = services.keys_of(organization_id=organization.pk)  # made by the page on first use
    assert keys.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert keys.public_key_pem.strip() in page
    assert "Copy public key" in page
    assert "PRIVATE KEY" not in page and keys.private_key_pem.splitlines()[1] not in page


def test_rotation_after_confirmation_changes_the_key(staff_client, organization):
    make_endpoint(organization, "https://hmac.example.com", signature_algo="hmac")
    make_endpoint(organization, "https://jwt.example.com")
    before = services.keys_of(organization_id=organization.pk).hmac_key
    confirm = text(staff_client.get(reverse("webhooks:hmac_key_rotate")))
    assert "Rotate the HMAC key?" in confirm and "1 endpoint signs with HMAC" in confirm
    assert "https://hmac.example.com" in confirm and "https://jwt.example.com" not in confirm
    assert before not in confirm
    assert services.keys_of(organization_id=organization.pk).hmac_key == before  # nothing before the click
    response = staff_client.post(reverse("webhooks:hmac_key_rotate"))
    assert response.status_code == 302 and response.url == reverse("webhooks:index") + "#signing-keys"
    keys = services.keys_of(organization_id=organization.pk)
    assert keys.hmac_key != before and keys.rotated_at is not None
    page = text(staff_client.get(response.url))
    assert "HMAC key rotated" in page and keys.hmac_key not in page and "Last rotated" in page
    revealed = staff_client.get(reverse("webhooks:hmac_key"), headers=HTMX).content.decode()
    assert keys.hmac_key in revealed and before not in revealed


def test_rotation_only_by_post(staff_client, organization):
    before = services.keys_of(organization_id=organization.pk).hmac_key
    staff_client.get(reverse("webhooks:hmac_key_rotate"))
    assert staff_client.put(reverse("webhooks:hmac_key_rotate")).status_code == 405
    assert services.keys_of(organization_id=organization.pk).hmac_key == before


# The delivery log --------------------------------------------------------------------------------


def test_log_lists_the_newest_messages_first(staff_client, organization, other_organization):
    endpoint = make_endpoint(organization)
    now = timezone.now()
    make_message(endpoint, webhook_type="customer.created", created_at=now - timedelta(minutes=5))
    make_message(
        endpoint,
        webhook_type="invoice.voided",
        status=MessageStatus.FAILED,
        attempts=9,
        created_at=now - timedelta(minutes=1),
    )
    make_message(make_endpoint(other_organization, "https://other.example.com"), webhook_type="wallet.created")
    page = text(staff_client.get(reverse("webhooks:message_list")))
    assert page.index("invoice.voided") < page.index("customer.created")
    assert "Failed" in page and "Pending" in page and endpoint.webhook_url in page
    assert "wallet.created" not in page and "https://other.example.com" not in page
    assert "2 messages" in page


def test_log_costs_a_fixed_number_of_queries(staff_client, organization, django_assert_num_queries):
    endpoints = [make_endpoint(organization, f"https://hooks.example.com/{index}") for index in range(2)]

    def add(index: int) -> None:
        message = make_message(endpoints[index % 2], status=MessageStatus.FAILED, attempts=2)
        WebhookAttempt.objects.create(message=message, status_code=500, duration_ms=12)
        WebhookAttempt.objects.create(message=message, status_code=None, error="ConnectError: refused")

    for index in range(3):
        add(index)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse("webhooks:message_list")).status_code == 200
    for index in range(3, 30):
        add(index)
    endpoints.append(make_endpoint(organization, "https://hooks.example.com/third"))
    with django_assert_num_queries(len(small.captured_queries)):
        response = staff_client.get(reverse("webhooks:message_list"))
    page = response.content.decode()
    assert page.count('class="row-anchor mono"') == 20 and "Page 1 of 2" in page
    with django_assert_num_queries(len(small.captured_queries)):
        filtered = staff_client.get(reverse("webhooks:message_list"), {"status": "failed", "endpoint": endpoints[0].pk})
    assert filtered.content.decode().count('class="row-anchor mono"') == 15  # every other message


def test_log_pages_keep_their_filters(staff_client, organization):
    endpoint = make_endpoint(organization)
    for _ in range(25):
        make_message(endpoint, status=MessageStatus.SUCCEEDED, attempts=1)
    page = staff_client.get(reverse("webhooks:message_list"), {"status": "succeeded", "endpoint": endpoint.pk})
    assert f"?status=succeeded&endpoint={endpoint.pk}&page=2" in text(page)
    second = staff_client.get(reverse("webhooks:message_list"), {"status": "succeeded", "page": 2})
    assert second.content.decode().count('class="row-anchor mono"') == 5


def test_log_filters_by_status_and_endpoint(staff_client, organization, other_organization):
    first = make_endpoint(organization, "https://first.example.com")
    second = make_endpoint(organization, "https://second.example.com")
    make_message(first, webhook_type="customer.created", status=MessageStatus.SUCCEEDED, attempts=1)
    make_message(first, webhook_type="invoice.created", status=MessageStatus.FAILED, attempts=9)
    make_message(second, webhook_type="wallet.created", status=MessageStatus.FAILED, attempts=9)

    def shown(**params) -> list[str]:
        response = staff_client.get(reverse("webhooks:message_list"), params)
        return sorted(message.webhook_type for message in response.context["page"].object_list)

    assert shown() == ["customer.created", "invoice.created", "wallet.created"]
    assert shown(status="failed") == ["invoice.created", "wallet.created"]
    assert shown(endpoint=first.pk) == ["customer.created", "invoice.created"]
    assert shown(status="failed", endpoint=second.pk) == ["wallet.created"]
    assert shown(status="pending") == []
    # Unknown values, or another organization's endpoint, filter nothing rather than fail.
    other = make_endpoint(other_organization, "https://other.example.com")
    assert len(shown(status="nonsense", endpoint="not-an-id")) == 3
    assert len(shown(endpoint=other.pk)) == 3


def test_log_filter_answers_a_fragment_to_htmx(staff_client, organization):
    endpoint = make_endpoint(organization)
    make_message(endpoint, status=MessageStatus.FAILED, attempts=9)
    response = staff_client.get(
        reverse("webhooks:message_list"), {"status": "failed"}, headers={**HTMX, "HX-Target": "webhook-log"}
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="webhook-log"') and "<html" not in page
    assert '<option value="failed" selected>' in page


def test_log_empty_states(staff_client, organization):
    page = text(staff_client.get(reverse("webhooks:message_list")))
    assert "No messages yet" in page and "Add an endpoint first" in page
    make_endpoint(organization)
    page = text(staff_client.get(reverse("webhooks:message_list")))
    assert "No messages yet" in page and "Add an endpoint first" not in page
    filtered = text(staff_client.get(reverse("webhooks:message_list"), {"status": "failed"}))
    assert "No messages match these filters" in filtered


def test_message_detail_shows_body_and_every_attempt(staff_client, organization):
    endpoint = make_endpoint(organization, name="Backend")
    message = make_message(
        endpoint,
        status=MessageStatus.SUCCEEDED,
        attempts=3,
        body='{"webhook_type":"invoice.created","object_type":"invoice","invoice":{"lago_id":"abc"}}',
    )
    now = timezone.now()
    WebhookAttempt.objects.create(
        message=message, attempted_at=now - timedelta(minutes=3), status_code=None, error="ConnectTimeout: timed out"
    )
    WebhookAttempt.objects.create(
        message=message,
        attempted_at=now - timedelta(minutes=2),
        status_code=503,
        duration_ms=41,
        response_excerpt="<h1>Service unavailable</h1>",
    )
    WebhookAttempt.objects.create(message=message, attempted_at=now, status_code=200, duration_ms=7)
    response = staff_client.get(reverse("webhooks:message_detail", args=[message.pk]))
    page = text(response)
    assert str(message.pk) in page and "Backend" in page and endpoint.webhook_url in page
    assert '"lago_id": "abc"' in page  # the body, indented
    assert "ConnectTimeout: timed out" in page
    assert "503" in page and "41 ms" in page
    assert "&lt;h1&gt;Service unavailable&lt;/h1&gt;" in response.content.decode()  # shown, escaped
    assert "200" in page and "7 ms" in page and "Empty answer" in page
    assert [attempt.number for attempt in response.context["attempts"]] == [3, 2, 1]  # newest first
    assert ">Resend</button>" in page


def test_message_detail_words_a_refused_url(staff_client, organization):
    message = make_message(make_endpoint(organization), status=MessageStatus.FAILED, attempts=1)
    WebhookAttempt.objects.create(message=message, status_code=None, error="url_not_allowed")
    page = text(staff_client.get(reverse("webhooks:message_detail", args=[message.pk])))
    assert "webhooks are only sent to public addresses" in page


def test_message_before_its_first_attempt(staff_client, organization):
    message = make_message(make_endpoint(organization))
    page = text(staff_client.get(reverse("webhooks:message_detail", args=[message.pk])))
    assert "No attempt yet" in page and "rendered at the first attempt" in page
    assert ">Resend</button>" not in page  # it is on its way


def test_message_of_a_deleted_endpoint(staff_client, organization):
    endpoint = make_endpoint(organization)
    message = make_message(endpoint, status=MessageStatus.FAILED, attempts=9)
    services.delete_endpoint(endpoint=endpoint)
    page = text(staff_client.get(reverse("webhooks:message_detail", args=[message.pk])))
    assert "(endpoint deleted)" in page and endpoint.webhook_url in page


def test_another_organizations_messages_are_404(staff_client, other_organization):
    message = make_message(make_endpoint(other_organization), status=MessageStatus.FAILED, attempts=9)
    assert staff_client.get(reverse("webhooks:message_detail", args=[message.pk])).status_code == 404
    assert staff_client.post(reverse("webhooks:message_resend", args=[message.pk])).status_code == 404
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED


def test_resend_resets_a_failed_message_to_pending_with_the_same_id(
    staff_client, organization, django_capture_on_commit_callbacks
):
    message = make_message(
        make_endpoint(organization),
        status=MessageStatus.FAILED,
        attempts=9,
        body='{"webhook_type":"invoice.created"}',
        next_attempt_at=timezone.now() - timedelta(days=2),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(reverse("webhooks:message_resend", args=[message.pk]))
    assert response.status_code == 302 and response.url == reverse("webhooks:message_detail", args=[message.pk])
    assert len(callbacks) == 1  # its delivery, sent once committed
    resent = WebhookMessage.objects.get(pk=message.pk)  # the same row: the same X-Lago-Unique-Key
    assert resent.status == MessageStatus.PENDING
    assert resent.body == message.body and resent.attempts == 0  # a fresh retry schedule
    assert abs((resent.next_attempt_at - timezone.now()).total_seconds()) < 60
    assert WebhookMessage.objects.count() == 1
    assert "Message sent again, with the same unique key." in text(staff_client.get(response.url))


def test_resend_of_a_succeeded_message(staff_client, organization):
    message = make_message(
        make_endpoint(organization), status=MessageStatus.SUCCEEDED, attempts=1, delivered_at=timezone.now()
    )
    staff_client.post(reverse("webhooks:message_resend", args=[message.pk]))
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and message.delivered_at is None


def test_a_pending_message_is_not_sent_twice(staff_client, organization, django_capture_on_commit_callbacks):
    later = timezone.now() + timedelta(minutes=10)
    message = make_message(make_endpoint(organization), attempts=3, next_attempt_at=later)
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(reverse("webhooks:message_resend", args=[message.pk]))
    assert callbacks == []
    message.refresh_from_db()
    assert message.next_attempt_at == later
    assert "already waiting for delivery" in text(staff_client.get(response.url))


def test_resend_only_by_post(staff_client, organization):
    message = make_message(make_endpoint(organization), status=MessageStatus.FAILED, attempts=9)
    assert staff_client.get(reverse("webhooks:message_resend", args=[message.pk])).status_code == 405
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED


def test_detail_says_what_a_resend_does(staff_client, organization):
    endpoint = make_endpoint(organization)
    failed = make_message(endpoint, status=MessageStatus.FAILED, attempts=9)
    succeeded = make_message(endpoint, status=MessageStatus.SUCCEEDED, attempts=1)
    for message in (failed, succeeded):  # either way, a resend starts a fresh schedule
        page = text(staff_client.get(reverse("webhooks:message_detail", args=[message.pk])))
        assert "retried on the usual schedule, up to 9 attempts again" in page
