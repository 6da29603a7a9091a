"""What signing needs, apart from the signing itself: kept free of pyHanko so that the
workspaces domain (and every CLI command that imports it) does not load it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningMaterial:
    """A private key and its certificate (and any chain above it), ready to sign with."""

    key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default=())

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()
