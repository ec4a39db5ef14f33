"""A Linux bridge takes 1,023 ports: the netns backend plugs the 1,023rd and refuses the
next plug whole (nothing made), naming the network; the kernel refuses one more port
by hand ("Exchange full"), so the limit is the kernel's, not ours (root)."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest

from astara.compute_service.agent.backend import BackendError, InstanceSpec
from astara.compute_service.agent.bridge_ports import BRIDGE_PORTS
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import SubprocessRunner

pytestmark = [pytest.mark.functional]


def sh(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, input=stdin)


def appliance(net_id: str, n: int) -> InstanceSpec:
    port = {"port_id": str(uuid.uuid4()), "net_id": net_id,
            "mac_address": f"fa:16:3e:77:00:{n:02x}",
            "fixed_ips": [{"subnet_id": "s", "ip_address": f"10.77.0.{n}"}]}
    return InstanceSpec(id=str(uuid.uuid4()), name=f"ab-{n}", profile="appliance",
                        ports=(port,))


def test_the_1023rd_port_is_plugged_and_the_next_plug_refused_whole(tmp_path: Path):
    tag = secrets.token_hex(2)
    backend = NetnsBackend(SubprocessRunner(), tmp_path, netns_prefix=f"abv-{tag}-",
                           bridge_prefix=f"abb{tag}", appliance_prefix=f"aba-{tag}-",
                           host="limit-host")
    net_id = str(uuid.uuid4())
    br, scratch, extra = backend.bridge(net_id), f"abs-{tag}", f"abx{tag}"
    made: list[InstanceSpec] = []
    try:
        sh("ip", "netns", "add", scratch)
        sh("ip", "link", "add", br, "type", "bridge")
        # the others' ports: one side on the bridge, the other in a namespace of ours
        fill = [f"link add abf{tag}{i} type veth peer name p{i} "
                f"netns {scratch}" for i in range(BRIDGE_PORTS - 1)]
        fill += [f"link set abf{tag}{i} master {br}" for i in range(BRIDGE_PORTS - 1)]
        sh("ip", "-batch", "-", stdin="\n".join(fill) + "\n")
        assert len(os.listdir(f"/sys/class/net/{br}/brif")) == BRIDGE_PORTS - 1

        last = appliance(net_id, 1)
        made.append(last)
        backend.create(last)  # the 1,023rd port
        assert len(os.listdir(f"/sys/class/net/{br}/brif")) == BRIDGE_PORTS

        refused = appliance(net_id, 2)
        made.append(refused)
        with pytest.raises(BackendError, match=f"network {net_id} is full on host "
                                               f"limit-host: its bridge {br} has 1023 ports"):
            backend.create(refused)
        assert not Path("/run/netns", backend.netns(refused.id, "appliance")).exists()
        assert not Path("/sys/class/net", backend.tap(refused.ports[0]["port_id"])).exists()

        # the kernel's limit: one more port by hand
        sh("ip", "link", "add", extra, "type", "veth", "peer", "name",
           "px", "netns", scratch)
        out = sh("ip", "link", "set", extra, "master", br, check=False)
        assert out.returncode != 0 and "Exchange full" in out.stderr
    finally:
        for spec in made:
            with contextlib.suppress(Exception):
                backend.delete(spec)
        sh("ip", "link", "del", extra, check=False)
        sh("ip", "netns", "del", scratch, check=False)  # the fill's veths go with it
        sh("ip", "link", "del", br, check=False)
