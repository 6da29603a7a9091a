"""Workspace signing certificates: made with the workspace (or lazily), stored encrypted with
the server's secret, replaceable by the operator's own PKCS#12."""

from __future__ import annotations

import asyncio
import io
import secrets
from datetime import UTC, datetime, timedelta

import anyio.to_thread
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.kit.errors import APIError
from formcase.pdf.material import SigningMaterial
from formcase.pdf.signing import seal, verify
from formcase.workspaces import certificates
from formcase.workspaces import service as workspaces
from formcase.workspaces.certificates import CertificateError
from formcase.workspaces.models import Workspace, WorkspaceCertificate

Maker = async_sessionmaker[AsyncSession]


def a_pdf() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.drawString(72, 720, "sealed by the workspace")
    canvas.save()
    return out.getvalue()


async def sealed_and_checked(material: SigningMaterial, trust_pem: str) -> bool:
    """Seal a PDF with `material` and check it against `trust_pem` (pyHanko runs its own
    event loop: both in a worker thread)."""

    def work() -> bool:
        sealed = seal(a_pdf(), material, field_name="test", reason="Testing")
        (check,) = verify(sealed, trust_pem)
        return check.valid

    return await anyio.to_thread.run_sync(work)


async def new_workspace(maker: Maker, secret_key: bytes | None) -> Workspace:
    slug = f"ws-{secrets.token_hex(4)}"
    async with maker() as session:
        return await workspaces.create(
            session, slug, f"Cabinet {slug} « Été »", secret_key=secret_key
        )


async def stored(maker: Maker, workspace: Workspace) -> list[WorkspaceCertificate]:
    async with maker() as session:
        rows = await session.execute(
            select(WorkspaceCertificate).where(WorkspaceCertificate.workspace_id == workspace.id)
        )
        return list(rows.scalars())


def certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    subject: str,
    *,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None = None,
    days: tuple[int, int] = (-1, 365),
    ca: bool = False,
    signs: bool = True,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=signs,
                content_commitment=False,
                key_encipherment=not signs,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def p12(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None,
    cert: x509.Certificate | None,
    password: bytes,
    cas: list[x509.Certificate] | None = None,
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"operator", key, cert, cas, serialization.BestAvailableEncryption(password)
    )


async def test_a_new_workspace_gets_a_certificate(sessionmaker: Maker, settings: Settings) -> None:
    workspace = await new_workspace(sessionmaker, settings.resolved_secret_key)
    (row,) = await stored(sessionmaker, workspace)
    assert row.source == "generated"
    assert f"CN=Cabinet {workspace.slug} « Été »" in row.subject
    assert "O=formcase" in row.subject and f"OU={workspace.slug}" in row.subject
    assert row.not_after - datetime.now(UTC) > timedelta(days=3640)
    public = x509.load_pem_x509_certificate(row.certificate_pem.encode())
    assert public.fingerprint(hashes.SHA256()).hex() == row.fingerprint_sha256
    usage = public.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    # A CA that may issue nothing: what NSS (pdfsig) accepts as a trust anchor.
    constraints = public.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0

    # The key is only to be had with the server's secret.
    for wrong in (None, b"", b"not the secret"):
        with pytest.raises((ValueError, TypeError)):
            pkcs12.load_key_and_certificates(row.pkcs12, wrong)
    key, _, _ = pkcs12.load_key_and_certificates(row.pkcs12, settings.resolved_secret_key)
    assert key is not None

    async with sessionmaker() as session:
        material = await certificates.signing_material(session, workspace.id, settings)
        other_machine = Settings(data_dir=settings.data_dir, secret_key="another secret")
        with pytest.raises(APIError, match="is not the one it was stored with") as raised:
            await certificates.signing_material(session, workspace.id, other_machine)
        assert raised.value.status_code == 500
    assert material.certificate == public
    # pyHanko's validator takes the self-signed certificate as its trust root.
    assert await sealed_and_checked(material, row.certificate_pem)


