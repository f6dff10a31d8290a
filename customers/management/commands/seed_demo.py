import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from coupons.services import apply_coupon, create_coupon
from customers.models import Customer
from customers.services import create_customer
from events.services import MAX_BATCH_SIZE, ingest_events
from invoicing.lifecycle import update_invoice
from invoicing.one_off import create_one_off_invoice
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import bill_due_period, due_periods
from invoicing.subscriptions import create_subscription
from organizations.services import create_api_key, create_organization, create_staff_user
from plans.models import BillableMetric
from plans.services import create_add_on, create_billable_metric, create_plan
from plans.subscription_periods import following_period, period_of

DEMO_ORGANIZATION = "Demo Company"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"

DEMO_CUSTOMERS = [
    ("Acme Corporation", "acme", "billing@acme.example", "US", "America/New_York", "USD"),
    ("Globex GmbH", "globex", "finance@globex.example", "DE", "Europe/Berlin", "USD"),
    ("Initech SAS", "initech", "compta@initech.example", "FR", "Europe/Paris", "USD"),
    ("Umbrella KK", "umbrella", "billing@umbrella.example", "JP", "Asia/Tokyo", "USD"),
    ("Hooli Ltd", "hooli", "ap@hooli.example", "GB", "Europe/London", "USD"),
    ("Stark Industries", "stark", "accounts@stark.example", "US", "America/Los_Angeles", "USD"),
    ("Wayne Enterprises", "wayne", None, "US", None, "USD"),
    ("Soylent Pty", "soylent", "billing@soylent.example", "AU", "Australia/Sydney", "USD"),
]

DEMO_METRICS = [
    {"code": "api_calls", "name": "API calls", "aggregation_type": "count_agg"},
    {"code": "compute_minutes", "name": "Compute minutes", "aggregation_type": "sum_agg", "field_name": "minutes"},
    {"code": "storage_gb", "name": "Storage", "aggregation_type": "max_agg", "field_name": "gb"},
    {"code": "active_users", "name": "Active users", "aggregation_type": "unique_count_agg", "field_name": "user_id"},
    {"code": "payments", "name": "Payment volume", "aggregation_type": "sum_agg", "field_name": "amount"},
]

SUBSCRIBED = ["acme", "globex", "initech", "umbrella", "stark"]
FOREVER = {"frequency": "forever", "expiration": "no_expiration"}
DEMO_COUPONS = [
    {"code": "launch", "name": "Launch offer", "coupon_type": "percentage", "percentage_rate": 20}
    | {"frequency": "recurring", "frequency_duration": 3, "expiration": "no_expiration"},
    {"code": "welcome", "name": "Welcome credit", "coupon_type": "fixed_amount", "amount_cents": 2500}
    | {"amount_currency": "USD", "frequency": "once", "expiration": "no_expiration"},
    {"code": "partner", "name": "Partner discount", "coupon_type": "percentage", "percentage_rate": 10} | FOREVER,
]
DEMO_ADD_ONS = [
    {"code": "onboarding", "name": "Onboarding", "amount_cents": 25000, "amount_currency": "USD"},
    {"code": "priority_support", "name": "Priority support", "amount_cents": 9900, "amount_currency": "USD"},
]
# Fewer in the past periods (their invoices need usage, not volume): the demo sets up in seconds.
EVENTS_PER_PAST_PERIOD = 150
EVENTS_PER_CURRENT_PERIOD = 400
MONTHS_OF_HISTORY = 6


def _decimal_text(cents: int) -> str:
    """An amount of money as the decimal text an event carries: 1234 -> "12.34"."""
    return f"{cents // 100}.{cents % 100:02d}"


