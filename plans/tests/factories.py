import factory
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from organizations.tests.factories import OrganizationFactory
from plans.models import BillableMetric, Charge, Plan, Subscription


class BillableMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BillableMetric

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"metric_{n}")
    name = factory.Sequence(lambda n: f"Metric {n}")
    aggregation_type = "sum_agg"
    field_name = "units"


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"plan_{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    interval = "monthly"
    amount_cents = 10000
    amount_currency = "EUR"


class ChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Charge

    plan = factory.SubFactory(PlanFactory)
    billable_metric = factory.SubFactory(
        BillableMetricFactory, organization=factory.SelfAttribute("..plan.organization")
    )
    charge_model = "standard"
    properties = factory.LazyFunction(lambda: {"amount": "1"})


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.SelfAttribute("customer.organization")
    plan = factory.SubFactory(PlanFactory, organization=factory.SelfAttribute("..customer.organization"))
    external_id = factory.Sequence(lambda n: f"sub_{n:06d}")
    status = "active"
    billing_time = "calendar"
    subscription_at = factory.LazyFunction(timezone.now)
    started_at = factory.SelfAttribute("subscription_at")
