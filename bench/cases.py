"""Benchmark of the cases list and count on PostgreSQL at 1M cases (docs/benchmarks.md).

Seeds N cases with 3 contacts each into a PostgreSQL database of its own (kept between runs,
so a second run skips the seeding): the schema, configuration and template of every case are
copied from one case made through `POST /v1/cases`, the rest is generated in SQL (statuses,
waiting_for, archival, owner, data, created_at spread over ~3 years; contacts main + partner
with unique emails, broker from a pool of 2,000). Then `formcase serve --workers 2` on that
database is driven with wrk from another process at concurrency 16 on:
  contact   GET /v1/cases?contact[email]=<e>       (emails rotate over 1,000 main contacts)
  list      GET /v1/cases?parent_status=in_progress&waiting_for=owner&page[size]=100
  count     GET /v1/cases/count
  count_f   GET /v1/cases/count?parent_status=in_progress&waiting_for=owner
  floor     GET /bench/floor: the same stack answering pre-serialised bytes of the size of a
            `contact` answer, without the database.
Prints req/s, p50/p99 and the CPU time a request cost the server processes and PostgreSQL
(its backends for this database) per endpoint, then the targets and whether they are met. On
a shared machine whose speed drifts, the CPU per request moves less than the latencies do:
it is the figure to compare two versions of the code by.

    .venv/bin/python bench/cases.py [--sizes 1000000] [--duration 20] [--reseed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from formcase.config import Settings
from formcase.db.migrate import migration
from forms import ADMIN_URL, CONCURRENCY, cpu_probe, dsn, run, start_server, wrk

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE = {
    "slug": "claim",
    "title": "Insurance claim",
    "description": "From the first notice of loss to settlement.",
    "locale": "en",
    "contacts": [
        {"key": "main", "label": "Policy holder", "main": True},
        {"key": "partner", "label": "Partner"},
        {"key": "broker", "label": "Broker"},
    ],
    "schema": [
        {"key": "policy_number", "type": "text", "name": "Policy number"},
        {"key": "incident_date", "type": "date", "name": "Date of the incident"},
        {"key": "claimed_amount", "type": "currency", "name": "Amount", "currency": "EUR"},
        {
            "key": "cause",
            "type": "choices",
            "name": "Cause",
            "options": [
                {"value": "fire", "label": "Fire"},
                {"value": "water", "label": "Water"},
                {"value": "theft", "label": "Theft"},
            ],
        },
        {"key": "expert_approved", "type": "checkbox", "name": "Approved by the expert"},
    ],
    "statuses": [
        {"key": "new", "label": "New", "parent_status": "draft"},
        {"key": "awaiting_documents", "label": "Awaiting documents", "parent_status": "pending"},
        {"key": "under_review", "label": "Under review", "parent_status": "in_progress"},
        {"key": "expert_review", "label": "Expert review", "parent_status": "in_progress"},
        {"key": "settled", "label": "Settled", "parent_status": "closed"},
        {"key": "rejected", "label": "Rejected", "parent_status": "closed"},
    ],
    "initial_status": "new",
    "steps": [
        {
            "key": "welcome",
            "title": "Welcome email",
            "type": "email",
            "contact": "main",
            "subject": "Your claim",
            "text": "We have opened your claim.",
        },
        {"key": "check", "title": "Check the policy", "type": "note", "text": "Check it."},
    ],
}

# g % 20 picks (status, parent_status): 10 % draft, 25 % pending, 30 % in_progress, 35 % closed.
# In progress cases wait for the owner (half), the contact (40 %) or nobody; pending ones for
# the contact; half the closed ones are archived (17.5 % of all).
SEED_CASES_SQL = """
WITH made AS (
    INSERT INTO cases (
        id, workspace_id, template_id, title, description, locale, reference, status,
        parent_status, waiting_for, owner_id, archived, archived_at, schema, data, config,
        created_at, updated_at
    )
    SELECT
        gen_random_uuid(), p.workspace_id, p.template_id, p.title, p.description, p.locale,
        'C' || lpad(g::text, 8, '0'),
        (ARRAY['new','new','awaiting_documents','awaiting_documents','awaiting_documents',
               'awaiting_documents','awaiting_documents','under_review','under_review',
               'under_review','under_review','expert_review','expert_review','settled',
               'settled','settled','settled','settled','rejected','rejected'])[1 + g % 20],
        (ARRAY['draft','draft','pending','pending','pending','pending','pending',
               'in_progress','in_progress','in_progress','in_progress','in_progress',
               'in_progress','closed','closed','closed','closed','closed','closed',
               'closed'])[1 + g % 20],
        CASE WHEN g % 20 BETWEEN 7 AND 12 THEN
                  (ARRAY['owner','owner','owner','owner','owner','contact','contact',
                         'contact','contact','none'])[1 + (g / 20) % 10]
             WHEN g % 20 BETWEEN 2 AND 6 THEN 'contact'
             ELSE 'none' END,
        CASE WHEN g % 10 = 3 THEN NULL ELSE p.owner_id END,
        g % 20 >= 13 AND (g / 20) % 2 = 0,
        CASE WHEN g % 20 >= 13 AND (g / 20) % 2 = 0 THEN now() - (g || ' seconds')::interval * 80
        END,
        p.schema,
        jsonb_build_object(
            'policy_number', 'BE-' || lpad((g % 1000000)::text, 6, '0'),
            'incident_date', to_char(now() - (g || ' seconds')::interval * 95, 'YYYY-MM-DD'),
            'claimed_amount', ((g % 50000) + 100)::text || '.50',
            'cause', (ARRAY['fire','water','theft'])[1 + g % 3]),
        p.config,
        now() - (g || ' seconds')::interval * 90,
        now() - (g || ' seconds')::interval * 85
    FROM generate_series($2::bigint, $3::bigint) AS g
    CROSS JOIN (SELECT * FROM cases WHERE id = $1) AS p
    RETURNING id, workspace_id, reference, created_at
),
numbered AS (SELECT *, substr(reference, 2)::bigint AS g FROM made)
INSERT INTO case_contacts (
    id, case_id, workspace_id, key, main, name, email, given_name, family_name, phone, locale,
    created_at, updated_at
)
SELECT
    gen_random_uuid(), n.id, n.workspace_id, k.key, k.key = 'main',
    CASE k.key WHEN 'broker' THEN 'Broker ' || (n.g % 2000) || ' & Co' END,
    CASE k.key
        -- one main contact in four has a capital in the local part (stored as given)
        WHEN 'main' THEN (CASE WHEN n.g % 4 = 0 THEN 'Client' ELSE 'client' END)
                         || n.g || '@example.com'
        WHEN 'partner' THEN 'partner' || n.g || '@example.net'
        ELSE 'broker' || (n.g % 2000) || '@brokers.example' END,
    CASE k.key WHEN 'broker' THEN NULL ELSE 'Given' || (n.g % 1000) END,
    CASE k.key WHEN 'broker' THEN NULL ELSE 'Family' || (n.g % 5000) END,
    '+3247' || lpad(((n.g * 3 + k.n) % 10000000)::text, 7, '0'),
    (ARRAY['en','fr','nl'])[1 + n.g % 3],
    n.created_at, n.created_at
