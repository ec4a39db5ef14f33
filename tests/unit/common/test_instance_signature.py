"""The one instance-id signature the metadata proxy sends and the metadata API checks."""

import hashlib
import hmac

from astara.wire.instance_signature import is_signed, sign


def test_signature_is_nova_style_hex_hmac_sha256():
    assert sign("s3cret", "vm-1") == hmac.new(b"s3cret", b"vm-1", hashlib.sha256).hexdigest()


def test_only_the_instance_own_signature_with_the_shared_secret_passes():
    good = sign("s3cret", "vm-1")
    assert is_signed("s3cret", "vm-1", good)
    assert not is_signed("s3cret", "vm-2", good)
    assert not is_signed("other", "vm-1", good)
    assert not is_signed("s3cret", "vm-1", good.upper())


def test_missing_signature_empty_secret_or_odd_bytes_are_refused_without_error():
    assert not is_signed("s3cret", "vm-1", None)
    assert not is_signed("s3cret", "vm-1", "")
    assert not is_signed("", "vm-1", sign("", "vm-1"))
    assert not is_signed("s3cret", "vm-1", "é" * 64)
