"""What a notification says: the built-in texts in English, French and Dutch, a template's own
texts when it has them, `{user.given_name}`-style variables filled in, and the email's HTML
and text parts rendered with Jinja2."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from formcase.fill.i18n import format_datetime
from formcase.templates.format import MESSAGE_VARIABLE, MessageTexts, TemplateFile, localise

INVITATION, REMINDER, CONFIRMATION = "invitation", "reminder", "confirmation"
# The `template` a notification shows, by kind (Penbox names the completion one so).
TEMPLATE_NAMES = {
    INVITATION: "request_invitation",
    REMINDER: "request_reminder",
    CONFIRMATION: "request_completed",
}
FALLBACK = "en"

# Built-in texts. `{…}` names a variable; "greeting" is used when the contact's given name
# is known, "greeting_anonymous" when not.
BUILT_IN: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hello {user.given_name},",
        "greeting_anonymous": "Hello,",
        "invitation.subject": "{workspace.name} asks you to fill in “{form.title}”",
        "invitation.body": "{workspace.name} asks you to fill in the form “{form.title}”. "
        "It only takes a few minutes.",
        "invitation.sms": "{workspace.name} asks you to fill in “{form.title}”: {form.link}",
        "reminder.subject": "Reminder: “{form.title}” is waiting for you",
        "reminder.body": "{workspace.name} is still waiting for your answers to “{form.title}”.",
        "reminder.sms": "Reminder from {workspace.name}: “{form.title}” is waiting for you: "
        "{form.link}",
        "confirmation.subject": "We received your answers to “{form.title}”",
        "confirmation.body": "Thank you: {workspace.name} received your answers to "
        "“{form.title}”. There is nothing more to do.",
        "confirmation.sms": "Thank you: {workspace.name} received your answers to “{form.title}”.",
        "button": "Open the form",
        "link_intro": "Or copy this link into your browser:",
        "until": "Please answer before {form.active_until}.",
        "personal": "This link is personal: please do not forward this message.",
        "footer": "Sent by {workspace.name} with formcase.",
    },
    "fr": {
        "greeting": "Bonjour {user.given_name},",
        "greeting_anonymous": "Bonjour,",
        "invitation.subject": "{workspace.name} vous demande de remplir « {form.title} »",
        "invitation.body": "{workspace.name} vous demande de remplir le formulaire "
        "« {form.title} ». Cela ne prend que quelques minutes.",
        "invitation.sms": "{workspace.name} vous demande de remplir « {form.title} » : {form.link}",
        "reminder.subject": "Rappel : « {form.title} » vous attend",
        "reminder.body": "{workspace.name} attend toujours vos réponses à « {form.title} ».",
        "reminder.sms": "Rappel de {workspace.name} : « {form.title} » vous attend : {form.link}",
        "confirmation.subject": "Nous avons bien reçu vos réponses à « {form.title} »",
        "confirmation.body": "Merci : {workspace.name} a bien reçu vos réponses à "
        "« {form.title} ». Vous n'avez plus rien à faire.",
        "confirmation.sms": "Merci : {workspace.name} a bien reçu vos réponses à « {form.title} ».",
        "button": "Ouvrir le formulaire",
        "link_intro": "Ou copiez ce lien dans votre navigateur :",
        "until": "Merci de répondre avant le {form.active_until}.",
        "personal": "Ce lien vous est personnel : merci de ne pas transférer ce message.",
        "footer": "Envoyé par {workspace.name} avec formcase.",
    },
    "nl": {
        "greeting": "Beste {user.given_name},",
        "greeting_anonymous": "Beste,",
        "invitation.subject": "{workspace.name} vraagt u “{form.title}” in te vullen",
        "invitation.body": "{workspace.name} vraagt u het formulier “{form.title}” in te vullen. "
        "Het duurt maar een paar minuten.",
        "invitation.sms": "{workspace.name} vraagt u “{form.title}” in te vullen: {form.link}",
        "reminder.subject": "Herinnering: “{form.title}” wacht op u",
        "reminder.body": "{workspace.name} wacht nog op uw antwoorden op “{form.title}”.",
        "reminder.sms": "Herinnering van {workspace.name}: “{form.title}” wacht op u: {form.link}",
        "confirmation.subject": "We hebben uw antwoorden op “{form.title}” ontvangen",
        "confirmation.body": "Bedankt: {workspace.name} heeft uw antwoorden op “{form.title}” "
        "ontvangen. U hoeft niets meer te doen.",
        "confirmation.sms": "Bedankt: {workspace.name} heeft uw antwoorden op “{form.title}” "
        "ontvangen.",
        "button": "Formulier openen",
        "link_intro": "Of kopieer deze link in uw browser:",
        "until": "Gelieve te antwoorden vóór {form.active_until}.",
        "personal": "Deze link is persoonlijk: stuur dit bericht niet door.",
        "footer": "Verstuurd door {workspace.name} met formcase.",
    },
}


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def choose_locale(contact_locale: str | None, template: TemplateFile) -> str:
    """The contact's language when the template speaks it, else the template's own."""
    wanted = (contact_locale or "")[:2].lower()
    return wanted if wanted in (template.locales or [template.locale]) else template.locale


def variables(
    *,
    user: dict[str, Any],
    title: str,
    link: str,
    active_until: datetime | None,
    workspace_name: str,
    locale: str,
) -> dict[str, str | None]:
    """What the texts may name (templates.format.MESSAGE_VARIABLES), frozen on the
    notification when it is written."""
    return {
        "user.given_name": user.get("given_name"),
        "user.family_name": user.get("family_name"),
        "user.email": user.get("email"),
        "user.phone": user.get("phone"),
        "user.company_name": user.get("company_name"),
        "form.title": title,
        "form.link": link,
        "form.active_until": format_datetime(active_until, locale) if active_until else None,
        "workspace.name": workspace_name,
    }


def fill_in(text: str, values: dict[str, Any]) -> str:
    """`{user.given_name}` and the like replaced by their values (an unknown or empty one by
    nothing)."""
    return MESSAGE_VARIABLE.sub(lambda match: str(values.get(match.group(1)) or ""), text)


def _built_in(locale: str) -> dict[str, str]:
    return BUILT_IN.get(locale, BUILT_IN[FALLBACK])


def _own(template: TemplateFile, kind: str, part: str, locale: str) -> str | None:
    texts: MessageTexts | None = getattr(template.notifications, kind)
    if texts is None:
        return None
    return localise(getattr(texts, part), locale, template.locale)


def _text(template: TemplateFile, kind: str, part: str, locale: str, values: dict[str, Any]) -> str:
    own = _own(template, kind, part, locale)
    return fill_in(own if own is not None else _built_in(locale)[f"{kind}.{part}"], values)


def sms(template: TemplateFile, kind: str, locale: str, values: dict[str, Any]) -> str:
    text = _text(template, kind, "sms", locale, values)
    link = values.get("form.link")
    if kind != CONFIRMATION and link and link not in text:
        text = f"{text} {link}"  # an invitation or reminder is useless without its link
    return text


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def case_step_email(values: dict[str, Any], locale: str) -> Email:
    """A case's email step: its subject and text as the case template wrote them."""
    return _render(
        locale,
        subject=str(values.get("subject") or ""),
        greeting=None,
        body=str(values.get("text") or ""),
        link=None,
        until=None,
        personal=None,
        footer=fill_in(_built_in(locale)["footer"], values),
    )


