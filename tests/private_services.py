"""Private PostgreSQL and Redis servers on loopback, and the app's processes pointed at them, for the
tests that break their services on purpose (tests/test_faults.py).

The servers on 5432 and 6379 are shared with other test runs and must never be stopped; these ones
belong to one test module: a PostgreSQL cluster made with initdb in a temporary directory (as the
`postgres` system user when we are root, since initdb refuses root) and a `redis-server` without
persistence, each on a free port, both removed at the end. The app runs in subprocesses configured
by environment variables only, as in production: gunicorn (benchmarks/common.py) and Celery workers
in a session of their own, so that SIGKILL takes a worker's whole process tree at once. Test code
that needs the app's models runs in a subprocess too (`call`), on the private database.
"""

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery

from benchmarks.common import CELERY, PROJECT_ROOT, PYTHON, free_port, server_env

TIMEOUT = 60.0
RESULT_MARK = "CALL-RESULT:"
# Runs one function of a module with Django set up, its keyword arguments and its result as JSON.
CALL_RUNNER = f"""
import json, sys
import django
django.setup()
from importlib import import_module
module, name = sys.argv[1].rsplit(":", 1)
result = getattr(import_module(module), name)(**json.loads(sys.argv[2]))
print({RESULT_MARK!r} + json.dumps(result, default=str), flush=True)
"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def postgres_bin() -> Path:
    """The newest PostgreSQL server installed (Debian puts each major version in its own folder)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return versions[-1].parent


class PrivatePostgres:
    """A throwaway cluster: trust authentication, loopback only, durability off for speed."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="faults_pg_"))
        if self.as_root:
            shutil.chown(self.root, user="postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def pg_ctl(self, action: str) -> None:
        """start, stop or restart; `-w`: returns once the server accepts connections (or is gone)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-m", "fast", action)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, name: str) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """`redis-server` on a free port, nothing saved to disk; started again on the same port after a stop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faults_redis_"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1)
        try:
            wait_until(lambda: self._answers(client), f"redis-server on port {self.port}")
        finally:
            client.close()

    def _answers(self, client: redis.Redis) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=TIMEOUT)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def app_env(postgres: PrivatePostgres, database: str, redis_server: PrivateRedis, **extra: str) -> dict[str, str]:
    """The app's environment on the private servers: production-like (benchmarks/common.server_env),
    a real broker with the default queue names, webhooks allowed to loopback receivers; `extra`
    overrides. Every variable that could lead to a shared server is set."""
    env = server_env(database)
    env.update(
        DATABASE_URL=postgres.url(database),
        REDIS_URL=redis_server.url(0),
        CELERY_BROKER_URL=redis_server.url(0),
        RATE_LIMIT_REDIS_URL=redis_server.url(0),
        CELERY_TASK_DEFAULT_QUEUE="celery",
        CELERY_WEBHOOKS_QUEUE="webhooks",
        CELERY_TASK_ALWAYS_EAGER="false",
        DJANGO_SETTINGS_MODULE="billing.settings",
        WEBHOOKS_ALLOW_PRIVATE_URLS="true",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def call(env: dict[str, str], function: Callable[..., Any], **kwargs: Any) -> Any:
    """`function(**kwargs)` run in a subprocess with Django set up in `env`; its result, through JSON.
    The function must be importable by name at its module's top level."""
    target = f"{function.__module__}:{function.__qualname__}"
    result = subprocess.run(
        [str(PYTHON), "-c", CALL_RUNNER, target, json.dumps(kwargs, default=str)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{target} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(lines[-1].removeprefix(RESULT_MARK))


class TaskSender:
    """Sends tasks by name to the private broker, as the beat does. The connection is named explicitly:
    Celery prefers the CELERY_BROKER_URL variable (the shared Redis, in a test run) to its settings.
    Not the current app of this process, which the other test modules configure."""

    def __init__(self, redis_server: PrivateRedis) -> None:
        self.url = redis_server.url(0)
        self.app = Celery("faults-beat", set_as_current=False)

    def send(self, task_name: str) -> str:
        """Send `task_name()` to the default queue; its id."""
        with self.app.connection_for_write(self.url) as connection:
            return self.app.send_task(task_name, connection=connection).id


class Worker:
    """`celery -A billing worker` (prefork) on the given queues, in a session of its own; its log (at
    info level: one line per task run) in a temp file."""

    def __init__(self, env: dict[str, str], *, queues: str, concurrency: int, label: str) -> None:
        self.name = f"{label}-{os.getpid()}-{time.monotonic_ns() % 1_000_000}@faults"
        self.log = tempfile.NamedTemporaryFile(prefix=f"faults_{label}_", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [str(CELERY), "-A", "billing", "worker", "--pool=prefork", "-c", str(concurrency)]
            + ["--without-gossip", "--without-mingle", "-Q", queues, "-n", self.name, "-l", "info"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> None:
        """Until the worker consumes from the broker."""

        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n{self.output()}")
            return f"{self.name} ready." in self.output()

        wait_until(ready, f"the worker {self.name} to be ready")

    def finished(self, task_name: str) -> list[tuple[str, str, str]]:
        """(task id, "succeeded" or "raised", what it returned or raised) for each task named
        `task_name` this worker has finished, from its log."""
        pattern = rf"Task {re.escape(task_name)}\[([0-9a-f-]+)\] (succeeded|raised)[^:]*: ([^\n]*)"
        return re.findall(pattern, self.output())

    def result(self, task_name: str, task_id: str) -> Any:
        """What the task `task_id` returned, once this worker has run it (a literal in its log)."""
        found: list[str] = []

        def done() -> bool:
            if not self.alive():
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n{self.output()}")
            for tid, how, value in self.finished(task_name):
                if tid == task_id:
                    assert how == "succeeded", f"{task_name}[{task_id}] {how}: {value}"
                    found.append(value)
            return bool(found)

        wait_until(done, f"{task_name}[{task_id}] to succeed on {self.name}")
        return ast.literal_eval(found[0])

    def kill(self) -> None:
        """SIGKILL to the main process and its pool at once: no warm shutdown, no ack, no rollback sent."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
