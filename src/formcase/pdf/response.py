"""The PDF of a response: what the contact answered, step by step as they saw it, the files
they sent, their signatures and the audit trail, sealed with the workspace's certificate.

`ResponseDocument` holds everything the PDF shows, gathered by responses.service; rendering
is pure and synchronous (run it in a worker thread)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from formcase.kit.conditions import evaluate
from formcase.kit.time import utcnow
from formcase.pdf.html import render_pdf
from formcase.pdf.material import SigningMaterial
from formcase.templates.format import Element, ElementType, TemplateFile, localise

FIELD_NAME = "formcase-response"
# An answer longer than this is cut in the PDF (the JSON has it whole): a few pages of text,
# which WeasyPrint lays out in about a second.
MAX_ANSWER = 20_000

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Response",
        "response": "response",
        "status": "Status",
        "contact": "Contact",
        "form_id": "Form",
        "response_id": "Response",
        "started": "Started",
        "updated": "Last change",
        "completed": "Completed",
        "declined": "Declined",
        "decline_reason": "Reason given",
        "language": "Language",
        "answers": "Answers",
        "unanswered": "not answered",
        "no_questions": "No questions in this step.",
        "no_steps": "No step is shown for these answers.",
        "yes": "Yes",
        "truncated": "… {count} more characters (the whole answer is in the JSON)",
        "no": "No",
        "files": "Files",
        "file_name": "Name",
        "file_type": "Type",
        "file_size": "Size",
        "no_files": "No files.",
        "signatures": "Signatures",
        "no_signatures": "No signatures.",
        "signer": "Signed by",
        "signed_at": "Signed at",
        "documents": "Documents",
        "signed_file": "Signed file",
        "audit": "Audit trail",
        "time": "Time (UTC)",
        "event": "Event",
        "step": "Step",
        "ip": "IP address",
        "user_agent": "Browser",
        "status_completed": "Completed",
        "status_declined": "Declined",
        "status_in_progress": "In progress",
        "event_created": "opened",
        "event_saved": "saved",
        "event_uploaded": "file uploaded",
        "event_file_removed": "file removed",
        "event_completed": "completed",
        "event_declined": "declined",
        "event_signed": "signed",
        "sealed_note": "This document is sealed with the electronic seal of the workspace "
        "(PAdES); any change to it breaks the seal. Made on",
    },
    "fr": {
        "title": "Réponse",
        "response": "réponse",
        "status": "Statut",
        "contact": "Contact",
        "form_id": "Formulaire",
        "response_id": "Réponse",
        "started": "Commencée le",
        "updated": "Dernière modification",
        "completed": "Terminée le",
        "declined": "Refusée le",
        "decline_reason": "Motif donné",
        "language": "Langue",
        "answers": "Réponses",
        "unanswered": "sans réponse",
        "no_questions": "Aucune question dans cette étape.",
        "no_steps": "Aucune étape n'est affichée pour ces réponses.",
        "yes": "Oui",
        "truncated": "… {count} caractères de plus (la réponse entière est dans le JSON)",
        "no": "Non",
        "files": "Fichiers",
        "file_name": "Nom",
        "file_type": "Type",
        "file_size": "Taille",
        "no_files": "Aucun fichier.",
        "signatures": "Signatures",
        "no_signatures": "Aucune signature.",
        "signer": "Signé par",
        "signed_at": "Signé le",
        "documents": "Documents",
        "signed_file": "Fichier signé",
        "audit": "Journal d'audit",
        "time": "Heure (UTC)",
        "event": "Événement",
        "step": "Étape",
        "ip": "Adresse IP",
        "user_agent": "Navigateur",
        "status_completed": "Terminée",
        "status_declined": "Refusée",
        "status_in_progress": "En cours",
        "event_created": "ouverte",
        "event_saved": "enregistrée",
        "event_uploaded": "fichier envoyé",
        "event_file_removed": "fichier retiré",
        "event_completed": "terminée",
        "event_declined": "refusée",
        "event_signed": "signée",
        "sealed_note": "Ce document porte le cachet électronique de l'espace de travail "
        "(PAdES) ; toute modification le rompt. Établi le",
    },
    "nl": {
        "title": "Antwoord",
        "response": "antwoord",
        "status": "Status",
        "contact": "Contact",
        "form_id": "Formulier",
        "response_id": "Antwoord",
        "started": "Begonnen op",
        "updated": "Laatste wijziging",
        "completed": "Voltooid op",
        "declined": "Geweigerd op",
        "decline_reason": "Opgegeven reden",
        "language": "Taal",
        "answers": "Antwoorden",
        "unanswered": "niet beantwoord",
        "no_questions": "Geen vragen in deze stap.",
        "no_steps": "Voor deze antwoorden wordt geen stap getoond.",
        "yes": "Ja",
        "truncated": "… nog {count} tekens (het volledige antwoord staat in de JSON)",
        "no": "Nee",
        "files": "Bestanden",
        "file_name": "Naam",
        "file_type": "Type",
        "file_size": "Grootte",
        "no_files": "Geen bestanden.",
        "signatures": "Handtekeningen",
        "no_signatures": "Geen handtekeningen.",
        "signer": "Ondertekend door",
        "signed_at": "Ondertekend op",
        "documents": "Documenten",
        "signed_file": "Ondertekend bestand",
        "audit": "Audittrail",
        "time": "Tijd (UTC)",
        "event": "Gebeurtenis",
        "step": "Stap",
        "ip": "IP-adres",
        "user_agent": "Browser",
        "status_completed": "Voltooid",
        "status_declined": "Geweigerd",
        "status_in_progress": "Bezig",
        "event_created": "geopend",
        "event_saved": "opgeslagen",
        "event_uploaded": "bestand geüpload",
        "event_file_removed": "bestand verwijderd",
        "event_completed": "voltooid",
        "event_declined": "geweigerd",
        "event_signed": "ondertekend",
        "sealed_note": "Dit document draagt de elektronische zegel van de werkruimte (PAdES); "
        "elke wijziging verbreekt de zegel. Opgemaakt op",
    },
}


@dataclass(frozen=True)
class FileEntry:
    id: uuid.UUID
    name: str
    type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SignatureEntry:
    key: str  # the signature element's key
    name: str  # the signed package
    signer_name: str | None
    signer_email: str | None
    signed_at: datetime
    ip: str | None
    user_agent: str | None
    sha256: str  # of the signed file
    documents: list[str] = field(default_factory=list)  # names of the signed documents
    image_png: bytes | None = None  # the drawn signature

    @property
    def signer(self) -> str:
        parts = [self.signer_name, f"<{self.signer_email}>" if self.signer_email else None]
        return " ".join(part for part in parts if part) or "—"


@dataclass(frozen=True)
class EventEntry:
    kind: str
    step: str | None
    at: datetime
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class ResponseDocument:
    """Everything a response's PDF shows."""

    workspace: str
    template: TemplateFile
    locale: str | None  # the response's; the template's default when it has no such locale
    form_id: uuid.UUID
    response_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    declined_at: datetime | None
    decline_reason: str | None
    contact_name: str | None
    contact_email: str | None
    data: dict[str, Any]
    files: list[FileEntry]
    signatures: list[SignatureEntry]
    events: list[EventEntry]


