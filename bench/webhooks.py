"""Benchmark of webhook deliveries on PostgreSQL (docs/benchmarks.md): how many a second the
workers send, and how long an event takes from its commit to the receiver.

1 or 4 `formcase worker` processes deliver to a local aiohttp receiver (in a process of its
own) subscribed to forms:created and forms:updated; `formcase serve --no-worker --workers 2`
takes the API calls. Each worker count gets a fresh database. Where the events come from:
  --source api     forms created with POST /v1/forms (the whole path, API included). The
                   commit is between the POST's sending and its answer; the delay is measured
                   from the event row's `created_at`, written just before the commit (an
                   upper bound of the delay from the commit, by the few ms the commit takes).
  --source outbox  the bench process writes the rows the outbox writes for a state change
                   (event, delivery with its frozen body, job, NOTIFY), one statement and
                   transaction per event, without the API and the form row; the delay is
                   measured from the moment the statement was sent (an upper bound, by the
                   commit's own duration). For rates the API cannot produce on the machine.
Runs:
  drain    N events are made with no worker running; then the workers start. Deliveries
           per second = deliveries between the first and the last arrival / that time (the
           workers' start-up is left out, and printed apart).
  paced    with the workers running, events are made on a fixed schedule (`--rate` a second,
           open loop: each is started when its time comes, whether or not earlier ones have
           finished). The rate achieved is measured and printed.

    .venv/bin/python bench/webhooks.py [--events 10000] [--rate 200] [--workers 1,4]
                                       [--source api|outbox]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from aiohttp import web

from attachments import BIN, free_port, wait_for
from formcase.kit.responses import api_json
from formcase.webhooks.service import occurred_at

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "FORMCASE_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_FLIGHT = 64  # events the paced generator may have unfinished before it falls behind
DRAIN_CONCURRENCY = 32  # requests at once while the backlog is made
# Database connections per pool (each pool opens up to twice that): PostgreSQL's 100
# connections are shared with whatever else runs on the machine.
POOL_SIZE = 5


def receive(port: int) -> None:
    """The receiver (a process of its own, so that the load generator's work does not delay
    its clock): notes when each form's delivery first arrived and how many calls came."""
    arrived: dict[str, float] = {}
    calls = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal calls
        body = await request.json()
        at = time.time()
        calls += 1
        arrived.setdefault(body["request"]["id"], at)
        return web.Response(text="ok")

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"calls": calls, "arrived": len(arrived)})

    async def arrivals(_: web.Request) -> web.Response:
        return web.json_response(arrived)

    async def forget(_: web.Request) -> web.Response:
        nonlocal calls
        arrived.clear()
        calls = 0
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_post("/hook", hook)
    application.router.add_get("/count", count)
    application.router.add_get("/arrivals", arrivals)
    application.router.add_post("/forget", forget)
    web.run_app(application, host="127.0.0.1", port=port, access_log=None, print=None)


async def connect(url: str) -> asyncpg.Connection:
    """A connection, waiting a little while PostgreSQL has none left (its 100 are shared
    with whatever else runs on the machine)."""
    for _ in range(30):
        try:
            return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        except asyncpg.TooManyConnectionsError:
            await asyncio.sleep(1)
    raise SystemExit("PostgreSQL had no connection left for 30 s")


async def reset_database(name: str) -> str:
    admin = await connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


# A form without a contact: nothing to notify, so the workers have only the webhook jobs
# (--contact gives each form an email address: one notification job more per form).
BODY: dict[str, Any] = {"flow": {"slug": "contact-details"}}


class Made:
    """When each event was made: `started` and `ended` bracket its commit (api: the POST's
    sending and answer; outbox: the commit's sending and return)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.failed: list[str] = []  # errors of the events that could not be made


class API:
    """Events made by creating forms with POST /v1/forms."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client

    async def make(self, made: Made) -> None:
        at = time.time()
        try:
            async with self.client.post("/v1/forms", json=BODY) as answer:
                if answer.status != 201:
                    made.failed.append(f"{answer.status} {await answer.text()}"[:300])
                    return
                form_id = (await answer.json())["id"]
        except aiohttp.ClientError as exc:
            made.failed.append(f"{type(exc).__name__}: {exc}"[:300])
            return
        made.ended[form_id] = time.time()
        made.started[form_id] = at


