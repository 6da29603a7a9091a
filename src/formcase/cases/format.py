"""The case template file format (docs/case-templates.md) and the value rules of each data
schema field type (reference §16.1), used when a case is created and when its data changes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from formcase.kit.conditions import VisibleIf, fields_of
from formcase.templates.format import SLUG_PATTERN, locale_value, slug_value

KEY_PATTERN = re.compile(r"[a-z0-9_]{1,120}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MAIN_CONTACT = "main"


class ParentStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CURRENCY = "currency"
    DATE = "date"
    CHECKBOX = "checkbox"
    CHOICES = "choices"
    MULTIPLE_CHOICE = "multiple_choice"
    FILE = "file"
    SIGNATURE = "signature"


def _key(value: str, what: str) -> str:
    if not KEY_PATTERN.fullmatch(value):
        raise ValueError(f"{what} '{value}': use lowercase letters, digits and _ (at most 120)")
    return value


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=200)
    label: str = Field(min_length=1, max_length=200)


class SchemaField(BaseModel):
    """One data field of a case: its type, the type's options, and its value."""

    model_config = ConfigDict(extra="forbid")

    key: str
    type: FieldType
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=1000)
    ai_description: str | None = Field(None, max_length=1000)
    visibility: Literal["always-visible", "hide-when-empty", "always-hide"] = "always-visible"
    value: Any = None
    # text
    multiline: bool | None = None
    maxlength: int | None = Field(None, ge=1)
    pattern: str | None = None
    placeholder: str | None = None
    # number, currency
    min: float | None = None
    max: float | None = None
    decimals: int | None = Field(None, ge=0, le=10)
    prefix: str | None = None
    suffix: str | None = None
    currency: str | None = None  # ISO 4217, for currency fields
    # checkbox, choices
    required: bool | None = None
    default: Any = None
    # choices, multiple_choice
    options: list[Option] | None = None
    min_selections: int | None = Field(None, ge=0)
    max_selections: int | None = Field(None, ge=1)
    # file
    accept: list[str] | None = None
    multiple: bool | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _key(value, "schema key")

    @model_validator(mode="after")
    def _consistent(self) -> SchemaField:
        kind, name = self.type, f"schema field '{self.key}'"
        if kind in (FieldType.CHOICES, FieldType.MULTIPLE_CHOICE):
            if not self.options:
                raise ValueError(f"{name}: a {kind} field needs options")
            values = [option.value for option in self.options]
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: option values must be unique")
        elif self.options is not None:
            raise ValueError(f"{name}: only choices and multiple_choice take options")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(
                    f"{name}: pattern is not a valid regular expression ({exc})"
                ) from None
        currency = self.currency
        if kind is FieldType.CURRENCY and currency and not CURRENCY_PATTERN.fullmatch(currency):
            raise ValueError(f"{name}: currency is a three-letter ISO 4217 code (EUR)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{name}: min is larger than max")
        for label, given in (("value", self.value), ("default", self.default)):
            if given is not None and (problem := check_value(self, given)):
                raise ValueError(f"{name}: its {label} {problem}")
        return self


class Status(BaseModel):
    """A custom status; `auto_transition_when` moves a case to it when a watched field
    changes and the condition holds."""

    model_config = ConfigDict(extra="forbid")
    key: str
    label: str = Field(min_length=1, max_length=200)
    parent_status: ParentStatus
    auto_transition_when: AutoTransition | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _key(value, "status key")


class AutoTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    watch: list[str] = Field(min_length=1, description="data.<key> or steps.<step key>")
    condition: VisibleIf
    execute_once: bool = False

    @field_validator("watch")
    @classmethod
    def _watch(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"(data|steps)\.[a-z0-9_]{1,120}", item):
                raise ValueError(f"watch '{item}': name data.<key> or steps.<step key>")
        return value


Status.model_rebuild()


class ContactRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    label: str = Field(min_length=1, max_length=200)
    main: bool = False

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _key(value, "contact role key")


