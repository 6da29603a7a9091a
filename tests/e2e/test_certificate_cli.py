"""`formcase workspace certificate`: show, export, import the operator's own PKCS#12."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import Formcase

pytestmark = pytest.mark.e2e


def operator_p12(password: bytes) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme Legal")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"acme", key, certificate, None, serialization.BestAvailableEncryption(password)
    )


def test_certificate_commands(formcase: Formcase, tmp_path: Path) -> None:
    formcase.run("db", "upgrade")
    formcase.run("workspace", "create", "acme", "--name", "Acme")
    shown = json.loads(formcase.run("workspace", "certificate", "acme").stdout)
    assert shown["source"] == "generated" and "CN=Acme" in shown["subject"]
    assert shown["not_after"] > f"{datetime.now(UTC).year + 9}"

    exported = tmp_path / "acme.pem"
    formcase.run("workspace", "certificate", "acme", "--export-pem", str(exported))
    certificate = x509.load_pem_x509_certificate(exported.read_bytes())
    assert certificate.fingerprint(hashes.SHA256()).hex() == shown["fingerprint_sha256"]

    p12 = tmp_path / "acme.p12"
    p12.write_bytes(operator_p12(b"correct horse"))
    secret = tmp_path / "password.txt"
    secret.write_text("correct horse\n")
    imported = json.loads(
        formcase.run(
            "workspace", "certificate", "acme", "--import", str(p12), "--password-file", str(secret)
        ).stdout
    )
    assert imported["source"] == "imported" and imported["subject"] == "CN=Acme Legal"
    again = json.loads(formcase.run("workspace", "certificate", "acme").stdout)
    assert again["fingerprint_sha256"] == imported["fingerprint_sha256"]

    wrong = formcase.run(
        "workspace", "certificate", "acme", "--import", str(p12), "--password", "nope", check=False
    )
    assert wrong.returncode == 1 and "the password is wrong" in wrong.stderr
    missing = formcase.run("workspace", "certificate", "nobody", check=False)
    assert missing.returncode == 1 and "No workspace with slug 'nobody'" in missing.stderr
    unread = formcase.run(
        "workspace", "certificate", "acme", "--import", str(tmp_path / "absent.p12"), check=False
    )
    assert unread.returncode == 1 and "cannot read" in unread.stderr
