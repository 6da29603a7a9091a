"""The contact's side, behind the fill link: open the form (creating or resuming the
response), save a step, submit, decline. The rules: only a pending form inside its activity
window can be filled; values are checked against the template; hidden steps and elements do
not count, and their values are dropped on submit; a completed response never changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from formcase.attachments import repository as attachments_repository
from formcase.attachments import service as attachments
from formcase.attachments.models import Attachment
from formcase.attachments.schemas import Scope
from formcase.attachments.service import UnsupportedMediaType
from formcase.cases import service as cases
from formcase.config import Settings
from formcase.events import kinds as event_kinds
from formcase.events import service as events
from formcase.forms import repository as forms
from formcase.forms import service as forms_service
from formcase.forms.models import Form
from formcase.forms.schemas import FormStatus
from formcase.kit import json_input, phones
from formcase.kit.conditions import evaluate
from formcase.kit.errors import APIError, BadRequest, Conflict, NotFound
from formcase.kit.time import isoformat_z, utcnow
from formcase.notifications import service as notifications
from formcase.responses import repository as responses_repository
from formcase.responses import service as responses
from formcase.responses.models import Response
from formcase.responses.service import Client
from formcase.signatures import service as signatures
from formcase.storage import Storage
from formcase.templates import service as templates
from formcase.templates.format import (
    NOT_PREFILLABLE,
    Element,
    ElementType,
    TemplateFile,
    check_value,
    stored_value,
)

# What the contact fills in the page itself; files and signatures have their own calls.
TYPED_IN = {t for t in ElementType if t not in NOT_PREFILLABLE}


class NotFillable(APIError):
    """Why a form cannot be filled now. `reason` names the case for the page, which says it
    in the contact's language: unknown, draft, not_yet_open, expired, withdrawn, completed,
    declined."""

    def __init__(self, reason: str, status_code: int, message: str) -> None:
        super().__init__(
            message, status_code=status_code, details=[{"code": reason, "detail": message}]
        )
        self.reason = reason


async def fillable(
    session: AsyncSession, token: str, *, lock: bool = True
) -> tuple[Form, TemplateFile]:
    """The form behind a fill link and its template, if it can be filled now; locked for a
    change unless `lock` is false (to show it)."""
    form = await forms.by_fill_token(session, token, lock=lock)
    if form is None:
        raise NotFillable("unknown", 404, "There is no form at this link.")
    now = utcnow()
    status = FormStatus(form.status)
    if form.archived:
        raise NotFillable("withdrawn", 410, "This form was withdrawn by its sender.")
    if form.active_until is not None and form.active_until <= now:
        raise NotFillable("expired", 410, f"This form expired on {isoformat_z(form.active_until)}.")
    if status is FormStatus.DRAFT:
        raise NotFillable("draft", 409, "This form has not been sent yet.")
    if status in (FormStatus.COMPLETED, FormStatus.PROCESSED):
        raise NotFillable(
            "completed", 409, "This form has been completed; it can no longer change."
        )
    if status is FormStatus.DECLINED:
        raise NotFillable("declined", 409, "This form was declined; it can no longer change.")
    if form.active_from is not None and form.active_from > now:
        raise NotFillable(
            "not_yet_open", 409, f"This form opens on {isoformat_z(form.active_from)}."
        )
    return form, await templates.definition_by_id(session, form.template_version_id)


async def _response(
    session: AsyncSession, form: Form, client: Client, locale: str | None
) -> Response:
    response = await responses_repository.open_for_form(session, form.id)
    if response is None:
        now = utcnow()
        response = Response(
            form_id=form.id,
            workspace_id=form.workspace_id,
            data=dict(form.data),  # the prefill, shown and editable
            locale=locale or form.user_locale,
            ip=client.ip,
            user_agent=client.user_agent,
            accept_language=client.accept_language,
            created_at=now,
            updated_at=now,
        )
        responses_repository.add(session, response)
        form.has_responses = True
        await session.flush()
        responses.record(session, response, "created", client, step=None)
        session.info.setdefault(_CREATED, set()).add(response.id)
    return response


_CREATED = "formcase.fill.created_responses"  # responses created in this transaction


async def _publish(
    session: AsyncSession, settings: Settings, form: Form, response: Response, *kinds: str
) -> None:
    """The events of this change (with responses:created first when the response was made
    in this transaction), all with the form object as it is now; flushes, does not commit."""
    created: set[uuid.UUID] = session.info.get(_CREATED, set())
    if response.id in created:
        created.discard(response.id)
        kinds = (event_kinds.RESPONSES_CREATED, *kinds)
    if not kinds:
        return
    await session.flush()
    document = await forms_service.document_of(session, form.id, settings.public_url)
    await events.publish(
        session,
        [
            events.NewEvent(
                workspace_id=form.workspace_id,
                kind=kind,
                subject_type="forms" if kind.startswith("forms:") else "responses",
                subject_id=form.id if kind.startswith("forms:") else response.id,
                payload=document,
                form_id=form.id,
            )
            for kind in kinds
        ],
    )


async def _state(
    session: AsyncSession, form: Form, template: TemplateFile, response: Response
) -> dict[str, Any]:
    locales = template.locales or [template.locale]
    locale = response.locale if response.locale in locales else None
    chosen = locale or template.locale
    files = await responses_repository.attachments_of(session, [response.id])
    signed = (await signatures.for_responses(session, [response.id])).get(response.id, {})
    uploads: dict[str, list[dict[str, Any]]] = {}
    for file in files:
        if file.element_key:
            uploads.setdefault(file.element_key, []).append(
                {"id": file.id, "name": file.name, "type": file.type, "size": file.size}
            )
    documents: dict[str, list[dict[str, Any]]] = {}
    for _, element in template.elements():
        if element.type is ElementType.SIGNATURE and element.documents and element.key:
            found = await signatures.documents_of(
                session, element, response, template, chosen, files
            )
            documents[element.key] = [
                {
                    "index": document.index,
                    "name": document.name,
                    "url": f"/f/{form.fill_token}/api/documents/{element.key}/{document.index}",
                    "ready": document.attachment is not None,
                }
                for document in found
            ]
    return {
        "form": {"id": form.id, "status": form.status, "redirect_url": form.redirect_url},
        "template": {
            "slug": form.flow_slug,
            "name": template.name,
            "locale": template.locale,
            "locales": locales,
            "steps": [step.model_dump() for step in templates.steps_of(template, locale)],
            "documents": documents,
        },
        "response": {
            "id": response.id,
            "data": response.data,
            "step": response.step,
            "visible_steps": [
                s.id for s in template.steps if evaluate(s.visible_if, response.data)
            ],
            "files": uploads,
            "signatures": signed,
            "completed_at": response.completed_at,
            "declined_at": response.declined_at,
        },
        "user": {
            "given_name": form.user_given_name,
            "family_name": form.user_family_name,
            "email": form.user_email,
            "locale": response.locale,
        },
    }


async def open_form(
    session: AsyncSession, token: str, client: Client, locale: str | None, settings: Settings
) -> dict[str, Any]:
    form, template = await fillable(session, token)
    response = await _response(session, form, client, locale)
    kinds = []
    if locale and locale != response.locale:
        response.locale = locale
        kinds.append(event_kinds.RESPONSES_UPDATED)
    await _publish(session, settings, form, response, *kinds)
    await session.commit()
    return await _state(session, form, template, response)


async def save_step(
    session: AsyncSession,
    token: str,
    step_id: str,
    data: dict[str, Any],
    client: Client,
    settings: Settings,
) -> dict[str, Any]:
    form, template = await fillable(session, token)
    json_input.check_value(data, "data", settings)
    response = await _response(session, form, client, None)
    step = next((s for s in template.steps if s.id == step_id), None)
    if step is None:
        raise NotFound(f"This form has no step '{step_id}'.")
    merged = {**response.data, **data}
    if not evaluate(step.visible_if, merged):
        raise BadRequest(f"Step '{step_id}' is not shown for these answers.")
    elements = {e.key: e for e in step.elements if e.key and e.type in TYPED_IN}
    region = phones.region_of(form.user_locale)
    problems: list[tuple[str, str]] = []
    for key, value in data.items():
        element = elements.get(key)
        if element is None:
            problems.append((key, f"is not a field of step '{step_id}'"))
        elif (reason := check_value(element, value, region)) is not None:
            problems.append((key, reason))
        else:
            merged[key] = stored_value(element, value, region)
    if problems:
        raise _invalid(problems)
    response.data = merged
    response.step = step_id
    responses.record(session, response, "saved", client, step=step_id)
    await _publish(session, settings, form, response, event_kinds.RESPONSES_UPDATED)
    await session.commit()
    return await _state(session, form, template, response)


def _step_of(template: TemplateFile, element_key: str) -> str | None:
    """The step that holds an element: where its file or signature belongs in the audit
    trail, whichever step the contact saved last."""
    return next((step.id for step, e in template.elements() if e.key == element_key), None)


def _pointer(key: str) -> dict[str, Any]:
    return {"source": {"pointer": f"/data/{key}"}}


def _invalid(problems: list[tuple[str, str]]) -> BadRequest:
    """One message for people, and one error per field (`source.pointer` = /data/<key>) for
    a front end to put next to each field."""
    return BadRequest(
        "; ".join(f"'{key}' {reason}" for key, reason in problems) + ".",
        details=[
            {"code": "invalid", "detail": f"'{key}' {reason}", **_pointer(key)}
            for key, reason in problems
        ],
    )


def _visible_answers(
    template: TemplateFile, data: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The answers of visible elements, and the required ones that are missing."""
    kept: dict[str, Any] = {}
    missing = []
    for step in template.steps:
        if not evaluate(step.visible_if, data):
            continue
        for element in step.elements:
            if not element.key or not evaluate(element.visible_if, data):
                continue
            value = data.get(element.key)
            if value in (None, "", []) or (element.type is ElementType.CHECKBOX and not value):
                if element.required:
                    missing.append(element.key)
                continue
            kept[element.key] = value
    return kept, missing


