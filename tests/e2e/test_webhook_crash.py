"""Issue 5, crash safety: webhook deliveries survive a worker killed mid-run.

PostgreSQL, a real `formcase serve --no-worker` taking the API calls, two real `formcase
worker` processes, a real aiohttp receiver subscribed through /v1/webhooks that checks both
signatures of every call. 1,000 forms are created through the API (1,000 forms:created
events); once some deliveries have arrived one worker is SIGKILLed and started again. Every
event must reach the receiver at least once, nothing else may arrive, and a delivery that
arrives twice carries the same `webhook-id` both times."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from formcase.config import Settings
from formcase.db.connect import make_engine
from formcase.events.models import Event, Job
from formcase.webhooks.models import WebhookDelivery
from formcase.webhooks.service import JOB_KIND
from tests.e2e.conftest import BIN, Formcase, free_port, last_line
from tests.webhooks.conftest import verify_penbox, verify_standard

pytestmark = pytest.mark.e2e

DEMO_TEMPLATES = Path(__file__).parents[2] / "src" / "formcase" / "demo"
EVENTS = 1000
KILL_AFTER = 200  # distinct deliveries arrived when the worker is killed
PRODUCERS = 16  # API calls in flight at once
DEADLINE = 240.0  # seconds from the first event to the last delivery: far above the need
# every process: webhooks may reach 127.0.0.1; a killed worker's jobs come back within 2 s;
# no rate limit on the producer's 1,000 calls
ENV = {
    "FORMCASE_WEBHOOK_ALLOW_PRIVATE": "true",
    "FORMCASE_JOB_LEASE_SECONDS": "2",
    "FORMCASE_RATE_LIMIT_TOKEN": "",
    "FORMCASE_RATE_LIMIT_CLIENT": "",
}


@dataclass
class Arrival:
    webhook_id: str
    form_id: str
    events: list[str]


ANSWER_DELAY = 0.2  # seconds the receiver takes to answer each call


@dataclass
class Receiver:
    """Records every call: its `webhook-id` and the form it is about. A call whose
    signatures do not verify is answered 200 all the same (so that the run ends) and
    recorded as a problem, which fails the test."""

    url: str = ""
    secret: str = ""
    jwks: dict[str, Any] = field(default_factory=dict)
    issuer: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def distinct(self) -> set[str]:
        return {arrival.form_id for arrival in self.arrivals}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            verify_standard(headers, body, self.secret)
            verify_penbox(headers, body, self.url, self.jwks, self.issuer)
            payload = orjson.loads(body)
            self.arrivals.append(
                Arrival(headers["webhook-id"], payload["data"]["id"], payload["events"])
            )
        except Exception as exc:
            self.problems.append(f"{type(exc).__name__}: {exc} ({headers})")
        # Each answer takes a moment, so that a worker always has deliveries in flight when it
        # is killed (a fast receiver let it sit idle between rounds: the kill took nothing).
        await asyncio.sleep(ANSWER_DELAY)
        return web.Response(text="ok")


async def set_up(formcase: Formcase, env: dict[str, str], port: int) -> str:
    """A migrated database and a workspace; the contact-details template imported and a
    token made side by side (each CLI call takes seconds to start); the API server started.
    Returns the token."""
    formcase.run("db", "upgrade")
    formcase.run("workspace", "create", "acme", "--name", "Acme")
    template = str(DEMO_TEMPLATES / "contact-details.yaml")
    _, token = await asyncio.gather(
        asyncio.to_thread(formcase.run, "template", "import", template, "--workspace", "acme"),
        asyncio.to_thread(formcase.run, "token", "create", "--workspace", "acme", "--name", "crm"),
    )
    formcase.serve("--no-worker", env=env, port=port)
    return last_line(token)


async def produce(base: str, token: str, count: int) -> list[str]:
    """`count` forms created through the API, PRODUCERS calls at a time; their ids."""
    created: list[str] = []
    numbers = iter(range(count))
    body = {"flow": {"slug": "contact-details"}}

    async def one(client: httpx.AsyncClient) -> None:
        for _ in numbers:
            answer = await client.post("/v1/forms", json=body)
            assert answer.status_code == 201, answer.text
            created.append(answer.json()["id"])

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        await asyncio.gather(*(one(client) for _ in range(PRODUCERS)))
    return created


async def count_by(engine: AsyncEngine, column: Any, *where: Any) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(column, func.count()).where(*where).group_by(column))
        return {str(value): number for value, number in rows}


async def webhook_jobs(engine: AsyncEngine) -> dict[str, int]:
    """The webhook jobs by status."""
    return await count_by(engine, Job.status, Job.kind == JOB_KIND)


@dataclass
class Stored:
    """What the database holds once the workers stopped."""

    events: int  # forms:created events
    jobs: dict[str, int]  # webhook jobs by status
    deliveries: dict[str, int]  # by status
    delivery_ids: set[uuid.UUID]
    reclaimed: int  # webhook jobs claimed more than once

    @classmethod
    async def look(cls, engine: AsyncEngine) -> Stored:
        async with engine.connect() as connection:
            ids = set((await connection.execute(select(WebhookDelivery.id))).scalars())
            reclaimed = await connection.scalar(
                select(func.count()).where(Job.kind == JOB_KIND, Job.attempts > 1)
            )
        return cls(
            events=(await count_by(engine, Event.kind)).get("forms:created", 0),
            jobs=await webhook_jobs(engine),
            deliveries=await count_by(engine, WebhookDelivery.status),
            delivery_ids=ids,
            reclaimed=reclaimed or 0,
        )


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def tail(path: Path, lines: int = 5) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def test_webhook_deliveries_survive_a_killed_worker(
    formcase_pg: Formcase, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=Path(formcase_pg.env["FORMCASE_DATA_DIR"]),
        database_url=formcase_pg.env["FORMCASE_DATABASE_URL"],
    )
    engine = make_engine(settings)  # the test's own look at the database
    receiver = Receiver()
    application = web.Application()
    application.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receiver.issuer = base + "/"
    env = {**formcase_pg.env, **ENV, "FORMCASE_PUBLIC_URL": base}
    logs: list[Path] = []

    def start() -> subprocess.Popen[bytes]:
        logs.append(tmp_path / f"worker-{len(logs)}.log")
        with logs[-1].open("wb") as log:  # a file: a pipe nobody reads fills up and blocks
            return subprocess.Popen(
                [str(BIN), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=log
            )

    workers: list[subprocess.Popen[bytes]] = []
    try:
        token = await set_up(formcase_pg, env, port)
        workers = [start(), start()]
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            headers = {"Authorization": f"Bearer {token}"}
            subscribed = await client.post(
                "/v1/webhooks",
                json={"url": receiver.url, "events": ["forms:created"]},
                headers=headers,
            )
            assert subscribed.status_code == 201, subscribed.text
            receiver.secret = subscribed.json()["secret"]
            jwks = await client.get("/.well-known/jwks.json")
            assert jwks.status_code == 200, jwks.text
            receiver.jwks = jwks.json()

        progress: list[str] = []  # every 5 s, for the message of a failure

        async def note() -> None:
            seconds = time.monotonic() - began
            if seconds >= 5 * len(progress):
                arrived = len(receiver.distinct())
                jobs = await webhook_jobs(engine)
                progress.append(f"{seconds:.0f} s: {arrived} arrived, jobs {jobs}")

        def report() -> str:
            logged = "\n".join(f"{log.name}: {tail(log)}" for log in logs)
            return "\n".join(progress) + "\n" + logged

        began = time.monotonic()
        producing = asyncio.create_task(produce(base, token, EVENTS))

        # mid-run: some deliveries arrived, not all
        while len(receiver.distinct()) < KILL_AFTER:
            await note()
            assert time.monotonic() - began < DEADLINE, report()
            assert all(w.poll() is None for w in workers), report()
            assert not receiver.problems, receiver.problems[:3]
            if producing.done():
                producing.result()  # raises if producing failed
            await asyncio.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)
        await asyncio.to_thread(workers[0].wait, 10)
        killed = workers[0]
        killed_at, killed_after = len(receiver.distinct()), time.monotonic() - began
        still_producing = not producing.done()
        workers.append(start())  # restarted

        produced = await producing
        ended_at = 0.0  # when no job was left to run: what has not arrived 5 s later is lost
        while time.monotonic() - (ended_at or time.monotonic()) < 5:
            ended = set(await webhook_jobs(engine)) <= {"done", "dead"}
            if ended and receiver.distinct() == set(produced):
                break
            ended_at = (ended_at or time.monotonic()) if ended else 0.0
            await note()
            assert time.monotonic() - began < DEADLINE, report()
            assert all(w.poll() is None for w in workers[1:]), report()
            assert not receiver.problems, receiver.problems[:3]
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - began
        stop(workers)  # gracefully: a late duplicate would arrive before they exit
        stored = await Stored.look(engine)
    finally:
        stop(workers)
        await runner.cleanup()
        await engine.dispose()

    assert killed_at < EVENTS  # the kill came mid-run
    assert killed.returncode == -signal.SIGKILL
    assert all(w.returncode == 0 for w in workers[1:])  # SIGTERM: a clean stop
    assert not receiver.problems, receiver.problems[:3]  # every call was signed right

    # every event reached the receiver at least once, none lost, nothing else came
    assert len(produced) == len(set(produced)) == EVENTS
    assert receiver.distinct() == set(produced)
    assert all(arrival.events == ["forms:created"] for arrival in receiver.arrivals)
    # a delivery sent twice carries the same webhook-id; each event has its own
    ids_of: dict[str, set[str]] = defaultdict(set)
    for arrival in receiver.arrivals:
        ids_of[arrival.form_id].add(arrival.webhook_id)
    assert {form: ids for form, ids in ids_of.items() if len(ids) != 1} == {}
    webhook_ids = {arrival.webhook_id for arrival in receiver.arrivals}
    assert len(webhook_ids) == EVENTS

    # the database agrees: one event, one delivery, one done job each; none dead or lost
    assert stored.events == EVENTS
    assert stored.jobs == {"done": EVENTS}
    assert stored.deliveries == {"delivered": EVENTS}
    assert {uuid.UUID(webhook_id) for webhook_id in webhook_ids} == stored.delivery_ids
    # the killed worker held jobs: they were claimed again once its lease ran out
    assert stored.reclaimed, "no job was claimed twice: the kill took no work away"

    duplicates = len(receiver.arrivals) - EVENTS
    print(
        f"\n{EVENTS:,} forms:created, 2 workers (one SIGKILLed after {killed_at} deliveries "
        f"at {killed_after:.1f} s{', during production' if still_producing else ''}, "
        f"restarted): all delivered at {elapsed:.1f} s; {stored.reclaimed} jobs claimed again, "
        f"{duplicates} repeat arrivals (each with its delivery's webhook-id)"
    )
