from django.core.management.base import BaseCommand
from django.db import transaction

from customers.models import Customer
from customers.services import create_customer
from organizations.services import create_api_key, create_organization, create_staff_user

DEMO_ORGANIZATION = "Demo Company"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"

DEMO_CUSTOMERS = [
    ("Acme Corporation", "acme", "billing@acme.example", "US", "America/New_York", "USD"),
    ("Globex GmbH", "globex", "finance@globex.example", "DE", "Europe/Berlin", "EUR"),
    ("Initech SAS", "initech", "compta@initech.example", "FR", "Europe/Paris", "EUR"),
    ("Umbrella KK", "umbrella", "billing@umbrella.example", "JP", "Asia/Tokyo", "JPY"),
    ("Hooli Ltd", "hooli", "ap@hooli.example", "GB", "Europe/London", "GBP"),
    ("Stark Industries", "stark", "accounts@stark.example", "US", "America/Los_Angeles", "USD"),
    ("Wayne Enterprises", "wayne", None, "US", None, "USD"),
    ("Soylent Pty", "soylent", "billing@soylent.example", "AU", "Australia/Sydney", "AUD"),
]


class Command(BaseCommand):
    help = "Create the demo organization, its staff login, demo customers, and print a fresh API key."

    @transaction.atomic
    def handle(self, *args, **options):
        organization, _ = create_organization(name=DEMO_ORGANIZATION, default_currency="USD")
        create_staff_user(organization=organization, email=DEMO_EMAIL, password=DEMO_PASSWORD)
        _, raw_key = create_api_key(organization=organization, name="Demo")
        if not Customer.live.filter(organization=organization).exists():
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
        self.stdout.write(f"Demo organization: {organization.name}")
        self.stdout.write(f"Staff login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"API key (new on every run, shown once): {raw_key}")
