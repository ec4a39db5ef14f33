"""Shared data for appliance unit tests: the example router's four observed links."""

from astara.appliance.observe.state import Link
from astara.wire import examples

LINKS = [
    Link(1, "lo", "00:00:00:00:00:00", 65536, True),
    Link(2, "ge0", examples.MGMT_MAC, 1500, True),
    Link(3, "ge1", examples.EXT_MAC, 1500, False),
    Link(4, "ge2", examples.INT1_MAC, 1500, False),
    Link(5, "ge3", examples.INT2_MAC, 1500, False),
]
NAMES = {"mgmt": "ge0", "ext": "ge1", "net1": "ge2", "net2": "ge3"}