async def submit(
    session: AsyncSession, token: str, client: Client, settings: Settings
) -> dict[str, Any]:
    form, template = await fillable(session, token)
    response = await _response(session, form, client, None)
    answers, missing = _visible_answers(template, response.data)
    if missing:
        raise BadRequest(
            f"Required fields are not answered: {', '.join(missing)}.",
            details=[
                {"code": "required", "detail": f"'{key}' is required", **_pointer(key)}
                for key in missing
            ],
        )
    problems = [
        (key, reason)
        for key, value in answers.items()
        if (element := template.element(key)) is not None
        and element.type in TYPED_IN
        and (reason := check_value(element, value, phones.region_of(form.user_locale))) is not None
    ]
    if problems:
        raise _invalid(problems)
    response.data = answers
    await signatures.keep_only(session, response.id, set(answers))
    response.completed_at = utcnow()
    await notifications.form_completed(session, form, template, settings)
    await _close(session, settings, form, response, FormStatus.COMPLETED, client)
    return {"completed_at": response.completed_at, "redirect_url": form.redirect_url}


async def decline(
    session: AsyncSession, token: str, reason: str | None, client: Client, settings: Settings
) -> dict[str, Any]:
    form, _ = await fillable(session, token)
    response = await _response(session, form, client, None)
    response.decline_reason = reason
    response.declined_at = utcnow()
    await _close(session, settings, form, response, FormStatus.DECLINED, client)
    return {"declined_at": response.declined_at}


