"""Bounds on what a client may make a server process hold before its request reaches the app:
the size and number of a request's header fields, and the time it may take to send them.

uvicorn's httptools protocol (what `uvicorn[standard]` runs) has neither: httptools gathers a
header of any size (a 100 MB header line took 14 s and 186 MB), any number of fields, and a
connection that sends its headers a byte a second is never closed. h11 bounds the head's size
but not its fields, and parses in Python. This is uvicorn's httptools protocol with the
bounds added; `formcase serve` runs it (`http=`, an extension point of uvicorn's). The cap on
connections a process holds is in serving.py, where connections are accepted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from formcase.config import Settings
from formcase.kit.errors import error_body

log = logging.getLogger("formcase.serving")

PROTOCOL = "formcase.connections:LimitedHttpToolsProtocol"


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    max_fields: int
    timeout_seconds: float


@functools.cache
def head_limits() -> HeadLimits:
    """Read once per server process (uvicorn's processes import the protocol by name)."""
    settings = Settings()
    return HeadLimits(
        settings.max_header_bytes, settings.max_header_fields, settings.header_timeout_seconds
    )


class Throttled:
    """A warning said at once, then at most once per `every` seconds: an attack makes
    thousands of them. The ones held back are counted into the next."""

    def __init__(self, message: str, level: int = logging.WARNING, every: float = 10.0) -> None:
        self.message, self.level, self.every = message, level, every
        self.last = -every
        self.held = 0

    def __call__(self, *args: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.held += 1
            return
        more = f" (and {self.held} more since the last such warning)" if self.held else ""
        log.log(self.level, self.message + more, *args)
        self.last, self.held = now, 0


_too_large = Throttled("refused a request from %s: %s")
_idle = Throttled("closed a connection from %s: no request within %g s", logging.INFO)
_too_slow = Throttled("closed a connection from %s: no complete headers within %g s")


class HeadRefused(Exception):
    """Raised inside httptools' callbacks: it stops parsing there."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose line and header fields pass
    `max_header_bytes` or whose fields pass `max_header_fields` (431), and closing a
    connection that has not sent a complete head `header_timeout_seconds` after it opened or
    after its previous answer (408 if it had started one)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = head_limits()
        self.reading_head = False
        self.head_started = False  # a head's first byte came
        self.received = 0  # bytes received while reading a head, by the chunk
        self.head_size = 0  # the head's bytes parsed so far, exactly
        self.head_fields = 0
        self.refusal: str | None = None
        self.head_timer: asyncio.TimerHandle | None = None

    def _await_head(self) -> None:
        self.reading_head = True
        self._stop_head_timer()
        self.head_timer = self.loop.call_later(self.limits.timeout_seconds, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn armed its keep-alive timer: the connection waits for a next request (when
        # a pipelined one, read already, started instead, no timer was armed)
        if self.timeout_keep_alive_task is not None:
            self._await_head()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # refused already
            return
        # uvicorn's, with the bounds: httptools gathers a header line whole before handing it
        # over, so its size is bounded here, by what arrives while a head is incomplete
        if self.reading_head:
            self.received += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self.refusal is not None:
                self._refuse_head(self.refusal)
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        if self.reading_head and self.received > self.limits.max_bytes:
            self._refuse_head(f"its line and header fields pass {self.limits.max_bytes} bytes")

    def _count(self, size: int) -> None:
        self.head_size += size
        if self.head_size > self.limits.max_bytes:
            self.refusal = f"its line and header fields pass {self.limits.max_bytes} bytes"
            raise HeadRefused(self.refusal)

    def on_message_begin(self) -> None:
        # the chunk this began in is counted exactly, by the callbacks
        self.reading_head, self.head_started = True, True
        self.received, self.head_size, self.head_fields = 0, 0, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        self.head_fields += 1
        if self.head_fields > self.limits.max_fields:
            self.refusal = f"it has more than {self.limits.max_fields} header fields"
            raise HeadRefused(self.refusal)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_head, self.head_started = False, False
        self._stop_head_timer()
        super().on_headers_complete()

    def _refuse_head(self, reason: str) -> None:
        _too_large(self._peer(), reason)
        self._stop_head_timer()
        self.reading_head = False
        message = (
            f"The request's header fields are too large: {reason}, the most this server reads."
        )
        self._answer_and_close(431, message)

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if not self.head_started:  # idle: a keep-alive connection, or a browser's preconnect
            if self.cycle is None:
                _idle(self._peer(), self.limits.timeout_seconds)
            self.transport.close()
            return
        _too_slow(self._peer(), self.limits.timeout_seconds)
        self.reading_head = False
        message = f"The request's headers did not arrive within {self.limits.timeout_seconds:g} s."
        self._answer_and_close(408, message)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"

    def _answer_and_close(self, status: int, message: str) -> None:
        body = json.dumps(error_body(status, message)).encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self.parser = None  # type: ignore[assignment]  # nothing more is read