async def test_an_older_workspace_gets_one_when_it_first_signs(
    sessionmaker: Maker, settings: Settings
) -> None:
    workspace = await new_workspace(sessionmaker, None)
    assert await stored(sessionmaker, workspace) == []

    async def material() -> SigningMaterial:
        async with sessionmaker() as session:
            found = await certificates.signing_material(session, workspace.id, settings)
            await session.rollback()  # a caller that writes nothing else keeps it anyway
            return found

    # Two at once: one certificate, the same for both.
    first, second = await asyncio.gather(material(), material())
    (row,) = await stored(sessionmaker, workspace)
    assert first.certificate == second.certificate
    assert first.certificate_pem == row.certificate_pem
    assert (await material()).certificate == first.certificate
    assert await sealed_and_checked(first, row.certificate_pem)


async def test_an_older_workspace_in_a_read_session(app: object, settings: Settings) -> None:
    """GET requests read in autocommit sessions: the certificate made there is kept."""
    database = app.state.database  # type: ignore[attr-defined]
    workspace = await new_workspace(database.sessionmaker, None)
    async with database.read_sessionmaker() as session:
        made = await certificates.signing_material(session, workspace.id, settings)
    (row,) = await stored(database.sessionmaker, workspace)
    assert made.certificate_pem == row.certificate_pem


async def test_import_an_operator_certificate(sessionmaker: Maker, settings: Settings) -> None:
    workspace = await new_workspace(sessionmaker, settings.resolved_secret_key)
    generated = (await stored(sessionmaker, workspace))[0].fingerprint_sha256
    # An operator's certificate issued by their own CA, with the CA in the file.
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = certificate(ca_key, "Operator CA", ca=True, days=(-1, 3650))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = certificate(key, "Acme Signing", issuer=(ca.subject, ca_key))
    async with sessionmaker() as session:
        row = await certificates.import_pkcs12(
            session, workspace, p12(key, leaf, b"s3cret", [ca]), b"s3cret", settings
        )
    (kept,) = await stored(sessionmaker, workspace)
    assert kept.source == "imported" and kept.subject == "CN=Acme Signing"
    assert kept.fingerprint_sha256 == row.fingerprint_sha256 != generated
    async with sessionmaker() as session:
        material = await certificates.signing_material(session, workspace.id, settings)
    assert material.certificate == leaf and material.chain == (ca,)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    assert await sealed_and_checked(material, ca_pem)  # trusted through the operator's CA
    assert await sealed_and_checked(material, kept.certificate_pem)


async def test_what_cannot_be_imported(sessionmaker: Maker, settings: Settings) -> None:
    workspace = await new_workspace(sessionmaker, settings.resolved_secret_key)
    key = ec.generate_private_key(ec.SECP256R1())
    good = certificate(key, "Good")
    cases: list[tuple[bytes, bytes | None, str]] = [
        (p12(key, good, b"right"), b"wrong", "the password is wrong"),
        (p12(key, good, b"right"), None, "none was given"),
        (p12(key, certificate(key, "Old", days=(-400, -1)), b"pw"), b"pw", "expired on"),
        (p12(key, certificate(key, "Later", days=(2, 400)), b"pw"), b"pw", "not valid before"),
        (p12(None, None, b"pw", [good]), b"pw", "no private key"),
        (p12(key, certificate(key, "TLS", signs=False), b"pw"), b"pw", "key usage must include"),
        (b"-----BEGIN CERTIFICATE-----\nnot this\n", None, "not a PKCS#12"),
        (good.public_bytes(serialization.Encoding.DER), None, "not a PKCS#12"),
    ]
    for data, password, message in cases:
        async with sessionmaker() as session:
            with pytest.raises(CertificateError) as raised:
                await certificates.import_pkcs12(session, workspace, data, password, settings)
        assert message in raised.value.message, (message, raised.value.message)
    (kept,) = await stored(sessionmaker, workspace)
    assert kept.source == "generated"  # nothing replaced


async def test_one_certificate_per_workspace(sessionmaker: Maker, settings: Settings) -> None:
    first = await new_workspace(sessionmaker, settings.resolved_secret_key)
    second = await new_workspace(sessionmaker, settings.resolved_secret_key)
    async with sessionmaker() as session:
        count = (
            await session.execute(
                select(func.count(func.distinct(WorkspaceCertificate.fingerprint_sha256))).where(
                    WorkspaceCertificate.workspace_id.in_([first.id, second.id])
                )
            )
        ).scalar_one()
    assert count == 2