async def _close(
    session: AsyncSession,
    settings: Settings,
    form: Form,
    response: Response,
    status: FormStatus,
    client: Client,
) -> None:
    """The form takes its final status and the audit trail says so, with the events, in one
    commit."""
    form.status = status.value
    form.updated_at = utcnow()
    responses.record(session, response, status.value, client, step=response.step)
    # The response changed (completed_at or declined_at, answers of hidden fields dropped),
    # and so did the form (its status).
    kinds = [event_kinds.RESPONSES_UPDATED, event_kinds.FORMS_UPDATED]
    if status is FormStatus.COMPLETED:
        kinds.insert(1, event_kinds.RESPONSES_COMPLETED)
    await cases.form_closed(session, form.id, status.value, settings)
    await _publish(session, settings, form, response, *kinds)
    await session.commit()


def _accepts(element: Element) -> Callable[[Attachment], None]:
    """A check of an uploaded file's detected type against the field's `accept` list."""

    def check(attachment: Attachment) -> None:
        allowed = element.accept or []
        if not attachments.type_accepted(attachment.type, allowed):
            raise UnsupportedMediaType(
                f"'{attachment.name}' is {attachment.type}; "
                f"this field accepts {', '.join(allowed)}."
            )

    return check


async def upload_file(
    session: AsyncSession,
    token: str,
    element_key: str,
    request: Request,
    storage: Storage,
    settings: Settings,
    client: Client,
) -> dict[str, Any]:
    """A file for a file field: stored as a restricted attachment of the response, its id
    put in the response's data under the field's key (a list when the field takes several)."""
    form, template = await fillable(session, token)
    element = template.element(element_key)
    if element is None:
        raise NotFound(f"This form has no field '{element_key}'.")
    if element.type is not ElementType.FILE:
        raise BadRequest(f"'{element_key}' is a {element.type} field, not a file field.")
    response = await _response(session, form, client, None)
    response_id = response.id
    workspace_id = form.workspace_id
    await _publish(session, settings, form, response)
    await session.commit()  # the form's lock is not held while the file arrives
    attachment = await attachments.receive(
        request,
        session,
        storage,
        settings,
        workspace_id,
        limit=element.max_size,
        accept=_accepts(element),
    )
    form, template = await fillable(session, token)  # it may have changed meanwhile
    response = await _response(session, form, client, None)
    if response.id != response_id:
        raise Conflict("The response changed while the file was uploading; send it again.")
    attachment.scope = Scope.RESTRICTED.value
    attachment.response_id = response.id
    attachment.element_key = element_key
    session.add(attachment)
    value = str(attachment.id)
    current = response.data.get(element_key)
    if element.multiple:
        value_list = [*(current if isinstance(current, list) else []), value]
        response.data = {**response.data, element_key: value_list}
    else:
        response.data = {**response.data, element_key: value}
    responses.record(session, response, "uploaded", client, step=_step_of(template, element_key))
    await _publish(session, settings, form, response, event_kinds.RESPONSES_UPDATED)
    await session.commit()
    return attachments.to_document(attachment, settings.public_url)


