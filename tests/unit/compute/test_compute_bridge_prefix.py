"""``bridge_prefix`` with a tunnel address: short enough for vxlan device names to keep
the whole VNI (one clear line at start otherwise)."""

from __future__ import annotations

import pytest

from astara.common.entry import ConfigError
from astara.compute_service.agent import vxlan
from astara.compute_service.settings import MAX_TUNNEL_BRIDGE_PREFIX, bridge_prefix


def test_a_bridge_prefix_too_long_for_vxlan_names_is_refused_with_a_tunnel_address():
    assert bridge_prefix("brqabcd", "10.0.0.1") == "brqabcd"
    assert len(vxlan.device_name("b" * MAX_TUNNEL_BRIDGE_PREFIX, 2**24 - 1)) == 15
    with pytest.raises(ConfigError, match="bridge_prefix: 'brqabcde' is longer than 7") as exc:
        bridge_prefix("brqabcde", "10.0.0.1")
    assert "\n" not in str(exc.value)
    assert bridge_prefix("brqabcdefgh", "") == "brqabcdefgh"  # no VXLAN: any length
