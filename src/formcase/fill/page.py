"""The contact's fill page at /f/{token}: one server-rendered HTML shell with every step and
element of the form in the contact's language, driven by static/fill.js through the fill API
(docs/fill-api.md). A GET changes nothing (link previews prefetch it): the response is created
by the script's first POST. The link is the credential, so the page is never cached, never
framed by others and never leaks its address in a Referer."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from formcase.db.engine import REQUEST_SESSION
from formcase.fill.endpoints import client_budget
from formcase.fill.i18n import LANGUAGES, TEXTS, format_datetime, format_size, texts
from formcase.fill.service import TYPED_IN, NotFillable, fillable
from formcase.forms import repository as forms
from formcase.forms.models import Form
from formcase.kit.conditions import VisibleIf, evaluate, lookup
from formcase.responses import repository as responses
from formcase.templates import service as templates
from formcase.templates.format import Element, ElementType, TemplateFile, localise

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/static/fill"
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what secrets.token_urlsafe makes
LOCALE = re.compile(r"[a-z]{2}(?:-[A-Za-z]{2})?")

# No inline script or style anywhere: page data travels in a JSON <script> block.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self'",  # the PDFs to sign, previewed in an <iframe>
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}

_environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _versions() -> dict[str, str]:
    """A short content hash per static file: its URL changes whenever it does."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


STATIC_VERSIONS = _versions()