class Outbox:
    """Events written by this process the way the outbox writes them (`events.service.
    publish`: the object's sequence, an event row, the subscription's delivery with its body
    frozen, its job, and a NOTIFY), each in a transaction of its own: a forms:updated of a
    new id, the payload a copy of a form the API made. One SQL statement each, sent with
    asyncpg: formcase's own publish costs 2 ms of CPU an event in this process, and on a
    machine this busy the generator then fell short of 200 a second."""

    SQL = """
        WITH sequence AS (
            INSERT INTO event_sequences (object_id, workspace_id, sequence) VALUES ($1, $2, 1)
            ON CONFLICT (object_id) DO UPDATE SET sequence = event_sequences.sequence + 1
            RETURNING sequence
        ), event AS (
            INSERT INTO events (id, workspace_id, batch_id, kind, subject_type, subject_id,
                                form_id, payload, created_at, sequence)
            SELECT $1, $2, $3, 'forms:updated', 'forms', $1, $1, $4::jsonb, $5, sequence
            FROM sequence
        ), delivery AS (
            INSERT INTO webhook_deliveries (id, subscription_id, workspace_id, batch_id, events,
                                            body, status, attempts, created_at, updated_at,
                                            object_id, sequence, job_id)
            SELECT $6, $7, $2, $3, '["forms:updated"]', $8, 'pending', 0, $5, $5, $1, sequence, $9
            FROM sequence
        ), job AS (
            INSERT INTO jobs (id, kind, payload, status, attempts, run_after, workspace_id,
                              created_at, updated_at)
            VALUES ($9, 'webhook', $10::jsonb, 'pending', 0, $5, $2, $5, $5)
        )
        SELECT pg_notify('formcase_jobs', '')
    """

    def __init__(
        self, database_url: str, payload: dict[str, Any], workspace_id: str, subscription_id: str
    ) -> None:
        self.dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        self.payload = payload
        self.workspace_id = uuid.UUID(workspace_id)
        self.subscription_id = uuid.UUID(subscription_id)
        self.pool: asyncpg.Pool | None = None

    async def make(self, made: Made) -> None:
        assert self.pool is not None, "open() first"
        ident, delivery_id = uuid.uuid4(), uuid.uuid4()
        payload = {**self.payload, "id": str(ident)}
        now = datetime.now(UTC)
        body = api_json(
            {
                "events": ["forms:updated"],
                "data": {"type": "forms", "id": str(ident)},
                "request": payload,
                "occurred_at": occurred_at(now),
                "sequence": 1,  # a new id each time: its first change
            }
        )
        job = json.dumps({"delivery_id": str(delivery_id)})
        try:
            async with self.pool.acquire() as connection:
                at = time.time()
                await connection.execute(
                    self.SQL,
                    ident,
                    self.workspace_id,
                    uuid.uuid4(),
                    json.dumps(payload),
                    now,
                    delivery_id,
                    self.subscription_id,
                    body,
                    uuid.uuid4(),
                    job,
                )
        except (OSError, asyncpg.PostgresError) as exc:  # e.g. no connection left
            made.failed.append(f"{type(exc).__name__}: {exc}"[:300])
            return
        made.ended[str(ident)] = time.time()
        made.started[str(ident)] = at

    async def open(self) -> None:
        for _ in range(30):  # PostgreSQL's connections are shared: wait for some
            with contextlib.suppress(asyncpg.TooManyConnectionsError):
                self.pool = await asyncpg.create_pool(
                    self.dsn, min_size=POOL_SIZE, max_size=POOL_SIZE
                )
                return
            await asyncio.sleep(1)
        raise SystemExit("PostgreSQL had no connection left for 30 s")

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


Source = API | Outbox


async def make_backlog(source: Source, count: int) -> tuple[Made, float]:
    """`count` events as fast as they can be made (DRAIN_CONCURRENCY at once); how many a
    second."""
    made = Made()
    left = iter(range(count))
    started = time.monotonic()

    async def one() -> None:
        for _ in left:
            await source.make(made)

    await asyncio.gather(*(one() for _ in range(DRAIN_CONCURRENCY)))
    return made, count / (time.monotonic() - started)


