from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.errors import ValidationFailed
from organizations.services import create_api_key, create_organization, create_staff_user


class Command(BaseCommand):
    help = (
        "Create an organization (or reuse the one with this name), an API key and optionally a "
        "staff user. Prints the API key: it is stored hashed and cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--api-key", help="Use this key instead of generating one.")
        parser.add_argument("--staff-email")
        parser.add_argument("--staff-password")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, **options):
        if bool(options["staff_email"]) != bool(options["staff_password"]):
            raise CommandError("--staff-email and --staff-password go together.")
        try:
            with transaction.atomic():
                organization, created = create_organization(
                    name=options["name"],
                    default_currency=options["currency"],
                    default_timezone=options["timezone"],
                )
                _, raw_key = create_api_key(organization=organization, raw_key=options["api_key"])
                if options["staff_email"]:
                    create_staff_user(
                        organization=organization,
                        email=options["staff_email"],
                        password=options["staff_password"],
                    )
        except ValidationFailed as exc:
            raise CommandError(f"Invalid input: {exc.details}") from exc
        verb = "Created" if created else "Using existing"
        self.stdout.write(f"{verb} organization {organization.name} ({organization.pk})")
        if options["staff_email"]:
            self.stdout.write(f"Staff login: {options['staff_email']}")
        self.stdout.write(f"API key: {raw_key}")
