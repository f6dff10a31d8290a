"""The support admin for webhooks: endpoints, messages with their attempts inline and attempts, all
read-only; Resend through the service; searches by URL, type and message id; never a signing key."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from organizations.models import User
from webhooks import services
from webhooks.models import MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookKeys, WebhookMessage

MODELS = [WebhookEndpoint, WebhookMessage, WebhookAttempt]


@pytest.fixture(autouse=True)
def private_urls_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


@pytest.fixture
def everything(organization):
    endpoint = services.create_endpoint(
        organization=organization,
        data={"webhook_url": "https://hooks.example.com/billing", "name": "Backend", "signature_algo": "hmac"},
    )
    message = WebhookMessage.objects.create(
        organization=organization,
        endpoint=endpoint,
        webhook_url=endpoint.webhook_url,
        webhook_type="invoice.voided",
        object_type="invoice",
        object_id="5b1c2d3e-0000-4000-8000-000000000001",
        body='{"webhook_type":"invoice.voided","invoice":{"lago_id":"5b1c2d3e"}}',
        status=MessageStatus.FAILED,
        attempts=2,
    )
    attempt = WebhookAttempt.objects.create(
        message=message, status_code=502, duration_ms=33, response_excerpt="bad gateway from the receiver"
    )
    WebhookAttempt.objects.create(message=message, status_code=None, error="ConnectTimeout: timed out")
    return {WebhookEndpoint: endpoint, WebhookMessage: message, WebhookAttempt: attempt}


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_changelist_and_detail_pages_render_read_only(support_client, everything, model):
    obj = everything[model]
    assert support_client.get(url(model, "changelist")).status_code == 200
    detail = support_client.get(url(model, "change", obj.pk))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert support_client.post(url(model, "change", obj.pk), {}).status_code == 403


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_nothing_is_added_or_removed_through_the_admin(support_client, everything, model):
    obj = everything[model]
    assert support_client.get(url(model, "add")).status_code == 403
    assert support_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
    action_form = support_client.get(url(model, "changelist")).context["action_form"]
    actions = [name for name, _ in action_form.fields["action"].choices] if action_form else []
    assert "delete_selected" not in actions


def test_message_page_shows_its_body_and_attempts_inline(support_client, everything):
    message = everything[WebhookMessage]
    page = support_client.get(url(WebhookMessage, "change", message.pk)).content.decode()
    assert "invoice.voided" in page and "https://hooks.example.com/billing" in page
    assert "&quot;lago_id&quot;: &quot;5b1c2d3e&quot;" in page  # the body, indented
    assert "bad gateway from the receiver" in page and "ConnectTimeout: timed out" in page and "502" in page
    assert 'name="delivery_attempts-0-status_code"' not in page  # the inline rows are read-only


def test_endpoint_list_says_which_events(support_client, everything, organization):
    services.create_endpoint(
        organization=organization,
        data={"webhook_url": "https://some.example.com", "event_types": ["wallet.created", "customer.created"]},
    )
    page = support_client.get(url(WebhookEndpoint, "changelist")).content.decode()
    assert "all events" in page and "customer.created, wallet.created" in page


@pytest.mark.parametrize(
    ("model", "term"),
    [
        (WebhookEndpoint, "hooks.example.com"),
        (WebhookMessage, "hooks.example.com"),
        (WebhookMessage, "invoice.voided"),
        (WebhookAttempt, "hooks.example.com"),
        (WebhookAttempt, "invoice.voided"),
    ],
)
def test_search_by_url_and_type(support_client, everything, model, term):
    response = support_client.get(url(model, "changelist"), {"q": term})
    assert response.status_code == 200
    expected = (
        set(everything[WebhookMessage].delivery_attempts.all()) if model is WebhookAttempt else {everything[model]}
    )
    assert set(response.context["cl"].result_list) == expected
    missing = support_client.get(url(model, "changelist"), {"q": "nothing-like-it"})
    assert list(missing.context["cl"].result_list) == []


def test_search_by_message_id(support_client, everything):
    message = everything[WebhookMessage]
    response = support_client.get(url(WebhookMessage, "changelist"), {"q": str(message.pk)})
    assert list(response.context["cl"].result_list) == [message]
    attempts = support_client.get(url(WebhookAttempt, "changelist"), {"q": str(message.pk)})
    assert set(attempts.context["cl"].result_list) == set(message.delivery_attempts.all())
    by_object = support_client.get(url(WebhookMessage, "changelist"), {"q": message.object_id})
    assert list(by_object.context["cl"].result_list) == [message]


def test_filters_by_status_and_organization(support_client, everything, other_organization):
    message = everything[WebhookMessage]
    failed = support_client.get(url(WebhookMessage, "changelist"), {"status__exact": "failed"})
    assert list(failed.context["cl"].result_list) == [message]
    pending = support_client.get(url(WebhookMessage, "changelist"), {"status__exact": "pending"})
    assert list(pending.context["cl"].result_list) == []
    other = support_client.get(url(WebhookMessage, "changelist"), {"organization__id__exact": other_organization.pk})
    assert list(other.context["cl"].result_list) == []


def test_resend_action_goes_through_the_service(support_client, everything, django_capture_on_commit_callbacks):
    message = everything[WebhookMessage]
    waiting = WebhookMessage.objects.create(
        organization_id=message.organization_id,
        endpoint=message.endpoint,
        webhook_url=message.webhook_url,
        webhook_type="customer.created",
        object_type="customer",
        object_id="c1",
        next_attempt_at=timezone.now() + timedelta(minutes=10),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = support_client.post(
            url(WebhookMessage, "changelist"),
            {"action": "resend_messages", "_selected_action": [str(message.pk), str(waiting.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    assert "1 message(s) sent again. 1 pending message(s) skipped" in response.content.decode()
    assert len(callbacks) == 1
    resent = WebhookMessage.objects.get(pk=message.pk)  # the same id: the same X-Lago-Unique-Key
    assert resent.status == MessageStatus.PENDING and resent.body == message.body
    waiting_after = WebhookMessage.objects.get(pk=waiting.pk)
    assert waiting_after.next_attempt_at == waiting.next_attempt_at  # left alone


def test_signing_keys_never_appear(support_client, everything, organization):
    keys = services.keys_of(organization_id=organization.pk)
    assert WebhookKeys not in admin.site._registry
    private_line = keys.private_key_pem.splitlines()[1]
    pages = [url(model, "changelist") for model in MODELS]
    pages += [url(model, "change", everything[model].pk) for model in MODELS]
    pages += [reverse("admin:organizations_organization_change", args=[organization.pk]), reverse("admin:index")]
    for page in pages:
        content = support_client.get(page).content.decode()
        assert keys.hmac_key not in content, page
        assert private_line not in content and "PRIVATE KEY" not in content, page


def test_filter_by_type_offers_every_type_we_send(support_client, everything):
    response = support_client.get(url(WebhookMessage, "changelist"), {"webhook_type": "invoice.voided"})
    assert list(response.context["cl"].result_list) == [everything[WebhookMessage]]
    other = support_client.get(url(WebhookMessage, "changelist"), {"webhook_type": "wallet.created"})
    assert list(other.context["cl"].result_list) == []
    assert "?webhook_type=credit_note.created" in other.content.decode()


def test_attempts_filter_by_organization_and_pages_link_the_staff_ui(support_client, everything, other_organization):
    message, endpoint = everything[WebhookMessage], everything[WebhookEndpoint]
    mine = support_client.get(
        url(WebhookAttempt, "changelist"), {"message__organization__id__exact": message.organization_id}
    )
    assert set(mine.context["cl"].result_list) == set(message.delivery_attempts.all())
    other = support_client.get(
        url(WebhookAttempt, "changelist"), {"message__organization__id__exact": other_organization.pk}
    )
    assert list(other.context["cl"].result_list) == []
    message_page = support_client.get(url(WebhookMessage, "change", message.pk)).content.decode()
    assert reverse("webhooks:message_detail", args=[message.pk]) in message_page
    assert url(WebhookEndpoint, "change", endpoint.pk) in message_page
    endpoint_page = support_client.get(url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    assert reverse("webhooks:endpoint_edit", args=[endpoint.pk]) in endpoint_page
    assert f"{url(WebhookMessage, 'changelist')}?endpoint={endpoint.pk}" in endpoint_page
    by_endpoint = support_client.get(url(WebhookMessage, "changelist"), {"endpoint": endpoint.pk})
    assert list(by_endpoint.context["cl"].result_list) == [message]
