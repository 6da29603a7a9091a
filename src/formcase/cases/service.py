"""Cases: creation (from a template or not), reading, listing and counting, data updates with
automatic status transitions, contacts, steps, and the timeline. Every change writes its
timeline line and its outbox event in its own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments import service as attachments
from formcase.auth.principal import Principal
from formcase.cases import repository, templates
from formcase.cases.filters import CASE_FILTERS, archived_default
from formcase.cases.format import (
    KEY_PATTERN,
    CaseTemplateFile,
    ContactRole,
    FieldType,
    SchemaField,
    Status,
    Step,
    StepType,
    check_value,
    normalised,
    referenced_ids,
)
from formcase.cases.models import Case, CaseContact, CaseEvent, CaseStep
from formcase.cases.repository import CaseRow
from formcase.cases.schemas import (
    CaseContacts,
    CaseCreate,
    CaseFilterParams,
    CaseListParams,
    CasePatch,
    ContactIn,
)
from formcase.config import Settings
from formcase.events import kinds
from formcase.events import service as outbox
from formcase.forms import service as forms
from formcase.forms.models import fill_link
from formcase.forms.schemas import FormCreate
from formcase.kit import json_input, phones
from formcase.kit.conditions import evaluate
from formcase.kit.errors import APIError, BadRequest, Conflict, NotFound
from formcase.kit.filters import Condition, parse_filter_json
from formcase.kit.listing import PageMeta
from formcase.kit.responses import api_json
from formcase.kit.time import utcnow
from formcase.notifications import service as notifications
from formcase.workspaces import repository as workspace_repository
from formcase.workspaces import service as workspaces

Document = dict[str, Any]
REFERENCE_ATTEMPTS = 20


@dataclass(frozen=True)
class Actor:
    """Who made a change, as the timeline says it."""

    type: str  # token, contact, system
    id: str | None = None
    name: str | None = None

    def document(self) -> Document:
        return {"type": self.type, "id": self.id, "name": self.name}


def actor_of(principal: Principal) -> Actor:
    return Actor("token", str(principal.token_id))


SYSTEM = Actor("system")


# --- the stored configuration ------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A case's own copy of what its template said (or the defaults)."""

    statuses: list[Status]
    roles: list[ContactRole]
    steps: list[Step]
    schema: list[SchemaField]

    @classmethod
    def of(cls, case: Case | CaseRow) -> Config:
        config = case.config if isinstance(case, Case) else case["config"]
        schema = case.schema if isinstance(case, Case) else case["schema"]
        return cls(
            statuses=[Status.model_validate(item) for item in config["statuses"]],
            roles=[ContactRole.model_validate(item) for item in config["roles"]],
            steps=[Step.model_validate(item) for item in config["steps"]],
            schema=[SchemaField.model_validate(item) for item in schema],
        )

    def status(self, key: str) -> Status | None:
        return next((status for status in self.statuses if status.key == key), None)

    def field(self, key: str) -> SchemaField | None:
        return next((field for field in self.schema if field.key == key), None)

    def step(self, key: str) -> Step | None:
        return next((step for step in self.steps if step.key == key), None)

    @property
    def main_role(self) -> str:
        return next(role.key for role in self.roles if role.main)


