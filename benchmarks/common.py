"""Pieces the benchmark scripts share: paths, the PostgreSQL server, a gunicorn process, the rollups
ingestion would write, and how results are printed. Scripts import it as `common` (they run from
this folder's parent with `python benchmarks/<name>.py`)."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"


def database_url(db_name: str) -> str:
    return f"{PG_SERVER}/{db_name}"


def server_env(db_name: str) -> dict[str, str]:
    """The app's environment: production-like, on the bench database, CONN_MAX_AGE left to its default."""
    env = dict(os.environ)
    for name in ("CONN_MAX_AGE", "TEST_DATABASE_NAME"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url(db_name),
        SECRET_KEY="bench-secret-key-not-for-production",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,testserver",
        # Plain HTTP on loopback: secure-only cookies would never come back to the server.
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        LOG_LEVEL="WARNING",
        # These scripts measure throughput far above Lago's per-organization limits (50 requests/s
        # for most endpoints); rate_limit_bench.py measures what the limiter costs.
        API_RATE_LIMITS="false",
    )
    return env


def ensure_database(db_name: str) -> bool:
    """Create the database if it is missing; return whether it was."""
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db_name}"')
            progress(f"created database {db_name}")
    return not exists


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def memory_gib() -> str:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return "?"
    return f"{int(meminfo.read_text().split()[1]) / 1024 / 1024:.0f} GiB"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """The app served as in production: started in the project root, so gunicorn.conf.py applies.
    Its log goes to a temp file."""

    def __init__(self, *, label: str, env: dict[str, str], port: int, workers: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"{label}_gunicorn_", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [str(GUNICORN), "billing.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited with {self.process.returncode}; log: {self.log.name}")
            try:
                httpx.get(f"{self.url}/api/v1/unknown", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        sys.exit(f"gunicorn did not answer within {timeout:.0f} s; log: {self.log.name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class RawHttpClient:
    """HTTP requests over a plain socket, for load generation and the anchors timed with it.

    httpx spends about 0.9 ms of CPU per request here, as much as the server's whole budget for a
    single event on a 2-core machine it shares with the client. This client spends a fraction
    of that, so the figure is the server's. It speaks just enough HTTP/1.1 for gunicorn: keep-alive
    when offered, reading until the server closes otherwise (sync workers close every connection).
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        self.address = (host, int(port))
        self.head = "".join(f"{name}: {value}\r\n" for name, value in {"Host": host, **headers}.items())
        self.sock: socket.socket | None = None

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return self.request("POST", path, body)

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        request = f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        if self.sock is None:
            self.sock = socket.create_connection(self.address)
        self.sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._receive_some()
        head, _, content = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
        }
        if headers.get(b"connection", b"").lower() == b"close" or b"content-length" not in headers:
            while chunk := self._receive():
                content += chunk
            self.sock.close()
            self.sock = None
        else:
            length = int(headers[b"content-length"])
            while len(content) < length:
                content += self._receive_some()
        return status, content

    def _receive(self) -> bytes:
        assert self.sock is not None
        return self.sock.recv(65536)

    def _receive_some(self) -> bytes:
        """More of an answer that is not complete yet: the server closing now (a worker killed) is an
        error, not an empty read to wait on forever."""
        chunk = self._receive()
        if not chunk:
            self.close()
            raise ConnectionError("the server closed the connection before the end of its answer")
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def rollup_select(where: str) -> str:
    """The rollups ingestion would have written for the events matching `where` (alias e), as one SELECT.

    Mirrors events/services.py: bucket = the quarter hour (epoch - epoch % 900 == date_bin from
    2000-01-01 UTC); count every event; sum/max/latest only for sum, max and latest metrics and
    only over events whose property is a number; latest = the value with the latest timestamp,
    ties to the event inserted last (ingestion compares with >=).
    """
    return f"""
        SELECT e.subscription_id, m.id AS billable_metric_id,
               date_bin('15 minutes', e.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket_start,
               count(*) AS events_count,
               coalesce(sum(v.value), 0)::numeric(40, 15) AS units_sum,
               max(v.value)::numeric(40, 15) AS units_max,
               ((array_agg(v.value ORDER BY e.timestamp DESC, e.id DESC) FILTER (WHERE v.value IS NOT NULL))[1]
                 )::numeric(40, 15) AS latest_value,
               max(e.timestamp) FILTER (WHERE v.value IS NOT NULL) AS latest_timestamp
        FROM events_event e
        JOIN plans_billablemetric m
          ON m.organization_id = e.organization_id AND m.code = e.code AND m.deleted_at IS NULL
        CROSS JOIN LATERAL (
            SELECT CASE WHEN m.aggregation_type IN ('sum_agg', 'max_agg', 'latest_agg')
                        THEN (e.properties ->> m.field_name)::numeric END AS value
        ) v
        WHERE {where}
        GROUP BY 1, 2, 3
    """


# Webhooks (issue 13): a delivery worker and an endpoint for the bench organization ----------------

CELERY = PROJECT_ROOT / ".venv" / "bin" / "celery"


class CeleryWorker:
    """`celery -A billing worker --pool=prefork -c N -Q queue` in the given environment (or the same
    worker started by `command`, for a what-if); its log goes to a temp file."""

    def __init__(
        self, *, label: str, env: dict[str, str], queue: str, concurrency: int, command: list[str] | None = None
    ) -> None:
        self.name = f"{label}-{os.getpid()}-{time.monotonic_ns() % 1_000_000}@bench"
        self.log = tempfile.NamedTemporaryFile(prefix=f"{label}_worker_", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [
                *(command or [str(CELERY), "-A", "billing"]),
                "worker",
                "--pool=prefork",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-Q",
                queue,
                "-n",
                self.name,
                "-l",
                "warning",
            ],
            cwd=PROJECT_ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "billing.settings"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            sys.exit(f"the worker {self.name} exited ({self.process.returncode}):\n{self.output()}")

    def wait_ready(self, app, timeout: float = 60.0) -> None:
        """Until the worker answers a ping (`app`: this process's Celery app, on the same broker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if app.control.ping(destination=[self.name], timeout=1):
                return
        sys.exit(f"the worker did not answer a ping within {timeout:.0f} s:\n{self.output()}")

    def control(self, app, command: str, queue: str) -> None:
        """`cancel_consumer` or `add_consumer` for `queue` (Celery's remote control), once acknowledged."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.check_alive()
            if getattr(app.control, command)(queue, destination=[self.name], reply=True, timeout=2):
                return
        sys.exit(f"the worker did not answer {command} within 30 s:\n{self.output()}")

    def error_lines(self) -> list[str]:
        return [line for line in self.output().splitlines() if "ERROR" in line or "Traceback" in line]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def set_webhook_endpoint(organization_id, url: str | None) -> str:
    """The organization's webhook endpoints replaced by one at `url` listening to every type, JWT-signed
    (Lago's default), or by none; the organization's messages are deleted either way (leftovers of an
    earlier run). Django must be set up, with WEBHOOKS_ALLOW_PRIVATE_URLS=true for a loopback `url`.
    Returns what the report says about it."""
    from organizations.models import Organization
    from webhooks.models import WebhookEndpoint, WebhookMessage
    from webhooks.services import create_endpoint

    WebhookEndpoint.objects.filter(organization_id=organization_id).delete()
    WebhookMessage.objects.filter(organization_id=organization_id).delete()
    if url is None:
        return "no webhook endpoint"
    create_endpoint(organization=Organization.objects.get(pk=organization_id), data={"webhook_url": url})
    return f"one webhook endpoint at {url}, every message type, JWT-signed"


def webhook_message_counts(db_name: str, organization_id) -> dict[str, int]:
    """The organization's webhook messages by status."""
    with psycopg.connect(database_url(db_name)) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM webhooks_webhookmessage WHERE organization_id = %s GROUP BY 1",
            (organization_id,),
        ).fetchall()
    return {status: count for status, count in rows}
