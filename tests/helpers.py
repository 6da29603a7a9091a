"""What tests share besides fixtures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Tenant:
    """A workspace of its own for one test, with a member, the demo templates and a token."""

    id: uuid.UUID
    slug: str
    token: str
    owner_email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def assert_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """An error is JSON of the documented shape, with a message naming what is wrong."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status
    assert body["error"]
    assert body["errors"][0]["status"] == str(status)
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body["message"])
    return body


def fill_api(form: dict[str, Any], path: str) -> str:
    """The path of a call of the fill API behind a form's link (`links.fill`)."""
    link: str = form["links"]["fill"]
    return link.replace("http://127.0.0.1:8000", "") + "/api/" + path


def clear_of_a_day_boundary(seconds: float = 60) -> None:
    """Wait past UTC midnight when it is less than `seconds` away. Rate-limit windows are
    aligned to the clock (the sliding-window counter weighs the previous window): requests
    on both sides of a boundary would not count down as a test expects."""
    left = 86_400 - time.time() % 86_400
    if left < seconds:
        time.sleep(left + 0.1)


async def eventually(condition: Callable[[], object], seconds: float = 5.0) -> bool:
    """Whether `condition()` comes true within `seconds`, polled every 10 ms: for what another
    connection delivers in the background (a LISTEN connection coming up, a NOTIFY)."""
    for _ in range(int(seconds * 100)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


class CountedPages:
    """Which pages of a list asked for a count. `recording(f)` is `f` noting the page being
    read each time it is called; `walk` reads pages 1 to 3 of a list with 2 matches, a page of
    one each (full, full, past the end), checks each says 2, and returns the pages that
    counted."""

    def __init__(self) -> None:
        self.page = 0
        self.counted: list[int] = []

    def recording(self, counting: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def recorded(*args: Any) -> Any:
            self.counted.append(self.page)
            return await counting(*args)

        return recorded

    async def walk(self, client: httpx.AsyncClient, url: str, tenant: Tenant) -> list[int]:
        self.counted = []
        for self.page in (1, 2, 3):
            response = await client.get(
                f"{url}&page[size]=1&page[number]={self.page}", headers=tenant.headers
            )
            assert response.status_code == 200, response.text
            assert response.json()["meta"]["total_count"] == 2, (url, self.page)
            assert len(response.json()["data"]) == (1 if self.page < 3 else 0), (url, self.page)
        return self.counted
