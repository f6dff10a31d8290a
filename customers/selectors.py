"""Read queries shared by the staff pages and the API, always scoped to one organization."""

from django.db.models import Prefetch, Q, QuerySet

from billing.errors import NotFound
from customers.models import Customer, CustomerMetadata
from organizations.models import Organization


def _with_metadata(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    return queryset.select_related("organization").prefetch_related(
        Prefetch("metadata", queryset=CustomerMetadata.objects.order_by("created_at", "key"))
    )


def list_customers(*, organization: Organization, search: str = "") -> QuerySet[Customer]:
    """Live customers, newest first, optionally matching `search` in name, external id or email."""
    queryset = Customer.live.filter(organization=organization)
    # PostgreSQL text cannot hold NUL; no stored value contains one, so it can only narrow nothing.
    search = search.replace("\x00", "").strip()
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(external_id__icontains=search)
            | Q(email__icontains=search)
            | Q(legal_name__icontains=search)
        )
    return _with_metadata(queryset.order_by("-created_at", "id"))


def get_customer_by_external_id(*, organization: Organization, external_id: str) -> Customer:
    if "\x00" in external_id:
        raise NotFound("customer")  # PostgreSQL text cannot hold NUL, so no customer has this id
    customer = _with_metadata(Customer.live.filter(organization=organization, external_id=external_id)).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def get_customer(*, organization: Organization, customer_id) -> Customer:
    """A live customer by its internal id, as staff URLs address them."""
    customer = _with_metadata(Customer.live.filter(organization=organization, pk=customer_id)).first()
    if customer is None:
        raise NotFound("customer")
    return customer
