"""The signature sheet: one page certifying a drawn signature, for a signature element that
has no documents to sign (the drawn signature itself is what is signed, then sealed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from formcase.pdf.html import render_pdf

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Signature certificate",
        "statement": "The person below drew this signature in the form of the workspace named "
        "at the bottom, at the time and from the connection shown.",
        "package": "Signed",
        "signer": "Signer",
        "email": "Email",
        "signed_at": "Signed at",
        "ip": "IP address",
        "user_agent": "Browser",
        "image_hash": "SHA-256 of the drawn image",
        "workspace": "Workspace",
        "unknown": "not known",
        "sealed_note": "This sheet is sealed with the electronic seal of the workspace (PAdES); "
        "any change to it breaks the seal.",
    },
    "fr": {
        "title": "Certificat de signature",
        "statement": "La personne ci-dessous a tracé cette signature dans le formulaire de "
        "l'espace de travail nommé plus bas, au moment et depuis la connexion indiqués.",
        "package": "Objet signé",
        "signer": "Signataire",
        "email": "E-mail",
        "signed_at": "Signé le",
        "ip": "Adresse IP",
        "user_agent": "Navigateur",
        "image_hash": "SHA-256 de l'image tracée",
        "workspace": "Espace de travail",
        "unknown": "inconnu",
        "sealed_note": "Cette feuille porte le cachet électronique de l'espace de travail "
        "(PAdES) ; toute modification le rompt.",
    },
    "nl": {
        "title": "Handtekeningcertificaat",
        "statement": "De persoon hieronder heeft deze handtekening getekend in het formulier "
        "van de onderaan vermelde werkruimte, op het getoonde tijdstip en vanaf de getoonde "
        "verbinding.",
        "package": "Ondertekend",
        "signer": "Ondertekenaar",
        "email": "E-mail",
        "signed_at": "Ondertekend op",
        "ip": "IP-adres",
        "user_agent": "Browser",
        "image_hash": "SHA-256 van de getekende afbeelding",
        "workspace": "Werkruimte",
        "unknown": "onbekend",
        "sealed_note": "Dit blad draagt de elektronische zegel van de werkruimte (PAdES); elke "
        "wijziging verbreekt de zegel.",
    },
}


@dataclass(frozen=True)
class SignatureSheet:
    package: str  # what was signed: the signature element's label
    workspace: str  # the workspace's name
    signer_name: str | None
    signer_email: str | None
    signed_at: datetime
    ip: str | None
    user_agent: str | None
    image_png: bytes  # the drawn signature
    locale: str | None = None  # en, fr, nl; anything else is written in English


def render_signature_sheet(sheet: SignatureSheet) -> bytes:
    """The one-page PDF of a drawn signature, not sealed (`signing.seal` it)."""
    locale = sheet.locale if sheet.locale in TEXTS else "en"
    return render_pdf(
        "sheet.html",
        {
            "lang": locale,
            "t": TEXTS[locale],
            "package": sheet.package,
            "workspace": sheet.workspace,
            "signer_name": sheet.signer_name,
            "signer_email": sheet.signer_email,
            "signed_at": sheet.signed_at,
            "ip": sheet.ip,
            "user_agent": sheet.user_agent,
            "image": sheet.image_png,
            "image_sha256": hashlib.sha256(sheet.image_png).hexdigest(),
        },
    )
