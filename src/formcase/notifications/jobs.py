"""The worker's side of notifications: send one (email or SMS) and record how it went; an
invitation planned for a form's `active_from`; the next reminder."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.config import Settings
from formcase.forms import service as forms
from formcase.kit.time import utcnow
from formcase.notifications import channels, messages, service
from formcase.notifications.models import Notification
from formcase.notifications.service import EMAIL, FAILED, PENDING, SENT, SKIPPED
from formcase.templates import service as templates
from formcase.templates.format import TemplateFile
from formcase.worker.registry import JobContext, handler

log = logging.getLogger("formcase.notifications")
ERROR_LIMIT = 1000  # characters of a failure kept on the notification


@handler(service.INVITE_JOB)
async def invite_at_active_from(context: JobContext, payload: dict[str, Any]) -> None:
    async with context.sessionmaker() as session:
        form = await forms.locked(session, uuid.UUID(payload["form_id"]))
        if form is None:
            return  # deleted since
        template = await templates.definition_by_id(session, form.template_version_id)
        await service.invite(session, form, template, context.settings)
        await session.commit()


@handler(service.REMIND_JOB)
async def remind(context: JobContext, payload: dict[str, Any]) -> None:
    async with context.sessionmaker() as session:
        form = await forms.locked(session, uuid.UUID(payload["form_id"]))
        if form is None:
            return
        template = await templates.definition_by_id(session, form.template_version_id)
        await service.remind(session, form, template, int(payload["number"]), context.settings)
        await session.commit()


@handler(service.SEND_JOB)
async def send(context: JobContext, payload: dict[str, Any]) -> None:
    """Send a pending notification. A failure that may pass is recorded on it and the job is
    tried again (backoff); at the last attempt, or when trying again cannot help, it is
    `failed`. Sending twice is possible (the worker dies between sending and recording):
    an email then carries the same Message-ID both times."""
    settings = context.settings
    notification_id = uuid.UUID(payload["notification_id"])
    async with context.sessionmaker() as session:
        row = await session.get(Notification, notification_id)
        if row is None or row.status != PENDING:
            return  # sent (or settled) by an earlier attempt
        template = None
        if row.form_id is not None:  # else a case's step: its text is in the row
            form = await forms.locked(session, row.form_id, lock=False)
            if form is None:
                return
            reason = service.why_not_pending(form, utcnow())
            if row.kind != messages.CONFIRMATION and reason:
                await _settle(session, row.id, SKIPPED, f"not sent: {reason}")
                return
            template = await templates.definition_by_id(session, form.template_version_id)
    try:
        message_id = await _deliver(settings, row, template)
    except channels.Skipped as exc:
        await _record(context, row.id, SKIPPED, str(exc))
    except channels.Permanent as exc:
        await _record(context, row.id, FAILED, str(exc))
    except Exception as exc:
        error = _describe(exc)
        if context.attempt >= settings.job_max_attempts:
            await _record(context, row.id, FAILED, f"{error} (gave up after {context.attempt})")
            return
        await _record(context, row.id, PENDING, f"attempt {context.attempt}: {error}")
        raise
    else:
        await _record(context, row.id, SENT, None, message_id)


async def _deliver(
    settings: Settings, row: Notification, template: TemplateFile | None
) -> str | None:
    """Send it; `template` is the form's (None for a case step, whose text is in the row)."""
    if row.method == EMAIL:
        sender = row.sender or channels.default_sender(settings)
        message_id = channels.message_id_for(str(row.id), sender)
        message = channels.email_message(
            messages.email(template, row.kind, row.locale, row.variables)
            if template is not None
            else messages.case_step_email(row.variables, row.locale),
            to=row.to,
            sender=sender,
            message_id=message_id,
            reply_to=template.notifications.reply_to if template is not None else None,
            cc=row.cc,
        )
        await channels.send_email(settings, message, bcc=row.bcc)
        return message_id
    text = (
        messages.sms(template, row.kind, row.locale, row.variables)
        if template is not None
        else str(row.variables.get("text") or "")
    )
    provider = channels.sms_provider(settings)
    if isinstance(provider, channels.LogProvider):
        log.info("SMS not sent (provider 'log') to %s: %s", row.to, text)
    return await provider.send(row.to, row.sender, text)


async def _record(
    context: JobContext,
    notification_id: uuid.UUID,
    status: str,
    error: str | None,
    message_id: str | None = None,
) -> None:
    async with context.sessionmaker() as session:
        await _settle(session, notification_id, status, error, message_id)


async def _settle(
    session: AsyncSession,
    notification_id: uuid.UUID,
    status: str,
    error: str | None,
    message_id: str | None = None,
) -> None:
    """Write the outcome, unless another attempt already settled it."""
    row = await service.locked(session, notification_id)
    if row is None or row.status != PENDING:
        await session.commit()
        return
    now = utcnow()
    row.status = status
    row.error = error[:ERROR_LIMIT] if error else None
    if status != PENDING:
        row.at = now
    if message_id is not None:
        row.message_id = message_id
    row.updated_at = now
    await session.commit()


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
