"""Deliveries in commit order, per subscription and per object (issue 19): a receiver that
answers slowly and refuses the first attempt of `forms:created` gets nothing more about that
form until it has taken it, and never an older state after a newer one; another form's
messages meanwhile are not held up. Through the API and the test app's own worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from formcase.config import Settings
from tests.conftest import MakeTenant
from tests.webhooks.conftest import Received, Receiver, subscribe

SURVEY = Path(__file__).parents[1] / "fill" / "survey.yaml"
pytestmark = pytest.mark.usefixtures("allow_private")


@dataclass
class SlowAndRefusing:
    """Answers after a pause; refuses `forms:created` until it has refused it once and
    taken a message about `other_form` (which, were it held up behind the refused one,
    would never come: the test would time out). `taken`: the messages answered 200, in the
    order they were."""

    other_form: str = ""
    refused: list[str] = field(default_factory=list)
    taken: list[dict[str, Any]] = field(default_factory=list)

    async def answer(self, call: Received) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        message = call.json
        if "forms:created" in message["events"]:
            other_taken = any(m["request"]["id"] == self.other_form for m in self.taken)
            if not self.refused or not other_taken:
                self.refused.append(message["request"]["id"])
                return web.Response(status=503, text="not now")
        self.taken.append(message)
        return web.Response(text="ok")


async def until(condition: Any, what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_one_objects_messages_arrive_in_commit_order_and_others_go_on(
    client: httpx.AsyncClient,
    make_tenant: MakeTenant,
    receiver: Receiver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    app: Any,
) -> None:
    if getattr(app.state, "worker", None) is None:
        pytest.skip("the test app runs no worker")
    monkeypatch.setattr(settings, "job_backoff_seconds", 0.3)  # retries come soon
    tenant = await make_tenant(template_files=[SURVEY])
    other = await client.post(
        "/v1/forms", json={"flow": {"slug": "survey"}}, headers=tenant.headers
    )
    hook = SlowAndRefusing(other_form=other.json()["id"])  # made first: its creation unheard
    receiver.answers["/ordered"] = hook.answer
    subscription = await subscribe(client, tenant, receiver, "/ordered")

    created = await client.post(
        "/v1/forms", json={"flow": {"slug": "survey"}}, headers=tenant.headers
    )
    form = created.json()
    fill = form["links"]["fill"].replace("http://127.0.0.1:8000", "") + "/api/"
    answers = {"name": "Jo", "kind": "person"}
    assert (await client.post(fill + "steps/about", json={"data": answers})).status_code == 200
    answers = {"name": "Jo Doe", "kind": "person"}
    assert (await client.post(fill + "steps/about", json={"data": answers})).status_code == 200
    end = await client.post(fill + "steps/end", json={"data": {"agree": True}})
    assert end.status_code == 200
    assert (await client.post(fill + "submit")).status_code == 200
    archived = await client.patch(
        f"/v1/forms/{hook.other_form}", json={"archived": True}, headers=tenant.headers
    )
    assert archived.status_code == 200

    def completed() -> bool:
        return any("responses:completed" in m["events"] for m in hook.taken)

    await until(completed, "responses:completed taken")
    where = f"/v1/webhooks/{subscription['id']}/deliveries"

    async def settled() -> bool:  # every delivery ended: nothing stale is still to come
        listing = await client.get(where, params={"status": "pending"}, headers=tenant.headers)
        return bool(listing.json()["meta"]["total_count"] == 0)

    for _ in range(600):
        if await settled():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("deliveries still pending")
    about_form = [m for m in hook.taken if m["request"]["id"] == form["id"]]
    assert hook.refused[0] == form["id"]  # its creation was refused first
    assert about_form[0]["events"] == ["forms:created"]
    assert about_form[0]["request"]["status"] == "pending"
    sequences = [m["sequence"] for m in about_form]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert "responses:completed" in about_form[-1]["events"]  # nothing stale after it
    assert about_form[-1]["request"]["status"] == "completed"
    # the other form's message went while this form's creation was being refused
    position = {id(m): n for n, m in enumerate(hook.taken)}
    other_first = min(position[id(m)] for m in hook.taken if m["request"]["id"] == hook.other_form)
    assert other_first < position[id(about_form[0])]
