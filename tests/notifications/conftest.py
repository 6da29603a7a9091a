"""A real SMTP server (aiosmtpd) and a real HTTP SMS gateway (aiohttp) on 127.0.0.1, and
what notification tests share: forms made through the API, waiting for the in-process worker
to settle their notifications, planned jobs made due."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.events.models import Job
from formcase.kit.time import utcnow
from formcase.notifications.models import Notification
from tests.conftest import MakeTenant
from tests.helpers import Tenant

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        content: str = body.get_content()
        return content


@dataclass
class Mailbox:
    """The SMTP server's side: what it accepted, who logged in; refuses the addresses in
    `refused` with 550."""

    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == ("mailer", "s3cret/pw"))

    def to(self, address: str) -> list[Mail]:
        return [mail for mail in self.mails if address in mail.recipients]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "formcase test SMTP")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp.pem", directory / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class SmtpServer:
    """Plain SMTP; or with `tls` "starttls" (STARTTLS required before login) or "implicit"
    (TLS from the first byte, as smtps:// expects)."""

    def __init__(
        self,
        mailbox: Mailbox,
        port: int,
        tls: str | None = None,
        pem: tuple[Path, Path] | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.port = port
        self.tls = tls
        self.pem = pem
        self.controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {"auth_require_tls": False}
        if self.tls is not None:
            assert self.pem is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.pem)
            if self.tls == "starttls":
                options = {"tls_context": context, "require_starttls": True}
            else:
                # aiosmtpd does not count TLS it did not negotiate itself as TLS
                options = {
                    "ssl_context": context,
                    "server_hostname": "127.0.0.1",
                    "auth_require_tls": False,
                }
        self.controller = Controller(
            self.mailbox,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.mailbox.authenticate,
            **options,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A running SMTP server that FORMCASE_SMTP_URL names (with a login)."""
    server = SmtpServer(Mailbox(), free_port())
    server.start()
    monkeypatch.setattr(settings, "smtp_url", f"smtp://mailer:s3cret%2Fpw@127.0.0.1:{server.port}")
    monkeypatch.setattr(settings, "mail_from", "Formcase Tests <forms@formcase.example>")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def quick_retries(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "job_backoff_seconds", 0.2)
    monkeypatch.setattr(settings, "job_backoff_max_seconds", 0.5)


@dataclass
class Gateway:
    """An SMS gateway: /sms takes the message and answers its id, /refuse answers 422."""

    base: str = ""
    received: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.json()))
        if request.path == "/refuse":
            return web.json_response({"error": "invalid number"}, status=422)
        return web.json_response({"messages": [{"id": f"sms-{len(self.received)}"}]})


@pytest.fixture
async def gateway(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    found = Gateway()
    application = web.Application()
    application.router.add_post("/{tail:.*}", found.handle)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    monkeypatch.setattr(settings, "sms_provider", "http")
    monkeypatch.setattr(settings, "sms_url", found.base + "/sms")
    monkeypatch.setattr(settings, "sms_headers", {"Authorization": "Bearer gateway-token"})
    monkeypatch.setattr(
        settings, "sms_body", {"recipient": "{to}", "message": "{text}", "sender": "{from}"}
    )
    monkeypatch.setattr(settings, "sms_message_id_path", "messages.0.id")
    monkeypatch.setattr(settings, "sms_from", "ACME")
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest.fixture
async def lettered(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[HERE / "letters.yaml", HERE / "custom-letters.yaml"])


async def new_form(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/forms", json={"flow": {"slug": "letters"}, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    return form


async def notifications(
    client: httpx.AsyncClient, tenant: Tenant, form_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/forms/{form_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["notifications"]
    return found


Settle = Callable[..., Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def settled(
    client: httpx.AsyncClient, lettered: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> Settle:
    """`await settled(form_id, count)`: the form's notifications (as the API shows them) once
    there are `count` and none is pending any more. Waits on the database, not the API, to
    stay under the rate limit."""

    async def wait(form_id: str, count: int, seconds: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            async with sessionmaker() as session:
                statuses = list(
                    await session.scalars(
                        select(Notification.status).where(
                            Notification.form_id == uuid.UUID(form_id)
                        )
                    )
                )
            if len(statuses) >= count and "pending" not in statuses:
                return await notifications(client, lettered, form_id)
            if time.monotonic() > deadline:
                found = await notifications(client, lettered, form_id)
                raise AssertionError(f"notifications not settled in {seconds} s: {found}")
            await asyncio.sleep(0.1)

    return wait


async def planned(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str, form_id: str
) -> list[Job]:
    """The pending jobs of this kind about this form."""
    async with sessionmaker() as session:
        rows = await session.scalars(select(Job).where(Job.kind == kind, Job.status == "pending"))
        return [job for job in rows if job.payload.get("form_id") == form_id]


async def make_due(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str, form_id: str
) -> datetime:
    """Bring the planned job forward to now (as if its day had come); its planned time."""
    async with sessionmaker() as session:
        rows = await session.scalars(select(Job).where(Job.kind == kind, Job.status == "pending"))
        jobs = [job for job in rows if job.payload.get("form_id") == form_id]
        assert len(jobs) == 1, f"expected one planned {kind} job, found {len(jobs)}"
        planned_at = jobs[0].run_after
        jobs[0].run_after = utcnow()
        await session.commit()
        return planned_at


async def wait_until_done(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str, form_id: str, seconds: float = 20
) -> None:
    """Until no job of this kind about the form is pending or running."""
    deadline = time.monotonic() + seconds
    while True:
        async with sessionmaker() as session:
            rows = await session.scalars(
                select(Job).where(Job.kind == kind, Job.status.in_(["pending", "running"]))
            )
            busy = [job for job in rows if job.payload.get("form_id") == form_id]
        if not busy or all(job.run_after > utcnow() for job in busy):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{kind} jobs still busy after {seconds} s")
        await asyncio.sleep(0.1)
