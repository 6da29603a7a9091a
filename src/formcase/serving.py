"""`formcase serve --workers N`: server processes that share new connections out evenly.

uvicorn's processes all listen on one socket, and the first to wake takes every connection
waiting. A client's keep-alive connections stay where they landed: `wrk`'s 16 came out 2 and
14 in four of six runs, and the process with 14 answered its clients several times slower
than the one with 2 (docs/benchmarks.md). A proxy's pool of upstream connections lands the
same way.

Here each process writes how many connections it holds into a small table shared through a
file, and takes a new connection only while it holds at most one more than the process with
the fewest; otherwise it leaves the connection to the others, for at most
`FORMCASE_SERVE_LEAVE_MS` (10 ms: a process busy with a long request, or gone, does not keep a
client waiting longer). It is plugged in as uvicorn's event loop (`--loop`, an extension point
of uvicorn's): uvloop's loop, whose `create_server` on the shared socket accepts in turn
instead of at once.

The same loop caps the connections a process holds (`FORMCASE_MAX_CONNECTIONS`, one process
or several): at the cap it accepts none until one closes, and says so. Over it, slow clients
holding connections open used up the process's open files (1,024 with a common `ulimit -n`),
and every other request failed, unlogged; now they wait in the listening socket's backlog,
and connections.py closes those that do not send their headers in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import resource
import socket
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import uvloop

from formcase.config import Settings
from formcase.connections import Throttled

log = logging.getLogger("formcase.serving")

TABLE_ENV = "FORMCASE_SERVE_TABLE"
LOOP_FACTORY = "formcase.serving:new_event_loop"
POLL_SECONDS = 0.001  # the others' counts change in shared memory: polled
CAP_POLL_SECONDS = 0.05  # at the cap: how often the held connections are counted again
SPARE_FILES = 128  # open files a process keeps for its database pool, storage, logs…
_ENTRY = struct.Struct("qq")  # pid, open connections
_at_cap = Throttled(
    "holding %d connections, the most FORMCASE_MAX_CONNECTIONS allows: new ones wait to be accepted"
)


@contextlib.contextmanager
def shared_table(processes: int) -> Iterator[Path]:
    """A table for `processes` server processes (twice as many entries, so that a process
    restarting finds a free one while the one it replaces is still there), removed after."""
    with tempfile.NamedTemporaryFile(prefix="formcase-serve-", suffix=".table") as file:
        file.write(bytes(_ENTRY.size * processes * 2))
        file.flush()
        yield Path(file.name)


class Table:
    """This process's entry in the shared table, and the others' connection counts."""

    def __init__(self, path: Path) -> None:
        self.pid = os.getpid()
        with path.open("r+b") as file:
            self.memory = mmap.mmap(file.fileno(), 0)
            fcntl.flock(file, fcntl.LOCK_EX)  # two processes starting must not take one entry
            try:
                self.offset = self._free_entry()
                _ENTRY.pack_into(self.memory, self.offset, self.pid, 0)
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)

    def _entries(self) -> Iterator[tuple[int, int, int]]:
        for offset in range(0, len(self.memory), _ENTRY.size):
            yield offset, *_ENTRY.unpack_from(self.memory, offset)

    def _free_entry(self) -> int:
        for offset, pid, _ in self._entries():
            if pid == 0 or not _alive(pid):
                return offset
        raise RuntimeError("no free entry in the server processes' table")

    def publish(self, connections: int) -> None:
        _ENTRY.pack_into(self.memory, self.offset, self.pid, connections)

    def fewest_elsewhere(self) -> int | None:
        """The fewest connections another live process holds (None: there is no other)."""
        counts = [
            count for _, pid, count in self._entries() if pid not in (0, self.pid) and _alive(pid)
        ]
        return min(counts, default=None)

    def my_turn(self, connections: int) -> bool:
        self.publish(connections)
        fewest = self.fewest_elsewhere()
        return fewest is None or connections <= fewest + 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TakingTurns:
    """What `create_server` returns: accepts connections on the listening socket, in turn with
    the other processes if there are (`table`), while this one holds fewer than
    `max_connections`, until closed (uvicorn only closes it and waits for it)."""

    def __init__(
        self,
        loop: ServingLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl: Any,
        backlog: int,
        table: Table | None,
        leave_seconds: float,
        max_connections: int,
        owns_socket: bool,
    ) -> None:
        self.loop, self.sock, self.protocol_factory, self.ssl = loop, sock, protocol_factory, ssl
        self.sockets = [sock]  # uvicorn names the address it listens on from these
        self.table, self.max_connections, self.owns_socket = table, max_connections, owns_socket
        self.polls = max(1, round(leave_seconds / POLL_SECONDS))
        self.transports: set[asyncio.BaseTransport] = set()
        self.fd = sock.fileno()  # kept: uvicorn closes the socket while we may still wait on it
        sock.setblocking(False)
        sock.listen(backlog)  # uvicorn binds the socket; create_server listens
        self.task = loop.create_task(self._accept_in_turn())

    def connections(self) -> int:
        self.transports = {t for t in self.transports if not t.is_closing()}
        return len(self.transports)

    async def _readable(self) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self.loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            self.loop.remove_reader(self.fd)

    async def _below_cap(self) -> None:
        if self.connections() < self.max_connections:
            return
        _at_cap(self.max_connections)
        # a connection closing is not signalled to the loop, so the count is polled
        while self.connections() >= self.max_connections:  # noqa: ASYNC110
            await asyncio.sleep(CAP_POLL_SECONDS)

    async def _accept_in_turn(self) -> None:
        while True:
            await self._below_cap()
            await self._readable()
            for _ in range(self.polls if self.table else 0):
                if self.table.my_turn(self.connections()):  # type: ignore[union-attr]
                    break
                await asyncio.sleep(POLL_SECONDS)
            try:
                connection, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another process took it
            except OSError as exc:  # out of file descriptors, say: wait, then try again
                log.warning("cannot accept a connection: %s", exc)
                await asyncio.sleep(0.1)
                continue
            connection.setblocking(False)
            try:
                transport, _ = await self.loop.connect_accepted_socket(
                    self.protocol_factory, connection, ssl=self.ssl
                )
            except OSError as exc:  # the client left during the TLS handshake, say
                log.info("connection dropped on arrival: %s", exc)
                connection.close()
                continue
            # uvloop's stub calls the transport a protocol
            self.transports.add(cast(asyncio.BaseTransport, transport))

    def close(self) -> None:
        self.loop.remove_reader(self.fd)  # now, while the socket is still open
        self.task.cancel()
        if self.owns_socket:
            self.sock.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class ServingLoop(uvloop.Loop):
    def __init__(self, table: Table | None, leave_seconds: float, max_connections: int) -> None:
        super().__init__()
        self.table, self.leave_seconds = table, leave_seconds
        self.max_connections = max_connections

    async def create_server(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
    ) -> Any:
        sock, owns_socket = kwargs.get("sock"), False
        if sock is None and not args and "port" in kwargs:  # one process: uvicorn's address
            host = kwargs.get("host")
            family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
            sock, owns_socket = (
                socket.create_server((host or "", kwargs["port"]), family=family),
                True,
            )
        if args or sock is None:
            return await super().create_server(protocol_factory, *args, **kwargs)
        ssl, backlog = kwargs.get("ssl"), kwargs.get("backlog", 100)
        return TakingTurns(
            self,
            sock,
            protocol_factory,
            ssl,
            backlog,
            self.table,
            self.leave_seconds,
            self.max_connections,
            owns_socket,
        )


def connections_allowed(wanted: int) -> int:
    """`wanted`, or fewer if the open files limit leaves room for fewer: the soft limit is
    raised toward the hard one first (as Go's runtime does at start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft != resource.RLIM_INFINITY and soft - SPARE_FILES < wanted:
        allowed = max(1, soft - SPARE_FILES)
        log.warning(
            "the open files limit (%d) leaves room for %d connections per process, not the "
            "%d of FORMCASE_MAX_CONNECTIONS",
            soft,
            allowed,
            wanted,
        )
        return allowed
    return wanted


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop (`--loop`, a custom loop factory) in `formcase serve`'s processes: one
    that caps the connections it holds and, with several processes (the table's path is in
    the environment), takes turns with the others."""
    settings = Settings()
    path = os.environ.get(TABLE_ENV)
    return ServingLoop(
        Table(Path(path)) if path else None,
        settings.serve_leave_ms / 1000,
        connections_allowed(settings.max_connections),
    )
