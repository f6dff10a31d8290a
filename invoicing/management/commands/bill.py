from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.services import bill_due_period, drafts_due_for_finalization, due_periods, finalize_invoice
from invoicing.subscriptions import activate_due_subscriptions


class Command(BaseCommand):
    help = (
        "Run the billing clock in this process up to a date (default: now): start due subscriptions, "
        "invoice every ended period, finalize drafts whose grace period is over. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--until", help="ISO date or datetime (UTC when naive); default now")

    def handle(self, *args, **options):
        at = timezone.now()
        if options["until"]:
            try:
                at = datetime.fromisoformat(options["until"])
            except ValueError as exc:
                raise CommandError(f"--until: {exc}") from exc
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
        started = activate_due_subscriptions(now=at)
        billed = sum(
            1
            for item in due_periods(at=at)
            if bill_due_period(subscription_id=item.subscription_id, period_start=item.period_start, at=at)
        )
        finalized = 0
        for invoice_id in drafts_due_for_finalization(at=at):
            finalize_invoice(invoice=Invoice.objects.get(pk=invoice_id), at=at)
            finalized += 1
        self.stdout.write(f"Up to {at.isoformat()}: {started} started, {billed} invoiced, {finalized} finalized")
