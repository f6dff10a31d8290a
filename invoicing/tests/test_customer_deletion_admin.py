"""The support admin for customer deletions: read-only cascades with each step's time, filters and
searches, the cascade on the deleted customer's page, and "Resume cascade" sending the task again."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from billing.jobs import task_named
from customers.tests.factories import CustomerFactory
from invoicing import customer_deletion
from invoicing.customer_deletion import delete_customer, run_customer_deletion
from invoicing.models import CustomerDeletion
from organizations.models import User

CHANGELIST = reverse("admin:invoicing_customerdeletion_changelist")


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


@pytest.fixture
def deletions(organization):
    """One cascade finished, one that failed half-way."""
    done = CustomerFactory(organization=organization, external_id="gone_done")
    delete_customer(customer=done)
    run_customer_deletion(deletion_id=done.deletion.pk)
    stuck = CustomerFactory(organization=organization, external_id="gone_stuck")
    delete_customer(customer=stuck)
    CustomerDeletion.objects.filter(customer=stuck).update(attempts=3, last_error="OperationalError: server closed")
    return done.deletion, CustomerDeletion.objects.get(customer=stuck)


@pytest.fixture
def sent(monkeypatch):
    tasks = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: tasks.append(args))
    return tasks


def listed(response) -> set[str]:
    return {deletion.customer.external_id for deletion in response.context["cl"].result_list}


def test_the_list_shows_each_step_attempts_and_the_last_error(support_client, deletions):
    response = support_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for column in ("1. subscriptions", "2. drafts", "3. coupons", "4. wallet", "Finished"):
        assert column in html
    assert html.count("pending") == 5  # the stuck cascade: no step done, not finished
    assert listed(response) == {"gone_done", "gone_stuck"}
    assert "OperationalError: server closed" in html and "Acme Billing" in html


@pytest.mark.parametrize(("state", "expected"), [("unfinished", {"gone_stuck"}), ("finished", {"gone_done"})])
def test_filter_unfinished_or_finished(support_client, deletions, state, expected):
    assert listed(support_client.get(CHANGELIST, {"state": state})) == expected


def test_search_by_external_id_or_lago_id(support_client, deletions):
    done, stuck = deletions
    assert listed(support_client.get(CHANGELIST, {"q": "stuck"})) == {"gone_stuck"}
    assert listed(support_client.get(CHANGELIST, {"q": str(done.customer_id)})) == {"gone_done"}
    assert listed(support_client.get(CHANGELIST, {"q": str(stuck.pk)})) == {"gone_stuck"}


def test_a_deletion_is_read_only(support_client, deletions):
    _, stuck = deletions
    url = reverse("admin:invoicing_customerdeletion_change", args=[stuck.pk])
    response = support_client.get(url)
    assert response.status_code == 200 and "OperationalError: server closed" in response.content.decode()
    assert response.context["has_change_permission"] is False
    assert support_client.get(reverse("admin:invoicing_customerdeletion_add")).status_code == 403
    assert support_client.post(url, {"attempts": 0}).status_code == 403
    assert CustomerDeletion.objects.get(pk=stuck.pk).attempts == 3


def test_the_deleted_customers_admin_page_shows_its_cascade(support_client, deletions, organization):
    done, _ = deletions
    html = support_client.get(reverse("admin:customers_customer_change", args=[done.customer_id])).content.decode()
    assert "Deletion cascade" in html and "Wallet done at" in html
    live = CustomerFactory(organization=organization)
    html = support_client.get(reverse("admin:customers_customer_change", args=[live.pk])).content.decode()
    assert "Deletion cascade" not in html


def test_resume_cascade_sends_the_task_of_unfinished_deletions_only(
    support_client, deletions, sent, django_capture_on_commit_callbacks
):
    done, stuck = deletions
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            CHANGELIST,
            {"action": "resume_cascade", ACTION_CHECKBOX_NAME: [str(done.pk), str(stuck.pk)]},
            follow=True,
        )
    assert sent == [(str(stuck.pk),)]
    assert "1 cascade(s) sent to the worker. 1 already finished, left as they are." in response.content.decode()
    # What the worker then does, through the service: the cascade finishes.
    assert run_customer_deletion(deletion_id=sent[0][0]).finished_at is not None