async def make_paced(source: Source, count: int, rate: float) -> dict[str, Any]:
    """`count` events, the i-th started at start + i / rate (open loop, at most IN_FLIGHT
    unfinished: beyond that the schedule slips, and the rates achieved say so)."""
    made = Made()
    slots = asyncio.Semaphore(IN_FLIGHT)
    tasks: list[asyncio.Task[None]] = []
    late = 0.0  # the most an event was started after its time

    async def one() -> None:
        try:
            await source.make(made)
        finally:
            slots.release()

    started = time.monotonic()
    for number in range(count):
        if (wait := started + number / rate - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await slots.acquire()
        late = max(late, time.monotonic() - (started + number / rate))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    began, ended = sorted(made.started.values()), sorted(made.ended.values())
    return {
        "made": made,
        "started_per_second": (len(began) - 1) / (began[-1] - began[0]),
        "made_per_second": (len(ended) - 1) / (ended[-1] - ended[0]),
        "latest_start_ms": late * 1000,
        "making_p99_ms": percentile(
            sorted(made.ended[key] - made.started[key] for key in made.started), 0.99
        )
        * 1000,
    }


async def until_arrived(
    hooks: aiohttp.ClientSession, wanted: int, limit: float
) -> dict[str, float]:
    """Waits until the receiver has `wanted` forms' deliveries (raises after `limit` s);
    returns their arrival times."""
    started = time.monotonic()
    while True:
        async with hooks.get("/count") as answer:
            count = await answer.json()
        if count["arrived"] >= wanted:
            break
        if time.monotonic() - started > limit:
            missing = wanted - count["arrived"]
            raise SystemExit(f"{missing} deliveries still missing after {limit:.0f} s")
        await asyncio.sleep(0.1)
    async with hooks.get("/arrivals") as answer:
        arrived: dict[str, float] = await answer.json()
    return arrived


async def receiver_calls(hooks: aiohttp.ClientSession) -> int:
    async with hooks.get("/count") as answer:
        calls: int = (await answer.json())["calls"]
    return calls


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted `values` lie (nearest rank)."""
    return values[max(0, min(len(values) - 1, round(len(values) * fraction) - 1))]


def summary(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    return {
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def written_at(url: str) -> dict[str, float]:
    """When each form's forms:created event was written (just before its commit)."""
    connection = await connect(url)
    try:
        rows = await connection.fetch(
            "SELECT subject_id, created_at FROM events WHERE kind = 'forms:created'"
        )
    finally:
        await connection.close()
    return {str(row["subject_id"]): row["created_at"].timestamp() for row in rows}


class Machine:
    """CPU the machine spent between start() and stop(): all of it, and this run's share:
    its processes' and the PostgreSQL backends serving its database (the rest is other work
    sharing the machine)."""

    def __init__(self, database_url: str) -> None:
        self.processes: list[psutil.Process] = []
        self.database = database_url.rsplit("/", 1)[1]

    def watch(self, *pids: int) -> None:
        for pid in pids:
            process = psutil.Process(pid)
            self.processes += [process, *process.children(recursive=True)]

    async def _backends(self) -> list[psutil.Process]:
        admin = await connect(ADMIN_URL)
        try:
            rows = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
            )
        finally:
            await admin.close()
        found = []
        for row in rows:
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(row["pid"]))
        return found

    @staticmethod
    def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
        seconds = {}
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        return seconds

    async def _sample(self) -> None:
        """The PostgreSQL backends' CPU, every half second (connections come and go)."""
        while True:
            self.backends.update(self._cpu(await self._backends()))
            await asyncio.sleep(0.5)

    async def start(self) -> None:
        self.backends: dict[int, float] = {}
        backends = self._cpu(await self._backends())
        self.began = (time.monotonic(), psutil.cpu_times(), self._cpu(self.processes), backends)
        self.sampler = asyncio.create_task(self._sample())

    async def stop(self) -> dict[str, float]:
        self.sampler.cancel()
        began, before, ours, backends = self.began
        seconds = time.monotonic() - began
        after = psutil.cpu_times()
        busy = sum(after) - sum(before) - (after.idle - before.idle)
        busy -= getattr(after, "iowait", 0) - getattr(before, "iowait", 0)
        now_ours = self._cpu(self.processes)
        self.backends.update(self._cpu(await self._backends()))
        used = sum(now_ours[pid] - ours.get(pid, 0) for pid in now_ours)
        database = sum(self.backends[pid] - backends.get(pid, 0) for pid in self.backends)
        whole = seconds * (psutil.cpu_count() or 1) / 100
        return {
            "busy_percent": busy / whole,
            "formcase_and_bench_percent": used / whole,
            "postgresql_percent": database / whole,
        }