class Command(BaseCommand):
    help = "Create the demo organization with customers, a plan, subscriptions and events; print a fresh API key."

    @transaction.atomic
    def handle(self, *args, **options):
        organization, _ = create_organization(name=DEMO_ORGANIZATION, default_currency="USD", net_payment_term=30)
        create_staff_user(organization=organization, email=DEMO_EMAIL, password=DEMO_PASSWORD)
        _, raw_key = create_api_key(organization=organization, name="Demo")
        if not Customer.live.filter(organization=organization).exists():
            self._seed(organization)
        self.stdout.write(f"Demo organization: {organization.name}")
        self.stdout.write(f"Staff login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"API key (new on every run, shown once): {raw_key}")

    def _seed(self, organization) -> None:
        for name, external_id, email, country, tz, currency in DEMO_CUSTOMERS:
            create_customer(
                organization=organization,
                data={
                    "name": name,
                    "external_id": external_id,
                    "email": email,
                    "country": country,
                    "timezone": tz,
                    "currency": currency,
                    "legal_name": name,
                    "metadata": [{"key": "segment", "value": "demo", "display_in_invoice": False}],
                },
            )
        metrics = {data["code"]: create_billable_metric(organization=organization, data=data) for data in DEMO_METRICS}
        plan = create_plan(organization=organization, data=self._plan_data(metrics))
        rng = random.Random(42)
        now = timezone.now()
        for external_id in SUBSCRIBED:
            subscription, _ = create_subscription(
                organization=organization,
                data={
                    "external_customer_id": external_id,
                    "plan_code": plan.code,
                    "external_id": f"{external_id}_growth",
                    "name": "Growth",
                    # Half a year ago: the past periods are billed with their usage below, so that
                    # the dashboard and the invoices have months to show.
                    "subscription_at": now - timedelta(days=MONTHS_OF_HISTORY * 31),
                },
            )
            period = period_of(subscription, subscription.started_at)
            while period.start < now:
                count = EVENTS_PER_CURRENT_PERIOD if period.end > now else EVENTS_PER_PAST_PERIOD
                # Within the subscription's life: events before its start would count for nothing.
                start, end = max(period.start, subscription.started_at), min(period.end, now)
                self._send_events(organization, subscription.external_id, start, end, count, rng)
                period = following_period(subscription, period)
        self._seed_coupons_add_ons_and_credits(organization)
        # The past periods are over: the billing clock invoices them (base fee and usage).
        invoices = [
            bill_due_period(subscription_id=item.subscription_id, period_start=item.period_start, at=now)
            for item in due_periods(at=now)
        ]
        # Paid, except the newest two months: due in 30 days, the older of them is overdue.
        paid_until = (now - timedelta(days=62)).date()
        for invoice in invoices:
            if invoice is not None and invoice.issuing_date < paid_until:
                update_invoice(invoice=invoice, payment_status="succeeded")

    def _seed_coupons_add_ons_and_credits(self, organization) -> None:
        """Given before last month is billed, so that its invoices show coupons and credits."""
        coupons = {data["code"]: create_coupon(organization=organization, data=data) for data in DEMO_COUPONS}
        for data in DEMO_ADD_ONS:
            create_add_on(organization=organization, data=data)
        customers = {customer.external_id: customer for customer in Customer.live.filter(organization=organization)}
        apply_coupon(customer=customers["globex"], coupon=coupons["launch"])
        apply_coupon(customer=customers["initech"], coupon=coupons["welcome"])
        apply_coupon(customer=customers["stark"], coupon=coupons["partner"])
        create_wallet(
            customer=customers["acme"], rate_amount=1, name="Prepaid credits", top_up=TopUp(granted_credits=100)
        )
        create_one_off_invoice(customer=customers["hooli"], fees=[{"add_on_code": "onboarding"}])

    def _plan_data(self, metrics: dict[str, BillableMetric]) -> dict:
        def charge(code, model, properties):
            return {"billable_metric_id": str(metrics[code].pk), "charge_model": model, "properties": properties}

        return {
            "code": "growth",
            "name": "Growth",
            "interval": "monthly",
            "amount_cents": 4900,
            "amount_currency": "USD",
            "pay_in_advance": False,
            "charges": [
                charge("api_calls", "package", {"amount": "5", "package_size": 100, "free_units": 100}),
                charge(
                    "compute_minutes",
                    "graduated",
                    {
                        "graduated_ranges": [
                            {"from_value": 0, "to_value": 1000, "per_unit_amount": "0.02", "flat_amount": "0"},
                            {"from_value": 1001, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "5"},
                        ]
                    },
                ),
                charge("storage_gb", "standard", {"amount": "0.25"}),
                charge(
                    "active_users",
                    "volume",
                    {
                        "volume_ranges": [
                            {"from_value": 0, "to_value": 10, "per_unit_amount": "4", "flat_amount": "0"},
                            {"from_value": 11, "to_value": None, "per_unit_amount": "3", "flat_amount": "0"},
                        ]
                    },
                ),
                charge("payments", "percentage", {"rate": "1.5", "fixed_amount": "0.1"}),
            ],
        }

    def _send_events(self, organization, subscription_id: str, start, end, count: int, rng: random.Random) -> None:
        span = (end - start).total_seconds()
        events = []
        for index in range(count):
            code = rng.choice(["api_calls", "api_calls", "compute_minutes", "storage_gb", "active_users", "payments"])
            properties = {
                "api_calls": {},
                "compute_minutes": {"minutes": rng.randint(1, 20)},
                "storage_gb": {"gb": rng.randint(1, 50)},
                "active_users": {"user_id": f"user_{rng.randint(1, 18)}"},
                "payments": {"amount": _decimal_text(rng.randint(500, 20000))},
            }[code]
            timestamp = int(start.timestamp()) + 1 + rng.randrange(max(int(span) - 1, 1))
            events.append(
                {
                    "transaction_id": f"{subscription_id}-{start:%Y%m%d%H%M}-{index}",
                    "external_subscription_id": subscription_id,
                    "code": code,
                    "timestamp": timestamp,
                    "properties": properties,
                }
            )
        for offset in range(0, len(events), MAX_BATCH_SIZE):
            ingest_events(organization=organization, raw_events=events[offset : offset + MAX_BATCH_SIZE], batch=True)
