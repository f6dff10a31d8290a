"""The seed: once a coupon, an add-on (a one-off invoice) or prepaid credits (a wallet) are assigned
to a customer, its external_id can no longer change — whatever state the object is in since."""

from decimal import Decimal

import pytest

from billing.errors import ValidationFailed
from coupons.services import apply_coupon, create_coupon, terminate_applied_coupon
from customers.services import external_id_lock_reason, update_customer
from customers.tests.factories import CustomerFactory
from invoicing.one_off import create_one_off_invoice
from invoicing.prepaid_credits import TopUp, create_wallet
from plans.services import create_add_on
from wallets.services import terminate_wallet


def assign_coupon(customer):
    coupon = create_coupon(
        organization=customer.organization,
        data={
            "name": "Deal",
            "code": "deal",
            "coupon_type": "percentage",
            "percentage_rate": 5,
            "frequency": "forever",
            "expiration": "no_expiration",
        },
    )
    terminate_applied_coupon(applied_coupon=apply_coupon(customer=customer, coupon=coupon))  # ended: still locks


def assign_add_on(customer):
    create_add_on(
        organization=customer.organization,
        data={"code": "setup", "name": "Setup", "amount_cents": 5000, "amount_currency": "EUR"},
    )
    create_one_off_invoice(customer=customer, fees=[{"add_on_code": "setup", "units": Decimal(2)}])


def assign_wallet(customer):
    terminate_wallet(wallet=create_wallet(customer=customer, rate_amount=1, top_up=TopUp(granted_credits=Decimal(5))))


@pytest.mark.parametrize(
    ("assign", "label"),
    [(assign_coupon, "a coupon"), (assign_add_on, "an invoice"), (assign_wallet, "a wallet")],
)
def test_rule_external_id_cannot_change_once_a_coupon_an_add_on_or_credits_are_assigned(organization, assign, label):
    customer = CustomerFactory(organization=organization, external_id="locked", currency="EUR")
    assert external_id_lock_reason(customer=customer) is None
    assign(customer)
    assert f"already has {label}" in external_id_lock_reason(customer=customer)
    with pytest.raises(ValidationFailed) as refused:
        update_customer(customer=customer, data={"external_id": "renamed"})
    assert refused.value.details == {"external_id": ["value_is_not_editable"]}
    customer.refresh_from_db()
    assert customer.external_id == "locked"