class FillStatic(StaticFiles):
    """The page's JS and CSS. A versioned URL never changes content, so it may be cached for
    good; an unversioned one is revalidated."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        response = await super().get_response(path, scope)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


fill_static = FillStatic(directory=STATIC_DIR)
router = APIRouter(include_in_schema=False)


@dataclass
class Languages:
    """Which language the template's texts and the page's own texts are shown in."""

    template: str  # one of the template's locales
    page: str  # one we have built-in texts for
    requested: str | None  # what ?locale= asked for, passed on to the fill API
    switcher: list[tuple[str, str]] = field(default_factory=list)


def choose_languages(
    requested: str | None, wanted: list[str | None], template: TemplateFile | None
) -> Languages:
    """The first language asked for (?locale=, else the response's, else the contact's) that
    the template has, else its default; the page's own texts follow the first one asked for
    when we have it, else English."""
    first = next((code[:2].lower() for code in wanted if code), None)
    if template is None:
        page = first if first in TEXTS else "en"
        return Languages(template=page, page=page, requested=requested)
    locales = template.locales or [template.locale]
    chosen = first if first in locales else template.locale
    page = first if first in TEXTS else (chosen if chosen in TEXTS else "en")
    switcher = [(code, LANGUAGES[code]) for code in locales if code in TEXTS]
    return Languages(chosen, page, requested, switcher if len(switcher) > 1 else [])


def _requested(locale: str | None) -> str | None:
    """?locale= when it looks like a language code; anything else is ignored, not refused."""
    return locale if locale and LOCALE.fullmatch(locale) else None


@dataclass
class ElementView:
    """One element as the page shows it: texts localised, value as the input holds it."""

    key: str
    type: str
    label: str
    description: str | None
    placeholder: str | None
    required: bool
    visible: bool
    value: str  # text inputs
    selected: list[str]  # choices, multiple_choice; ["true"] for a ticked checkbox
    options: list[tuple[str, str]]
    accept: str | None
    hint: str | None  # what the page adds: accepted files and their size limit
    multiple: bool
    paragraphs: list[str]
    attributes: dict[str, str]  # extra input attributes (limits, input modes)


@dataclass
class StepView:
    index: int
    id: str
    title: str
    description: str | None
    visible: bool
    elements: list[ElementView]


def _label_of(element: Element, locale: str, default: str) -> str:
    return localise(element.label, locale, default) or (element.key or "").replace("_", " ")


def _input_value(element: Element, value: Any) -> tuple[str, list[str]]:
    if value is None:
        return "", []
    if element.type is ElementType.CHECKBOX:
        return "", ["true"] if value is True else []
    if element.type is ElementType.MULTIPLE_CHOICE:
        return "", [str(item) for item in value] if isinstance(value, list) else []
    if element.type is ElementType.CHOICES:
        return "", [str(value)]
    if isinstance(value, bool | dict | list):
        return "", []
    return str(value), []


def _attributes(element: Element) -> dict[str, str]:
    """Input hints the browser uses for keyboards and autofill; the rules themselves are
    checked by fill.js and by the server."""
    kind = element.type
    attributes: dict[str, str] = {}
    if kind in (ElementType.TEXT, ElementType.TEXTAREA) and element.max_length is not None:
        attributes["maxlength"] = str(element.max_length)
    if kind is ElementType.EMAIL:
        attributes |= {"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}
    elif kind is ElementType.PHONE:
        attributes |= {"autocomplete": "tel", "inputmode": "tel"}
    elif kind is ElementType.NUMBER:
        decimal = element.decimals is None or element.decimals > 0
        attributes["inputmode"] = "decimal" if decimal else "numeric"
    elif kind is ElementType.DATE:
        for bound in ("min", "max"):
            if (value := getattr(element, bound)) is not None:
                attributes[bound] = str(value)
    elif kind is ElementType.IBAN:
        attributes |= {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
    return attributes


def _file_hint(element: Element, page_locale: str) -> str | None:
    words = texts(page_locale)
    parts = []
    if element.accept:
        kinds = [kind.split("/")[-1].upper().replace("*", "") or kind for kind in element.accept]
        parts.append(words["file_accepts"].format(types=", ".join(k for k in kinds if k)))
    if element.max_size:
        parts.append(words["file_max"].format(max=format_size(element.max_size, page_locale)))
    return " ".join(parts) or None


def _element_view(
    element: Element, data: dict[str, Any], languages: Languages, default: str
) -> ElementView:
    locale = languages.template
    value, selected = "", list[str]()
    if element.key and element.type in TYPED_IN:
        value, selected = _input_value(element, lookup(data, element.key))
    content = localise(element.content, locale, default) or ""
    return ElementView(
        key=element.key or "",
        type=element.type.value,
        label=_label_of(element, locale, default),
        description=localise(element.description, locale, default),
        placeholder=localise(element.placeholder, locale, default),
        required=element.required,
        visible=evaluate(element.visible_if, data),
        value=value,
        selected=selected,
        options=[
            (option.value, localise(option.label, locale, default) or option.value)
            for option in element.options or []
        ],
        accept=",".join(element.accept) if element.accept else None,
        hint=_file_hint(element, languages.page) if element.type is ElementType.FILE else None,
        multiple=element.multiple,
        paragraphs=[part.strip() for part in content.split("\n\n") if part.strip()],
        attributes=_attributes(element),
    )


def _condition(condition: VisibleIf | None) -> Any:
    return (
        condition.model_dump(mode="json", by_alias=True, exclude_unset=True) if condition else None
    )


def _script_element(element: Element, languages: Languages, default: str) -> dict[str, Any]:
    """What fill.js needs to check and show an element: its rules, none of its prose."""
    rules = element.model_dump(
        mode="json",
        include={
            "pattern",
            "min_length",
            "max_length",
            "min",
            "max",
            "decimals",
            "min_selections",
            "max_selections",
            "accept",
            "max_size",
            "multiple",
        },
        exclude_none=True,
    )
    return {
        "key": element.key,
        "type": element.type.value,
        "label": _label_of(element, languages.template, default),
        "required": element.required,
        "visible_if": _condition(element.visible_if),
        "options": [
            {"value": o.value, "label": localise(o.label, languages.template, default)}
            for o in element.options or []
        ],
        "documents": len(element.documents or []),
        **rules,
    }


def resume_step(template: TemplateFile, data: dict[str, Any], stopped_at: str | None) -> int:
    """The step to show first: the visible one after where the contact stopped, or that one
    when it was the last, or the first visible one. (fill.js decides the same way.)"""
    visible = [i for i, step in enumerate(template.steps) if evaluate(step.visible_if, data)]
    if not visible:
        return 0
    ids = [template.steps[i].id for i in visible]
    if stopped_at in ids:
        position = ids.index(stopped_at)
        return visible[min(position + 1, len(visible) - 1)]
    return visible[0]


def static_url(request: Request, name: str) -> str:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{root}{STATIC_PATH}/{name}?v={STATIC_VERSIONS.get(name, '0')}"


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def _render(file: str, request: Request, languages: Languages, lang: str, **context: Any) -> str:
    template = _environment.get_template(file)
    return template.render(
        t=texts(languages.page),
        lang=lang,
        languages=languages,
        css=static_url(request, "fill.css"),
        js=static_url(request, "fill.js"),
        **context,
    )


@router.api_route("/f/{token}", methods=["GET", "HEAD"], dependencies=[Depends(client_budget)])
async def fill_page(
    token: str,
    request: Request,
    locale: str | None = None,
    session: AsyncSession = REQUEST_SESSION,
) -> HTMLResponse:
    """The contact's page: the form to fill in, or why it cannot be filled."""
    requested = _requested(locale)
    try:
        if not TOKEN.fullmatch(token):
            raise NotFillable("unknown", 404, "There is no form at this link.")
        form, template = await fillable(session, token, lock=False)
    except NotFillable as refusal:
        return await _refusal(session, request, token, refusal, requested)
    response = await responses.open_for_form(session, form.id)
    data: dict[str, Any] = dict(response.data if response else form.data)
    languages = choose_languages(
        requested,
        [requested, response.locale if response else None, form.user_locale],
        template,
    )
    default = template.locale
    steps = [
        StepView(
            index=index,
            id=step.id,
            title=localise(step.title, languages.template, default) or step.id,
            description=localise(step.description, languages.template, default),
            visible=evaluate(step.visible_if, data),
            elements=[_element_view(e, data, languages, default) for e in step.elements],
        )
        for index, step in enumerate(template.steps)
    ]
    script_data = {
        "locale": languages.template,
        "page_locale": languages.page,
        "requested_locale": requested,
        "texts": texts(languages.page),
        "steps": [
            {
                "id": step.id,
                "title": view.title,
                "visible_if": _condition(step.visible_if),
                "elements": [_script_element(e, languages, default) for e in step.elements],
            }
            for step, view in zip(template.steps, steps, strict=True)
        ],
    }
    first = resume_step(template, data, response.step if response else None)
    shown = [view.index for view in steps if view.visible]
    position = shown.index(first) + 1 if first in shown else 1
    body = _render(
        "fill.html",
        request,
        languages,
        languages.template,
        name=template.name,
        brand=False,  # the form's name is the page's heading
        steps=steps,
        first=first,
        progress=(position, len(shown)),
        script_data=script_data,
    )
    return _html(body)