def cpu(figures: dict[str, float]) -> str:
    return (
        f"CPU {figures['busy_percent']:.0f} % busy: formcase and bench "
        f"{figures['formcase_and_bench_percent']:.0f} %, PostgreSQL for this run "
        f"{figures['postgresql_percent']:.0f} %"
    )


LOGS = ROOT / "bench" / "results" / "webhooks-logs"  # the processes' output, to look into


def start(command: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{log}.log").open("ab") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


@dataclass
class Receiver:
    url: str
    pid: int
    session: aiohttp.ClientSession  # to ask it what arrived


async def bench(
    workers: int, source_name: str, events: int, paced: int, rate: float, receiver: Receiver
) -> dict[str, Any]:
    url = await reset_database(f"formcase_bench_webhooks_{workers}")
    env = {
        **os.environ,
        "FORMCASE_DATABASE_URL": url,
        "FORMCASE_RATE_LIMIT_TOKEN": "",
        "FORMCASE_RATE_LIMIT_CLIENT": "",
        "FORMCASE_WEBHOOK_ALLOW_PRIVATE": "true",
        "FORMCASE_DATABASE_POOL_SIZE": str(POOL_SIZE),
    }

    def run(*args: str) -> str:
        return subprocess.run(
            [str(BIN), *args], env=env, check=True, capture_output=True, text=True
        ).stdout

    run("db", "upgrade")
    workspace = json.loads(run("workspace", "create", "bench", "--name", "Bench"))
    path = ROOT / "src" / "formcase" / "demo" / "contact-details.yaml"
    run("template", "import", str(path), "--workspace", "bench")
    token = run("token", "create", "--workspace", "bench", "--name", "bench").split()[-1]
    port = free_port()
    serve = [str(BIN), "serve", "--no-worker", "--workers", "2", "--port", str(port)]
    api = start(serve, env, f"serve-{workers}")
    pool: list[subprocess.Popen[bytes]] = []
    machine = Machine(url)
    hooks = receiver.session
    outbox: Outbox | None = None
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        machine.watch(os.getpid(), receiver.pid, api.pid)
        headers = {"Authorization": f"Bearer {token}"}
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(
            f"http://127.0.0.1:{port}", headers=headers, connector=connector
        ) as client:
            source: Source = API(client)
            if source_name == "outbox":  # a form to copy (made before the subscription)
                async with client.post("/v1/forms", json=BODY) as answer:
                    form = await answer.json()
            hook = {"url": f"{receiver.url}/hook", "events": ["forms:created", "forms:updated"]}
            async with client.post("/v1/webhooks", json=hook) as answer:
                answer.raise_for_status()
                subscription = await answer.json()
            if source_name == "outbox":
                source = outbox = Outbox(url, form, workspace["id"], subscription["id"])
                await outbox.open()
            await (await hooks.post("/forget")).release()

            # drain: a backlog first, then the workers
            await machine.start()
            backlog, made_per_second = await make_backlog(source, events)
            making = await machine.stop()
            await machine.start()
            started = time.time()
            pool = [
                start([str(BIN), "worker"], env, f"worker-{workers}-{number}")
                for number in range(workers)
            ]
            machine.watch(*(process.pid for process in pool))
            arrived = await until_arrived(hooks, len(backlog.started), 1800)
            draining = await machine.stop()
            arrived_drain = arrived
            first, last = min(arrived.values()), max(arrived.values())

            # paced: a steady stream while the workers run
            await machine.start()
            stream = await make_paced(source, paced, rate)
            made: Made = stream["made"]
            arrived = await until_arrived(hooks, len(backlog.started) + len(made.started), 900)
            pacing = await machine.stop()
            calls = await receiver_calls(hooks)
        if source_name == "api":  # from the event row, written just before the commit
            committed = await written_at(url)
        else:  # from the moment the commit was sent
            committed = made.started
        keys = list(made.started)
        return {
            "workers": workers,
            "source": source_name,
            "drain": {
                "events": events,
                "made_per_second": made_per_second,
                "first_delivery_after_s": first - started,
                "seconds": last - first,
                "deliveries_per_second": (len(arrived_drain) - 1) / (last - first),
                "failed": backlog.failed,
                "cpu_while_making": making,
                "cpu": draining,
            },
            "paced": {
                "events": paced,
                "target_per_second": rate,
                "started_per_second": stream["started_per_second"],
                "made_per_second": stream["made_per_second"],
                "latest_start_ms": stream["latest_start_ms"],
                "making_p99_ms": stream["making_p99_ms"],
                "failed": made.failed,
                "delay": summary([arrived[key] - committed[key] for key in keys]),
                "delay_from_made": summary([arrived[key] - made.ended[key] for key in keys]),
                "delay_from_started": summary([arrived[key] - made.started[key] for key in keys]),
                "cpu": pacing,
            },
            "receiver_calls": calls,
            "duplicates": calls - len(arrived),
        }
    finally:
        stop([*pool, api])
        if outbox is not None:
            await outbox.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="forms in the drain run")
    parser.add_argument("--paced-events", type=int, help="forms in the paced run (--events)")
    parser.add_argument("--rate", type=float, default=200, help="events a second, paced run")
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--source", choices=["api", "outbox"], default="api")
    parser.add_argument(
        "--contact", action="store_true", help="forms with a contact (+1 notification job each)"
    )
    args = parser.parse_args()
    if args.contact:
        BODY["user"] = {"email": "bench@example.com"}
    paced = args.paced_events or args.events

    port = free_port()
    spawn = multiprocessing.get_context("spawn")  # not a fork of this running event loop
    process = spawn.Process(target=receive, args=(port,), daemon=True)
    process.start()
    assert process.pid is not None
    url = f"http://127.0.0.1:{port}"
    results = []
    try:
        async with aiohttp.ClientSession(url) as session:
            receiver = Receiver(url, process.pid, session)
            for _ in range(100):
                try:
                    await receiver_calls(session)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            for workers in (int(n) for n in args.workers.split(",")):
                row = await bench(workers, args.source, args.events, paced, args.rate, receiver)
                results.append(row)
                report(row)
                save(results)
    finally:
        process.terminate()

    print(
        f"{'workers':>7} {'drain/s':>8} {'target/s':>8} {'made/s':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'dupl.':>5}"
    )
    for row in results:
        drain, stream = row["drain"], row["paced"]
        delay = stream["delay"]
        print(
            f"{row['workers']:7} {drain['deliveries_per_second']:8.0f} "
            f"{stream['target_per_second']:8.0f} {stream['made_per_second']:7.1f} "
            f"{delay['p50_ms']:7.0f} {delay['p99_ms']:7.0f} {delay['max_ms']:7.0f} "
            f"{row['duplicates']:5}"
        )


