"""Django's PostgreSQL backend, with its connection health check skipped while the connection is busy.

Django pings a persistent connection (`SELECT 1`) at the start of every request that uses it, so
that a connection the server dropped while it sat idle is replaced instead of failing a request.
That ping was one round trip in three of a customer upsert. Like HikariCP's `aliveBypassWindowMs`,
a connection whose previous request ended moments ago is trusted without it: the ping stays for
connections that have been idle, which is when they are lost.

A connection the server closed moments after its last use (a restart takes a fraction of a second)
is the exception: the server said so before closing, so the socket has something to read, which a
connection at rest has no reason to have. One poll() of the socket, no round trip, sends such a
connection to the ping, so the request that follows a restart gets a new connection, not an error.
"""

import select
import time

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    # A connection last released less than this long ago is not pinged.
    health_check_bypass_seconds = 1.0
    _released_at: float | None = None
    _recently_released = False

    def close_if_unusable_or_obsolete(self) -> None:
        # Django calls this when a request (or a Celery task) starts and when it ends: at a start,
        # the time since the previous call is how long the connection sat idle.
        now = time.monotonic()
        self._recently_released = (
            self._released_at is not None and now - self._released_at < self.health_check_bypass_seconds
        )
        self._released_at = now
        super().close_if_unusable_or_obsolete()

    def close_if_health_check_failed(self) -> None:
        if self._recently_released and not self.health_check_done and not self._server_has_spoken():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _server_has_spoken(self) -> bool:
        """Whether the idle connection's socket has input waiting: the server's farewell (a shutdown,
        `pg_terminate_backend`) or the end of the stream. Unknown counts as yes: the ping decides."""
        if self.connection is None:
            return False
        try:
            poller = select.poll()
            poller.register(self.connection.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        except (AttributeError, OSError, ValueError):
            return True

    def close(self) -> None:
        self._released_at = None
        self._recently_released = False
        super().close()