class StepType(StrEnum):
    FORM = "form"
    EMAIL = "email"
    SMS = "sms"
    NOTE = "note"


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    title: str = Field(min_length=1, max_length=200)
    type: StepType
    form_template: str | None = Field(None, description="a form template's slug (form steps)")
    contact: str = Field(MAIN_CONTACT, description="the contact role it goes to")
    subject: str | None = Field(None, max_length=300)  # email
    text: str | None = Field(None, max_length=5000)  # email body, SMS, note
    visible_if: VisibleIf | None = None
    auto_start: bool = False

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _key(value, "step key")

    @field_validator("form_template")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not SLUG_PATTERN.fullmatch(value):
            raise ValueError(f"form_template '{value}' is not a form template slug")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        name = f"step '{self.key}'"
        if self.type is StepType.FORM and self.form_template is None:
            raise ValueError(f"{name}: a form step names its form_template")
        if self.type is not StepType.FORM and self.form_template is not None:
            raise ValueError(f"{name}: only form steps take a form_template")
        if self.type in (StepType.EMAIL, StepType.SMS, StepType.NOTE) and not self.text:
            raise ValueError(f"{name}: a {self.type} step needs its text")
        if self.type is StepType.EMAIL and not self.subject:
            raise ValueError(f"{name}: an email step needs a subject")
        return self


DEFAULT_STATUSES = [
    Status(
        key=parent.value, label=parent.value.replace("_", " ").capitalize(), parent_status=parent
    )
    for parent in ParentStatus
]
DEFAULT_ROLES = [ContactRole(key=MAIN_CONTACT, label="Main contact", main=True)]


class CaseTemplateFile(BaseModel):
    """A case template as written in a JSON or YAML file."""

    model_config = ConfigDict(extra="forbid")

    slug: str
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    locale: str = "en"
    schema_: list[SchemaField] = Field(default_factory=list, alias="schema")
    statuses: list[Status] = Field(default_factory=list)
    initial_status: str | None = None
    contacts: list[ContactRole] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    steps: list[Step] = Field(default_factory=list)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return slug_value(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return locale_value(value)

    @model_validator(mode="after")
    def _consistent(self) -> CaseTemplateFile:
        for what, keys in (
            ("schema keys", [field.key for field in self.schema_]),
            ("status keys", [status.key for status in self.all_statuses()]),
            ("contact role keys", [role.key for role in self.contacts]),
            ("step keys", [step.key for step in self.steps]),
        ):
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"{what} must be unique: {', '.join(duplicates)}")
        mains = [role.key for role in self.contacts if role.main]
        if len(mains) != 1:
            raise ValueError(f"exactly one contact role is the main one (got {len(mains)})")
        statuses = {status.key for status in self.all_statuses()}
        if self.initial_status is not None and self.initial_status not in statuses:
            raise ValueError(f"initial_status '{self.initial_status}' is not a status")
        fields = {field.key for field in self.schema_}
        steps = {step.key for step in self.steps}
        roles = {role.key for role in self.contacts}
        for status in self.statuses:
            if status.auto_transition_when is None:
                continue
            where = f"status '{status.key}'"
            for watched in status.auto_transition_when.watch:
                kind, key = watched.split(".", 1)
                if key not in (fields if kind == "data" else steps):
                    raise ValueError(f"{where}: watches unknown {watched}")
            for key in fields_of(status.auto_transition_when.condition):
                if key not in fields:
                    raise ValueError(f"{where}: its condition reads unknown field '{key}'")
        for step in self.steps:
            if step.contact not in roles and step.type is not StepType.NOTE:
                raise ValueError(f"step '{step.key}': contact role '{step.contact}' is unknown")
            for key in fields_of(step.visible_if) if step.visible_if else ():
                if key not in fields:
                    raise ValueError(f"step '{step.key}': visible_if reads unknown field '{key}'")
        return self

    def all_statuses(self) -> Iterator[Status]:
        """The four built-in statuses (one per parent, keyed as it), then the template's."""
        yield from DEFAULT_STATUSES
        yield from self.statuses


