"""Read queries shared by the staff pages and the API, always scoped to one organization."""

from datetime import timedelta

from django.db import connection
from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
)

from billing.errors import NotFound
from customers.models import Customer, CustomerMetadata, LiveCustomerCount
from organizations.models import Organization

METADATA_IN_ORDER = Prefetch("metadata", queryset=CustomerMetadata.objects.order_by("created_at", "key"))


def with_metadata(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    return queryset.select_related("organization").prefetch_related(METADATA_IN_ORDER)


# METADATA_IN_ORDER for one customer, written out: building the ORM query costs more than running
# it, and the upsert runs it for every customer it updates. Columns are named, not `*`: a prepared
# statement would not survive a migration (settings.py).
_METADATA_COLUMNS = ", ".join(f'"{field.column}"' for field in CustomerMetadata._meta.concrete_fields)
_METADATA_OF_ONE_CUSTOMER = (
    f"SELECT {_METADATA_COLUMNS} FROM {CustomerMetadata._meta.db_table} "
    'WHERE customer_id = %s ORDER BY created_at, "key"'
)


def load_metadata(customer: Customer) -> Customer:
    """Fetch (again) the metadata of a customer already in hand, in display order."""
    customer_id = Customer._meta.pk.get_db_prep_value(customer.pk, connection)  # SQLite: UUIDs as hex text
    return set_loaded_metadata(customer, list(CustomerMetadata.objects.raw(_METADATA_OF_ONE_CUSTOMER, [customer_id])))


def set_loaded_metadata(customer: Customer, items: list[CustomerMetadata]) -> Customer:
    """Record metadata the caller already holds, in display order, the way a prefetch records it:
    `customer.metadata.all()` then returns `items` without a query, and anything chained on it
    (a delete, a filter) still applies to this customer's rows only."""
    if not hasattr(customer, "_prefetched_objects_cache"):
        customer._prefetched_objects_cache = {}
    customer._prefetched_objects_cache.pop("metadata", None)  # else get_queryset() returns it
    queryset = customer.metadata.get_queryset()
    queryset._result_cache = items
    queryset._prefetch_done = True
    customer._prefetched_objects_cache["metadata"] = queryset
    return customer


def only_live(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """The live customers among `queryset`: the condition of `Customer.live`, for a queryset in hand."""
    return queryset.filter(deleted_at__isnull=True)


def only_deleted(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """The soft-deleted customers among `queryset`."""
    return queryset.filter(deleted_at__isnull=False)


def list_customers(*, organization: Organization, search: str = "") -> QuerySet[Customer]:
    """Live customers, newest first, optionally matching `search` in name, first name, last name,
    external id, email or legal name (Lago's `search_term`). Relations are left to the caller
    (`with_metadata` for the API)."""
    queryset = Customer.live.filter(organization=organization)
    # PostgreSQL text cannot hold NUL; no stored value contains one, so it can only narrow nothing.
    search = search.replace("\x00", "").strip()
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(firstname__icontains=search)
            | Q(lastname__icontains=search)
            | Q(external_id__icontains=search)
            | Q(email__icontains=search)
            | Q(legal_name__icontains=search)
        )
    return queryset.order_by("-created_at", "id")


# Below this many matches, sorting them beats walking the newest-first index (measured at 100,000
# customers: a one-match search walked the whole index in 100 ms; 10,000 matches sort in 20 ms
# while the walk finds a page of them at once).
SORT_MATCHES_BELOW = 2000


def order_search_results(queryset: QuerySet[Customer], *, matches: int) -> QuerySet[Customer]:
    """Newest first, read the cheaper way for this many matches (PostgreSQL cannot tell)."""
    if matches >= SORT_MATCHES_BELOW:
        return queryset
    # An expression hides the order from the index, so the matches are found by the trigram
    # indexes and sorted.
    return queryset.order_by(
        ExpressionWrapper(F("created_at") + Value(timedelta(0)), output_field=DateTimeField()).desc(), "id"
    )


def customers_to_page(*, organization: Organization, search: str = "") -> tuple[QuerySet[Customer], int]:
    """The list to paginate and its total, each read the cheapest way: the live counter without a
    search; with one, COUNT(*) over the trigram indexes, whose result picks how the page is read."""
    search = search.strip()
    customers = list_customers(organization=organization, search=search)
    if not search:
        return customers, count_live_customers(organization=organization)
    total = customers.count()
    return order_search_results(customers, matches=total), total


def count_live_customers(*, organization: Organization) -> int:
    """The organization's number of live customers, from the counter the services keep."""
    counter = LiveCustomerCount.objects.filter(organization=organization).values_list("live_count", flat=True).first()
    return counter if counter is not None else Customer.live.filter(organization=organization).count()


def get_customer_by_external_id(*, organization: Organization, external_id: str) -> Customer:
    if "\x00" in external_id:
        raise NotFound("customer")  # PostgreSQL text cannot hold NUL, so no customer has this id
    customer = with_metadata(Customer.live.filter(organization=organization, external_id=external_id)).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def get_customer(*, organization: Organization, customer_id) -> Customer:
    """A live customer by its internal id, as staff URLs address them."""
    customer = with_metadata(Customer.live.filter(organization=organization, pk=customer_id)).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def customers_named_by(*, organization: Organization, external_id: str) -> QuerySet:
    """The customers an `external_customer_id` list filter means (API-SCOPE, "After a customer is
    deleted"): the live customer holding the id; while none does, the deleted customers that held it,
    so that what they left (invoices, credit notes, subscriptions, wallets, applied coupons) is still
    found by it. Once a new customer has taken the id, the filter means that customer only, and the
    old records are found by their own ids.

    Their ids, as a subquery for `customer__in` (no query of its own). Two branches rather than one
    OR, so that the usual case reads the live unique index only: the deleted customers are looked for
    only when the database has found no live one (a one-time check)."""
    named = Customer.objects.filter(organization=organization, external_id=external_id.replace("\x00", ""))
    live = named.filter(deleted_at__isnull=True)
    deleted = named.filter(deleted_at__isnull=False).filter(~Exists(live))
    return live.values("pk").union(deleted.values("pk"), all=True)
