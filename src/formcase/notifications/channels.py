"""How notifications leave: email over SMTP, SMS through a provider (an HTTP gateway, or `log`
which sends nothing). A channel raises `Permanent` when trying again cannot help (the
recipient is refused) and `Skipped` when nothing is configured to send with; any other error
is worth another attempt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, getaddresses, parseaddr
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx

from formcase.config import Settings
from formcase.notifications.messages import Email


class Permanent(Exception):
    """Sending failed in a way another attempt would not change."""


class Skipped(Exception):
    """Nothing was sent, on purpose (no SMTP server configured, the `log` SMS provider)."""


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # TLS from the first byte (smtps://)
    start_tls: bool | None  # True: required; None: when the server offers it


def smtp_server(url: str) -> SmtpServer:
    """smtp://[user:password@]host[:port], smtp+starttls://… or smtps://…"""
    parts = urlsplit(url)  # its form was checked with the settings
    schemes = {"smtp": (25, None, False), "smtp+starttls": (587, True, False)}
    schemes["smtps"] = (465, False, True)
    port, start_tls, use_tls = schemes[parts.scheme]
    return SmtpServer(
        hostname=parts.hostname or "",
        port=parts.port or port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls=start_tls,
    )


def default_sender(settings: Settings) -> str:
    if settings.mail_from:
        return settings.mail_from
    host = urlsplit(settings.public_url).hostname or "localhost"
    return formataddr(("formcase", f"noreply@{host}"))


def email_message(
    content: Email,
    *,
    to: str,
    sender: str,
    message_id: str,
    reply_to: str | None = None,
    cc: str | None = None,
) -> Message:
    """The email's headers and parts; a Bcc is never a header (send_email puts it in the
    envelope only). Built with the compat32 classes and `Header`: the newer EmailMessage of
    Python 3.11 drops the space between two encoded words when it folds a non-ASCII subject
    ("“Annual review”" arrives as "“Annualreview”")."""
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(content.subject, "utf-8")  # type: ignore[assignment]
    message["From"] = _address_header(sender)
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = formatdate(usegmt=True)
    # The same id on every attempt: a mail sent twice (the worker died after the server took
    # it and before we recorded it) is one message to the contact's mail client.
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.attach(MIMEText(content.text, "plain", "utf-8"))
    message.attach(MIMEText(content.html, "html", "utf-8"))
    return message


def _address_header(value: str) -> str:
    """'Name <address>' with a non-ASCII name encoded as RFC 2047 wants."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if address else value


def message_id_for(notification_id: str, sender: str) -> str:
    domain = Address(addr_spec=getaddresses([sender])[0][1] or "x@formcase.invalid").domain
    return f"<{notification_id}@{domain or 'formcase.invalid'}>"


async def send_email(settings: Settings, message: Message, bcc: str | None = None) -> None:
    if not settings.smtp_url:
        raise Skipped("no SMTP server is configured (FORMCASE_SMTP_URL): the email was not sent")
    server = smtp_server(settings.smtp_url)
    recipients = [
        address
        for _, address in getaddresses([message["To"] or "", message["Cc"] or "", bcc or ""])
        if address
    ]
    try:
        await aiosmtplib.send(
            message,
            recipients=recipients,
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if all(500 <= refusal.code < 600 for refusal in exc.recipients):
            raise Permanent(f"the mail server refused it: {exc}") from None
        raise  # 4xx: the recipient's server may take it later
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            raise Permanent(f"the mail server refused it: {exc.code} {exc.message}") from None
        raise  # 4xx, or a login that may be fixed by the administrator: try again later


class SmsProvider(Protocol):
    async def send(self, to: str, sender: str | None, text: str) -> str | None:
        """Send; the provider's message id when it gives one."""


class LogProvider:
    """Development: nothing leaves; the message is in the notification row and the log."""

    async def send(self, to: str, sender: str | None, text: str) -> str | None:
        raise Skipped("the SMS provider is 'log' (FORMCASE_SMS_PROVIDER): the SMS was not sent")


class HttpGateway:
    """A gateway that takes a JSON POST: FORMCASE_SMS_URL, FORMCASE_SMS_HEADERS (auth) and
    FORMCASE_SMS_BODY, whose strings may hold {to}, {from} and {text}."""

    def __init__(self, settings: Settings) -> None:
        if not settings.sms_url:
            raise Skipped("the SMS provider is 'http' but FORMCASE_SMS_URL is not set")
        self.url = settings.sms_url
        self.headers = settings.sms_headers
        self.body = settings.sms_body
        self.id_path = settings.sms_message_id_path
        self.timeout = settings.webhook_timeout_seconds

    async def send(self, to: str, sender: str | None, text: str) -> str | None:
        values = {"to": to, "from": sender or "", "text": text}
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            answer = await client.post(
                self.url, json=_filled(self.body, values), headers=self.headers
            )
        if answer.status_code >= 400:
            excerpt = answer.text[:300]
            failure = f"the SMS gateway answered {answer.status_code}: {excerpt}"
            # 4xx but 408/429: the request itself is refused (a bad number, say)
            if answer.status_code < 500 and answer.status_code not in (408, 429):
                raise Permanent(failure)
            raise RuntimeError(failure)
        try:
            return _at_path(answer.json(), self.id_path)
        except ValueError:
            return None


def _filled(template: Any, values: Mapping[str, str]) -> Any:
    """The body with {to}, {from} and {text} filled in every string (nothing else is read
    as a placeholder, so JSON braces in values are safe)."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, dict):
        return {key: _filled(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_filled(value, values) for value in template]
    return template


def _at_path(document: Any, path: str) -> str | None:
    for part in path.split("."):
        if isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        elif isinstance(document, dict) and part in document:
            document = document[part]
        else:
            return None
    return None if document is None else str(document)


def sms_provider(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "http":
        return HttpGateway(settings)
    return LogProvider()