def _render(
    locale: str,
    *,
    subject: str,
    greeting: str | None,
    body: str,
    link: str | None,
    until: str | None,
    personal: str | None,
    footer: str,
) -> Email:
    words = _built_in(locale)
    subject = " ".join(subject.split())  # one line
    context = {
        "lang": locale,
        "subject": subject,
        "greeting": greeting,
        # A body may hold several paragraphs, parted by blank lines.
        "paragraphs": [part.strip() for part in re.split(r"\n\s*\n", body) if part.strip()],
        "link": link,
        "button": words["button"],
        "link_intro": words["link_intro"],
        "until": until,
        "personal": personal,
        "footer": footer,
    }
    environment = _environment()
    return Email(
        subject=subject,
        text=environment.get_template("email.txt").render(context),
        html=environment.get_template("email.html").render(context),
    )


def email(template: TemplateFile, kind: str, locale: str, values: dict[str, Any]) -> Email:
    words = _built_in(locale)
    greeting = words["greeting" if values.get("user.given_name") else "greeting_anonymous"]
    waiting = kind != CONFIRMATION  # invitations and reminders point to the form
    return _render(
        locale,
        subject=_text(template, kind, "subject", locale, values),
        greeting=fill_in(greeting, values),
        body=_text(template, kind, "body", locale, values),
        link=values.get("form.link") if waiting else None,
        until=(
            fill_in(words["until"], values) if waiting and values.get("form.active_until") else None
        ),
        personal=words["personal"] if waiting else None,
        footer=fill_in(words["footer"], values),
    )
