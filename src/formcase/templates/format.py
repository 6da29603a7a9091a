"""The form template file format (docs/templates.md), its validation, and the value rules of
each element type (used for prefill now, for the fill page later)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from formcase.kit import iban, phones
from formcase.kit.conditions import VisibleIf, fields_of

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
LOCALE_PATTERN = re.compile(r"[a-z]{2}")

# A label: one text, or one text per locale ({"en": "Name", "fr": "Nom"}).
Localised = str | dict[str, str]


class ElementType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    EMAIL = "email"
    PHONE = "phone"
    NUMBER = "number"
    DATE = "date"
    CHECKBOX = "checkbox"
    CHOICES = "choices"
    MULTIPLE_CHOICE = "multiple_choice"
    FILE = "file"
    SIGNATURE = "signature"
    IBAN = "iban"
    PARAGRAPH = "paragraph"


WITH_OPTIONS = {ElementType.CHOICES, ElementType.MULTIPLE_CHOICE}
NOT_PREFILLABLE = {ElementType.FILE, ElementType.SIGNATURE, ElementType.PARAGRAPH}

# Options every template has; a template may change their defaults and add its own.
BUILTIN_OPTIONS: dict[str, Any] = {
    "send_invitation": True,  # email/SMS the contact the link when the form becomes pending
    "reminder_interval_days": None,  # days between reminders while pending; null: none
    "max_reminders": 3,  # reminders sent at most
    "send_confirmation": False,  # tell the contact on completion that their answers arrived
}
# Whole-number options and their bounds (null allowed where the default is null).
BOUNDED_OPTIONS = {"reminder_interval_days": (1, 365), "max_reminders": (0, 50)}

# What the texts of notifications may name: {user.given_name} and so on (docs/notifications.md).
MESSAGE_VARIABLES = frozenset(
    {
        "user.given_name",
        "user.family_name",
        "user.email",
        "user.phone",
        "user.company_name",
        "form.title",
        "form.link",
        "form.active_until",
        "workspace.name",
    }
)
MESSAGE_VARIABLE = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=200)
    label: Localised


class Placement(BaseModel):
    """Where a drawn signature goes on a page, in PDF points (1/72 inch) from the page's
    top-left corner."""

    model_config = ConfigDict(extra="forbid")
    page: int = Field(-1, description="1 is the first page; -1 the last, -2 the one before")
    left: float = Field(ge=0)
    top: float = Field(ge=0)
    width: float = Field(150, gt=0)
    height: float = Field(50, gt=0)

    @field_validator("page")
    @classmethod
    def _page(cls, value: int) -> int:
        if value == 0:
            raise ValueError("pages count from 1 (or from -1, the last)")
        return value


class SignDocument(BaseModel):
    """A PDF the contact signs: a workspace attachment, or a file they uploaded earlier in the
    same form. The drawn signature is stamped in a named PDF field or at a place."""

    model_config = ConfigDict(extra="forbid")
    name: Localised | None = None
    attachment: uuid.UUID | None = None
    from_field: str | None = Field(None, description="key of a file element of this template")
    field: str | None = Field(None, max_length=200, description="a PDF signature field's name")
    place: Placement | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SignDocument:
        if (self.attachment is None) == (self.from_field is None):
            raise ValueError("a document to sign needs exactly one of attachment or from_field")
        if self.field is not None and self.place is not None:
            raise ValueError("a document to sign takes a PDF field or a place, not both")
        return self


class Element(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=120)
    type: ElementType
    label: Localised | None = None
    description: Localised | None = None
    placeholder: Localised | None = None
    required: bool = False
    visible_if: VisibleIf | None = None
    # text, textarea
    pattern: str | None = None
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=1)
    # number (and date bounds as ISO dates)
    min: float | str | None = None
    max: float | str | None = None
    decimals: int | None = Field(None, ge=0, le=10)
    # choices, multiple_choice
    options: list[Choice] | None = None
    min_selections: int | None = Field(None, ge=0)
    max_selections: int | None = Field(None, ge=1)
    # file
    accept: list[str] | None = None
    max_size: int | None = Field(None, ge=1, description="bytes")
    multiple: bool = False
    # paragraph
    content: Localised | None = None
    # signature: PDFs to sign (without any, the drawn signature itself is what is signed)
    documents: list[SignDocument] | None = Field(None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> Element:
        name = self.key or f"a {self.type} element"
        if self.type is ElementType.PARAGRAPH:
            if self.required:
                raise ValueError(f"{name}: a paragraph cannot be required")
        else:
            if not self.key:
                raise ValueError(f"every {self.type} element needs a key")
            if not KEY_PATTERN.fullmatch(self.key):
                raise ValueError(
                    f"element key '{self.key}': use letters, digits and _ (dots for nesting)"
                )
        if self.type in WITH_OPTIONS:
            if not self.options:
                raise ValueError(f"{name}: a {self.type} element needs options")
            values = [option.value for option in self.options]
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: option values must be unique")
        elif self.options is not None:
            raise ValueError(f"{name}: only choices and multiple_choice take options")
        if self.documents is not None and self.type is not ElementType.SIGNATURE:
            raise ValueError(f"{name}: only signature elements take documents")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(
                    f"{name}: pattern is not a valid regular expression ({exc})"
                ) from None
        if self.type is ElementType.DATE:
            for bound in (self.min, self.max):
                if bound is not None and not _is_iso_date(bound):
                    raise ValueError(f"{name}: min and max of a date are ISO dates (YYYY-MM-DD)")
        return self


def slug_value(value: str) -> str:
    """A template's slug (form or case template), or ValueError saying what one is."""
    if not SLUG_PATTERN.fullmatch(value):
        raise ValueError("use lowercase letters, digits and hyphens (at most 64)")
    return value