FROM numbered AS n
CROSS JOIN (VALUES (1, 'main'), (2, 'partner'), (3, 'broker')) AS k(n, key)
"""


def contacts_json_fill() -> str:
    """Migration 0012's statement that writes `cases.contacts_json` from case_contacts."""
    return str(migration(Settings(), "0012")._POSTGRESQL_FILL)


def archived(g: int) -> bool:
    return g % 20 >= 13 and (g // 20) % 2 == 0


def database_url(size: int) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/formcase_bench_cases_{size}"


async def prepare(size: int, reseed: bool) -> tuple[str, str, bool]:
    """A migrated database with the workspace, its owner, the case template and a token;
    returns (url, token, whether the cases are already there). A database without exactly
    `size` cases (a seeding that was interrupted, say) is made again from nothing."""
    url = database_url(size)
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(dsn(ADMIN_URL))
    try:
        seeded = False
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            connection = await asyncpg.connect(dsn(url))
            try:
                seeded = await connection.fetchval("SELECT count(*) FROM cases") == size
            except asyncpg.UndefinedTableError:
                pass
            finally:
                await connection.close()
            if reseed or not seeded:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                seeded = False
        if not seeded:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    env = {**os.environ, "FORMCASE_DATABASE_URL": url}
    run("db", "upgrade", env=env)
    if not seeded:
        run("workspace", "create", "bench", "--name", "Bench", env=env)
        run("workspace", "add-member", "owner@bench.example", "--workspace", "bench", env=env)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(TEMPLATE, file)
        run("case-template", "import", file.name, "--workspace", "bench", env=env)
        os.unlink(file.name)
    token = run("token", "create", "--workspace", "bench", "--name", "bench", env=env)
    return url, token.strip().splitlines()[-1], seeded


async def seed(url: str, size: int, base: str, token: str) -> None:
    """One case through the API, then `size` copies of it made in SQL; the first is removed."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        templates = (await client.get("/v1/case_templates")).json()["data"]
        made = await client.post(
            "/v1/cases",
            json={
                "template": {"id": templates[0]["id"]},
                "reference": "PROTOTYPE",
                "owner": {"email": "owner@bench.example"},
                "contacts": [
                    {"key": "main", "email": "jo@example.com", "given_name": "Jo"},
                    {"key": "partner", "email": "an@example.net", "given_name": "An"},
                    {"key": "broker", "email": "b@brokers.example", "name": "Broker & Co"},
                ],
            },
        )
        assert made.status_code == 200, made.text
    prototype = made.json()["id"]
    connection = await asyncpg.connect(dsn(url))
    try:
        started = time.monotonic()
        # Indexes are built once at the end, faster than kept up row by row (the ones behind
        # primary keys and unique constraints stay: foreign keys and the seeding need them).
        indexes = await connection.fetch(
            "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS sql "
            "FROM pg_index AS i LEFT JOIN pg_constraint AS c ON c.conindid = i.indexrelid "
            "WHERE i.indrelid IN ('cases'::regclass, 'case_contacts'::regclass) "
            "AND c.oid IS NULL"
        )
        for index in indexes:
            await connection.execute(f"DROP INDEX {index['name']}")
        await connection.execute("SET synchronous_commit = off")
        batch = 100_000
        for first in range(1, size + 1, batch):
            last = min(size, first + batch - 1)
            await connection.execute(SEED_CASES_SQL, prototype, first, last)
        await connection.execute("DELETE FROM cases WHERE id = $1", prototype)
        await connection.execute(contacts_json_fill())
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await connection.execute(index["sql"])
        seeded = time.monotonic() - started
        await connection.execute("VACUUM ANALYZE cases")
        await connection.execute("VACUUM ANALYZE case_contacts")
        print(
            f"seeded {size} cases and {3 * size} contacts in {seeded:.0f} s "
            f"(VACUUM ANALYZE {time.monotonic() - started - seeded:.0f} s)",
            flush=True,
        )
    finally:
        await connection.close()


ROTATE_LUA = """
emails = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/cases?contact[email]=" .. emails[(counter %% #emails) + 1])
end
"""

LIST_PATH = "/v1/cases?parent_status=in_progress&waiting_for=owner&page[size]=100"
COUNT_PATH = "/v1/cases/count"
COUNT_FILTERED_PATH = "/v1/cases/count?parent_status=in_progress&waiting_for=owner"


def _cpu_by_process(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def _backends(database: str) -> list[psutil.Process]:
    """PostgreSQL's backends serving `database` (a backend's title names its database)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        words = process.info["cmdline"] or []
        if words and words[0].startswith("postgres:") and database in " ".join(words):
            found.append(process)
    return found


