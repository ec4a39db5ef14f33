"""astara-netns-cleanup removes conntrackd's control sockets once no appliance
namespace is left, and never while one is."""

from __future__ import annotations

from astara.cli import netns_cleanup


def test_sockets_removed_only_when_no_appliance_is_left(tmp_path):
    sock = tmp_path / "0123456789abcdef.ctl"
    sock.write_text("")
    (tmp_path / "other").write_text("")
    assert netns_cleanup._sockets(tmp_path, ["astara-appliance-x"], True) == []
    assert sock.exists()
    assert netns_cleanup._sockets(tmp_path, [], False) == [str(sock)]
    assert sock.exists()  # listed only
    netns_cleanup._sockets(tmp_path, [], True)
    assert not sock.exists() and (tmp_path / "other").exists()
