"""When contacts are told what: an invitation when a form becomes pending (now, or at its
`active_from`), reminders every N days while it stays pending, a confirmation when it is
completed. Each message is a `pending` row plus a send job, written in the transaction of
the change that causes it; the worker sends it (notifications/jobs.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.config import Settings
from formcase.db.rows import Row
from formcase.forms.models import Form, fill_link
from formcase.kit.time import utcnow
from formcase.notifications import channels, messages, repository
from formcase.notifications.messages import CONFIRMATION, INVITATION, REMINDER
from formcase.notifications.models import Notification
from formcase.templates.format import BUILTIN_OPTIONS, TemplateFile
from formcase.worker import jobs
from formcase.workspaces import repository as workspaces

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
EMAIL, SMS = "email", "sms"
# Job kinds (handlers in notifications/jobs.py).
SEND_JOB = "notifications.send"
INVITE_JOB = "notifications.invite"  # a form's invitation at its active_from
REMIND_JOB = "notifications.remind"
CASE_STEP = "case_step"  # a case's email or SMS step


def option(form: Form, name: str) -> Any:
    """A built-in option of the form (forms made before an option existed have its default)."""
    return form.options.get(name, BUILTIN_OPTIONS[name])


def why_not_pending(form: Form, now: datetime) -> str | None:
    """Why invitations and reminders about this form should not go out now, or None."""
    if form.archived:
        return "the form was archived"
    if form.status != "pending":
        return f"the form is {form.status}"
    if form.active_until is not None and form.active_until <= now:
        return "the form has expired"
    return None


async def form_pending(
    session: AsyncSession, form: Form, template: TemplateFile, settings: Settings
) -> None:
    """The form has just become pending (created so, or `draft: false`): invite the contact
    now, or plan it for `active_from`. Does not commit."""
    now = utcnow()
    if form.active_from is not None and form.active_from > now:
        jobs.add(
            session,
            INVITE_JOB,
            {"form_id": str(form.id)},
            workspace_id=form.workspace_id,
            run_after=form.active_from,
        )
        return
    await invite(session, form, template, settings)


async def invite(
    session: AsyncSession, form: Form, template: TemplateFile, settings: Settings
) -> None:
    """The invitation (once per form, however often it goes back to draft and out again) and
    the first reminder's date. Does not commit."""
    now = utcnow()
    if why_not_pending(form, now) or await repository.count_of_kind(session, form.id, INVITATION):
        return
    if option(form, "send_invitation"):
        await _write(session, form, template, INVITATION, settings)
    interval = option(form, "reminder_interval_days")
    if interval and option(form, "max_reminders") > 0:
        _plan_reminder(session, form, 1, now + timedelta(days=interval))


async def remind(
    session: AsyncSession, form: Form, template: TemplateFile, number: int, settings: Settings
) -> None:
    """Reminder `number` (from 1), and the date of the next, while the form stays pending.
    Does not commit."""
    interval = option(form, "reminder_interval_days")
    if not interval or number > option(form, "max_reminders") or why_not_pending(form, utcnow()):
        return  # the form no longer waits for the contact: the reminders stop
    if await repository.count_of_kind(session, form.id, REMINDER) != number - 1:
        return  # reminder `number` was already sent (by a job planned twice): no second one
    await _write(session, form, template, REMINDER, settings)
    if number < option(form, "max_reminders"):
        _plan_reminder(session, form, number + 1, utcnow() + timedelta(days=interval))


def _plan_reminder(session: AsyncSession, form: Form, number: int, at: datetime) -> None:
    jobs.add(
        session,
        REMIND_JOB,
        {"form_id": str(form.id), "number": number},
        workspace_id=form.workspace_id,
        run_after=at,
    )


async def form_completed(
    session: AsyncSession, form: Form, template: TemplateFile, settings: Settings
) -> None:
    """The contact submitted: confirm it when the form's options say so. Does not commit."""
    if option(form, "send_confirmation"):
        await _write(session, form, template, CONFIRMATION, settings)