def report(row: dict[str, Any]) -> None:
    drain, stream = row["drain"], row["paced"]
    failed = len(drain["failed"]) + len(stream["failed"])
    print(
        f"{row['workers']} worker(s), source {row['source']}: backlog of {drain['events']} "
        f"made at {drain['made_per_second']:.0f}/s; first delivery "
        f"{drain['first_delivery_after_s']:.1f} s after the workers started; drained at "
        f"{drain['deliveries_per_second']:.0f}/s; {cpu(drain['cpu'])}. Paced: "
        f"{stream['events']} started at {stream['started_per_second']:.1f}/s, made at "
        f"{stream['made_per_second']:.1f}/s (one started at most "
        f"{stream['latest_start_ms']:.0f} ms late; making p99 {stream['making_p99_ms']:.0f} ms); "
        f"delay p50/p99/max {stream['delay']['p50_ms']:.0f}/{stream['delay']['p99_ms']:.0f}/"
        f"{stream['delay']['max_ms']:.0f} ms, p99 from made "
        f"{stream['delay_from_made']['p99_ms']:.0f} ms, from started "
        f"{stream['delay_from_started']['p99_ms']:.0f} ms; {cpu(stream['cpu'])}; "
        f"{failed} events not made; {row['duplicates']} duplicates",
        flush=True,
    )


def save(results: list[dict[str, Any]]) -> None:
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": platform.node(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "results": results,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
