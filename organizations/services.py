import hashlib
import secrets
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.currencies import is_currency
from billing.errors import ValidationFailed
from billing.timezones import is_timezone
from organizations.models import ApiKey, Organization, User

API_KEY_BYTES = 32


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def create_api_key(
    *, organization: Organization, raw_key: str | None = None, name: str = "Default"
) -> tuple[ApiKey, str]:
    """Store a new key for the organization; return it with the raw secret, which is never stored."""
    raw_key = raw_key or secrets.token_urlsafe(API_KEY_BYTES)
    if len(raw_key) < 16:
        raise ValidationFailed({"api_key": ["value_is_too_short"]})
    key_hash = hash_api_key(raw_key)
    existing = ApiKey.objects.filter(key_hash=key_hash).first()
    if existing is not None:
        if existing.organization_id != organization.pk:
            raise ValidationFailed({"api_key": ["value_already_exist"]})
        return existing, raw_key
    api_key = ApiKey.objects.create(organization=organization, name=name, prefix=raw_key[:8], key_hash=key_hash)
    return api_key, raw_key


def revoke_api_keys(*, api_keys: QuerySet[ApiKey]) -> int:
    """Revoke the keys that are still active; return how many were revoked.

    This process refuses them at once; other server processes within API_KEY_CACHE_SECONDS.
    """
    revoked = api_keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget_recent_api_keys()
    return revoked


# Key hash -> (monotonic expiry, organization) for keys that authenticated in the last
# API_KEY_CACHE_SECONDS, in this process. Like Lago's own API-key cache, it spares every API
# request a query: a revocation or an organization edit reaches other processes when the entry
# expires. Only keys that authenticated are kept, so it holds at most one entry per active key.
_recent_api_keys: dict[str, tuple[float, Organization]] = {}


def forget_recent_api_keys() -> None:
    _recent_api_keys.clear()


def organization_for_api_key(raw_key: str) -> Organization | None:
    """The organization of an active key, or None. A raw query on a miss: building the same join
    through the ORM cost more than running it (benchmarks/usage_bench.py)."""
    key_hash = hash_api_key(raw_key)
    now = time.monotonic()
    recent = _recent_api_keys.get(key_hash)
    if recent is not None and recent[0] > now:
        return recent[1]
    organization = next(iter(Organization.objects.raw(_ORGANIZATION_BY_KEY_HASH, [key_hash])), None)
    if organization is None:
        _recent_api_keys.pop(key_hash, None)
    elif settings.API_KEY_CACHE_SECONDS > 0:
        _recent_api_keys[key_hash] = (now + settings.API_KEY_CACHE_SECONDS, organization)
    return organization


_ORGANIZATION_BY_KEY_HASH = (
    "SELECT "
    + ", ".join(f"o.{field.column}" for field in Organization._meta.concrete_fields)
    + f" FROM {Organization._meta.db_table} o JOIN {ApiKey._meta.db_table} k ON k.organization_id = o.id"
    " WHERE k.key_hash = %s AND k.revoked_at IS NULL"
)


@transaction.atomic
def create_organization(
    *,
    name: str,
    default_currency: str = "USD",
    default_timezone: str = "UTC",
    invoice_grace_period_days: int = 0,
    net_payment_term: int = 0,
) -> tuple[Organization, bool]:
    """Create the organization, or return the one that already has this name."""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["value_is_mandatory"]
    if not is_currency(default_currency):
        errors["default_currency"] = ["value_is_invalid"]
    if not is_timezone(default_timezone):
        errors["default_timezone"] = ["invalid_timezone"]
    if invoice_grace_period_days < 0:
        errors["invoice_grace_period_days"] = ["value_is_out_of_range"]
    if not 0 <= net_payment_term <= 365:
        errors["net_payment_term"] = ["value_is_out_of_range"]
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            organization, created = Organization.objects.get_or_create(
                name=name,
                defaults={
                    "default_currency": default_currency,
                    "default_timezone": default_timezone,
                    "invoice_grace_period_days": invoice_grace_period_days,
                    "net_payment_term": net_payment_term,
                },
            )
    except IntegrityError:
        organization, created = Organization.objects.get(name=name), False
    return organization, created


def create_staff_user(*, organization: Organization, email: str, password: str) -> tuple[User, bool]:
    """Create a member of the organization, or reset the password of the existing one."""
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and user.organization_id not in (None, organization.pk):
        raise ValidationFailed({"staff_email": ["value_already_exist"]})
    created = user is None
    if created:
        user = User(email=email)
    user.organization = organization
    user.set_password(password)
    user.save()
    return user, created