def _connections_by_process(processes: list[psutil.Process], port: int) -> list[int]:
    counts = []
    for process in processes:
        try:
            held = process.net_connections("tcp")
        except psutil.NoSuchProcess:
            continue
        counts.append(sum(1 for c in held if c.status == "ESTABLISHED" and c.laddr.port == port))
    return sorted(count for count in counts if count)


def with_cpu(
    server: subprocess.Popen[bytes], port: int, database: str, run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`run`'s wrk figures, with the CPU milliseconds a request cost the server processes
    and the database's backends (a backend that connected during the run counts in full),
    and how many of wrk's connections each server process held 3 s into the run."""
    workers = psutil.Process(server.pid).children(recursive=True)
    before = _cpu_by_process(workers), _cpu_by_process(_backends(database))
    split: list[int] = []
    sampler = threading.Timer(3, lambda: split.extend(_connections_by_process(workers, port)))
    sampler.start()
    figures = run()
    sampler.cancel()
    after = _cpu_by_process(workers), _cpu_by_process(_backends(database))
    requests = max(1, figures["requests"])
    for name, start, end in (("server", before[0], after[0]), ("database", before[1], after[1])):
        spent = sum(seconds - start.get(pid, 0.0) for pid, seconds in end.items())
        figures[f"{name}_cpu_ms"] = 1000 * spent / requests
    figures["connections"] = "/".join(map(str, split))
    return figures


def bench_size(size: int, duration: int, reseed: bool) -> dict[str, Any]:
    url, token, seeded = asyncio.run(prepare(size, reseed))
    process, base = start_server(url)
    try:
        if not seeded:
            asyncio.run(seed(url, size, base, token))
        headers = {"Authorization": f"Bearer {token}"}
        # Main contacts of cases that are not archived (as SEED_CASES_SQL decides), asked in
        # lower case (one in four is stored with a capital).
        live = (g for g in random.sample(range(1, size + 1), 2000) if not archived(g))
        emails = [f"client{g}%40example.com" for g in live][:1000]
        one = httpx.get(f"{base}/v1/cases?contact[email]={emails[0]}", headers=headers)
        assert one.status_code == 200 and one.json()["meta"]["total_count"] == 1, one.text
        listed = httpx.get(base + LIST_PATH, headers=headers).json()
        assert len(listed["data"]) == 100, listed
        counted = httpx.get(base + COUNT_PATH, headers=headers).json()
        counted_f = httpx.get(base + COUNT_FILTERED_PATH, headers=headers).json()
        assert counted_f["count"] == listed["meta"]["total_count"], (counted_f, listed["meta"])
        wrk(base, "/bench/floor", token, 3)  # warm up every worker
        script = ROTATE_LUA % ",".join(f'"{email}"' for email in emails)
        database = url.rsplit("/", 1)[1]
        port = int(base.rsplit(":", 1)[1])
        runs: dict[str, tuple[str, str | None]] = {
            "floor": (f"/bench/floor?size={len(one.content)}", None),
            "contact": ("/", script),
            "list": (LIST_PATH, None),
            "count": (COUNT_PATH, None),
            "count_f": (COUNT_FILTERED_PATH, None),
        }
        results = {
            name: with_cpu(
                process, port, database, partial(wrk, base, path, token, duration, script)
            )
            for name, (path, script) in runs.items()
        }
        return {
            "size": size,
            "contact_bytes": len(one.content),
            "list_bytes": len(json.dumps(listed)),
            "list_matches": listed["meta"]["total_count"],
            "count": counted["count"],
            "load": os.getloadavg(),
            "cpu_probe_s": cpu_probe(),
            "results": results,
        }
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--duration", type=int, default=20, help="seconds per endpoint")
    parser.add_argument("--reseed", action="store_true", help="seed again from nothing")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    started_load = os.getloadavg()
    started_probe = cpu_probe()
    runs = [bench_size(size, args.duration, args.reseed) for size in sizes]

    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, wrk -t2 -c{CONCURRENCY} -d{args.duration}s; load average "
        f"before {started_load[0]:.2f}, after {runs[-1]['load'][0]:.2f}; "
        f"cpu probe {started_probe:.2f} s before, {runs[-1]['cpu_probe_s']:.2f} s after"
    )
    print(
        f"{'cases':>9} {'endpoint':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
        f" {'CPU ms/request: server':>23} {'PostgreSQL':>10} {'connections':>12}"
    )
    for outcome in runs:
        for name, figures in outcome["results"].items():
            print(
                f"{outcome['size']:>9} {name:<8} {figures['rps']:>9.0f} "
                f"{figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f} {figures['non_2xx']:>8}"
                f" {figures['server_cpu_ms']:>23.2f} {figures['database_cpu_ms']:>10.2f}"
                f" {figures['connections']:>12}"
            )
        print(
            f"{'':>9} list matches {outcome['list_matches']} cases ({outcome['list_bytes']} "
            f"bytes a page); contact answers {outcome['contact_bytes']} bytes; "
            f"count {outcome['count']}"
        )
    largest = runs[-1]["results"]
    checks = [
        ("contact list p99 <= 50 ms", largest["contact"]["p99_ms"], 50),
        ("status list p99 <= 50 ms", largest["list"]["p99_ms"], 50),
        ("count p99 <= 100 ms", largest["count"]["p99_ms"], 100),
        ("filtered count p99 <= 100 ms", largest["count_f"]["p99_ms"], 100),
    ]
    print(f"\ntargets at {sizes[-1]} cases:")
    for label, value, limit in checks:
        print(f"  {label:<36} {value:8.2f}  {'met' if value <= limit else 'NOT MET'}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cases.json").write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
