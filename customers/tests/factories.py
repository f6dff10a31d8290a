import factory

from customers.models import Customer, CustomerMetadata
from organizations.tests.factories import OrganizationFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    external_id = factory.Sequence(lambda n: f"cust_{n:06d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@example.test")
    currency = "EUR"


class CustomerMetadataFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerMetadata

    customer = factory.SubFactory(CustomerFactory)
    key = factory.Sequence(lambda n: f"key{n}")
    value = "value"
