"""The support admin for coupons, applied coupons, add-ons, wallets and wallet transactions: read-only
pages with money in its currency, searches and filters, and writes only through the services."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coupons import services
from coupons.models import AppliedCoupon, Coupon
from customers.tests.factories import CustomerFactory
from organizations.models import User
from plans import services as plan_services
from plans.models import AddOn
from wallets.models import Wallet, WalletTransaction
from wallets.services import create_wallet, grant_credits

MODELS = [Coupon, AppliedCoupon, AddOn, Wallet, WalletTransaction]


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="acme_42", currency="EUR")


@pytest.fixture
def coupon(organization) -> Coupon:
    data = {
        "name": "Welcome",
        "code": "welcome",
        "coupon_type": "fixed_amount",
        "amount_cents": 1250,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
    }
    return services.create_coupon(organization=organization, data=data)


@pytest.fixture
def applied(customer, coupon) -> AppliedCoupon:
    return services.apply_coupon(customer=customer, coupon=coupon)


@pytest.fixture
def add_on(organization) -> AddOn:
    data = {"name": "Setup", "code": "setup", "amount_cents": 49999, "amount_currency": "EUR"}
    return plan_services.create_add_on(organization=organization, data=data)


@pytest.fixture
def wallet(customer) -> Wallet:
    wallet = create_wallet(customer=customer, rate_amount=Decimal("1.5"), currency="EUR", name="Prepaid")
    grant_credits(wallet=wallet, credits=Decimal("10"))
    wallet.refresh_from_db()
    return wallet


@pytest.fixture
def everything(applied, add_on, wallet):
    return {
        Coupon: applied.coupon,
        AppliedCoupon: applied,
        AddOn: add_on,
        Wallet: wallet,
        WalletTransaction: wallet.transactions.get(),
    }


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_changelist_and_detail_pages_render_read_only(support_client, everything, model):
    obj = everything[model]
    listing = support_client.get(url(model, "changelist"))
    assert listing.status_code == 200
    detail = support_client.get(url(model, "change", obj.pk))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert 'name="_save"' not in page  # view only: nothing to save
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


def test_money_and_balances_are_shown_in_their_currency(support_client, everything):
    assert "12.50 EUR" in support_client.get(url(Coupon, "changelist")).content.decode()
    assert "12.50 EUR" in support_client.get(url(AppliedCoupon, "changelist")).content.decode()
    assert "499.99 EUR" in support_client.get(url(AddOn, "changelist")).content.decode()
    wallets = support_client.get(url(Wallet, "changelist")).content.decode()
    assert "15.00 EUR" in wallets and "10 credits" in wallets and "1 credit = 1.5 EUR" in wallets
    wallet_page = support_client.get(url(Wallet, "change", everything[Wallet].pk)).content.decode()
    assert "15.00 EUR" in wallet_page and "granted" in wallet_page.lower()  # its transactions, inline
    transactions = support_client.get(url(WalletTransaction, "changelist")).content.decode()
    assert "15.00 EUR" in transactions and "acme_42" in transactions


@pytest.mark.parametrize(
    ("model", "term"),
    [
        (Coupon, "welcome"),
        (AppliedCoupon, "welcome"),
        (AppliedCoupon, "acme_42"),
        (AddOn, "setup"),
        (Wallet, "acme_42"),
        (WalletTransaction, "acme_42"),
    ],
)
def test_search_by_code_or_external_id(support_client, everything, model, term):
    response = support_client.get(url(model, "changelist"), {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [everything[model]]
    missing = support_client.get(url(model, "changelist"), {"q": "nothing-like-it"})
    assert list(missing.context["cl"].result_list) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_search_by_lago_id(support_client, everything, model):
    obj = everything[model]
    response = support_client.get(url(model, "changelist"), {"q": str(obj.pk)})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [obj]


def test_filters_by_status_and_organization(support_client, everything, other_organization):
    coupon = everything[Coupon]
    active = support_client.get(url(Coupon, "changelist"), {"status__exact": "active"})
    assert list(active.context["cl"].result_list) == [coupon]
    terminated = support_client.get(url(Coupon, "changelist"), {"status__exact": "terminated"})
    assert list(terminated.context["cl"].result_list) == []
    for model in (Coupon, AppliedCoupon, AddOn, Wallet):
        mine = support_client.get(url(model, "changelist"), {"organization__id__exact": coupon.organization_id})
        assert list(mine.context["cl"].result_list) == [everything[model]]
        other = support_client.get(url(model, "changelist"), {"organization__id__exact": other_organization.pk})
        assert list(other.context["cl"].result_list) == []
    transactions = support_client.get(
        url(WalletTransaction, "changelist"), {"wallet__organization__id__exact": other_organization.pk}
    )
    assert list(transactions.context["cl"].result_list) == []


def test_terminate_coupon_action_goes_through_the_service(support_client, applied):
    coupon = applied.coupon
    data = {"action": "terminate", "_selected_action": [str(coupon.pk)]}
    response = support_client.post(url(Coupon, "changelist"), data)
    assert response.status_code == 302
    coupon.refresh_from_db()
    applied.refresh_from_db()
    assert coupon.status == "terminated" and coupon.terminated_at is not None
    assert applied.status == "active"  # customers who have it keep it


def test_delete_coupon_action_is_the_services_soft_delete(support_client, applied):
    coupon = applied.coupon
    response = support_client.post(
        url(Coupon, "changelist"), {"action": "soft_delete", "_selected_action": [str(coupon.pk)]}
    )
    assert response.status_code == 302
    coupon.refresh_from_db()
    applied.refresh_from_db()
    assert coupon.deleted_at is not None and applied.status == "terminated"


def test_terminate_applied_coupon_action(support_client, applied):
    response = support_client.post(
        url(AppliedCoupon, "changelist"), {"action": "terminate", "_selected_action": [str(applied.pk)]}
    )
    assert response.status_code == 302
    applied.refresh_from_db()
    assert applied.status == "terminated"
    assert applied.coupon.status == "active"


def test_delete_add_on_action_is_the_services_soft_delete(support_client, add_on):
    response = support_client.post(
        url(AddOn, "changelist"), {"action": "soft_delete", "_selected_action": [str(add_on.pk)]}
    )
    assert response.status_code == 302
    add_on.refresh_from_db()
    assert add_on.deleted_at is not None


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_changelists_cost_a_fixed_number_of_queries(support_client, organization, everything, model):
    with CaptureQueriesContext(connection) as one:
        assert support_client.get(url(model, "changelist")).status_code == 200
    for index in range(3):
        customer = CustomerFactory(organization=organization, currency="EUR")
        coupon = services.create_coupon(
            organization=organization,
            data={
                "name": f"C{index}",
                "code": f"c{index}",
                "coupon_type": "percentage",
                "percentage_rate": Decimal("10"),
                "frequency": "forever",
                "expiration": "no_expiration",
            },
        )
        services.apply_coupon(customer=customer, coupon=coupon)
        plan_services.create_add_on(
            organization=organization,
            data={"name": f"A{index}", "code": f"a{index}", "amount_cents": 100, "amount_currency": "EUR"},
        )
        wallet = create_wallet(customer=customer, rate_amount=Decimal("1"), currency="EUR")
        grant_credits(wallet=wallet, credits=Decimal("1"))
    with CaptureQueriesContext(connection) as four:
        assert support_client.get(url(model, "changelist")).status_code == 200
    assert len(four.captured_queries) == len(one.captured_queries)


def test_wallet_page_lists_its_transactions_in_a_fixed_number_of_queries(support_client, wallet):
    page = url(Wallet, "change", wallet.pk)
    with CaptureQueriesContext(connection) as one:
        assert support_client.get(page).status_code == 200
    for _ in range(5):
        grant_credits(wallet=wallet, credits=Decimal("1"))
    with CaptureQueriesContext(connection) as six:
        response = support_client.get(page)
    assert response.content.decode().count("1.50 EUR") == 5
    assert len(six.captured_queries) == len(one.captured_queries)


def test_pages_link_the_customer_the_coupon_and_the_staff_ui(support_client, applied):
    coupon, customer = applied.coupon, applied.customer
    coupon_page = support_client.get(url(Coupon, "change", coupon.pk)).content.decode()
    assert f"{url(AppliedCoupon, 'changelist')}?coupon={coupon.pk}" in coupon_page
    assert reverse("coupons:edit", args=[coupon.pk]) in coupon_page
    applied_page = support_client.get(url(AppliedCoupon, "change", applied.pk)).content.decode()
    assert url(Coupon, "change", coupon.pk) in applied_page
    assert reverse("admin:customers_customer_change", args=[customer.pk]) in applied_page
    assert reverse("customers:detail", args=[customer.pk]) in applied_page
    assert reverse("admin:invoicing_couponcredit_changelist") + f"?applied_coupon={applied.pk}" in applied_page
    linked = support_client.get(url(AppliedCoupon, "changelist"), {"coupon": coupon.pk})
    assert list(linked.context["cl"].result_list) == [applied]