async def _uploaded(
    session: AsyncSession, response: Response, attachment_id: uuid.UUID
) -> Attachment:
    """A file the contact uploaded to this response (nobody else's)."""
    attachment = await attachments_repository.get(session, attachment_id)
    if attachment is None or attachment.response_id != response.id or not attachment.element_key:
        raise NotFound(f"No file {attachment_id} was uploaded to this form.")
    return attachment


async def uploaded_file(
    session: AsyncSession,
    token: str,
    attachment_id: uuid.UUID,
    client: Client,
    settings: Settings,
) -> Attachment:
    form, _ = await fillable(session, token)
    response = await _response(session, form, client, None)
    attachment = await _uploaded(session, response, attachment_id)
    await _publish(session, settings, form, response)
    await session.commit()
    return attachment


async def remove_file(
    session: AsyncSession,
    token: str,
    element_key: str,
    attachment_id: uuid.UUID,
    client: Client,
    settings: Settings,
) -> dict[str, Any]:
    """Take back an uploaded file: out of the response's data, and the attachment deleted."""
    form, template = await fillable(session, token)
    response = await _response(session, form, client, None)
    attachment = await _uploaded(session, response, attachment_id)
    if attachment.element_key != element_key:
        raise NotFound(f"File {attachment_id} was not uploaded to '{element_key}'.")
    current = response.data.get(element_key)
    data = dict(response.data)
    if isinstance(current, list):
        data[element_key] = [item for item in current if item != str(attachment_id)]
    elif current == str(attachment_id):
        data.pop(element_key)
    response.data = data
    await attachments_repository.delete(session, attachment)
    step = _step_of(template, element_key)
    responses.record(session, response, "file_removed", client, step=step)
    await _publish(session, settings, form, response, event_kinds.RESPONSES_UPDATED)
    await session.commit()
    return await _state(session, form, template, response)


def _signature_element(template: TemplateFile, element_key: str) -> Element:
    element = template.element(element_key)
    if element is None:
        raise NotFound(f"This form has no field '{element_key}'.")
    if element.type is not ElementType.SIGNATURE:
        raise BadRequest(f"'{element_key}' is a {element.type} field, not a signature field.")
    return element


async def document_to_sign(
    session: AsyncSession,
    token: str,
    element_key: str,
    index: int,
    client: Client,
    settings: Settings,
) -> Attachment:
    """The PDF a signature element asks the contact to sign, to read before signing."""
    form, template = await fillable(session, token)
    element = _signature_element(template, element_key)
    response = await _response(session, form, client, None)
    locale = response.locale or template.locale
    found = await signatures.documents_of(session, element, response, template, locale)
    document = next((d for d in found if d.index == index), None)
    if document is None:
        raise NotFound(f"'{element_key}' has no document {index}.")
    if document.attachment is None:
        raise Conflict(f"'{document.name}' is not there yet: upload it first.")
    await _publish(session, settings, form, response)
    await session.commit()
    return document.attachment


async def sign(
    session: AsyncSession,
    token: str,
    element_key: str,
    image: str,
    storage: Storage,
    settings: Settings,
    client: Client,
) -> dict[str, Any]:
    """The contact signs a signature element with the image they drew."""
    form, template = await fillable(session, token)
    element = _signature_element(template, element_key)
    response = await _response(session, form, client, None)
    signature = await signatures.sign(
        session, storage, settings, form, template, response, element, image, client
    )
    responses.record(session, response, "signed", client, step=_step_of(template, element_key))
    await _publish(session, settings, form, response, event_kinds.RESPONSES_UPDATED)
    await session.commit()
    return signatures.document(signature, await signatures.signed_file(session, signature))