async def _refusal(
    session: AsyncSession,
    request: Request,
    token: str,
    refusal: NotFillable,
    requested: str | None,
) -> HTMLResponse:
    """Why the form cannot be filled, in the contact's language, with the API's status."""
    form = (
        await forms.by_fill_token(session, token, lock=False)
        if refusal.reason != "unknown"
        else None
    )
    template: TemplateFile | None = None
    wanted: list[str | None] = [requested]
    when: datetime | None = None
    if form is not None:
        template = await templates.definition_by_id(session, form.template_version_id)
        wanted += [await _last_locale(session, form), form.user_locale]
        when = form.active_from if refusal.reason == "not_yet_open" else form.active_until
    else:
        wanted.append(_accepted_language(request))
    languages = choose_languages(requested, wanted, template)
    words = texts(languages.page)
    reason = refusal.reason if f"refused_{refusal.reason}_title" in words else None
    title = words[f"refused_{reason}_title"] if reason else words["refused_title"]
    text = words[f"refused_{reason}_text"] if reason else refusal.message
    if "{date}" in text:
        text = text.format(date=format_datetime(when, languages.page) if when else "?")
    body = _render(
        "refused.html",
        request,
        languages,
        languages.page,  # every text on it is the page's own
        name=template.name if template else "",
        brand=True,
        reason=reason or "other",
        title=title,
        text=text,
    )
    return _html(body, status_code=refusal.status_code)


async def _last_locale(session: AsyncSession, form: Form) -> str | None:
    rows = await responses.for_forms(session, [form.id])
    return rows[-1].locale if rows else None


def _accepted_language(request: Request) -> str | None:
    """For an unknown link there is no contact to ask: the browser's first language."""
    header = request.headers.get("accept-language", "")
    for part in header.split(",")[:10]:
        code = part.split(";")[0].strip()[:2].lower()
        if code in TEXTS:
            return code
    return None
