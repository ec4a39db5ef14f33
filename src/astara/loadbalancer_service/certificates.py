"""A TERMINATED_HTTPS listener's certificates, given inline (pure).

There is no key manager here (no Barbican): ``default_tls_container_ref`` and
``sni_container_refs`` take a data URI holding a PEM bundle,

    data:application/x-pem-file;base64,<base64 of: certificate, intermediates, key>

(the certificate first, then any intermediates, and one unencrypted private key, in
any order after the certificate), at most ``MAX_BUNDLE`` bytes once decoded. The bundle
is parsed with ``cryptography``: every certificate must load, the key must load
without a passphrase and match the first certificate. An expired (or not yet valid)
certificate is accepted, as Octavia's certificate parser does (it checks neither
date). The bundle is stored re-encoded (the certificates as given, the key as
unencrypted PKCS#8), and shown everywhere by a reference derived from that content,
``astara:pem:sha256:<hex>`` (``reference``): stable, non-secret, and accepted back as
a ref for another listener of the same project. Any other ref (Barbican's) is
"not yet". Messages never repeat the bundle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from astara.loadbalancer_service import errors

PREFIX = "data:application/x-pem-file;base64,"
MAX_BUNDLE = 64 * 1024  # bytes of PEM, decoded
MAX_ENCODED = len(PREFIX) + (MAX_BUNDLE + 2) // 3 * 4
MAX_REF = 255  # Octavia's limit on a container ref; other refs are refused anyway
REFERENCE = re.compile(r"^astara:pem:sha256:[0-9a-f]{64}$")
SHOWN_URI = PREFIX + "..."  # what a message shows of a data URI
_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")
MAX_BLOCKS = 16  # a certificate, its intermediates and a key
_KEYS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")

UNREADABLE_CERT = "Could not read X509 from PEM"  # Octavia's UnreadableCert
MISMATCHED_KEY = "Key and x509 certificate do not match"  # Octavia's MisMatchedKey
UNREADABLE_KEY = "Could not read the private key from PEM: it must be one unencrypted key"


@dataclass(frozen=True)
class Bundle:
    ref: str  # astara:pem:sha256:<hex of pem>
    pem: str  # certificate, intermediates, PKCS#8 key


def is_data_uri(value: str) -> bool:
    return value.lstrip()[:5].lower() == "data:"


def _secret_looking(value: str) -> bool:
    """A value a message must not repeat: a data URI, raw PEM, or too long to be a
    ref (what else would one paste there?)."""
    return is_data_uri(value) or "-----BEGIN" in value or len(value) > MAX_REF


def shown(value: str) -> str:
    """How a message may name a ref: a data URI never in full."""
    return SHOWN_URI if _secret_looking(value) else errors.shorten(value, 64)


def reference(pem: str) -> str:
    return "astara:pem:sha256:" + hashlib.sha256(pem.encode()).hexdigest()


def check_ref(name: str, value: str) -> str:
    """A ref's shape (before any lookup): a data URI within bounds, or an astara
    reference; anything else is not served (no key manager)."""
    if is_data_uri(value):
        if len(value) > MAX_ENCODED:
            raise errors.invalid_input(name, SHOWN_URI, "Value should be a PEM bundle of "
                                       f"at most {MAX_BUNDLE} bytes once decoded")
        if not value.startswith(PREFIX):
            raise errors.invalid_input(name, SHOWN_URI, f"Value should be a data URI "
                                       f"starting with '{PREFIX}'")
        return value
    if len(value) > MAX_REF:
        raise errors.invalid_input(name, "...", "Value should have a maximum character "
                                   f"requirement of {MAX_REF}")
    if REFERENCE.match(value):
        return value
    raise errors.unsupported(f"{name} {shown(value)}: only a data URI "
                             f"'{PREFIX}...' or an astara:pem reference (no key manager: "
                             "not yet)")


def parse_data_uri(name: str, value: str) -> Bundle:
    """The bundle of a data URI ``check_ref`` let through, or a 400."""
    try:
        raw = base64.b64decode(value[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_input(name, SHOWN_URI, "Value should be base64") from None
    if len(raw) > MAX_BUNDLE:
        raise errors.invalid_input(name, SHOWN_URI, "Value should be a PEM bundle of at "
                                   f"most {MAX_BUNDLE} bytes once decoded")
    return parse_bundle(raw)


def blocks(raw: bytes) -> list[tuple[str, bytes]]:
    """The PEM blocks of ``raw`` (kind, whole block), in one pass: each BEGIN's END is
    looked for once, from where it stands (a regex with a back-reference rescanned the
    rest of the input for every unmatched BEGIN: seconds for 64 KiB of them)."""
    found: list[tuple[str, bytes]] = []
    at = 0
    while (m := _BEGIN.search(raw, at)) is not None:
        end_marker = b"-----END " + m.group(1) + b"-----"
        end = raw.find(end_marker, m.end())
        if end < 0:
            break  # nothing after an unmatched BEGIN can close a block
        found.append((m.group(1).decode(), raw[m.start():end + len(end_marker)]))
        if len(found) > MAX_BLOCKS:
            raise errors.BadRequest(f"{UNREADABLE_CERT}: more than {MAX_BLOCKS} PEM blocks")
        at = end + len(end_marker)
    return found


def parse_bundle(raw: bytes) -> Bundle:
    certs, keys = [], []
    for kind, block in blocks(raw):
        if kind == "CERTIFICATE":
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except (ValueError, UnsupportedAlgorithm):
                raise errors.BadRequest(UNREADABLE_CERT) from None
        elif kind in _KEYS:
            keys.append(block)
        elif kind == "ENCRYPTED PRIVATE KEY":
            raise errors.BadRequest(UNREADABLE_KEY)
    if not certs:
        raise errors.BadRequest(UNREADABLE_CERT)
    if len(keys) != 1:
        raise errors.BadRequest(UNREADABLE_KEY)
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
        mine = _public(key.public_key()) if hasattr(key, "public_key") else None
    except (ValueError, TypeError, UnsupportedAlgorithm):  # TypeError: wants a password
        raise errors.BadRequest(UNREADABLE_KEY) from None
    try:  # a certificate is parsed lazily: a bad key in it shows only now
        theirs = _public(certs[0].public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise errors.BadRequest(UNREADABLE_CERT) from None
    if mine is None or mine != theirs:
        raise errors.BadRequest(MISMATCHED_KEY)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    pem += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    text = pem.decode("ascii")
    return Bundle(reference(text), text)


def _public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def redacted(value: object) -> object:
    """A request body with every data URI elided, for messages that echo a body."""
    if isinstance(value, str):
        return SHOWN_URI if is_data_uri(value) or "-----BEGIN" in value else value
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value
