"""Events become deliveries (one per subscription and batch, the body frozen), and the
worker's handler sends them to a real receiver that checks both signatures on every call."""

from __future__ import annotations

import re
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from formcase.config import Settings
from formcase.events.models import Job
from formcase.webhooks.jobs import DeliveryFailed, deliver
from formcase.webhooks.models import WebhookDelivery, WebhookSubscription
from formcase.worker.registry import JobContext, RetryLater
from tests.helpers import Tenant
from tests.webhooks.conftest import Received, Receiver, make_form, publish, subscribe

pytestmark = pytest.mark.usefixtures("allow_private")


def context(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, attempt: int = 1
) -> JobContext:
    return JobContext(sessionmaker, settings, uuid.uuid4(), attempt)


def calls(receiver: Receiver, delivery: WebhookDelivery) -> list[Received]:
    """The receiver's calls for this delivery (the app's own worker may send others: the
    forms:created of the forms the tests make)."""
    return [call for call in receiver.received if call.headers["webhook-id"] == str(delivery.id)]


def last_attempt(settings: Settings) -> int:
    return int(getattr(settings, "job_max_attempts", 10))


async def listed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    subscription: dict[str, Any],
    delivery: WebhookDelivery,
) -> dict[str, Any]:
    """The delivery as GET /v1/webhooks/{id}/deliveries shows it."""
    response = await client.get(
        f"/v1/webhooks/{subscription['id']}/deliveries",
        params={"page[size]": "100"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    [found] = [item for item in response.json()["data"] if item["id"] == str(delivery.id)]
    assert found["events"] == delivery.events
    assert found["subscription_id"] == subscription["id"]
    return found  # type: ignore[no-any-return]


async def test_enqueue_makes_one_delivery_per_subscription_and_batch(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: their forms:created go to no one
    other_form = await make_form(client, tenant)
    everything = await subscribe(client, tenant, receiver, "/ok")
    completed_only = await subscribe(client, tenant, receiver, "/ok2", ["responses:completed"])
    await subscribe(client, tenant, receiver, "/never", ["forms:deleted"])
    async with sessionmaker() as session:
        from formcase.webhooks import service

        await service.subscribe_form(
            session,
            uuid.UUID(form["id"]),
            tenant.id,
            service.check_form_webhooks(
                {receiver.url("/form-own"): ["requests:updated"]}, settings
            ),
            settings,
        )
        await service.subscribe_form(
            session,
            uuid.UUID(other_form["id"]),
            tenant.id,
            {receiver.url("/other-form"): ["*"]},
            settings,
        )
        await session.commit()
    response_id = uuid.uuid4()
    batch_id, deliveries = await publish(
        sessionmaker,
        form,
        ["responses:updated", "responses:completed", "forms:updated"],
        subject=("responses", response_id),
    )
    by_subscription = {str(d.subscription_id): d for d in deliveries}
    assert len(deliveries) == 3  # everything, completed-only, the form's own; not /never
    full = orjson.loads(by_subscription[everything["id"]].body)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", full.pop("occurred_at"))
    assert full == {
        "events": ["responses:updated", "responses:completed", "forms:updated"],
        "data": {"type": "responses", "id": str(response_id)},
        "request": form,
        "sequence": 2,  # the form's second change (its creation was the first)
    }
    partial = by_subscription[completed_only["id"]]
    assert partial.events == ["responses:completed"]
    assert orjson.loads(partial.body)["events"] == ["responses:completed"]
    own = next(d for d in deliveries if d.events == ["forms:updated"])
    assert orjson.loads(own.body)["request"]["id"] == form["id"]
    assert all(d.status == "pending" and d.batch_id == batch_id for d in deliveries)
    async with sessionmaker() as session:
        jobs = (
            await session.execute(
                select(Job).where(Job.kind == "webhook", Job.workspace_id == tenant.id)
            )
        ).scalars()
        queued = {job.payload["delivery_id"] for job in jobs}
    assert {str(d.id) for d in deliveries} <= queued
    # an inactive subscription gets nothing
    await client.patch(
        f"/v1/webhooks/{completed_only['id']}", json={"active": False}, headers=tenant.headers
    )
    _, later = await publish(sessionmaker, form, ["responses:completed"])
    assert [str(d.subscription_id) for d in later] == [everything["id"]]


async def test_delivered_with_both_signatures(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/ok")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    [call] = calls(receiver, delivery)
    assert call.body == delivery.body
    assert call.headers["webhook-id"] == str(delivery.id)
    assert call.json["events"] == ["forms:created"]
    assert call.json["request"]["id"] == form["id"]
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "delivered"
    assert shown["delivered_at"] is not None
    assert shown["attempt_count"] == 1
    [attempt] = shown["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["response_body"].startswith("thanks x")
    assert len(attempt["response_body"]) == 2000
    assert attempt["duration_ms"] >= 0
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert keys and all(
        key["use"] == "sig" and key["alg"] == "RS256" and key["kty"] == "RSA" for key in keys
    )
    assert all("d" not in key for key in keys)


async def test_receiver_500_is_retried_with_the_same_id_and_recorded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/fail")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    for attempt in (1, 2):
        with pytest.raises(DeliveryFailed, match="HTTP 500"):
            await deliver(
                context(sessionmaker, settings, attempt), {"delivery_id": str(delivery.id)}
            )
    sent = calls(receiver, delivery)
    assert len(sent) == 2
    assert sent[0].body == sent[1].body == delivery.body
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "pending"
    assert shown["attempt_count"] == 2
    assert [a["status_code"] for a in shown["attempts"]] == [500, 500]
    assert shown["attempts"][0]["response_body"] == "receiver says no"
    assert shown["attempts"][0]["error"] == "HTTP 500"


async def test_receiver_down_then_up(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    response = await client.post(
        "/v1/webhooks",
        json={"url": f"http://127.0.0.1:{port}/hook", "events": ["*"]},
        headers=tenant.headers,
    )
    subscription = response.json()
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    with pytest.raises(DeliveryFailed, match="ConnectError"):
        await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "pending"
    [attempt] = shown["attempts"]
    assert attempt["status_code"] is None
    assert "ConnectError" in attempt["error"]
    # the receiver comes back (at the URL the subscription is moved to)
    await client.patch(
        f"/v1/webhooks/{subscription['id']}",
        json={"url": receiver.url("/flaky")},
        headers=tenant.headers,
    )
    receiver.secrets["/flaky"] = subscription["secret"]
    with pytest.raises(DeliveryFailed, match="HTTP 503"):
        await deliver(context(sessionmaker, settings, 2), {"delivery_id": str(delivery.id)})
    receiver.flaky_up = True
    await deliver(context(sessionmaker, settings, 3), {"delivery_id": str(delivery.id)})
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "delivered"
    assert [a["status_code"] for a in shown["attempts"]] == [200, 503, None]
    assert [call.path for call in calls(receiver, delivery)] == ["/flaky", "/flaky"]


async def test_retry_after_of_a_busy_receiver_sets_the_next_try(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/busy")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    with pytest.raises(RetryLater, match="HTTP 429") as raised:
        await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    assert raised.value.after == timedelta(seconds=7)
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["attempts"][0]["status_code"] == 429
    assert shown["attempts"][0]["response_body"] == "slow down"


async def test_slow_receiver_times_out(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "webhook_timeout_seconds", 1.0)
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/slow")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    with pytest.raises(DeliveryFailed, match="timed out after 1 s"):
        await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    shown = await listed(client, tenant, subscription, delivery)
    [attempt] = shown["attempts"]
    assert attempt["error"].startswith("timed out after 1 s")
    assert 900 <= attempt["duration_ms"] < 2900


async def test_redirect_is_not_followed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/redirect")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    with pytest.raises(DeliveryFailed, match="redirects are not followed"):
        await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    assert [call.path for call in calls(receiver, delivery)] == ["/redirect"]
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["attempts"][0]["status_code"] == 302
    assert shown["status"] == "pending"


async def test_private_address_refused_at_delivery_without_the_setting(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/ok")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    monkeypatch.setattr(settings, "webhook_allow_private", False)
    # refused: the delivery fails at once (no retry: the handler returns)
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "failed" and shown["attempt_count"] == 1
    assert shown["attempts"][0]["error"].startswith("refused: ")
    assert "must start with https://" in shown["attempts"][0]["error"]
    # an https URL to a loopback address (as if the name had come to resolve there), sent
    # again (a redelivery)
    async with sessionmaker() as session:
        row = await session.get(WebhookSubscription, uuid.UUID(subscription["id"]))
        assert row is not None
        row.url = "https://127.0.0.1:1/ok"
        await session.commit()
    await deliver(context(sessionmaker, settings, 2), {"delivery_id": str(delivery.id)})
    assert calls(receiver, delivery) == []
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "failed"
    assert [a["status_code"] for a in shown["attempts"]] == [None, None]
    errors = [attempt["error"] for attempt in shown["attempts"]]
    assert any("'127.0.0.1' is a loopback address: refused" in e for e in errors), errors


async def test_disabled_after_consecutive_dead_deliveries(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "webhook_disable_after", 2)
    final = last_attempt(settings)
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/fail")
    made = [(await publish(sessionmaker, form, ["forms:updated"]))[1][0] for _ in range(3)]
    # not the last attempt: pending, no count
    with pytest.raises(DeliveryFailed):
        await deliver(context(sessionmaker, settings, final - 1), {"delivery_id": str(made[0].id)})
    read = (await client.get(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)).json()
    assert read["consecutive_failures"] == 0
    # the last attempt: dead, counted
    with pytest.raises(DeliveryFailed):
        await deliver(context(sessionmaker, settings, final), {"delivery_id": str(made[0].id)})
    read = (await client.get(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)).json()
    assert read["consecutive_failures"] == 1
    assert read["active"] is True
    with pytest.raises(DeliveryFailed):
        await deliver(context(sessionmaker, settings, final), {"delivery_id": str(made[1].id)})
    read = (await client.get(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)).json()
    assert read["active"] is False
    assert read["consecutive_failures"] == 2
    assert "after 2 consecutive deliveries failed" in read["disabled_reason"]
    assert "HTTP 500" in read["disabled_reason"]
    # a disabled subscription's deliveries fail without a call, and are not retried
    await deliver(context(sessionmaker, settings), {"delivery_id": str(made[2].id)})
    assert calls(receiver, made[2]) == []
    assert (await listed(client, tenant, subscription, made[0]))["status"] == "dead"
    assert (await listed(client, tenant, subscription, made[1]))["status"] == "dead"
    shown = await listed(client, tenant, subscription, made[2])
    assert shown["status"] == "failed"
    assert "not active" in shown["attempts"][0]["error"]
    # and no new deliveries are made for it
    _, later = await publish(sessionmaker, form, ["forms:updated"])
    assert later == []


async def test_success_resets_the_failure_count(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/flaky")
    _, [first] = await publish(sessionmaker, form, ["forms:updated"])
    _, [second] = await publish(sessionmaker, form, ["forms:updated"])
    with pytest.raises(DeliveryFailed):
        await deliver(
            context(sessionmaker, settings, last_attempt(settings)),
            {"delivery_id": str(first.id)},
        )
    read = (await client.get(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)).json()
    assert read["consecutive_failures"] == 1
    receiver.flaky_up = True
    await deliver(context(sessionmaker, settings), {"delivery_id": str(second.id)})
    read = (await client.get(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)).json()
    assert read["consecutive_failures"] == 0


async def test_redeliver_sends_the_same_delivery_again(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/ok")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    response = await client.post(
        f"/v1/webhooks/{subscription['id']}/deliveries/{delivery.id}/redeliver",
        headers=tenant.headers,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"delivery_id": str(delivery.id), "status": "pending"}
    async with sessionmaker() as session:
        jobs = (
            await session.execute(
                select(Job).where(Job.kind == "webhook", Job.workspace_id == tenant.id)
            )
        ).scalars()
        assert [job.payload for job in jobs].count({"delivery_id": str(delivery.id)}) == 2
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    sent = calls(receiver, delivery)
    assert len(sent) >= 2  # the app's worker may have sent it too: at least once
    assert {call.body for call in sent} == {delivery.body}
    shown = await listed(client, tenant, subscription, delivery)
    assert shown["status"] == "delivered"
    assert shown["attempt_count"] >= 2


async def test_deleted_subscription_leaves_nothing_to_send(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/ok")
    _, [delivery] = await publish(sessionmaker, form, ["forms:created"])
    await client.delete(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    assert calls(receiver, delivery) == []
    async with sessionmaker() as session:
        assert await session.get(WebhookDelivery, delivery.id) is None


async def test_a_rotated_secret_signs_next_to_the_new_one_for_the_overlap(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rotation keeps the old secret valid for the overlap (24 h by default): both sign,
    space-separated in `webhook-signature`, and the official library accepts the message
    with either. `overlap_seconds: 0` (or the setting at 0) ends the old one at once."""
    form = await make_form(client, tenant)  # first: its forms:created goes to no one
    subscription = await subscribe(client, tenant, receiver, "/ok")
    where = f"/v1/webhooks/{subscription['id']}/secret"
    old = subscription["secret"]
    assert subscription["previous_secret_expires_at"] is None
    response = await client.post(where, headers=tenant.headers)
    assert response.status_code == 200, response.text
    rotated = response.json()
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    overlap_ends = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert timedelta(hours=23) < overlap_ends - datetime.now(UTC) <= timedelta(hours=24)

    receiver.secrets["/ok"] = (old, new)  # the receiver checks that each one verifies
    _, [delivery] = await publish(sessionmaker, form, ["forms:updated"])
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    [call] = calls(receiver, delivery)
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    read = await client.get(f"/v1/webhooks/{subscription['id']}", headers=tenant.headers)
    assert "secret" not in read.json()
    assert read.json()["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]

    # a leaked secret: no overlap; the secret in its overlap ends too
    response = await client.post(where, json={"overlap_seconds": 0}, headers=tenant.headers)
    newest = response.json()["secret"]
    assert response.json()["previous_secret_expires_at"] is None
    receiver.secrets["/ok"] = newest
    _, [delivery] = await publish(sessionmaker, form, ["forms:updated"])
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    [call] = calls(receiver, delivery)
    assert len(call.headers["webhook-signature"].split(" ")) == 1
    for ended in (old, new):
        with pytest.raises(WebhookVerificationError):
            Webhook(ended).verify(call.body, call.headers)

    # the server's setting: no overlap
    monkeypatch.setattr(settings, "webhook_secret_overlap_seconds", 0)
    response = await client.post(where, headers=tenant.headers)
    assert response.json()["previous_secret_expires_at"] is None
    receiver.secrets["/ok"] = response.json()["secret"]
    _, [delivery] = await publish(sessionmaker, form, ["forms:updated"])
    await deliver(context(sessionmaker, settings), {"delivery_id": str(delivery.id)})
    [call] = calls(receiver, delivery)
    with pytest.raises(WebhookVerificationError):
        Webhook(newest).verify(call.body, call.headers)

    for wrong in ({"overlap_seconds": -1}, {"overlap_seconds": "a day"}, {"overlap": 60}):
        response = await client.post(where, json=wrong, headers=tenant.headers)
        assert response.status_code == 400, response.text
        assert "overlap" in response.json()["message"]


async def test_the_test_event_sends_a_signed_ping_now_and_answers_how_it_went(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    working = await subscribe(client, tenant, receiver, "/ok", ["responses:completed"])
    response = await client.post(f"/v1/webhooks/{working['id']}/test", headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    [call] = [c for c in receiver.received if c.headers["webhook-id"] == answer["id"]]
    assert call.json["events"] == ["ping"]  # signatures: checked by the receiver
    assert call.json["data"] == {"type": "webhooks", "id": working["id"]}
    assert answer["events"] == ["ping"] and answer["status"] == "delivered"
    attempt = answer["attempt"]
    assert attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["response_body"].startswith("thanks x") and attempt["duration_ms"] >= 0

    failing = await subscribe(client, tenant, receiver, "/fail")
    await client.patch(  # off: a test still goes, to try a receiver before turning it on
        f"/v1/webhooks/{failing['id']}", json={"active": False}, headers=tenant.headers
    )
    response = await client.post(f"/v1/webhooks/{failing['id']}/test", headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "failed"
    assert answer["attempt"]["status_code"] == 500
    assert answer["attempt"]["error"] == "HTTP 500"
    assert answer["attempt"]["response_body"] == "receiver says no"
    # not a delivery: nothing listed, nothing counted against the subscription
    listing = await client.get(f"/v1/webhooks/{failing['id']}/deliveries", headers=tenant.headers)
    assert listing.json()["data"] == []
    read = await client.get(f"/v1/webhooks/{failing['id']}", headers=tenant.headers)
    assert read.json()["consecutive_failures"] == 0
