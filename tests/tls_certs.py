"""Certificates made in the tests with `cryptography`: a CA, a server certificate it
signs, and the data URI a TERMINATED_HTTPS listener takes."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def key_pem(self, password: bytes | None = None) -> bytes:
        enc = serialization.BestAvailableEncryption(password) if password \
            else serialization.NoEncryption()
        return self.key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(cn: str, issuer: Issued | None = None, ips: tuple[str, ...] = (),
          days: int = 30, ca: bool = False, expired: bool = False) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    start, end = (now - timedelta(days=60), now - timedelta(days=30)) if expired \
        else (now - timedelta(minutes=5), now + timedelta(days=days))
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer.cert.subject if issuer else _name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    sans: list[x509.GeneralName] = [x509.DNSName(cn)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def data_uri(pem: bytes) -> str:
    return "data:application/x-pem-file;base64," + base64.b64encode(pem).decode()


def bundle(server: Issued, *intermediates: Issued) -> bytes:
    return server.cert_pem() + b"".join(i.cert_pem() for i in intermediates) + server.key_pem()
