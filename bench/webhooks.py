"""Benchmark of webhook deliveries on PostgreSQL (docs/benchmarks.md): how many a second the
workers send, and how long an event takes from its commit to the receiver.

`formcase serve --no-worker --workers 2` takes the API calls; 1 or 4 `formcase worker`
processes deliver to a local aiohttp receiver (a workspace subscription to forms:created).
  drain    N forms are created with no worker running; then the workers start and the time
           until the receiver has all N deliveries gives deliveries per second.
  paced    with the workers running, forms are created at a steady rate for a while; the
           delay of each is the receiver's arrival time minus the moment its POST /v1/forms
           was sent (an upper bound of the delay from the commit).

    .venv/bin/python bench/webhooks.py [--events 10000] [--rate 200] [--workers 1,4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiohttp import web

from attachments import BIN, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "FORMCASE_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CONCURRENCY = 16


class Receiver:
    """Records when each form's forms:created delivery first arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls += 1
        self.arrived.setdefault(body["request"]["id"], time.time())
        return web.Response(text="ok")


async def reset_database(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def create_forms(base: str, token: str, count: int, rate: float | None) -> dict[str, float]:
    """Create `count` forms, at `rate` a second (None: as fast as the API takes them);
    returns when each POST was sent, by form id."""
    sent: dict[str, float] = {}
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(count):
        queue.put_nowait(number)
    body = {"flow": {"slug": "contact-details"}, "user": {"email": "bench@example.com"}}

    async def one(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            if rate is not None:
                await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            at = time.time()
            answer = await client.post("/v1/forms", json=body)
            answer.raise_for_status()
            sent[answer.json()["id"]] = at

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        await asyncio.gather(*(one(client) for _ in range(CONCURRENCY)))
    return sent


async def until_arrived(receiver: Receiver, wanted: set[str], limit: float) -> float:
    """Seconds until every wanted form's delivery has arrived (raises after `limit`)."""
    started = time.monotonic()
    while not wanted <= receiver.arrived.keys():
        if time.monotonic() - started > limit:
            missing = len(wanted - receiver.arrived.keys())
            raise SystemExit(f"{missing} deliveries still missing after {limit:.0f} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


async def bench(
    workers: int, events: int, rate: float, receiver: Receiver, hook_url: str, url: str
) -> Any:
    env = {
        **os.environ,
        "FORMCASE_DATABASE_URL": url,
        "FORMCASE_RATE_LIMIT_TOKEN": "",
        "FORMCASE_RATE_LIMIT_CLIENT": "",
        "FORMCASE_WEBHOOK_ALLOW_PRIVATE": "true",
    }

    def run(*args: str) -> str:
        return subprocess.run(
            [str(BIN), *args], env=env, check=True, capture_output=True, text=True
        ).stdout

    run("db", "upgrade")
    run("workspace", "create", "bench", "--name", "Bench")
    path = ROOT / "src" / "formcase" / "demo" / "contact-details.yaml"
    run("template", "import", str(path), "--workspace", "bench")
    token = run("token", "create", "--workspace", "bench", "--name", "bench").split()[-1]
    port = free_port()
    api = start([str(BIN), "serve", "--no-worker", "--workers", "2", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"
    pool: list[subprocess.Popen[bytes]] = []
    try:
        wait_for(f"{base}/healthz")
        headers = {"Authorization": f"Bearer {token}"}
        hook = {"url": hook_url, "events": ["forms:created"]}
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{base}/v1/webhooks", json=hook, headers=headers)
            answer.raise_for_status()

        # drain: a backlog first, then the workers
        backlog = await create_forms(base, token, events, None)
        pool = [start([str(BIN), "worker"], env) for _ in range(workers)]
        drained = await until_arrived(receiver, set(backlog), 600)

        # paced: a steady stream while the workers run
        paced_count = min(events, int(rate * 30))
        sent = await create_forms(base, token, paced_count, rate)
        await until_arrived(receiver, set(sent), 300)
        delays = sorted(receiver.arrived[form] - at for form, at in sent.items())
        return {
            "workers": workers,
            "drain_events": events,
            "drain_seconds": drained,
            "deliveries_per_second": events / drained,
            "paced_rate": rate,
            "paced_events": paced_count,
            "paced_seconds": paced_count / rate,
            "p50_delay_ms": statistics.median(delays) * 1000,
            "p99_delay_ms": delays[max(0, round(len(delays) * 0.99) - 1)] * 1000,
            "max_delay_ms": delays[-1] * 1000,
        }
    finally:
        stop([*pool, api])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200, help="events a second, paced run")
    parser.add_argument("--workers", default="1,4")
    args = parser.parse_args()

    receiver = Receiver()
    application = web.Application()
    application.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    results = []
    try:
        for workers in (int(n) for n in args.workers.split(",")):
            url = await reset_database(f"formcase_bench_webhooks_{workers}")
            results.append(await bench(workers, args.events, args.rate, receiver, hook_url, url))
    finally:
        await runner.cleanup()

    print(f"{'workers':>7} {'drained/s':>10} {'rate':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for row in results:
        print(
            f"{row['workers']:7} {row['deliveries_per_second']:10,.0f} {row['paced_rate']:6.0f} "
            f"{row['p50_delay_ms']:8.0f} {row['p99_delay_ms']:8.0f} {row['max_delay_ms']:8.0f}"
        )
    duplicates = receiver.calls - len(receiver.arrived)
    print(f"receiver calls: {receiver.calls}, of which repeats of a delivery: {duplicates}")
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "results": results,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
