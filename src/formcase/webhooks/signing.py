"""Both signatures a delivery carries, and the keys behind them.

* Penbox's: `Digest: SHA-512=<base64>` and `x-pnbx-signature`, a JWT (RS256) whose claims bind
  it to the body (`digest`: the bare base64, without the header's `SHA-512=`, as Penbox's
  verification code compares it), the URL (`aud`) and the method, signed with the server's
  key published at /.well-known/jwks.json.
* Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` =
  `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the base64 part of
  the subscription's `whsec_…` secret.

Secrets at rest: the subscription secret is encrypted with AES-GCM under a key derived from the
server's secret key; the RSA private key is kept as PKCS#8 PEM encrypted with it (as the
workspace certificates are).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.kit.errors import APIError
from formcase.webhooks.models import ServerKey

SECRET_PREFIX = "whsec_"
PURPOSE = "webhook-jwt"
FIRST_KEY_ID = "webhook-jwt-1"
JWT_LIFETIME = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the subscription secret -------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _aead(server_secret: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"formcase webhook secret\0" + server_secret).digest())


def encrypt_secret(secret: str, server_secret: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _aead(server_secret).encrypt(nonce, secret.encode(), b"whsec")


def decrypt_secret(stored: bytes, server_secret: bytes) -> str:
    try:
        return _aead(server_secret).decrypt(stored[:12], stored[12:], b"whsec").decode()
    except InvalidTag:
        raise APIError(
            "A webhook secret cannot be decrypted: the server's secret key "
            "(FORMCASE_SECRET_KEY or data_dir/secret.key) is not the one it was stored with.",
            status_code=500,
        ) from None


class HasSecrets(Protocol):
    """A subscription's secrets as stored (the row, or the columns the worker reads)."""

    @property
    def secret_encrypted(self) -> bytes: ...
    @property
    def previous_secret_encrypted(self) -> bytes | None: ...
    @property
    def previous_secret_expires_at(self) -> datetime | None: ...


def secrets_of(holder: HasSecrets, server_secret: bytes, now: datetime) -> list[str]:
    """The secrets that sign now: the subscription's, and the one a rotation replaced while
    its overlap lasts."""
    signing = [decrypt_secret(holder.secret_encrypted, server_secret)]
    previous, expires = holder.previous_secret_encrypted, holder.previous_secret_expires_at
    if previous is not None and expires is not None and expires > now:
        signing.append(decrypt_secret(previous, server_secret))
    return signing


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks `webhook-signature` value."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


# --- Penbox's digest and JWT -------------------------------------------------------------


def body_digest(body: bytes) -> str:
    """The JWT's `digest` claim: the base64 of the body's SHA-512, nothing before it."""
    return base64.b64encode(hashlib.sha512(body).digest()).decode()


def jwt_rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey, key_id: str) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": key_id}
    signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def public_jwk(key: rsa.RSAPublicKey, key_id: str) -> dict[str, Any]:
    numbers = key.public_numbers()

    def integer(value: int) -> str:
        return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "kty": "RSA",
        "kid": key_id,
        "use": "sig",
        "alg": "RS256",
        "n": integer(numbers.n),
        "e": integer(numbers.e),
    }


# row id -> key: a cache of decrypted keys (by row, not kid: kids repeat across databases)
_private_keys: dict[uuid.UUID, rsa.RSAPrivateKey] = {}


def _private_key(row: ServerKey, server_secret: bytes) -> rsa.RSAPrivateKey:
    key = _private_keys.get(row.id)
    if key is None:
        try:
            loaded = serialization.load_pem_private_key(row.private_encrypted, server_secret)
        except ValueError:
            raise APIError(
                "The webhook signing key cannot be decrypted: the server's secret key "
                "(FORMCASE_SECRET_KEY or data_dir/secret.key) is not the one it was stored "
                "with.",
                status_code=500,
            ) from None
        assert isinstance(loaded, rsa.RSAPrivateKey)
        key = _private_keys[row.id] = loaded
    return key


async def _active_keys(session: AsyncSession) -> list[ServerKey]:
    rows = await session.execute(
        select(ServerKey)
        .where(ServerKey.purpose == PURPOSE, ServerKey.active.is_(True))
        .order_by(ServerKey.created_at.desc())
    )
    return list(rows.scalars())


async def server_keys(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> list[ServerKey]:
    """The active JWT signing keys, newest first; the first made now if there is none. Two
    processes making it at once meet on the unique key id: the loser reads the winner's."""
    async with sessionmaker() as session:
        found = await _active_keys(session)
        if found:
            return found
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    row = ServerKey(
        purpose=PURPOSE,
        key_id=FIRST_KEY_ID,
        private_encrypted=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(settings.resolved_secret_key),
        ),
        public_jwk=public_jwk(key.public_key(), FIRST_KEY_ID),
        active=True,
    )
    async with sessionmaker() as session:
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        found = await _active_keys(session)
    assert found, "the webhook signing key was neither made nor found"
    return found


async def signing_key(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[str, rsa.RSAPrivateKey]:
    row = (await server_keys(sessionmaker, settings))[0]
    return row.key_id, _private_key(row, settings.resolved_secret_key)


async def jwks(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, Any]:
    return {"keys": [row.public_jwk for row in await server_keys(sessionmaker, settings)]}


def penbox_headers(
    body: bytes, url: str, key_id: str, key: rsa.RSAPrivateKey, issuer: str, now: int
) -> dict[str, str]:
    hashed = body_digest(body)
    claims = {
        "iss": issuer,
        "aud": url,
        "method": "POST",
        "digest": hashed,
        "iat": now,
        "exp": now + JWT_LIFETIME,
    }
    return {"Digest": "SHA-512=" + hashed, "x-pnbx-signature": jwt_rs256(claims, key, key_id)}
