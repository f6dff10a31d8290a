"""Counters in Redis that every server process shares: the API's rate limits (billing/api/throttling.py)
and the staff login's failure counts (organizations/login_guard.py).

Each use is one round trip: its commands are sent together and their replies read together. Redis
is a guard here, not a dependency: when it does not answer, the caller gets None and lets the
request through, a warning is logged at most once a minute, and Redis is left alone for
RATE_LIMIT_REDIS_RETRY_SECONDS, so that requests do not each wait for a timeout while it is away.
Without RATE_LIMIT_REDIS_URL (the SQLite demo) nothing is counted here.
"""

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.retry import Retry

logger = logging.getLogger(__name__)

WARNING_INTERVAL_SECONDS = 60.0

# Lago's limits are per second: a window is one second of the clock, and a key outlives its window
# by a second so that server clocks a little apart still count in the same key.
WINDOW_KEY_SECONDS = 2
# Seconds until the current window ends, rounded up: whatever the moment, the next window starts
# within one second.
RESET_SECONDS = 1


@dataclass
class _Redis:
    """One Redis server as this process sees it: how to connect (redis-py parses the URL: password,
    database, TLS, Unix socket), one connection per thread, and whether it is being left alone
    after a failure.

    The connection is used directly, not through redis-py's pool and pipeline, whose bookkeeping
    cost more CPU than the round trip itself (benchmarks/rate_limit_bench.py)."""

    pool: redis.ConnectionPool
    address: str
    unavailable_until: float = 0.0
    warned_at: float | None = None
    local: threading.local = field(default_factory=threading.local)

    def connection(self) -> AbstractConnection:
        # A forked process (a gunicorn worker) makes its own: a socket is never shared.
        if getattr(self.local, "pid", None) != os.getpid():
            self.local.connection = self.pool.connection_class(**self.pool.connection_kwargs)
            self.local.pid = os.getpid()
        return self.local.connection


# One per URL and timeout, for the life of the process (settings only change in tests).
_servers: dict[tuple[str, float], _Redis] = {}
_servers_lock = threading.Lock()


def _server(url: str) -> _Redis:
    timeout = settings.RATE_LIMIT_REDIS_TIMEOUT
    server = _servers.get((url, timeout))
    if server is None:
        with _servers_lock:
            server = _servers.get((url, timeout))
            if server is None:
                # No retries: redis-py's default retries a failed command three times with growing
                # pauses, which a request cannot afford; the back-off below replaces them.
                pool = redis.ConnectionPool.from_url(
                    url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
                )
                options = pool.connection_kwargs
                address = f"{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"
                server = _servers[(url, timeout)] = _Redis(pool=pool, address=address)
    return server


def run_commands(commands: list[tuple]) -> list[Any] | None:
    """Send the commands (`("INCR", key)` ...) in one round trip and return their replies; None when
    no Redis is configured or it does not answer (the caller fails open)."""
    url = settings.RATE_LIMIT_REDIS_URL
    if not url:
        return None
    server = _server(url)
    now = time.monotonic()
    if now < server.unavailable_until:
        return None
    connection = server.connection()
    try:
        connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        return [connection.read_response() for _ in commands]
    except redis.RedisError as exc:
        # Replies may be left unread: the next use starts on a new connection.
        connection.disconnect()
        server.unavailable_until = time.monotonic() + settings.RATE_LIMIT_REDIS_RETRY_SECONDS
        if server.warned_at is None or now - server.warned_at >= WARNING_INTERVAL_SECONDS:
            server.warned_at = now
            logger.warning(
                "Redis at %s failed (%s): API rate limits and login counters are not enforced for the "
                "next %s s and until it answers again.",
                server.address,
                exc,
                settings.RATE_LIMIT_REDIS_RETRY_SECONDS,
            )
        return None


@dataclass(frozen=True)
class WindowCount:
    """The requests counted in the current one-second window of a limit, this one included."""

    limit: int
    count: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


def count_in_window(*, key: str, limit: int) -> WindowCount | None:
    """Count one request against `limit` requests per second under `key`; None when Redis is away.

    A fixed window per second of the clock: INCR and EXPIRE of the second's key, in one round trip."""
    window_key = f"{settings.RATE_LIMIT_KEY_PREFIX}{key}:{int(time.time())}"
    replies = run_commands([("INCR", window_key), ("EXPIRE", window_key, WINDOW_KEY_SECONDS)])
    if replies is None:
        return None
    return WindowCount(limit=limit, count=int(replies[0]))
