"""``[orchestrator] management_address`` looked for on the host at start (when the
appliance client binds it): a bind can succeed without it (``ip_nonlocal_bind``)."""

from __future__ import annotations

import logging
import socket
import struct

from astara.common.rtnetlink import IFA_ADDRESS, IFA_LOCAL, IFADDRMSG
from astara.orchestrator import host_addresses

MGMT = "fdca:3ba5:a17a:acda::a"


def message(family: int, address: str, flags: int = 0, attr: int = IFA_ADDRESS) -> bytes:
    raw = socket.inet_pton(family, address)
    return IFADDRMSG.pack(family, 64, flags, 0, 3) + struct.pack("=HH", 4 + len(raw), attr) \
        + raw


def test_a_usable_address_is_parsed_and_a_tentative_one_is_not():
    assert host_addresses.parse(message(socket.AF_INET6, MGMT)) == MGMT
    assert host_addresses.parse(message(socket.AF_INET, "192.0.2.10", attr=IFA_LOCAL)) \
        == "192.0.2.10"
    assert host_addresses.parse(message(socket.AF_INET6, MGMT,
                                        flags=host_addresses.IFA_F_TENTATIVE)) is None
    assert host_addresses.parse(message(socket.AF_INET6, MGMT,
                                        flags=host_addresses.IFA_F_DADFAILED)) is None


def test_this_hosts_loopback_is_held():
    assert "127.0.0.1" in host_addresses.held()
    assert host_addresses.check("127.0.0.1") is None


def test_a_management_address_not_here_is_one_error_line(caplog):
    with caplog.at_level(logging.ERROR, logger="astara.orchestrator.host_addresses"):
        line = host_addresses.check(MGMT, addresses=lambda: ["127.0.0.1", "fdca::b"])
        assert host_addresses.check("fdca:3ba5:a17a:acda:0:0:0:a",
                                    addresses=lambda: [MGMT]) is None
    assert [r.getMessage() for r in caplog.records] == [line]
    assert line is not None and "\n" not in line
    assert line.startswith(f"[orchestrator] management_address = '{MGMT}' is not (yet) on "
                           "this host")


def test_addresses_that_cannot_be_read_are_not_an_error(caplog):
    def broken() -> list[str]:
        raise OSError(13, "denied")

    with caplog.at_level(logging.WARNING, logger="astara.orchestrator.host_addresses"):
        assert host_addresses.check(MGMT, addresses=broken) is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]