def _texts(locale: str) -> dict[str, str]:
    return TEXTS.get(locale, TEXTS["en"])


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _answer(
    element: Element,
    value: Any,
    document: ResponseDocument,
    locale: str,
    texts: dict[str, str],
) -> dict[str, Any]:
    """One question and its answer as the template shows it: `shown`, the answer as text
    (None when not answered), or `signature` for a signature element that was signed."""
    default = document.template.locale
    label = localise(element.label, locale, default) or element.key or ""
    answer: dict[str, Any] = {"label": label, "shown": None, "signature": None}
    if element.type is ElementType.SIGNATURE:
        signed = next((s for s in document.signatures if s.key == element.key), None)
        if signed is not None:
            answer["signature"] = {
                "image": signed.image_png,
                "signer": signed.signer,
                "signed_at": signed.signed_at,
            }
        return answer
    if value is None or value == "" or value == []:
        return answer
    options = {
        option.value: localise(option.label, locale, default) or option.value
        for option in element.options or []
    }
    items = value if isinstance(value, list) else [value]
    if element.type is ElementType.CHECKBOX:
        values = [texts["yes"] if value is True else texts["no"] if value is False else value]
    elif element.type in (ElementType.CHOICES, ElementType.MULTIPLE_CHOICE):
        values = [options.get(item, item) if isinstance(item, str) else item for item in items]
    elif element.type is ElementType.FILE:
        names = {str(file.id): file.name for file in document.files}
        values = [names.get(str(item), item) for item in items]
    else:
        values = [value]
    answer["shown"] = [_clip(_plain(item), texts) for item in values]
    return answer