def locale_value(value: str) -> str:
    if not LOCALE_PATTERN.fullmatch(value):
        raise ValueError("a locale is a two-letter language code such as en, fr, nl")
    return value


def _email_address(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"'{value}' is not an email address ({exc})") from None


class MessageTexts(BaseModel):
    """A template's own texts for one kind of notification; what is left out comes from the
    built-in texts in the contact's language."""

    model_config = ConfigDict(extra="forbid")
    subject: Localised | None = Field(None, description="the email's subject")
    body: Localised | None = Field(None, description="the email's text; blank lines part it")
    sms: Localised | None = Field(None, description="the SMS; the link is added when missing")


class Sender(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _email_address(value)


class Notifications(BaseModel):
    """Who the template's emails come from and the texts of its notifications."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    sender: Sender | None = Field(None, alias="from")
    reply_to: str | None = Field(None, max_length=320)
    invitation: MessageTexts | None = None
    reminder: MessageTexts | None = None
    confirmation: MessageTexts | None = None

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: str | None) -> str | None:
        return _email_address(value)

    def texts(self) -> Iterator[tuple[str, Localised | None]]:
        for kind in ("invitation", "reminder", "confirmation"):
            texts: MessageTexts | None = getattr(self, kind)
            if texts is not None:
                yield f"{kind} subject", texts.subject
                yield f"{kind} body", texts.body
                yield f"{kind} sms", texts.sms


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    title: Localised
    description: Localised | None = None
    visible_if: VisibleIf | None = None
    elements: list[Element] = Field(min_length=1)


class TemplateFile(BaseModel):
    """A template as written in a JSON or YAML file."""

    model_config = ConfigDict(extra="forbid")

    slug: str
    name: str = Field(min_length=1, max_length=64)
    locale: str = "en"
    locales: list[str] | None = None
    description: str | None = Field(None, max_length=1000)
    options: dict[str, Any] = Field(default_factory=dict)
    notifications: Notifications = Field(default_factory=Notifications)
    steps: list[Step] = Field(min_length=1)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return slug_value(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return locale_value(value)

    @model_validator(mode="after")
    def _consistent(self) -> TemplateFile:
        locales = self.locales or [self.locale]
        if self.locale not in locales:
            raise ValueError(f"locales must include the default locale '{self.locale}'")
        for code in locales:
            if not LOCALE_PATTERN.fullmatch(code):
                raise ValueError(f"locale '{code}' is not a two-letter language code")
        step_ids = [step.id for step in self.steps]
        if len(set(step_ids)) != len(step_ids):
            raise ValueError("step ids must be unique")
        keys: list[str] = [e.key for _, e in self.elements() if e.key]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"element keys must be unique: {', '.join(duplicates)}")
        known = set(keys)
        files = {e.key for _, e in self.elements() if e.type is ElementType.FILE}
        for _, element in self.elements():
            for document in element.documents or []:
                if document.from_field is not None and document.from_field not in files:
                    raise ValueError(
                        f"element '{element.key}': from_field '{document.from_field}' is not "
                        "a file element of this template"
                    )
        for where, condition in self._conditions():
            for field in fields_of(condition):
                if field not in known:
                    raise ValueError(f"{where}: visible_if reads unknown element '{field}'")
                if where == f"element '{field}'":
                    raise ValueError(f"{where}: visible_if cannot read the element itself")
        for where, text in self._texts():
            if isinstance(text, dict):
                if self.locale not in text:
                    raise ValueError(f"{where} has no text for the default locale '{self.locale}'")
                unknown = sorted(set(text) - set(locales))
                if unknown:
                    raise ValueError(f"{where} uses undeclared locales: {', '.join(unknown)}")
        for where, text in self.notifications.texts():
            for value in [text] if isinstance(text, str) else (text or {}).values():
                unknown = sorted(set(MESSAGE_VARIABLE.findall(value)) - MESSAGE_VARIABLES)
                if unknown:
                    raise ValueError(
                        f"notifications: {where} names unknown variables "
                        f"{', '.join('{' + name + '}' for name in unknown)} "
                        f"(known: {', '.join(sorted(MESSAGE_VARIABLES))})"
                    )
        for key, value in self.options.items():
            if key in BUILTIN_OPTIONS and (problem := _option_problem(key, value)):
                raise ValueError(problem)
        return self

    def elements(self) -> Iterator[tuple[Step, Element]]:
        for step in self.steps:
            for element in step.elements:
                yield step, element

    def element(self, key: str) -> Element | None:
        return next((e for _, e in self.elements() if e.key == key), None)

    def effective_options(self) -> dict[str, Any]:
        return {**BUILTIN_OPTIONS, **self.options}

    def _conditions(self) -> Iterator[tuple[str, VisibleIf]]:
        for step in self.steps:
            if step.visible_if is not None:
                yield f"step '{step.id}'", step.visible_if
            for element in step.elements:
                if element.visible_if is not None:
                    yield f"element '{element.key}'", element.visible_if

    def _texts(self) -> Iterator[tuple[str, Localised | None]]:
        for step in self.steps:
            yield f"title of step '{step.id}'", step.title
            yield f"description of step '{step.id}'", step.description
            for element in step.elements:
                name = f"element '{element.key or element.type}'"
                yield f"label of {name}", element.label
                yield f"description of {name}", element.description
                yield f"placeholder of {name}", element.placeholder
                yield f"content of {name}", element.content
                for option in element.options or []:
                    yield f"option '{option.value}' of {name}", option.label
                for number, document in enumerate(element.documents or [], 1):
                    yield f"name of document {number} of {name}", document.name
        for where, text in self.notifications.texts():
            yield f"notifications: {where}", text


def localise(text: Localised | None, locale: str, default: str) -> str | None:
    if text is None or isinstance(text, str):
        return text
    return text.get(locale) or text.get(default) or next(iter(text.values()), None)


def _is_iso_date(value: Any) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return len(str(value)) == 10


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _same_json_type(default: Any, value: Any) -> bool:
    return value is None or _json_type(default) == _json_type(value)


def _option_problem(key: str, value: Any) -> str | None:
    """Why `value` cannot be the built-in option `key`, or None."""
    default = BUILTIN_OPTIONS[key]
    if key in BOUNDED_OPTIONS:
        low, high = BOUNDED_OPTIONS[key]
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            nullable = " or null" if default is None else ""
            return f"option '{key}' must be a whole number from {low} to {high}{nullable}"
        return None
    if default is not None and not _same_json_type(default, value):
        return f"option '{key}' must be a {_json_type(default)}"
    return None


def check_options(template: TemplateFile, given: dict[str, Any]) -> dict[str, Any]:
    """A form's options: the template's, overridden by known keys of the right type."""
    effective = template.effective_options()
    problems = []
    for key, value in given.items():
        if key not in effective:
            problems.append(f"unknown option '{key}' (this template has: {', '.join(effective)})")
        elif key in BUILTIN_OPTIONS:
            if problem := _option_problem(key, value):
                problems.append(problem)
        elif effective[key] is not None and not _same_json_type(effective[key], value):
            problems.append(f"option '{key}' must be a {_json_type(effective[key])}")
    if problems:
        raise ValueError("; ".join(problems))
    return {**effective, **given}


def check_value(element: Element, value: Any, region: str | None = None) -> str | None:
    """Why `value` is not acceptable for `element`, or None when it is. `region`: the country
    a national phone number is read in (the contact's, kit.phones.region_of)."""
    kind = element.type
    if value is None:
        return None
    if kind in (ElementType.TEXT, ElementType.TEXTAREA):
        if not isinstance(value, str):
            return "must be text"
        if element.min_length is not None and len(value) < element.min_length:
            return f"must be at least {element.min_length} characters"
        if element.max_length is not None and len(value) > element.max_length:
            return f"must be at most {element.max_length} characters"
        if element.pattern and value and not re.fullmatch(element.pattern, value):
            return f"does not match the pattern {element.pattern}"
        return None
    if kind is ElementType.EMAIL:
        try:
            validate_email(str(value), check_deliverability=False)
        except EmailNotValidError:
            return "must be an email address"
        return None
    if kind is ElementType.PHONE:
        if not isinstance(value, str) or phones.e164(value, region) is None:
            return phones.problem(region)
        return None
    if kind is ElementType.NUMBER:
        return _check_number(element, value)
    if kind is ElementType.DATE:
        if not isinstance(value, str) or not _is_iso_date(value):
            return "must be a date as YYYY-MM-DD"
        if element.min is not None and value < str(element.min):
            return f"must be on or after {element.min}"
        if element.max is not None and value > str(element.max):
            return f"must be on or before {element.max}"
        return None
    if kind is ElementType.CHECKBOX:
        return None if isinstance(value, bool) else "must be true or false"
    if kind is ElementType.CHOICES:
        allowed = [option.value for option in element.options or []]
        return None if value in allowed else f"must be one of {', '.join(allowed)}"
    if kind is ElementType.MULTIPLE_CHOICE:
        return _check_selection(element, value)
    if kind is ElementType.IBAN:
        if not isinstance(value, str):
            return "must be an IBAN, as text"
        reason = iban.problem(value)
        return f"is not a valid IBAN: it {reason}" if reason else None
    return f"cannot be given for a {kind} element"


def _check_number(element: Element, value: Any) -> str | None:
    if isinstance(value, bool):
        return "must be a number"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return "must be a number"
    if not number.is_finite():
        return "must be a finite number"
    if element.min is not None and number < Decimal(str(element.min)):
        return f"must be at least {element.min}"
    if element.max is not None and number > Decimal(str(element.max)):
        return f"must be at most {element.max}"
    exponent = number.as_tuple().exponent
    if element.decimals is not None and isinstance(exponent, int) and -exponent > element.decimals:
        return f"must have at most {element.decimals} decimals"
    return None


def _check_selection(element: Element, value: Any) -> str | None:
    allowed = [option.value for option in element.options or []]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return "must be a list of option values"
    unknown = [item for item in value if item not in allowed]
    if unknown:
        return f"has unknown options {', '.join(unknown)} (allowed: {', '.join(allowed)})"
    if element.min_selections is not None and len(value) < element.min_selections:
        return f"needs at least {element.min_selections} selections"
    if element.max_selections is not None and len(value) > element.max_selections:
        return f"allows at most {element.max_selections} selections"
    return None


def stored_value(element: Element, value: Any, region: str | None = None) -> Any:
    """An accepted value (check_value said None) as it is kept: phone numbers in E.164."""
    if element.type is ElementType.PHONE and isinstance(value, str):
        return phones.e164(value, region) or value
    return value


def check_prefill(
    template: TemplateFile, data: dict[str, Any], region: str | None = None
) -> dict[str, Any]:
    """Prefill keys must be element keys, with values the element accepts; the data as kept
    (stored_value) is returned."""
    problems = []
    kept: dict[str, Any] = {}
    for key, value in _flatten_data(data):
        element = template.element(key)
        if element is None:
            problems.append(f"'{key}' is not an element of this template")
        elif element.type in NOT_PREFILLABLE:
            problems.append(f"'{key}' is a {element.type} element and cannot be prefilled")
        elif reason := check_value(element, value, region):
            problems.append(f"'{key}' {reason}")
        elif (stored := stored_value(element, value, region)) != value:
            kept[key] = stored
    if problems:
        raise ValueError("; ".join(problems))
    return _replaced(data, kept) if kept else data


def _replaced(data: dict[str, Any], values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`data` with the values of the (flattened, as _flatten_data names them) keys replaced."""
    return {
        key: (
            _replaced(value, values, f"{prefix}{key}.")
            if isinstance(value, dict) and value
            else values.get(f"{prefix}{key}", value)
        )
        for key, value in data.items()
    }


def _flatten_data(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """{"a": {"b": 1}} and {"a.b": 1} both name element `a.b` (no element takes an object)."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten_data(value, f"{path}.")
        else:
            yield path, value
