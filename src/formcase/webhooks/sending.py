"""Signing and sending one webhook message: what a delivery's job and the test event
(`POST /v1/webhooks/{id}/test`) share. The signing key is kept for a minute per process."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import datetime

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase import __version__
from formcase.config import Settings
from formcase.kit.time import utcnow
from formcase.webhooks import guard, signing
from formcase.worker.registry import http_client

BODY_EXCERPT = 2000
MAX_RETRY_AFTER = 3600.0
KEY_CACHE_SECONDS = 60.0


@dataclass
class Outcome:
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429/503's Retry-After
    refused: bool = False  # the SSRF guard refused the address: retrying cannot help


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is rare for webhooks; the backoff applies then
    return min(float(value.strip()), MAX_RETRY_AFTER)


async def send(
    url: str,
    body: bytes,
    headers: dict[str, str],
    settings: Settings,
    client: httpx.AsyncClient | None = None,
) -> Outcome:
    """POST the body and say how it went, never raising. Only the start of the answer is
    read (a receiver cannot make the worker read megabytes)."""
    try:
        await guard.check_destination(url, allow_private=settings.webhook_allow_private)
    except guard.Unresolved as exc:  # DNS may answer next time
        return Outcome(error=exc.message)
    except guard.UnsafeURL as exc:
        return Outcome(error=f"refused: {exc.message}", refused=True)
    if client is None:  # outside a worker: a client for this call
        async with http_client() as own:
            return await send(url, body, headers, settings, own)
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    try:
        async with client.stream(
            "POST", url, content=body, headers=headers, timeout=timeout
        ) as response:
            read = b""
            async for chunk in response.aiter_bytes():
                read += chunk
                if len(read) >= BODY_EXCERPT * 4:
                    break
    except httpx.TimeoutException as exc:
        seconds = settings.webhook_timeout_seconds
        return Outcome(error=f"timed out after {seconds:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    outcome = Outcome(response.status_code, read.decode("utf-8", "replace")[:BODY_EXCERPT])
    if response.is_redirect:
        location = response.headers.get("location", "")
        outcome.error = f"redirected to {location!r}: redirects are not followed"
    elif not response.is_success:
        outcome.error = f"HTTP {response.status_code}"
        if response.status_code in (429, 503):
            outcome.retry_after = _retry_after(response.headers.get("retry-after"))
    return outcome


# sessionmaker (one per database) -> (when read, key id, key): the signing key is read once
# a minute, not once per delivery
_keys: weakref.WeakKeyDictionary[
    async_sessionmaker[AsyncSession], tuple[float, str, rsa.RSAPrivateKey]
] = weakref.WeakKeyDictionary()


async def signing_key(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[str, rsa.RSAPrivateKey]:
    cached = _keys.get(sessionmaker)
    if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
        return cached[1], cached[2]
    key_id, key = await signing.signing_key(sessionmaker, settings)
    _keys[sessionmaker] = (time.monotonic(), key_id, key)
    return key_id, key


async def headers_of(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    message_id: str,
    body: bytes,
    url: str,
    secrets: list[str],
    now: int,
) -> dict[str, str]:
    """Both signatures' headers: `webhook-signature` holds one `v1,…` per secret, separated
    by spaces, as Standard Webhooks allows (a receiver accepts the message if one matches)."""
    key_id, key = await signing_key(sessionmaker, settings)
    issuer = settings.public_url + "/"
    signatures = [signing.standard_signature(secret, message_id, now, body) for secret in secrets]
    return {
        "Content-Type": "application/json",
        "User-Agent": f"formcase-webhooks/{__version__}",
        **signing.penbox_headers(body, url, key_id, key, issuer, now),
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": " ".join(signatures),
    }


async def send_now(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    message_id: str,
    body: bytes,
    url: str,
    secrets: list[str],
    client: httpx.AsyncClient | None = None,
) -> tuple[datetime, int, Outcome]:
    """Sign and send one message: when, how long it took (ms), and how it went."""
    at = utcnow()
    headers = await headers_of(
        sessionmaker, settings, message_id, body, url, secrets, int(at.timestamp())
    )
    started = time.perf_counter()
    outcome = await send(url, body, headers, settings, client)
    return at, round((time.perf_counter() - started) * 1000), outcome
