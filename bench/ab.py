"""A/B of one endpoint between versions of the code, on a benchmark's database.

Starts `formcase serve --workers 2` on each version in turn, on the database that
`bench/cases.py` seeded (run it once first) or, with `--bench forms`, `bench/forms.py`'s (made
when missing), warms it up, then drives one endpoint with
`wrk -t2 -c16` and prints req/s, p50/p99, failed answers, the CPU milliseconds a request
cost the server processes and PostgreSQL, and how wrk's connections were split between the
processes.
The versions alternate, pair after pair, so that the machine's changes of speed (large on a
shared machine) fall on every side; compare the versions within a pair.

    .venv/bin/python bench/ab.py cd89c9c . [--pairs 4] [--duration 15] [--path PATH]
    .venv/bin/python bench/ab.py HEAD~1 . --bench forms   # the page of 100 forms by default

A version is a git revision (checked out into a temporary worktree, removed at the end) or a
directory holding a checkout (`.` is the working tree). Each runs with its own `src/` first
on PYTHONPATH, with this checkout's virtualenv; versions whose migrations differ from the
database's cannot start, and the script says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import cases
import forms


def checkout(version: str, into: Path) -> Path:
    """The directory of `version`: itself when it is one, else a worktree of that revision."""
    if Path(version, "src", "formcase").is_dir():
        return Path(version).resolve()
    tree = into / version.replace("/", "_")
    added = subprocess.run(
        ["git", "-C", str(forms.ROOT), "worktree", "add", "--detach", str(tree), version],
        capture_output=True,
        text=True,
    )
    if added.returncode:
        raise SystemExit(f"{version} is neither a checkout nor a revision: {added.stderr}")
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("versions", nargs="+", help="git revisions or checkout directories")
    parser.add_argument("--pairs", type=int, default=4, help="rounds over all the versions")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--bench", choices=["cases", "forms"], default="cases")
    parser.add_argument("--path", help="the endpoint, with its query (default: the page of 100)")
    parser.add_argument("--size", type=int, default=1_000_000, help="the seeded database's")
    args = parser.parse_args()

    if args.bench == "cases":
        url, token, seeded = asyncio.run(cases.prepare(args.size, reseed=False))
        if not seeded:
            raise SystemExit(f"no seeded database: run bench/cases.py --sizes {args.size} first")
        path = args.path or cases.LIST_PATH
    else:
        url, token = asyncio.run(forms.prepare(args.size, reseed=False))
        path = args.path or forms.LIST_PATH
    database = url.rsplit("/", 1)[1]
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, wrk -t2 -c16 -d{args.duration}s on "
        f"{path}, {args.size} {args.bench}"
    )
    print(
        f"{'pair':>4} {'version':<16} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'server ms':>9} {'PostgreSQL ms':>13} {'connections':>11}"
    )
    with tempfile.TemporaryDirectory(prefix="formcase-ab-") as scratch:
        trees: dict[str, Path] = {}
        try:
            for version in args.versions:
                trees[version] = checkout(version, Path(scratch))
            for pair in range(1, args.pairs + 1):
                for version, tree in trees.items():
                    os.environ["PYTHONPATH"] = str(tree / "src")
                    try:
                        server, base = forms.start_server(url)
                    except SystemExit:
                        raise SystemExit(
                            f"{version} did not start (are its migrations the database's?)"
                        ) from None
                    try:
                        forms.wrk(base, path, token, 4)  # warm up both processes
                        port = int(base.rsplit(":", 1)[1])
                        run = partial(forms.wrk, base, path, token, args.duration)
                        figures = cases.with_cpu(server, port, database, run)
                    finally:
                        server.terminate()
                        server.wait(timeout=20)
                    print(
                        f"{pair:>4} {version:<16} {figures['rps']:>7.0f} "
                        f"{figures['p50_ms']:>7.2f} {figures['p99_ms']:>7.2f} "
                        f"{figures['non_2xx']:>7} {figures['server_cpu_ms']:>9.2f} "
                        f"{figures['database_cpu_ms']:>13.2f} {figures['connections']:>11}",
                        flush=True,
                    )
        finally:
            for tree in trees.values():
                if str(tree).startswith(scratch):
                    subprocess.run(
                        ["git", "-C", str(forms.ROOT), "worktree", "remove", "--force", str(tree)],
                        check=False,
                        capture_output=True,
                    )


if __name__ == "__main__":
    main()
