"""A real HTTP receiver on 127.0.0.1 that checks both signatures of every call it gets, and
what webhook tests share: subscriptions, events turned into deliveries, a worker's context."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from formcase.config import Settings
from formcase.events import service as outbox
from formcase.events.models import Event, Job
from formcase.kit.time import utcnow
from formcase.webhooks import service
from formcase.webhooks.models import WebhookDelivery
from tests.helpers import Tenant


def verify_penbox(
    headers: dict[str, str], body: bytes, url: str, jwks: dict[str, Any], issuer: str
) -> dict[str, Any]:
    """Penbox's way, as its signature-verification documentation does it: the JWT decoded
    with the issuer's JWKS (by a JOSE library, not by formcase's code), then its `digest`
    compared to the bare base64 of the raw body's SHA-512 and its `aud` to the URL called;
    the `Digest` header carries the same hash after `SHA-512=`."""
    hashed = base64.b64encode(hashlib.sha512(body).digest()).decode()
    assert headers["digest"] == "SHA-512=" + hashed
    keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    token = jwt.decode(headers["x-pnbx-signature"], keys, ["RS256"])
    assert token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": url},
        exp={"essential": True},
        leeway=5,
    ).validate(token.claims)  # raises on a wrong issuer or audience, or an expired token
    claims: dict[str, Any] = token.claims
    assert claims["method"] == "POST"
    assert claims["digest"] == hashed, "Digest Not Equal"
    assert claims["iat"] <= time.time() + 5
    return claims


def verify_standard(headers: dict[str, str], body: bytes, *secrets: str) -> None:
    """Standard Webhooks, checked by its official library: the message must verify with
    each of these secrets (two while a rotated secret's overlap lasts)."""
    for secret in secrets:
        Webhook(secret).verify(body, headers)  # raises WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """Answers by path: /ok 200, /fail 500, /slow after 3 s, /redirect 302 to /ok, /busy 429
    with Retry-After: 7, /flaky 503 until `flaky_up` is set. Every call is checked against
    both signatures."""

    base: str
    jwks: Callable[[], Awaitable[dict[str, Any]]]
    issuer: str
    # path -> whsec_ of its subscription (a tuple: each must verify, as during an overlap)
    secrets: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    flaky_up: bool = False
    # path -> how a test's own path answers (after the signatures are checked)
    answers: dict[str, Callable[[Received], Awaitable[web.StreamResponse]]] = field(
        default_factory=dict
    )

    def url(self, path: str) -> str:
        return self.base + path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        path = request.path
        call = Received(path, headers, body)
        self.received.append(call)
        try:
            assert request.method == "POST"
            assert headers["content-type"] == "application/json"
            assert headers["user-agent"].startswith("formcase-webhooks/")
            verify_penbox(headers, body, self.url(path), await self.jwks(), self.issuer)
            secrets = self.secrets[path]
            verify_standard(headers, body, *([secrets] if isinstance(secrets, str) else secrets))
        except Exception as exc:  # reported by the fixture: every call must verify
            self.problems.append(f"{path}: {type(exc).__name__} {exc}")
        if path in self.answers:
            return await self.answers[path](call)
        if path == "/fail":
            return web.Response(status=500, text="receiver says no")
        if path == "/slow":
            await asyncio.sleep(3)
        if path == "/redirect":
            raise web.HTTPFound(self.url("/ok"))
        if path == "/busy":
            return web.Response(status=429, text="slow down", headers={"Retry-After": "7"})
        if path == "/flaky" and not self.flaky_up:
            return web.Response(status=503, text="down for maintenance")
        return web.Response(text="thanks " + "x" * 3000)


@pytest.fixture
def allow_private(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """FORMCASE_WEBHOOK_ALLOW_PRIVATE=true for this test (the receiver is on 127.0.0.1)."""
    monkeypatch.setattr(settings, "webhook_allow_private", True)


@pytest.fixture
async def receiver(client: httpx.AsyncClient, settings: Settings) -> AsyncIterator[Receiver]:
    async def jwks() -> dict[str, Any]:
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        keys: dict[str, Any] = response.json()
        return keys

    found = Receiver("", jwks, settings.public_url + "/")
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield found
    finally:
        await runner.cleanup()
    assert not found.problems, found.problems


async def subscribe(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    path: str,
    events: list[str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks",
        json={"url": receiver.url(path), "events": events or ["*"]},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets[path] = created["secret"]
    return created


async def make_form(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post(
        "/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    return form


async def publish(
    sessionmaker: async_sessionmaker[AsyncSession],
    form: dict[str, Any],
    kinds: list[str],
    *,
    subject: tuple[str, uuid.UUID] | None = None,
) -> tuple[uuid.UUID, list[WebhookDelivery]]:
    """Events of one batch about `form`, through `service.enqueue` in their transaction: the
    batch id and the deliveries made. Their jobs are marked done before the commit, so that a
    worker running in the test app leaves them to the test, which runs `deliver` itself."""
    batch_id = uuid.uuid4()
    subject_type, subject_id = subject or ("forms", uuid.UUID(form["id"]))
    form_id = uuid.UUID(form["id"])
    async with sessionmaker() as session:
        sequence = (
            await outbox.next_sequences(session, {form_id: uuid.UUID(form["workspace"]["id"])})
        )[form_id]
        events = [
            Event(
                id=uuid.uuid4(),
                workspace_id=uuid.UUID(form["workspace"]["id"]),
                batch_id=batch_id,
                kind=kind,
                subject_type=subject_type,
                subject_id=subject_id,
                form_id=form_id,
                payload=form,
                created_at=utcnow(),
                sequence=sequence,
            )
            for kind in kinds
        ]
        session.add_all(events)
        await service.enqueue(session, events)
        for pending in session.new:
            if isinstance(pending, Job):
                pending.status = "done"
        await session.commit()
        deliveries = (
            await session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.batch_id == batch_id)
                .order_by(WebhookDelivery.created_at)
            )
        ).scalars()
        return batch_id, list(deliveries)
