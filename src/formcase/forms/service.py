"""Forms: creation from a template, the status lifecycle, listing and counting."""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.events import kinds as event_kinds
from formcase.events import service as outbox
from formcase.forms import repository
from formcase.forms.filters import (
    FORM_FILTERS,
    archived_default,
    group_expression,
)
from formcase.forms.models import Form, fill_link
from formcase.forms.repository import FormRow
from formcase.forms.schemas import (
    FormCount,
    FormCountParams,
    FormCreate,
    FormFilterParams,
    FormListParams,
    FormPatch,
    FormStatus,
    WorkspaceIn,
)
from formcase.kit import json_input, phones
from formcase.kit.errors import BadRequest, NotFound, Unprocessable
from formcase.kit.filters import Condition, parse_filter_json
from formcase.kit.listing import PageMeta
from formcase.kit.time import LAST_INSTANT, utcnow
from formcase.notifications import service as notifications
from formcase.responses import service as responses
from formcase.templates import service as templates
from formcase.templates.format import check_options, check_prefill
from formcase.webhooks import service as webhooks_service
from formcase.workspaces import repository as workspace_repository
from formcase.workspaces import service as workspaces

log = logging.getLogger("formcase.forms")

Document = dict[str, Any]
LOCALE_PATTERN = re.compile(r"[a-z]{2}(?:[-_][A-Za-z]{2})?")
FINAL = {FormStatus.COMPLETED, FormStatus.DECLINED, FormStatus.PROCESSED}


# --- reading -----------------------------------------------------------------------------


