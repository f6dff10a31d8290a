"""The body of each webhook message, written by the same code as the API's answer for its object
(one writer per resource), as Lago's messages are. An interface module: it reads every app's API
writers; the delivery receives `render` from the task, so the domain never imports this."""

from collections.abc import Callable
from typing import Any

import orjson

from customers.api import customer_payload
from customers.models import Customer
from customers.selectors import load_metadata
from invoicing.credit_notes import with_credit_note_relations
from invoicing.credit_notes_api import credit_note_payload
from invoicing.invoices_api import InvoiceDetailOutput, detailed_invoice
from invoicing.models import CreditNote
from invoicing.subscriptions_api import SubscriptionOutput
from plans.api import PlanOutput
from plans.models import Subscription
from plans.selectors import plan_with_charges
from wallets.api import wallet_payload, wallet_transaction_payload
from wallets.models import Wallet, WalletTransaction
from webhooks.models import WebhookMessage


def _customer(message: WebhookMessage) -> dict[str, Any]:
    # A deleted customer too: `customer.deleted` describes it as it was.
    customer = Customer.objects.select_related("organization").get(pk=message.object_id)
    return customer_payload(load_metadata(customer))


def _invoice(message: WebhookMessage) -> dict[str, Any]:
    return dict(InvoiceDetailOutput(detailed_invoice(message.organization_id, message.object_id)).data)


def _credit_note(message: WebhookMessage) -> dict[str, Any]:
    return credit_note_payload(with_credit_note_relations(CreditNote.objects.filter(pk=message.object_id)).get())


def _subscription(message: WebhookMessage) -> dict[str, Any]:
    # As the API's answer for one subscription: with its plan (and charges).
    subscription = Subscription.objects.select_related("customer", "plan").get(pk=message.object_id)
    data = dict(SubscriptionOutput(subscription).data)
    data["plan"] = PlanOutput(plan_with_charges(plan_id=subscription.plan_id)).data
    return data


def _wallet(message: WebhookMessage) -> dict[str, Any]:
    return wallet_payload(Wallet.objects.select_related("customer").get(pk=message.object_id))


def _wallet_transaction(message: WebhookMessage) -> dict[str, Any]:
    return wallet_transaction_payload(WalletTransaction.objects.select_related("wallet").get(pk=message.object_id))


WRITERS: dict[str, Callable[[WebhookMessage], dict[str, Any]]] = {
    "customer": _customer,
    "invoice": _invoice,
    "credit_note": _credit_note,
    "subscription": _subscription,
    "wallet": _wallet,
    "wallet_transaction": _wallet_transaction,
}


def render(message: WebhookMessage) -> str:
    """Lago's body: the type, the object's type, the organization and the object under its key."""
    body = {
        "webhook_type": message.webhook_type,
        "object_type": message.object_type,
        "organization_id": str(message.organization_id),
        message.object_type: WRITERS[message.object_type](message),
    }
    return orjson.dumps(body).decode()
