"""PDFs that somebody else signed first: a supplier with a certificate of its own (an RSA
key certified by the supplier's own CA), and the two checkers a counter-party would use on
the result, pyHanko's validator and poppler's `pdfsig`."""

from __future__ import annotations

import datetime
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, append_signature_field
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from formcase.pdf.material import SigningMaterial
from tests.conftest import unavailable


def supplier_material() -> SigningMaterial:
    """The supplier's signing key: an RSA key whose certificate its own CA issued."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Supplier Root CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Supplier Ltd"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Supplier Contracts"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return SigningMaterial(key=key, certificate=leaf, chain=(ca,))


def root_pem(material: SigningMaterial) -> str:
    """The certificate a verifier trusts for `material`: its CA, or itself."""
    top = material.chain[-1] if material.chain else material.certificate
    return top.public_bytes(serialization.Encoding.PEM).decode()


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def with_empty_field(pdf: bytes, name: str, page: int, box: tuple[int, int, int, int]) -> bytes:
    """`pdf` with an empty signature field, prepared for the counter-party."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    append_signature_field(writer, SigFieldSpec(name, on_page=page, box=box))
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def supplier_signs(
    pdf: bytes, material: SigningMaterial, *, certify: MDPPerm | None = None
) -> bytes:
    """`pdf` signed by the supplier (visibly, on page 1): an approval signature, or with
    `certify` a certification signature allowing that much change (DocMDP)."""
    key = asn1_keys.PrivateKeyInfo.load(
        material.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=_asn1(material.certificate),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1(c) for c in material.chain]
        ),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name="Supplier",
        md_algorithm="sha256",
        reason="Offered",
        certify=certify is not None,
        docmdp_permissions=certify or MDPPerm.FILL_FORMS,
    )
    out = signers.PdfSigner(
        metadata, signer=signer, new_field_spec=SigFieldSpec("Supplier", box=(40, 40, 240, 90))
    ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    result: bytes = out.getvalue()
    return result


@dataclass(frozen=True)
class Verdict:
    field: str
    signer: str
    bottom_line: bool  # intact, sound, trusted and nothing disallowed changed after it
    summary: str


def pyhanko_verdicts(pdf: bytes, trusted_pems: list[str]) -> list[Verdict]:
    """Every signature of `pdf` as pyHanko's validator judges it, trusting `trusted_pems`."""
    roots = [_asn1(x509.load_pem_x509_certificate(pem.encode())) for pem in trusted_pems]
    usage = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})
    verdicts = []
    for embedded in PdfFileReader(io.BytesIO(pdf)).embedded_signatures:
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        status = validate_pdf_signature(embedded, context, key_usage_settings=usage)
        verdicts.append(
            Verdict(
                embedded.field_name,
                status.signing_cert.subject.human_friendly,
                bool(status.bottom_line),
                status.summary(),
            )
        )
    return verdicts


def pdfsig_report(pdf: bytes, trusted_pems: list[str], tmp_path: Path) -> str:
    """What poppler's `pdfsig` says of `pdf`, with `trusted_pems` in its NSS database."""
    if not (shutil.which("pdfsig") and shutil.which("certutil")):
        unavailable("needs pdfsig (poppler-utils) and certutil (libnss3-tools): make apt-test")
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir(exist_ok=True)
    nss = f"sql:{nss_dir}"
    subprocess.run(["certutil", "-N", "-d", nss, "--empty-password"], check=True)
    for number, pem in enumerate(trusted_pems):
        file = tmp_path / f"trusted{number}.pem"
        file.write_text(pem)
        subprocess.run(
            ["certutil", "-A", "-d", nss, "-n", f"t{number}", "-t", "CT,C,C", "-i", str(file)],
            check=True,
        )
    document = tmp_path / "checked.pdf"
    document.write_bytes(pdf)
    return subprocess.run(
        ["pdfsig", "-nssdir", nss, str(document)], capture_output=True, text=True, check=True
    ).stdout
