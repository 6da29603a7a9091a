"""What tests share besides fixtures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
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
