"""Requests and their database sessions: at most `database_pool_size` at once per pool, given
in the order the requests asked, and given back before the response is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.requests import Request
from starlette.types import Message

from formcase.app import create_app
from formcase.config import Settings
from formcase.db.engine import get_session
from tests.helpers import Tenant


@asynccontextmanager
async def app_with_one_session_per_pool(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"database_pool_size": 1}))
    async with app.router.lifespan_context(app):
        yield app


async def test_requests_get_their_sessions_in_the_order_they_asked(settings: Settings) -> None:
    async with app_with_one_session_per_pool(settings) as app:
        opened: list[str] = []
        done = {name: asyncio.Event() for name in "ABCD"}

        async def request(name: str) -> None:
            sessions = get_session(Request({"type": "http", "method": "GET", "app": app}))
            await anext(sessions)
            opened.append(name)
            await done[name].wait()
            await anext(sessions, None)  # the request ends: its session closes

        first = asyncio.create_task(request("A"))
        waiting = [asyncio.create_task(request(name)) for name in "BC"]
        await asyncio.sleep(0.05)
        assert opened == ["A"], "a second session opened while the only one was in use"

        done["A"].set()
        await first
        # D asks as A's session is given back, before B (woken for it) has run: it must not
        # go before B and C, who asked earlier.
        late = asyncio.create_task(request("D"))
        for name in "BCD":
            done[name].set()
        await asyncio.wait_for(asyncio.gather(*waiting, late), 10)
        assert opened == ["A", "B", "C", "D"]


async def test_a_client_slow_to_read_its_response_holds_no_session(
    settings: Settings, tenant: Tenant
) -> None:
    """With one session per pool, a request whose client has not read its response yet does
    not keep the next request from the database."""
    async with app_with_one_session_per_pool(settings) as app:
        reading = asyncio.Event()
        body_sent = asyncio.Event()

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                body_sent.set()
                await reading.wait()  # the client is slow to read

        headers = [(b"authorization", tenant.headers["Authorization"].encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/cases",
            "raw_path": b"/v1/cases",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"t.test"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("t.test", 80),
        }
        slow = asyncio.create_task(app(scope, receive, send))
        await asyncio.wait_for(body_sent.wait(), 10)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            listed = await asyncio.wait_for(client.get("/v1/cases", headers=tenant.headers), 10)
            created = await asyncio.wait_for(
                client.post("/v1/cases", headers=tenant.headers, json={"title": "Next"}), 10
            )
        assert listed.status_code == 200, listed.text
        assert created.status_code == 200, created.text
        assert not slow.done()
        reading.set()
        await asyncio.wait_for(slow, 10)
