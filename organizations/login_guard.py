"""Failed staff logins slow down, then refuse, further attempts: per account (the email typed) and
per client address, so that neither guessing one account's password from many addresses nor trying
many accounts from one address goes fast.

Each failure is counted under both; a count is forgotten LOGIN_FAILURE_WINDOW_SECONDS after its
last failure. From LOGIN_FAILURES_BEFORE_DELAY failures on, the next attempt must wait a delay that
doubles with each failure (2 s, 4 s, 8 s ...); from LOGIN_FAILURES_BEFORE_BLOCK on, attempts are
refused until the count is forgotten. A refused attempt checks no password and counts nothing. A
successful login forgets the account's failures, not the address's: a login to an account of one's
own must not buy more guesses at others.

The delay is a refusal rather than a pause of the request: a paused request would hold a server
process, which many failing requests in parallel would turn against every user.

Counted in Redis (billing/ratelimit.py) when it is configured and answers, so that every server
process shares the counts; otherwise in Django's cache, which is per process unless CACHES names a
shared one (the SQLite demo runs one process).
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from billing.ratelimit import run_commands

FIRST_DELAY_SECONDS = 2

# One failure counted under each key, atomically: a count older than the window starts again.
_RECORD_FAILURE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  local last = tonumber(redis.call('HGET', key, 'last'))
  if last and now - last >= window then redis.call('DEL', key) end
  redis.call('HINCRBY', key, 'count', 1)
  redis.call('HSET', key, 'last', ARGV[1])
  redis.call('EXPIRE', key, window)
end
"""


@dataclass(frozen=True)
class Failures:
    count: int = 0
    last_at: float = 0.0  # Unix time of the last failure


@dataclass(frozen=True)
class LoginRefusal:
    retry_after_seconds: int
    blocked: bool  # past LOGIN_FAILURES_BEFORE_BLOCK; otherwise a delay


@dataclass(frozen=True)
class LoginAttempt:
    """What the counters said when the attempt began, read once before any password is checked."""

    keys: tuple[str, ...]  # the account's, then the address's when known
    account_failures: Failures
    refusal: LoginRefusal | None


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or behind LOGIN_TRUSTED_PROXIES proxies the address the
    outermost of them saw (X-Forwarded-For is appended to by each proxy; what is left of their
    entries was written by the client and proves nothing)."""
    if request is None:
        return None
    proxies = settings.LOGIN_TRUSTED_PROXIES
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR") or None


def _key(scope: str, value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return f"{settings.RATE_LIMIT_KEY_PREFIX}login:{scope}:{digest}"


def refusal_for(failures: Failures, now: float) -> LoginRefusal | None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    if now - failures.last_at >= window:
        return None
    if failures.count >= settings.LOGIN_FAILURES_BEFORE_BLOCK:
        until, blocked = failures.last_at + window, True
    elif failures.count >= settings.LOGIN_FAILURES_BEFORE_DELAY:
        doublings = failures.count - settings.LOGIN_FAILURES_BEFORE_DELAY
        until, blocked = failures.last_at + FIRST_DELAY_SECONDS * 2**doublings, False
    else:
        return None
    wait = math.ceil(until - now)
    return LoginRefusal(retry_after_seconds=wait, blocked=blocked) if wait > 0 else None


def _read_failures(keys: tuple[str, ...]) -> list[Failures]:
    results = run_commands([("HMGET", key, "count", "last") for key in keys])
    if results is None:
        cached = cache.get_many(keys)
        return [Failures(*cached[key]) if key in cached else Failures() for key in keys]
    return [Failures(int(count or 0), float(last or 0)) for count, last in results]


def start_login_attempt(*, email: str, address: str | None) -> LoginAttempt:
    """Read the counters of the email and the address (one round trip) and decide whether this
    attempt may check a password at all."""
    keys = (_key("account", email.strip().lower()),) + ((_key("address", address),) if address else ())
    failures = _read_failures(keys)
    now = time.time()
    refusals = [refusal for refusal in (refusal_for(item, now) for item in failures) if refusal is not None]
    refusal = max(refusals, key=lambda item: item.retry_after_seconds, default=None)
    return LoginAttempt(keys=keys, account_failures=failures[0], refusal=refusal)


def record_login_failure(attempt: LoginAttempt) -> None:
    now = time.time()
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    keys = attempt.keys
    if run_commands([("EVAL", _RECORD_FAILURE, len(keys), *keys, repr(now), window)]) is not None:
        return
    # Django's cache: not atomic, which only matters to a process counting alone anyway.
    for key in keys:
        previous = cache.get(key)
        count = previous[0] if previous and now - previous[1] < window else 0
        cache.set(key, (count + 1, now), timeout=window)


def record_login_success(attempt: LoginAttempt) -> None:
    """Forget the account's failures; nothing to do (and no round trip) when it had none."""
    if attempt.account_failures.count == 0:
        return
    account_key = attempt.keys[0]
    if run_commands([("DEL", account_key)]) is None:
        cache.delete(account_key)