def to_document(row: FormRow, public_url: str) -> Document:
    """A form in its API shape (`FormOut`), as plain data for orjson."""
    return {
        "id": row["id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "status": row["status"],
        "archived": row["archived"],
        "archived_at": row["archived_at"],
        "processed_at": row["processed_at"],
        "active_from": row["active_from"],
        "active_until": row["active_until"],
        "links": {
            "fill": fill_link(public_url, row["fill_token"]),
            "app": f"{public_url}/app/forms/{row['id']}",
        },
        "user": {
            "anonymous": row["user_anonymous"],
            "email": row["user_email"],
            "phone": row["user_phone"],
            "given_name": row["user_given_name"],
            "family_name": row["user_family_name"],
            "locale": row["user_locale"],
            "internal_ref": row["user_internal_ref"],
            "company_name": row["user_company_name"],
        },
        "owner": (
            {"id": row["owner_id"], "email": row["owner_email"]}
            if row["owner_id"] is not None and row["owner_email"] is not None
            else None
        ),
        "flow": {"slug": row["flow_slug"], "version": row["flow_version"]},
        "workspace": {"id": row["workspace_id"], "slug": row["workspace_slug"]},
        "data": row["data"],
        "external_args": row["external_args"],
        "options": row["options"],
        "redirect_url": row["redirect_url"],
        "webhooks": row["webhooks"],
        "responses": [],
        "notifications": [],
    }


async def _documents(
    session: AsyncSession, rows: Sequence[FormRow], public_url: str
) -> list[Document]:
    """Form documents with their `responses[]` and `notifications[]` (one query each for all
    the forms that can have any)."""
    documents = [to_document(row, public_url) for row in rows]
    answered = [doc for doc, row in zip(documents, rows, strict=True) if row["has_responses"]]
    if answered:
        found = await responses.summaries(session, answered, public_url)
        for document in answered:
            document["responses"] = found.get(document["id"], [])
    reachable = [row["id"] for row in rows if row["user_email"] or row["user_phone"]]
    if reachable:
        sent = await notifications.documents_of(session, reachable)
        for document in documents:
            document["notifications"] = sent.get(document["id"], [])
    return documents


async def get(
    session: AsyncSession, principal: Principal, form_id: uuid.UUID, settings: Settings
) -> Document:
    row = await _granted_row(session, principal, form_id)
    return (await _documents(session, [row], settings.public_url))[0]


async def document_of(session: AsyncSession, form_id: uuid.UUID, public_url: str) -> Document:
    """A form's document, whoever asks (for events: the caller has checked access)."""
    row = await repository.get(session, form_id)
    if row is None:
        raise NotFound(f"No form with id {form_id}.")
    return (await _documents(session, [row], public_url))[0]


async def locked(session: AsyncSession, form_id: uuid.UUID, *, lock: bool = True) -> Form | None:
    """A form's row for a job that changes what hangs off it, locked unless `lock` is false."""
    if lock:
        return await repository.get_for_update(session, form_id)
    return await session.get(Form, form_id)


async def _granted_row(session: AsyncSession, principal: Principal, form_id: uuid.UUID) -> FormRow:
    row = await repository.get(session, form_id)
    principal.require("Form", form_id, row["workspace_id"] if row else None)
    assert row is not None
    return row


async def _conditions(
    session: AsyncSession, principal: Principal, params: FormFilterParams
) -> list[Condition]:
    """Bracketed filters, or the JSON `filter` that overrides them; archived left out unless
    asked about."""
    if params.filter is not None:
        return archived_default(parse_filter_json(params.filter))
    conditions: list[Condition] = []
    if params.workspace_slug is not None or params.workspace_id is not None:
        workspace = await workspaces.granted(
            session, principal, slug=params.workspace_slug, workspace_id=params.workspace_id
        )
        conditions.append(Condition("workspace.id", "$eq", str(workspace.id)))
    slugs = [slug for value in params.flow_slug or [] for slug in value.split(",") if slug]
    if slugs:
        conditions.append(Condition("flow.slug", "$in", slugs))
    if params.flow_customization is not None:
        conditions.append(Condition("flow.customization", "$eq", str(params.flow_customization)))
    statuses = [part for value in params.status or [] for part in value.split(",") if part]
    if statuses:
        conditions.append(Condition("status", "$in", statuses))
    simple = {
        "owner.email": params.owner_email,
        "user.given_name": params.user_given_name,
        "user.family_name": params.user_family_name,
        "user.email": params.user_email,
        "user.phone": params.user_phone,
        "archived": params.archived,
        "active": params.active,
        "completed": params.completed,
        "processed": params.processed,
    }
    conditions += [
        Condition(path, "$eq", value) for path, value in simple.items() if value is not None
    ]
    return archived_default(conditions)


async def list_forms(
    session: AsyncSession, principal: Principal, params: FormListParams, settings: Settings
) -> Document:
    conditions = await _conditions(session, principal, params)
    filters = FORM_FILTERS.bind(conditions)
    page = params.page()
    rows, counted = await repository.page(
        session, principal.workspace_ids, filters, params.sort, page.size, page.offset
    )
    # A page that is not full gives the total; a full one brings the tallies' count when they
    # can say; else the forms are counted.
    total = page.total_from(len(rows))
    if total is None:
        total = counted
    if total is None:
        total = await repository.count(session, principal.workspace_ids, filters)
    return {
        "meta": PageMeta.of(total, page).model_dump(),
        "data": await _documents(session, rows, settings.public_url),
    }


async def count_forms(
    session: AsyncSession, principal: Principal, params: FormCountParams
) -> FormCount:
    conditions = await _conditions(session, principal, params)
    groups = [
        name.strip() for value in params.group_by or [] for name in value.split(",") if name.strip()
    ]
    expressions = {}
    for name in dict.fromkeys(groups):
        expression = group_expression(name)
        if expression is None:
            raise BadRequest(
                f"Cannot group by '{name}'. Use status, flow.slug, user.<field> or data.<key>."
            )
        expressions[name] = expression
    filters = FORM_FILTERS.bind(conditions)
    if not expressions:
        return FormCount(count=await repository.count(session, principal.workspace_ids, filters))
    by: dict[str, dict[str, int]] = {}
    for name, expression in expressions.items():
        rows = await repository.count_by(session, principal.workspace_ids, filters, expression)
        by[name] = {_group_key(value): number for value, number in rows}
    # Every row falls in exactly one group (NULL is a group too): the groups add up to the total.
    return FormCount(count=sum(next(iter(by.values())).values()), by=by)


def _group_key(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- creating ----------------------------------------------------------------------------


def _workspace_choice(body: FormCreate) -> WorkspaceIn | None:
    if body.company and body.workspace and body.company != body.workspace:
        raise BadRequest("'company' and 'workspace' name different workspaces; send one.")
    return body.company or body.workspace


def _check_url(url: str, field: str, *, https_only: bool) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ in the host, say
        raise BadRequest(f"Field '{field}': '{url}' is not a URL.") from None
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    schemes = ("https",) if https_only and not local else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname:
        need = "an https:// URL" if "http" not in schemes else "an http(s):// URL"
        raise BadRequest(f"Field '{field}' must be {need}, got '{url}'.")
    return url


async def create(
    session: AsyncSession,
    principal: Principal,
    body: FormCreate,
    settings: Settings,
    *,
    commit: bool = True,
) -> Document:
    """Create a form; with `commit=False` it joins the caller's transaction (a case step)."""
    choice = _workspace_choice(body)
    resolved = await templates.resolve(
        session,
        principal,
        body.flow.slug,
        workspace_slug=choice.slug if choice else None,
        workspace_id=choice.id if choice else None,
        usable=True,
    )
    template = resolved.definition
    user = body.user
    email = workspaces.normalise_email(user.email, "user.email") if user and user.email else None
    if user and user.locale and not LOCALE_PATTERN.fullmatch(user.locale):
        raise BadRequest(f"Field 'user.locale': '{user.locale}' is not a language code (en, fr…).")
    region = phones.region_of(user.locale if user else None)
    phone = phones.normalise(user.phone, "user.phone", region) if user and user.phone else None

    owner_id = None
    if body.owner and body.owner.email:
        owner_email = workspaces.normalise_email(body.owner.email, "owner.email")
        member = await workspace_repository.member_by_email(
            session, resolved.workspace.id, owner_email
        )
        if member is None:
            raise BadRequest(
                f"Field 'owner.email': {owner_email} is not a member of workspace "
                f"'{resolved.workspace.slug}'."
            )
        owner_id = member.id
    for name in ("data", "external_args", "options", "webhooks"):
        json_input.check_value(getattr(body, name), name, settings)
    try:
        data = check_prefill(template, body.data, region)
    except ValueError as exc:
        raise BadRequest(f"Field 'data': {exc}.") from None
    try:
        options = check_options(template, body.options)
    except ValueError as exc:
        raise BadRequest(f"Field 'options': {exc}.") from None
    if body.redirect_url is not None:
        _check_url(body.redirect_url, "redirect_url", https_only=True)
    webhooks = webhooks_service.check_form_webhooks(body.webhooks, settings)

    now = utcnow()
    active_until = body.active_until
    if active_until is None and settings.form_default_expiry_days:
        start = max(now, body.active_from or now)
        expiry = timedelta(days=settings.form_default_expiry_days)
        # A window opening at the calendar's end closes there.
        active_until = start + expiry if start < LAST_INSTANT - expiry else LAST_INSTANT
    if body.active_from and active_until and active_until <= body.active_from:
        raise BadRequest("Field 'active_until' must be later than 'active_from'.")

    identified = user is not None and any(
        (user.email, user.phone, user.given_name, user.family_name)
    )
    form = Form(
        id=uuid.uuid4(),
        workspace_id=resolved.workspace.id,
        template_id=resolved.template.id,
        template_version_id=resolved.version.id,
        flow_slug=resolved.template.slug,
        status=(FormStatus.DRAFT if body.draft else FormStatus.PENDING).value,
        archived=False,
        active_from=body.active_from,
        active_until=active_until,
        fill_token=secrets.token_urlsafe(24),
        user_anonymous=not identified,
        user_email=email,
        user_phone=phone,
        user_given_name=user.given_name if user else None,
        user_family_name=user.family_name if user else None,
        user_locale=user.locale if user else None,
        user_internal_ref=user.internal_ref if user else None,
        user_company_name=user.company_name if user else None,
        owner_id=owner_id,
        data=data,
        external_args=body.external_args,
        options=options,
        webhooks=webhooks,
        redirect_url=body.redirect_url,
        branding_slug=body.branding.slug if body.branding else None,
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, form)
    await webhooks_service.subscribe_form(session, form.id, form.workspace_id, webhooks, settings)
    if form.status == FormStatus.PENDING:
        await notifications.form_pending(session, form, template, settings)
    document = await document_of(session, form.id, settings.public_url)
    await outbox.publish(session, [_form_event(event_kinds.FORMS_CREATED, document)])
    if commit:
        await session.commit()
    return document


def _form_event(kind: str, document: Document) -> outbox.NewEvent:
    return outbox.NewEvent(
        workspace_id=document["workspace"]["id"],
        kind=kind,
        subject_type="forms",
        subject_id=document["id"],
        payload=document,
        form_id=document["id"],
    )


# --- changing ----------------------------------------------------------------------------


def _apply_patch(form: Form, patch: FormPatch) -> None:
    """The lifecycle: draft -> pending -> completed | declined; completed <-> processed.
    Archival is independent of status. Asking for the state a form is already in is fine."""
    now = utcnow()
    status = FormStatus(form.status)
    given = patch.model_fields_set
    if "archived" in given:
        if patch.archived and not form.archived:
            form.archived, form.archived_at = True, now
        elif not patch.archived and form.archived:
            form.archived, form.archived_at = False, None
    if "draft" in given:
        if patch.draft and status is not FormStatus.DRAFT:
            if status is not FormStatus.PENDING:
                raise Unprocessable(
                    f"This form is {status.value}: only a pending form can go back to draft."
                )
            status = FormStatus.DRAFT
        elif not patch.draft and status is FormStatus.DRAFT:
            status = FormStatus.PENDING
    if "processed" in given:
        if patch.processed and status is not FormStatus.PROCESSED:
            if status is not FormStatus.COMPLETED:
                raise Unprocessable(
                    f"This form is {status.value}: only a completed form can be processed."
                )
            status, form.processed_at = FormStatus.PROCESSED, now
        elif not patch.processed and status is FormStatus.PROCESSED:
            status, form.processed_at = FormStatus.COMPLETED, None
    if "active_until" in given:
        if status in FINAL:
            raise Unprocessable(
                f"This form is {status.value}: its active_until can no longer change."
            )
        until = patch.active_until
        if until is not None and form.active_from is not None and until <= form.active_from:
            raise Unprocessable("active_until must be later than the form's active_from.")
        form.active_until = until
    form.status = status.value
    form.updated_at = now


async def update(
    session: AsyncSession,
    principal: Principal,
    form_id: uuid.UUID,
    patch: FormPatch,
    settings: Settings,
) -> Document:
    if not patch.model_fields_set:
        raise BadRequest(
            "Nothing to update: send one or more of archived, draft, processed, active_until."
        )
    await _granted_row(session, principal, form_id)
    form = await repository.get_for_update(session, form_id)
    if form is None:
        raise NotFound(f"No form with id {form_id}.")
    before = (form.status, form.archived, form.processed_at, form.active_until)
    _apply_patch(form, patch)
    if (form.status, form.archived, form.processed_at, form.active_until) == before:
        await session.commit()  # nothing changed: no event
        return await get(session, principal, form_id, settings)
    if before[0] == FormStatus.DRAFT and form.status == FormStatus.PENDING:
        template = await templates.definition_by_id(session, form.template_version_id)
        await notifications.form_pending(session, form, template, settings)
    await session.flush()
    document = await document_of(session, form_id, settings.public_url)
    kinds = [event_kinds.FORMS_UPDATED]
    if form.archived != before[1]:
        kinds.append(event_kinds.FORMS_ARCHIVED if form.archived else event_kinds.FORMS_UNARCHIVED)
    await outbox.publish(session, [_form_event(kind, document) for kind in kinds])
    await session.commit()
    return document
