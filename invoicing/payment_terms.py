"""When an invoice is due: its issuing date plus the customer's net payment term (the organization's
when the customer has none), fixed on the invoice when it is made, as Lago does."""

from datetime import date, timedelta

from customers.models import Customer


def payment_terms(customer: Customer, issuing_date: date) -> dict:
    """The invoice fields of its payment term: `net_payment_term` and `payment_due_date`."""
    term = customer.applicable_net_payment_term
    return {"net_payment_term": term, "payment_due_date": issuing_date + timedelta(days=term)}