def _dump(items: Iterable[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in items]


# --- reading -----------------------------------------------------------------------------


class References:
    """The owner and workspace objects of cases, made once each and shared by the cases that
    name them (a page of 100 has a handful, not 200). `encoded`, for a page: made as JSON
    once, which orjson copies into each case instead of encoding it again."""

    def __init__(self, *, encoded: bool = False) -> None:
        self.encoded = encoded
        self.owners: dict[Any, Document | orjson.Fragment | None] = {}
        self.workspaces: dict[Any, Document | orjson.Fragment] = {}

    def _made(self, document: Document) -> Document | orjson.Fragment:
        return orjson.Fragment(api_json(document)) if self.encoded else document

    def owner(self, row: CaseRow) -> Document | orjson.Fragment | None:
        owner_id = row["owner_id"]
        if owner_id not in self.owners:
            self.owners[owner_id] = (
                self._made(
                    {
                        "id": owner_id,
                        "email": row["owner_email"],
                        "given_name": row["owner_given_name"],
                        "family_name": row["owner_family_name"],
                    }
                )
                if owner_id is not None and row["owner_email"] is not None
                else None
            )
        return self.owners[owner_id]

    def workspace(self, row: CaseRow) -> Document | orjson.Fragment:
        workspace_id = row["workspace_id"]
        found = self.workspaces.get(workspace_id)
        if found is None:
            found = self._made({"id": workspace_id, "slug": row["workspace_slug"]})
            self.workspaces[workspace_id] = found
        return found


def to_document(
    row: CaseRow,
    contacts: list[Document] | orjson.Fragment,
    references: References | None = None,
) -> Document:
    """A case as `GET /v1/cases` lists it (no steps, schema or statuses)."""
    references = references or References()
    return {
        "id": row["id"],
        "title": row["title"],
        "parent_status": row["parent_status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "description": row["description"],
        "locale": row["locale"],
        "reference": row["reference"],
        "status": row["status"],
        "waiting_for": row["waiting_for"],
        "archived_at": row["archived_at"],
        "contacts": contacts,
        "template": str(row["template_id"]) if row["template_id"] else None,
        "owner": references.owner(row),
        "workspace": references.workspace(row),
        "is_template": False,
    }


async def _step_document(session: AsyncSession, step: CaseStep, settings: Settings) -> Document:
    form = None
    if step.form_id is not None and (
        found := await forms.locked(session, step.form_id, lock=False)
    ):
        form = {
            "id": found.id,
            "status": found.status,
            "links": {"fill": fill_link(settings.public_url, found.fill_token)},
        }
    message = None
    if step.data.get("notification_id"):
        message = await notifications.document_of(session, uuid.UUID(step.data["notification_id"]))
    return {
        "id": step.id,
        "key": step.key,
        "title": step.title,
        "type": step.type,
        "status": step.status,
        "data": step.data,
        "form": form,
        "notification": message,
        "started_at": step.started_at,
        "completed_at": step.completed_at,
    }


async def detail(session: AsyncSession, case_id: uuid.UUID, settings: Settings) -> Document:
    """The full case: with its steps, schema (values included) and statuses."""
    row = await repository.case_row(session, case_id)
    assert row is not None
    contacts = await repository.shown_contacts(session, [case_id])
    document = to_document(row, contacts.get(case_id, []))
    config = Config.of(row)
    document["steps"] = [
        await _step_document(session, step, settings)
        for step in await repository.steps_of(session, case_id)
    ]
    document["schema"] = [
        templates.schema_field_document(field, row["data"].get(field.key))
        for field in config.schema
    ]
    document["statuses"] = [
        {"key": status.key, "label": status.label, "parent_status": status.parent_status.value}
        for status in config.statuses
    ]
    return document


async def get(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, settings: Settings
) -> Document:
    row = await repository.case_row(session, case_id)
    principal.require("Case", case_id, row["workspace_id"] if row else None)
    return await detail(session, case_id, settings)


async def _conditions(
    session: AsyncSession, principal: Principal, params: CaseFilterParams
) -> list[Condition]:
    if params.filter is not None:
        return archived_default(parse_filter_json(params.filter))
    conditions: list[Condition] = []
    if params.workspace_slug is not None or params.workspace_id is not None:
        workspace = await workspaces.granted(
            session, principal, slug=params.workspace_slug, workspace_id=params.workspace_id
        )
        conditions.append(Condition("workspace.id", "$eq", str(workspace.id)))
    simple = {
        "template.id": params.template_id,
        "status": params.status,
        "parent_status": params.parent_status,
        "archived": params.archived,
        "waiting_for": params.waiting_for,
        "reference": params.reference,
        "owner.id": params.owner_id,
        "owner.email": params.owner_email,
        "contact.given_name": params.contact_given_name,
        "contact.family_name": params.contact_family_name,
        "contact.email": params.contact_email,
    }
    conditions += [
        Condition(path, "$eq", str(value) if isinstance(value, uuid.UUID) else value)
        for path, value in simple.items()
        if value is not None
    ]
    return archived_default(conditions)


async def list_cases(
    session: AsyncSession, principal: Principal, params: CaseListParams
) -> Document:
    filters = CASE_FILTERS.bind(await _conditions(session, principal, params))
    page = params.page()
    rows, counted = await repository.page_cases(
        session, principal.workspace_ids, filters, params.sort, page.size, page.offset
    )
    # The page first: when it is not full it gives the total, and the count query (an EXISTS
    # per case for a contact filter) is not needed; a full page brings the tallies' count.
    total = page.total_from(len(rows))
    if total is None:
        total = counted
    if total is None:
        total = await repository.count_cases(session, principal.workspace_ids, filters)
    references = References(encoded=True)
    return {
        "meta": PageMeta.of(total, page).model_dump(),
        "data": [
            to_document(row, orjson.Fragment(row["contacts_json"]), references) for row in rows
        ],
    }


async def count_cases(session: AsyncSession, principal: Principal, params: CaseFilterParams) -> int:
    filters = CASE_FILTERS.bind(await _conditions(session, principal, params))
    return await repository.count_cases(session, principal.workspace_ids, filters)


# --- creating ----------------------------------------------------------------------------


def _schema_of(template: CaseTemplateFile, given: list[Any]) -> list[SchemaField]:
    """The template's fields, with the values (or new fields) of the request's `schema[]`."""
    fields = {field.key: field for field in template.schema_}
    for number, entry in enumerate(given):
        raw = entry.model_dump(exclude_unset=True)
        key = raw["key"]
        where = f"schema[{number}] ('{key}')"
        current = fields.get(key)
        if current is not None:
            if raw.get("type") not in (None, current.type.value):
                raise BadRequest(
                    f"Field '{where}': the field is a {current.type.value}, not {raw['type']}."
                )
            merged = {**current.model_dump(by_alias=True, exclude_none=True), **raw}
        else:
            if not raw.get("type") or not raw.get("name"):
                raise BadRequest(
                    f"Field '{where}': a new schema field needs a type and a name "
                    f"(the template has no field '{key}')."
                )
            merged = raw
        try:
            fields[key] = SchemaField.model_validate(merged)
        except ValidationError as exc:
            message = "; ".join(
                str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
            )
            raise BadRequest(f"Field '{where}': {message}.") from None
    return list(fields.values())


def _contact_values(contact: ContactIn, field: str, *locales: str | None) -> dict[str, Any]:
    """The contact's values as kept; a national phone number is read in the country of its
    locale, else of the first of `locales` (the contact's as stored, the case's) naming one."""
    given = contact.model_dump(exclude_unset=True, exclude={"key"})
    if "email" in given and given["email"] is not None:
        given["email"] = workspaces.normalise_email(given["email"], f"{field}.email")
    if "phone" in given and given["phone"] is not None:
        region = phones.region_of(contact.locale, *locales)
        given["phone"] = phones.normalise(given["phone"], f"{field}.phone", region)
    return given


def _contact_key(contact: ContactIn, config: Config, field: str) -> str:
    key = contact.key or config.main_role
    if not KEY_PATTERN.fullmatch(key):
        raise BadRequest(
            f"Field '{field}.key': '{key}' is not a contact key (lowercase letters, digits, _)."
        )
    return key


async def create(
    session: AsyncSession,
    principal: Principal,
    body: CaseCreate,
    settings: Settings,
    actor: Actor | None = None,
) -> Document:
    schema = [entry.model_dump(exclude_unset=True) for entry in body.schema_]
    json_input.check_value(schema, "schema", settings)
    template_row = None
    if body.template is not None:
        template_row = await templates.usable(session, principal, body.template.id)
    if template_row is not None:
        workspace_id = template_row.workspace_id
        if body.workspace is not None and body.workspace.id != workspace_id:
            raise BadRequest(
                "Field 'workspace.id': the case template belongs to another workspace."
            )
        template = templates.definition(template_row.template)
    else:
        if body.workspace is not None:
            workspace_id = (
                await workspaces.granted(session, principal, workspace_id=body.workspace.id)
            ).id
        elif len(principal.workspace_ids) == 1:
            workspace_id = next(iter(principal.workspace_ids))
        else:
            raise BadRequest(
                "Field 'workspace.id' is required: this token grants several workspaces."
            )
        if not body.title:
            raise BadRequest("Field 'title' is required when no template is given.")
        template = CaseTemplateFile(slug="case", title=body.title)
    config = Config(
        statuses=list(template.all_statuses()),
        roles=template.contacts,
        steps=template.steps,
        schema=_schema_of(template, body.schema_),
    )
    status_key = body.status or template.initial_status or "draft"
    status = config.status(status_key)
    if status is None:
        raise BadRequest(
            f"Field 'status': '{status_key}' is not a status of this case "
            f"({', '.join(s.key for s in config.statuses)})."
        )
    owner_id = None
    if body.owner is not None:
        email = workspaces.normalise_email(body.owner.email, "owner.email")
        member = await workspace_repository.member_by_email(session, workspace_id, email)
        if member is None:
            raise BadRequest(f"Field 'owner.email': {email} is not a member of the workspace.")
        owner_id = member.id
    contacts: dict[str, dict[str, Any]] = {}
    for number, contact in enumerate(body.contacts):
        field = f"contacts[{number}]"
        key = _contact_key(contact, config, field)
        if key in contacts:
            raise BadRequest(f"Field '{field}.key': two contacts have the key '{key}'.")
        contacts[key] = _contact_values(contact, field, body.locale or template.locale)
    await _check_references(
        session,
        workspace_id,
        config.schema,
        {field.key: normalised(field, field.value) for field in config.schema},
        "schema",
    )
    reference = await _reference(session, workspace_id, body.reference)

    now = utcnow()
    case = Case(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        template_id=template_row.template.id if template_row else None,
        title=body.title or template.title,
        description=body.description if body.description is not None else template.description,
        locale=body.locale or template.locale,
        reference=reference,
        status=status.key,
        parent_status=status.parent_status.value,
        waiting_for=body.waiting_for or "none",
        owner_id=owner_id,
        archived=False,
        archived_at=None,
        schema=_dump(field.model_copy(update={"value": None}) for field in config.schema),
        data={
            field.key: normalised(field, field.value)
            for field in config.schema
            if field.value is not None
        },
        config={
            "statuses": _dump(config.statuses),
            "roles": _dump(config.roles),
            "steps": _dump(config.steps),
        },
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    step_rows = {}
    for position, step in enumerate(config.steps):
        step_rows[step.key] = CaseStep(
            id=uuid.uuid4(),
            case_id=case.id,
            key=step.key,
            position=position,
            type=step.type.value,
            title=step.title,
            status="available",
            form_id=None,
            started_at=None,
            completed_at=None,
            data=templates.step_settings(step),
            created_at=now,
            updated_at=now,
        )
        session.add(step_rows[step.key])
    added = [
        CaseContact(
            id=uuid.uuid4(),
            case_id=case.id,
            workspace_id=workspace_id,
            key=key,
            main=key == config.main_role,
            created_at=now,
            updated_at=now,
            **values,
        )
        for key, values in contacts.items()
    ]
    session.add_all(added)
    case.contacts_json = repository.contacts_json(added)
    record(session, case, actor or actor_of(principal), "created", {"reference": reference})
    await session.flush()
    happened = [kinds.CASES_CREATED]
    for step in config.steps:  # steps that start with the case, when their condition holds
        if step.auto_start and evaluate(step.visible_if, case.data):
            await _run_step(
                session, principal, case, config, step, step_rows[step.key], {}, settings
            )
            happened.append(kinds.CASES_STEP_STARTED)
    await session.flush()
    document = await detail(session, case.id, settings)
    await outbox.publish(session, [case_event(kind, document) for kind in happened])
    await session.commit()
    return document


async def _reference(session: AsyncSession, workspace_id: uuid.UUID, given: str | None) -> str:
    if given is not None:
        if await repository.reference_taken(session, workspace_id, given):
            raise Conflict(f"Field 'reference': a case of this workspace already has '{given}'.")
        return given
    for _ in range(REFERENCE_ATTEMPTS):
        candidate = templates.new_reference()
        if not await repository.reference_taken(session, workspace_id, candidate):
            return candidate
    raise Conflict("Could not find a free case reference; try again.")


def record(
    session: AsyncSession, case: Case, actor: Actor, kind: str, changes: dict[str, Any]
) -> None:
    """A line on the case's timeline, in the change's transaction."""
    session.add(
        CaseEvent(
            id=uuid.uuid4(),
            case_id=case.id,
            at=utcnow(),
            actor=actor.document(),
            kind=kind,
            changes=changes,
        )
    )


def case_event(kind: str, document: Document) -> outbox.NewEvent:
    return outbox.NewEvent(
        workspace_id=document["workspace"]["id"],
        kind=kind,
        subject_type="cases",
        subject_id=document["id"],
        payload=document,
    )


def check_values(config: Config, data: dict[str, Any]) -> dict[str, Any]:
    """The values as stored, once every one is acceptable (400 naming each that is not)."""
    problems = []
    values = {}
    for key, value in data.items():
        field = config.field(key)
        if field is None:
            problems.append(f"'{key}' is not a field of this case")
            continue
        problem = check_value(field, value)
        if problem:
            problems.append(f"'{key}' {problem}")
            continue
        values[key] = normalised(field, value)
    if problems:
        raise BadRequest(
            "Field 'data': " + "; ".join(problems) + ".",
            details=[{"code": "invalid", "detail": problem} for problem in problems],
        )
    return values


async def _check_references(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    schema: list[SchemaField],
    values: dict[str, Any],
    where: str,
) -> None:
    """400 unless every file value names an attachment of the case's workspace of a type the
    field accepts, and every signature value a signature of it: a case must not point at
    another workspace's documents, nor at none."""
    problems = []
    for field in schema:
        ids = referenced_ids(field, values.get(field.key))
        if field.type is FieldType.SIGNATURE:
            found = await repository.signature_ids(session, workspace_id, ids)
            problems += [
                f"'{field.key}' names signature {ident}, which is not in this workspace"
                for ident in ids
                if ident not in found
            ]
            continue
        types = await repository.attachment_types(session, workspace_id, ids)
        for ident in ids:
            if ident not in types:
                problems.append(
                    f"'{field.key}' names attachment {ident}, which is not in this workspace"
                )
            elif not attachments.type_accepted(types[ident], field.accept):
                problems.append(
                    f"'{field.key}' accepts {', '.join(field.accept or [])}; "
                    f"attachment {ident} is {types[ident]}"
                )
    if problems:
        raise BadRequest(
            f"Field '{where}': " + "; ".join(problems) + ".",
            details=[{"code": "invalid", "detail": problem} for problem in problems],
        )


# --- changing ----------------------------------------------------------------------------


async def _locked(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Case:
    row = await repository.case_row(session, case_id)
    if row is None and await repository.template_row(session, case_id) is not None:
        raise Conflict(f"{case_id} is a case template: templates do not change this way.")
    principal.require("Case", case_id, row["workspace_id"] if row else None)
    case = await repository.get_for_update(session, case_id)
    assert case is not None
    return case


def _set_status(case: Case, status: Status, actor: Actor, session: AsyncSession, how: str) -> None:
    record(
        session,
        case,
        actor,
        "status_changed",
        {"status": {"from": case.status, "to": status.key}, "by": how},
    )
    case.status, case.parent_status = status.key, status.parent_status.value


def _auto_transitions(session: AsyncSession, case: Case, config: Config, watched: set[str]) -> bool:
    """Move the case to the first status whose auto transition watches what changed and
    whose condition holds on its data; True when the status changed."""
    done = set(case.config.get("transitions_done", []))
    for status in config.statuses:
        rule = status.auto_transition_when
        if rule is None or status.key == case.status or not watched & set(rule.watch):
            continue
        if rule.execute_once and status.key in done:
            continue
        if evaluate(rule.condition, case.data):
            _set_status(case, status, SYSTEM, session, "auto_transition")
            if rule.execute_once:
                case.config = {**case.config, "transitions_done": sorted(done | {status.key})}
            return True
    return False


async def _finish(
    session: AsyncSession,
    case: Case,
    settings: Settings,
    happened: list[str],
    status_before: str,
) -> Document:
    """The change's events, with the case as it is now; commits."""
    case.updated_at = utcnow()
    await session.flush()
    document = await detail(session, case.id, settings)
    if case.status != status_before:
        happened.append(kinds.CASES_STATUS_CHANGED)
    await outbox.publish(session, [case_event(kind, document) for kind in happened])
    await session.commit()
    return document


async def update_data(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    data: dict[str, Any],
    settings: Settings,
) -> Document:
    if not data:
        raise BadRequest('Field \'data\' is empty: send {"data": {"<key>": <value>}}.')
    json_input.check_value(data, "data", settings)
    case = await _locked(session, principal, case_id)
    config = Config.of(case)
    values = check_values(config, data)  # 400 before anything is written
    await _check_references(session, case.workspace_id, config.schema, values, "data")
    changed = {key: value for key, value in values.items() if case.data.get(key) != value}
    if not changed:
        await session.commit()
        return await detail(session, case_id, settings)
    record(
        session,
        case,
        actor_of(principal),
        "data_updated",
        {key: {"from": case.data.get(key), "to": value} for key, value in changed.items()},
    )
    merged = {**case.data, **changed}
    case.data = {key: value for key, value in merged.items() if value is not None}
    status_before = case.status
    _auto_transitions(session, case, config, {f"data.{key}" for key in changed})
    return await _finish(session, case, settings, [kinds.CASES_UPDATED], status_before)


async def update(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    patch: CasePatch,
    settings: Settings,
) -> Document:
    given = patch.model_dump(exclude_unset=True)
    if not given:
        raise BadRequest(
            "Nothing to update: send one or more of title, description, status, "
            "waiting_for, archived."
        )
    case = await _locked(session, principal, case_id)
    config = Config.of(case)
    actor = actor_of(principal)
    status_before = case.status
    changes: dict[str, Any] = {}
    if given.get("status") is not None:  # null changes nothing, as for the other fields
        status = config.status(str(given["status"]))
        if status is None:
            raise BadRequest(
                f"Field 'status': '{given['status']}' is not a status of this case "
                f"({', '.join(s.key for s in config.statuses)})."
            )
        if status.key != case.status:
            _set_status(case, status, actor, session, "hand")
    for name in ("title", "description", "waiting_for"):
        if name in given and given[name] is not None and given[name] != getattr(case, name):
            changes[name] = {"from": getattr(case, name), "to": given[name]}
            setattr(case, name, given[name])
    if "archived" in given and given["archived"] is not None and given["archived"] != case.archived:
        changes["archived"] = {"from": case.archived, "to": given["archived"]}
        case.archived = bool(given["archived"])
        case.archived_at = utcnow() if case.archived else None
    if not changes and case.status == status_before:
        await session.commit()
        return await detail(session, case_id, settings)
    if changes:
        record(session, case, actor, "updated", changes)
    return await _finish(session, case, settings, [kinds.CASES_UPDATED], status_before)


async def upsert_contacts(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    body: CaseContacts,
    settings: Settings,
) -> Document:
    case = await _locked(session, principal, case_id)
    config = Config.of(case)
    existing = {
        contact.key: contact
        for contact in (await repository.contacts_of(session, [case_id])).get(case_id, [])
    }
    now = utcnow()
    changes: dict[str, Any] = {}
    seen: set[str] = set()
    for number, contact in enumerate(body.contacts):
        field = f"contacts[{number}]"
        key = _contact_key(contact, config, field)
        if key in seen:
            raise BadRequest(f"Field '{field}.key': two contacts have the key '{key}'.")
        seen.add(key)
        if contact.remove:
            if key == config.main_role:
                raise BadRequest(f"Field '{field}': the main contact cannot be removed.")
            if key in existing:
                await session.delete(existing.pop(key))
                changes[key] = "removed"
            continue
        row = existing.get(key)
        values = _contact_values(contact, field, row.locale if row else None, case.locale)
        values.pop("remove", None)
        if row is None:
            row = CaseContact(
                id=uuid.uuid4(),
                case_id=case.id,
                workspace_id=case.workspace_id,
                key=key,
                main=key == config.main_role,
                created_at=now,
                updated_at=now,
                **values,
            )
            session.add(row)
            existing[key] = row
            changes[key] = {"added": values}
        else:
            differs = {name: value for name, value in values.items() if getattr(row, name) != value}
            for name, value in differs.items():
                setattr(row, name, value)
            if differs:
                row.updated_at = now
                changes[key] = {"changed": differs}
    if not changes:
        await session.commit()
        return await detail(session, case_id, settings)
    case.contacts_json = repository.contacts_json(existing.values())
    record(session, case, actor_of(principal), "contacts_updated", changes)
    return await _finish(session, case, settings, [kinds.CASES_UPDATED], case.status)


async def start_step(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    step_key: str,
    given: dict[str, Any],
    settings: Settings,
) -> Document:
    json_input.check_value(given, "data", settings)
    case = await _locked(session, principal, case_id)
    config = Config.of(case)
    step = config.step(step_key)
    row = await repository.step_for_update(session, case_id, step_key)
    if step is None or row is None:
        raise NotFound(
            f"Case {case_id} has no step '{step_key}' "
            f"(its steps: {', '.join(s.key for s in config.steps) or 'none'})."
        )
    if row.status != "available":
        raise Conflict(f"Step '{step_key}' was already started ({row.status}).")
    if not evaluate(step.visible_if, case.data):
        raise Conflict(f"Step '{step_key}' is hidden: its visible_if does not hold on the data.")
    await _run_step(session, principal, case, config, step, row, given, settings)
    return await _finish(
        session, case, settings, [kinds.CASES_STEP_STARTED, kinds.CASES_UPDATED], case.status
    )


async def _run_step(
    session: AsyncSession,
    principal: Principal,
    case: Case,
    config: Config,
    step: Step,
    row: CaseStep,
    given: dict[str, Any],
    settings: Settings,
) -> None:
    now = utcnow()
    contacts = (await repository.contacts_of(session, [case.id])).get(case.id, [])
    contact = next((c for c in contacts if c.key == step.contact), None)
    outcome: dict[str, Any] = {}
    if step.type is StepType.FORM:
        if contact is None or not (contact.email or contact.phone):
            raise Conflict(
                f"Step '{step.key}' sends a form to the '{step.contact}' contact, who has no "
                "email or phone on this case: add one with POST …/contacts first."
            )
        body = FormCreate.model_validate(
            {
                "flow": {"slug": step.form_template},
                "workspace": {"id": str(case.workspace_id)},
                "user": {
                    "email": contact.email,
                    "phone": contact.phone,
                    "given_name": contact.given_name,
                    "family_name": contact.family_name,
                    "locale": contact.locale or case.locale,
                },
                "data": given,
                "external_args": {"case_id": str(case.id), "case_step": step.key},
            }
        )
        try:
            form = await forms.create(session, principal, body, settings, commit=False)
        except APIError as exc:
            raise Conflict(f"Step '{step.key}' cannot send its form: {exc.message}") from None
        row.form_id = form["id"]
        row.status = "started"
        case.waiting_for = "contact"
        outcome = {"form_id": str(form["id"])}
    elif step.type in (StepType.EMAIL, StepType.SMS):
        wanted = "email" if step.type is StepType.EMAIL else "phone"
        address = getattr(contact, wanted) if contact is not None else None
        if not address:
            raise Conflict(
                f"Step '{step.key}' sends an {step.type.value} to the '{step.contact}' contact, "
                f"who has no {wanted} on this case: add one with POST …/contacts first."
            )
        workspace = await workspace_repository.by_id(session, case.workspace_id)
        assert workspace is not None
        message = await notifications.case_step(
            session,
            case_id=case.id,
            workspace_id=case.workspace_id,
            workspace_name=workspace.name,
            method=step.type.value,
            to=address,
            locale=(contact.locale if contact else None) or case.locale,
            subject=step.subject,
            text=step.text or "",
            settings=settings,
        )
        # Done once handed to the notification system; the notification says how sending went.
        row.status = "completed"
        row.completed_at = now
        outcome = {"notification_id": str(message.id), "to": address}
    else:  # a note: done once written
        row.status = "completed"
        row.completed_at = now
        outcome = {"text": step.text}
    row.started_at = now
    row.data = {
        **row.data,
        **({"input": given} if given else {}),
        **({"notification_id": outcome["notification_id"]} if "notification_id" in outcome else {}),
    }
    row.updated_at = now
    record(session, case, actor_of(principal), "step_started", {"step": step.key, **outcome})
    if row.status == "completed":
        _auto_transitions(session, case, config, {f"steps.{step.key}"})


async def form_closed(
    session: AsyncSession, form_id: uuid.UUID, status: str, settings: Settings
) -> None:
    """A form was completed or declined: the case steps that sent it say so, the case waits
    for its owner again, and transitions watching the step run. In the caller's transaction;
    the caller commits."""
    for row in await repository.steps_of_form(session, form_id):
        case = await repository.get_for_update(session, row.case_id)
        if case is None or row.status != "started":
            continue
        now = utcnow()
        row.status = "completed" if status == "completed" else "declined"
        row.completed_at = now
        row.updated_at = now
        case.waiting_for = "owner"
        record(session, case, Actor("contact"), "step_" + row.status, {"step": row.key})
        status_before = case.status
        _auto_transitions(session, case, Config.of(case), {f"steps.{row.key}"})
        case.updated_at = now
        await session.flush()
        document = await detail(session, case.id, settings)
        happened = [kinds.CASES_UPDATED]
        if case.status != status_before:
            happened.append(kinds.CASES_STATUS_CHANGED)
        await outbox.publish(session, [case_event(kind, document) for kind in happened])


async def timeline(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Document:
    row = await repository.case_row(session, case_id)
    principal.require("Case", case_id, row["workspace_id"] if row else None)
    return {
        "data": [
            {
                "id": event.id,
                "at": event.at,
                "actor": event.actor,
                "kind": event.kind,
                "changes": event.changes,
            }
            for event in await repository.timeline(session, case_id)
        ]
    }