async def _write(
    session: AsyncSession, form: Form, template: TemplateFile, kind: str, settings: Settings
) -> list[Notification]:
    """One notification per way of reaching the contact (email, SMS), each with its job."""
    targets = [(EMAIL, form.user_email), (SMS, form.user_phone)]
    targets = [(method, to) for method, to in targets if to]
    if not targets:
        return []
    workspace = await workspaces.by_id(session, form.workspace_id)
    assert workspace is not None
    locale = messages.choose_locale(form.user_locale, template)
    values = messages.variables(
        user={
            "given_name": form.user_given_name,
            "family_name": form.user_family_name,
            "email": form.user_email,
            "phone": form.user_phone,
            "company_name": form.user_company_name,
        },
        title=template.name,
        link=fill_link(settings.public_url, form.fill_token),
        active_until=form.active_until,
        workspace_name=workspace.name,
        locale=locale,
    )
    now = utcnow()  # one moment for the occasion: count_of_kind counts occasions by it
    rows = [
        Notification(
            id=uuid.uuid4(),
            workspace_id=form.workspace_id,
            form_id=form.id,
            kind=kind,
            method=method,
            status=PENDING,
            at=now,
            to=to,
            sender=_sender(template, method, settings),
            cc=None,
            bcc=None,
            system=True,
            locale=locale,
            template=messages.TEMPLATE_NAMES[kind],
            variables=values,
            error=None,
            message_id=None,
            attachments=None,
            deleted_at=None,
            created_at=now,
            updated_at=now,
        )
        for method, to in targets
    ]
    session.add_all(rows)
    for row in rows:
        jobs.add(
            session, SEND_JOB, {"notification_id": str(row.id)}, workspace_id=form.workspace_id
        )
    return rows


async def case_step(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    workspace_id: uuid.UUID,
    workspace_name: str,
    method: str,
    to: str,
    locale: str,
    subject: str | None,
    text: str,
    settings: Settings,
) -> Notification:
    """The message of a case's email or SMS step, with its send job. Does not commit."""
    now = utcnow()
    row = Notification(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        form_id=None,
        case_id=case_id,
        kind=CASE_STEP,
        method=method,
        status=PENDING,
        at=now,
        to=to,
        sender=_sender(None, method, settings),
        cc=None,
        bcc=None,
        system=False,
        locale=locale,
        template="case_step",
        variables={"subject": subject, "text": text, "workspace.name": workspace_name},
        error=None,
        message_id=None,
        attachments=None,
        deleted_at=None,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    jobs.add(session, SEND_JOB, {"notification_id": str(row.id)}, workspace_id=workspace_id)
    return row


def _sender(template: TemplateFile | None, method: str, settings: Settings) -> str | None:
    if method == SMS:
        return settings.sms_from
    sender = template.notifications.sender if template is not None else None
    default = channels.default_sender(settings)
    if sender is None:
        return default
    # The template's name, and its address when it has one (the server's otherwise).
    name, address = parseaddr(default)
    return formataddr((sender.name or name, sender.email or address))


async def locked(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await repository.get_for_update(session, notification_id)


# --- reading -----------------------------------------------------------------------------


def to_document(row: Row) -> dict[str, Any]:
    """A notification as `form.notifications[]` shows it."""
    return {
        "id": row["id"],
        "status": row["status"],
        "method": row["method"],
        "at": row["at"],
        "to": row["to"],
        "from": row["sender"],
        "cc": row["cc"],
        "bcc": row["bcc"],
        "system": row["system"],
        "locale": row["locale"],
        "template": row["template"],
        "variables": row["variables"],
        "active": row["status"] in (PENDING, SENT) and row["deleted_at"] is None,
        "error": row["error"],
        "message_id": row["message_id"],
        "attachments": row["attachments"],
        "deleted_at": row["deleted_at"],
    }


async def document_of(session: AsyncSession, notification_id: uuid.UUID) -> dict[str, Any] | None:
    row = await repository.get(session, notification_id)
    return to_document(row) if row is not None else None


async def documents_of(
    session: AsyncSession, form_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    found = await repository.of_forms(session, form_ids)
    return {form_id: [to_document(row) for row in rows] for form_id, rows in found.items()}