def _clip(text: str, texts: dict[str, str]) -> str:
    if len(text) <= MAX_ANSWER:
        return text
    rest = texts["truncated"].format(count=len(text) - MAX_ANSWER)
    return f"{text[:MAX_ANSWER]} {rest}"


def context(document: ResponseDocument) -> dict[str, Any]:
    """What templates/response.html is rendered with."""
    template = document.template
    known = template.locales or [template.locale]
    locale = document.locale if document.locale in known else template.locale
    texts = _texts(locale)
    data = document.data if isinstance(document.data, dict) else {}
    steps = []
    for step in template.steps:
        if not evaluate(step.visible_if, data):
            continue
        answers = [
            _answer(element, data.get(element.key or ""), document, locale, texts)
            for element in step.elements
            if element.type is not ElementType.PARAGRAPH and evaluate(element.visible_if, data)
        ]
        title = localise(step.title, locale, template.locale) or step.id
        steps.append({"title": title, "answers": answers})
    status = (
        "completed"
        if document.completed_at
        else "declined"
        if document.declined_at
        else "in_progress"
    )
    contact = " ".join(
        part
        for part in (
            document.contact_name,
            f"<{document.contact_email}>" if document.contact_email else None,
        )
        if part
    )
    return {
        "lang": locale,
        "t": texts,
        "workspace": document.workspace,
        "template_name": template.name,
        "form_id": document.form_id,
        "response_id": document.response_id,
        "status": texts[f"status_{status}"],
        "contact": contact,
        "created_at": document.created_at,
        "updated_at": document.updated_at,
        "completed_at": document.completed_at,
        "declined_at": document.declined_at,
        "decline_reason": document.decline_reason and _clip(document.decline_reason, texts),
        "steps": steps,
        "files": document.files,
        "signatures": [
            {
                "name": s.name,
                "image": s.image_png,
                "signer": s.signer,
                "signed_at": s.signed_at,
                "documents": s.documents,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "sha256": s.sha256,
            }
            for s in document.signatures
        ],
        "events": [
            {
                "at": event.at,
                "kind": texts.get(f"event_{event.kind}", event.kind),
                "step": event.step,
                "ip": event.ip,
                "user_agent": event.user_agent,
            }
            for event in document.events
        ],
        "generated_at": utcnow(),
    }


def render_response(document: ResponseDocument) -> bytes:
    """The response's PDF, not sealed."""
    return render_pdf("response.html", context(document))


def response_pdf(document: ResponseDocument, material: SigningMaterial) -> bytes:
    """The response's PDF, sealed with the workspace's certificate."""
    from formcase.pdf.signing import seal  # pyHanko loads on first use, not at start-up

    return seal(
        render_response(document),
        material,
        field_name=FIELD_NAME,
        reason=f"{document.workspace}: response {document.response_id}",
    )
