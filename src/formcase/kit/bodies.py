"""Every request body is bounded: FORMCASE_MAX_BODY_BYTES for API objects, more only on the
routes where files travel, which say so with `body_limit`.

The limit is checked as the route reads its body, never before: routing has then named the
endpoint (so its own limit is known) and the /v1 gate has authenticated the caller. A body
that announces itself too large (Content-Length) is refused before a byte of it is read; one
sent in chunks is counted as it arrives and refused once over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from formcase.config import Settings

Endpoint = TypeVar("Endpoint", bound=Callable[..., object])

ATTRIBUTE = "__formcase_body_limit__"
OWN = "own"  # the route reads its body itself, within its own limits (streamed uploads)


def body_limit(limit: str | int) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint whose body may be larger than FORMCASE_MAX_BODY_BYTES: `limit` is the
    name of the setting that bounds it, a number of bytes, or OWN."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, ATTRIBUTE, limit)
        return endpoint

    return mark


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI lets it through from reading the body (it turns any
    other error there into a 400)."""

    def __init__(self, limit: int, setting: str | None) -> None:
        super().__init__(
            413,
            f"The request body is larger than the limit of {limit} bytes"
            + (f" ({setting})." if setting else "."),
        )


class BodyLimit:
    """ASGI middleware: counts the body a route reads against the route's limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit_of(self, scope: Scope) -> tuple[int | None, str | None]:
        """The route's limit in bytes (None: it bounds its body itself) and its setting."""
        marked = getattr(scope.get("endpoint"), ATTRIBUTE, "max_body_bytes")
        if marked == OWN:
            return None, None
        if isinstance(marked, int):
            return marked, None
        return getattr(self.settings, marked), f"FORMCASE_{marked.upper()}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        limit: int | None = None
        setting: str | None = None
        checked = False

        async def limited() -> Message:
            nonlocal received, limit, setting, checked
            if not checked:
                checked = True
                limit, setting = self.limit_of(scope)
                declared = Headers(scope=scope).get("content-length", "")
                if limit is not None and declared.isdigit() and int(declared) > limit:
                    raise BodyTooLarge(limit, setting)
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, limited, send)