# --- values ------------------------------------------------------------------------------


def check_value(field: SchemaField, value: Any) -> str | None:
    """Why `value` cannot be this field's value, or None when it can (None clears)."""
    if value is None:
        return None
    kind = field.type
    if kind is FieldType.TEXT:
        if not isinstance(value, str):
            return "must be a string"
        if field.maxlength is not None and len(value) > field.maxlength:
            return f"is longer than {field.maxlength} characters"
        if field.pattern is not None and not re.fullmatch(field.pattern, value):
            return f"does not match the pattern {field.pattern}"
        if not field.multiline and "\n" in value:
            return "must be one line (the field is not multiline)"
        return None
    if kind in (FieldType.NUMBER, FieldType.CURRENCY):
        number = _decimal(value)
        if number is None:
            what = "an amount" if kind is FieldType.CURRENCY else "a number"
            return f'must be {what} (a JSON number or a decimal string such as "12.50")'
        if field.min is not None and number < Decimal(str(field.min)):
            return f"is below the minimum {field.min:g}"
        if field.max is not None and number > Decimal(str(field.max)):
            return f"is above the maximum {field.max:g}"
        decimals = (
            field.decimals
            if field.decimals is not None
            else (2 if kind is FieldType.CURRENCY else None)
        )
        exponent = number.as_tuple().exponent
        if decimals is not None and isinstance(exponent, int) and -exponent > decimals:
            return f"has more than {decimals} decimals"
        return None
    if kind is FieldType.DATE:
        if not isinstance(value, str) or len(value) != 10:
            return "must be a date written YYYY-MM-DD"
        try:
            date.fromisoformat(value)
        except ValueError:
            return "must be a date written YYYY-MM-DD"
        return None
    if kind is FieldType.CHECKBOX:
        return None if isinstance(value, bool) else "must be true or false"
    allowed = [option.value for option in field.options or []]
    if kind is FieldType.CHOICES:
        if not isinstance(value, str) or value not in allowed:
            return f"must be one of {', '.join(allowed)}"
        return None
    if kind is FieldType.MULTIPLE_CHOICE:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return "must be a list of option values"
        unknown = [item for item in value if item not in allowed]
        if unknown:
            return f"has unknown options {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        if field.min_selections is not None and len(value) < field.min_selections:
            return f"needs at least {field.min_selections} selections"
        if field.max_selections is not None and len(value) > field.max_selections:
            return f"takes at most {field.max_selections} selections"
        return None
    # file, signature: ids of attachments / signatures (checked against the workspace by the
    # service)
    ids = value if isinstance(value, list) and kind is FieldType.FILE else [value]
    if kind is FieldType.FILE and isinstance(value, list) and not field.multiple and len(ids) > 1:
        return "takes one file (the field is not multiple)"
    for item in ids:
        if _uuid(item) is None:
            what = "an attachment" if kind is FieldType.FILE else "a signature"
            return f'must be the id of {what} (a UUID, or {{"id": UUID}})'
    return None


def normalised(field: SchemaField, value: Any) -> Any:
    """The value as stored (after check_value): amounts as decimal strings, ids as strings."""
    if value is None:
        return None
    if field.type is FieldType.CURRENCY:
        return str(_decimal(value))
    if field.type is FieldType.NUMBER and isinstance(value, str):
        number = _decimal(value)
        assert number is not None
        return int(number) if number == number.to_integral_value() else float(number)
    if field.type in (FieldType.FILE, FieldType.SIGNATURE):
        if isinstance(value, list):
            return [str(_uuid(item)) for item in value]
        return str(_uuid(value))
    return value


def referenced_ids(field: SchemaField, value: Any) -> list[uuid.UUID]:
    """The attachment or signature ids a stored file/signature value names."""
    if value is None or field.type not in (FieldType.FILE, FieldType.SIGNATURE):
        return []
    items = value if isinstance(value, list) else [value]
    return [found for item in items if (found := _uuid(item)) is not None]


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, dict):
        value = value.get("id")
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
