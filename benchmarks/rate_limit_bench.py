"""What the API rate limits cost: `POST /api/v1/events` with the limiter counting in Redis, next to
the same requests with it switched off, in the same run.

Run from the project root: `.venv/bin/python benchmarks/rate_limit_bench.py`. PostgreSQL on
127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379.

Two set-ups, each alternating short rounds off and on (so that other load on the machine weighs on
both alike) and comparing the total time of each mode:

- **live server**: two gunicorn servers as in production (`billing.wsgi`, the same workers), one
  with the limiter, one without, fed by the same raw-socket clients: several at once (the verdict:
  the rate a server sustains, where the wait for Redis overlaps other requests' work), then one
  request at a time (for information: every request waits its round trip to Redis in full);
- **in-process** (for information): Django's test client, no HTTP at all, where the limiter's round
  trip to Redis is the largest share of a request it can ever be: the floor of the ratio.

The limit is set out of reach, so every request is counted and none is refused (a refusal is
cheaper than an event). Target: the rate with the limiter >= 90 % of the rate without.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from common import (
    PROJECT_ROOT,
    Gunicorn,
    RawHttpClient,
    cpu_model,
    ensure_database,
    free_port,
    memory_gib,
    progress,
    server_env,
    verdict,
)

RATIO_TARGET = 0.90
OUT_OF_REACH = str(10**9)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="billing_ratelimit_bench")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/9", help="the limiter's Redis (a database of its own)"
    )
    parser.add_argument("--events", type=int, default=100, help="events per round")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of each mode, per set-up")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients of the judged comparison")
    return parser.parse_args()


def limiter_env(redis_url: str, prefix: str, enabled: bool) -> dict[str, str]:
    return {
        "API_RATE_LIMITS": "true" if enabled else "false",
        "API_RATE_LIMIT_EVENTS": OUT_OF_REACH,
        "RATE_LIMIT_REDIS_URL": redis_url,
        "RATE_LIMIT_KEY_PREFIX": prefix,
    }


class Comparison:
    """Alternating rounds of `send(count, limited)`; the seconds of each mode."""

    def __init__(self, label: str, send: Callable[[int, bool], float]) -> None:
        self.label = label
        self.send = send
        self.seconds: dict[bool, list[float]] = {False: [], True: []}

    def run(self, *, rounds: int, events: int, warmup: int) -> None:
        progress(f"{self.label}: warm-up, then {rounds} rounds of {events} events each way")
        self.send(warmup, False)
        self.send(warmup, True)
        for round_number in range(1, rounds + 1):
            for limited in (False, True) if round_number % 2 else (True, False):
                self.seconds[limited].append(self.send(events, limited))
        self.events = events * rounds

    def rate(self, limited: bool) -> float:
        return self.events / sum(self.seconds[limited])

    @property
    def ratio(self) -> float:
        return self.rate(True) / self.rate(False)

    def report(self, judged: bool) -> list[str]:
        round_ratios = sorted(off / on for off, on in zip(self.seconds[False], self.seconds[True], strict=True))
        quartiles = f"{round_ratios[len(round_ratios) // 4]:.1%}-{round_ratios[3 * len(round_ratios) // 4]:.1%}"
        judgement = f"target >= {RATIO_TARGET:.0%}: {verdict(self.ratio >= RATIO_TARGET)}" if judged else "information"
        return [
            f"{self.label}, {len(self.seconds[False])} rounds of {self.events // len(self.seconds[False])} each way:",
            f"  limiter off: {self.rate(False):,.0f} events/s ({self.events} in {sum(self.seconds[False]):.2f} s)",
            f"  limiter on:  {self.rate(True):,.0f} events/s ({self.events} in {sum(self.seconds[True]):.2f} s)",
            f"  ratio on/off: {self.ratio:.1%} ({judgement}); rounds: median {statistics.median(round_ratios):.1%}, "
            f"quartiles {quartiles}",
            f"  cost per request: {(1 / self.rate(True) - 1 / self.rate(False)) * 1e6:,.0f} us",
        ]


def main() -> None:
    args = parse_args()
    ensure_database(args.db)
    prefix = f"bench:{uuid.uuid4().hex}:"
    os.environ.update(server_env(args.db))
    os.environ.update(limiter_env(args.redis, prefix, enabled=True))
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()

    import redis
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from billing.ratelimit import count_in_window
    from organizations.services import create_api_key
    from plans.tests.factories import ChargeFactory, SubscriptionFactory

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    charge = ChargeFactory(plan__organization__name=f"Rate Limit Bench {run}")
    organization = charge.plan.organization
    subscription = SubscriptionFactory(customer__organization=organization, plan=charge.plan)
    _, raw_key = create_api_key(organization=organization)
    sent = 0

    def bodies(count: int) -> list[bytes]:
        nonlocal sent
        made = []
        for _ in range(count):
            sent += 1
            event = {
                "transaction_id": f"{run}-{sent}",
                "external_subscription_id": subscription.external_id,
                "code": charge.billable_metric.code,
                "properties": {"units": 1},
            }
            made.append(json.dumps({"event": event}).encode())
        return made

    # In-process.
    client = Client()
    headers = {"Authorization": f"Bearer {raw_key}"}

    def send_in_process(count: int, limited: bool) -> float:
        settings.API_RATE_LIMITS_ENABLED = limited
        batch = bodies(count)
        started = time.perf_counter()
        for body in batch:
            response = client.post("/api/v1/events", body, content_type="application/json", headers=headers)
            if response.status_code != 200 or response.has_header("X-RateLimit-Limit") != limited:
                sys.exit(f"in-process, limited={limited}: {response.status_code} {response.content[:200]!r}")
        return time.perf_counter() - started

    in_process = Comparison("in-process (Django test client)", send_in_process)
    in_process.run(rounds=args.rounds, events=args.events, warmup=args.warmup)

    # Live servers.
    servers = {
        limited: Gunicorn(
            label=f"rate_limit_bench_{'on' if limited else 'off'}",
            env={**server_env(args.db), **limiter_env(args.redis, prefix, enabled=limited)},
            port=free_port(),
            workers=args.workers,
        )
        for limited in (False, True)
    }
    try:
        for limited, server in servers.items():
            server.wait_ready()
            probe = httpx.post(
                f"{server.url}/api/v1/events",
                content=bodies(1)[0],
                headers={**headers, "Content-Type": "application/json"},
            )
            if probe.status_code != 200 or ("x-ratelimit-limit" in probe.headers) != limited:
                sys.exit(f"the {'limited' if limited else 'plain'} server answered {probe.status_code} {probe.headers}")
        pool = ThreadPoolExecutor(max_workers=args.clients)

        def send_over_http(clients: int) -> Callable[[int, bool], float]:
            raw_clients = {
                limited: [
                    RawHttpClient(server.url, {**headers, "Content-Type": "application/json"}) for _ in range(clients)
                ]
                for limited, server in servers.items()
            }

            def send(count: int, limited: bool) -> float:
                batch = bodies(count)
                shares = [batch[index::clients] for index in range(clients)]

                def post_all(raw_client: RawHttpClient, share: list[bytes]) -> None:
                    for body in share:
                        status, content = raw_client.post("/api/v1/events", body)
                        if status != 200:
                            sys.exit(f"live server, limited={limited}: {status} {content[:200]!r}")

                started = time.perf_counter()
                list(pool.map(post_all, raw_clients[limited], shares))
                return time.perf_counter() - started

            return send

        live = Comparison(
            f"live server (gunicorn billing.wsgi -w {args.workers}, {args.clients} clients at once)",
            send_over_http(args.clients),
        )
        live.run(rounds=args.rounds, events=args.events, warmup=args.warmup)
        live_one = Comparison(f"live server (gunicorn billing.wsgi -w {args.workers}, one client)", send_over_http(1))
        live_one.run(rounds=args.rounds, events=args.events, warmup=args.warmup)
        pool.shutdown()
    finally:
        for server in servers.values():
            server.stop()

    # The limiter's own call, in a loop: INCR + EXPIRE in one round trip.
    calls = 5000
    started = time.perf_counter()
    for _ in range(calls):
        count_in_window(key=f"api:{organization.pk}:bench", limit=10**9)
    round_trip_us = (time.perf_counter() - started) / calls * 1e6

    store = redis.Redis.from_url(args.redis)
    print(
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib()}; Python {platform.python_version()}, "
        f"Django {django.get_version()}, Redis {store.info()['redis_version']} ({args.redis}); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("POST /api/v1/events, one event each, the limit out of reach (every request counted, none refused)")
    for line in live.report(judged=True) + live_one.report(judged=False) + in_process.report(judged=False):
        print(line)
    print(f"the limiter's call alone, in a loop (INCR + EXPIRE, one round trip): {round_trip_us:.0f} us")
    keys = list(store.scan_iter(match=f"{prefix}*"))
    if keys:
        store.delete(*keys)


if __name__ == "__main__":
    main()
