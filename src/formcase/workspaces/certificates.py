"""The key and certificate each workspace seals its PDFs with.

A workspace gets a self-signed certificate when it is created (or, for workspaces older than
certificates, the first time it signs); the operator can replace it by their own PKCS#12.
Stored as PKCS#12 encrypted with the server's secret key (`Settings.resolved_secret_key`): the
database alone does not give the private key away.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.kit.errors import APIError, BadRequest, NotFound
from formcase.kit.time import utcnow
from formcase.pdf.material import SigningKey, SigningMaterial
from formcase.workspaces import repository
from formcase.workspaces.models import Workspace, WorkspaceCertificate

VALIDITY = timedelta(days=3652)  # ten years
GENERATED = "generated"
IMPORTED = "imported"


class CertificateError(BadRequest):
    """An operator's PKCS#12 that cannot be used; the message says why."""


def self_signed(name: str, slug: str) -> SigningMaterial:
    """A new EC P-256 key and a self-signed certificate for it, valid ten years.

    EC rather than RSA: as well supported by PDF readers and pyHanko, and made in a
    millisecond where RSA 3072 takes a second or more."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name.strip()[:64] or slug),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "formcase"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, slug),
        ]
    )
    now = utcnow().replace(microsecond=0)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # clocks of verifiers run behind
        .not_valid_after(now + VALIDITY)
        # Marked as a CA (that may not issue: path length 0) because NSS, behind poppler's
        # pdfsig and Firefox, takes only CA certificates as trust anchors; pyHanko either.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SigningMaterial(key=key, certificate=certificate)


def _row(
    workspace_id: uuid.UUID, material: SigningMaterial, secret_key: bytes, source: str
) -> WorkspaceCertificate:
    certificate = material.certificate
    encrypted = pkcs12.serialize_key_and_certificates(
        name=b"formcase",
        key=material.key,
        cert=certificate,
        cas=list(material.chain) or None,
        encryption_algorithm=serialization.BestAvailableEncryption(secret_key),
    )
    return WorkspaceCertificate(
        workspace_id=workspace_id,
        pkcs12=encrypted,
        certificate_pem=material.certificate_pem,
        subject=certificate.subject.rfc4514_string()[:500],
        fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        not_after=certificate.not_valid_after_utc,
        source=source,
    )


def generate(workspace: Workspace, secret_key: bytes) -> WorkspaceCertificate:
    """A new self-signed certificate row for `workspace`, not yet added to a session."""
    return _row(workspace.id, self_signed(workspace.name, workspace.slug), secret_key, GENERATED)


def material_of(row: WorkspaceCertificate, secret_key: bytes) -> SigningMaterial:
    """The key and certificates of a stored row, decrypted with the server's secret."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(row.pkcs12, secret_key)
    except ValueError:
        # The operator's to mend, not the caller's: a 500 that says what is wrong.
        raise APIError(
            "The workspace's signing key cannot be decrypted: the server's secret key "
            "(FORMCASE_SECRET_KEY or data_dir/secret.key) is not the one it was stored with.",
            status_code=500,
        ) from None
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    assert certificate is not None
    return SigningMaterial(key=key, certificate=certificate, chain=tuple(chain))


async def certificate_of(
    session: AsyncSession, workspace_id: uuid.UUID, settings: Settings
) -> WorkspaceCertificate:
    """The workspace's certificate row, made now if it has none yet (workspaces older than
    certificates). Two callers racing meet on the unique workspace_id: the loser reads the
    winner's. The caller's pending changes are never committed by this.

    On PostgreSQL the new row is committed at once in a session of its own. On SQLite a
    second connection would wait for the caller's write lock, so the row is inserted in the
    caller's session under a savepoint: kept at once by an autocommit (read) session, else
    with the caller's commit (a caller that rolls back signed nothing with it either)."""
    row = await repository.certificate_of(session, workspace_id)
    if row is not None:
        return row
    workspace = await repository.by_id(session, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace with id {workspace_id}.")
    made = generate(workspace, settings.resolved_secret_key)
    assert session.bind is not None
    try:
        if session.bind.dialect.name == "sqlite":
            async with session.begin_nested():
                session.add(made)
        else:
            async with async_sessionmaker(session.bind, expire_on_commit=False)() as own:
                own.add(made)
                await own.commit()
    except IntegrityError:
        row = await repository.certificate_of(session, workspace_id)
        if row is None:
            raise
        return row
    return made


async def signing_material(
    session: AsyncSession, workspace_id: uuid.UUID, settings: Settings
) -> SigningMaterial:
    """What the workspace signs with (its certificate made first if it has none)."""
    row = await certificate_of(session, workspace_id, settings)
    return material_of(row, settings.resolved_secret_key)


def read_pkcs12(data: bytes, password: bytes | None) -> SigningMaterial:
    """An operator's PKCS#12, checked for signing: a key, its certificate, valid now."""
    # asn1crypto is slow to import and only this needs it (not `formcase workspace create`)
    from asn1crypto import pkcs12 as asn1_pkcs12  # type: ignore[import-untyped]

    try:
        asn1_pkcs12.Pfx.load(data, strict=True).native  # noqa: B018  (parses it all)
    except (ValueError, TypeError, KeyError):
        raise CertificateError("This file is not a PKCS#12 (.p12 / .pfx) file.") from None
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise CertificateError(
            "This PKCS#12 file cannot be opened: the password is wrong"
            + (" (none was given)." if password is None else ".")
        ) from None
    except TypeError as exc:  # e.g. a password given to a file that has none
        raise CertificateError(f"This PKCS#12 file cannot be opened ({exc}).") from None
    if key is None:
        raise CertificateError("This PKCS#12 file holds no private key.")
    if certificate is None:
        raise CertificateError("This PKCS#12 file holds no certificate for its key.")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError(
            f"The key in this PKCS#12 file is {type(key).__name__}; use an RSA or EC key."
        )
    signing_key: SigningKey = key
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if signing_key.public_key().public_bytes(der, spki) != certificate.public_key().public_bytes(
        der, spki
    ):
        raise CertificateError("The private key does not belong to the certificate.")
    now = datetime.now(UTC)
    if certificate.not_valid_after_utc <= now:
        raise CertificateError(
            f"The certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}."
        )
    if certificate.not_valid_before_utc > now:
        raise CertificateError(
            f"The certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}."
        )
    # Validators (pyHanko's among them) read a missing key usage as none that signs.
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise CertificateError(
            "The certificate's key usage must include digitalSignature or nonRepudiation "
            "(contentCommitment) for it to sign documents."
        )
    return SigningMaterial(key=signing_key, certificate=certificate, chain=tuple(chain))


async def import_pkcs12(
    session: AsyncSession,
    workspace: Workspace,
    data: bytes,
    password: bytes | None,
    settings: Settings,
) -> WorkspaceCertificate:
    """Replace the workspace's certificate by the operator's own; committed."""
    material = read_pkcs12(data, password)
    new = _row(workspace.id, material, settings.resolved_secret_key, IMPORTED)
    row = await repository.certificate_of(session, workspace.id)
    if row is None:
        session.add(new)
        row = new
    else:
        for name in ("pkcs12", "certificate_pem", "subject", "fingerprint_sha256", "not_after"):
            setattr(row, name, getattr(new, name))
        row.source = IMPORTED
        row.updated_at = utcnow()
    await session.commit()
    return row
