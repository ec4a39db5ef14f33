"""Build the status document of one appliance from a fresh observation.

Called by the API's read handlers in a worker thread; enters the namespace,
dumps links and addresses through the netlink port, asks the nft and dnsmasq
ports about the services, and combines that with what `converge` remembers
(digest, applies, last error).
"""

from __future__ import annotations

from astara.appliance.apply import dhcp
from astara.appliance.apply.netns import entered
from astara.appliance.converge import Appliance
from astara.appliance.render.dnsmasq import paths
from astara.wire.appliance_status import (
    ApplianceStatus,
    InterfaceCounters,
    InterfaceStatus,
    NatCounters,
    ServiceStatus,
)


def status(appliance: Appliance) -> ApplianceStatus:
    with entered(appliance.netns):
        netlink = appliance.ports.netlink()
        try:
            state = netlink.observe()
        finally:
            netlink.close()
        counters = appliance.ports.nft.counters()
        services = [ServiceStatus(name="nftables", healthy="snat4" in counters
                                  or appliance.config is None)]
        for ifname in sorted(dhcp.current_interfaces(appliance.state_dir)):
            p = paths(appliance.state_dir, ifname)
            pid = appliance.ports.dnsmasq.running(p["conf"], p["pid"])
            services.append(ServiceStatus(name=f"dnsmasq-{ifname}", healthy=pid is not None,
                                          detail=f"pid {pid}" if pid else "not running"))
    interfaces = [
        InterfaceStatus(
            ifname=link.ifname, mac_address=link.mac_address, up=link.up, mtu=link.mtu,
            addresses=sorted(a.cidr for a in state.addresses if a.ifname == link.ifname),
            counters=InterfaceCounters(rx_bytes=link.rx_bytes, rx_packets=link.rx_packets,
                                       tx_bytes=link.tx_bytes, tx_packets=link.tx_packets),
        )
        for link in state.links if link.ifname != "lo"
    ]
    snat, dnat = counters.get("snat4", (0, 0)), counters.get("dnat4", (0, 0))
    config = appliance.config
    return ApplianceStatus(
        hostname=config.hostname if config else None,
        config_version=config.version if config else None,
        config_digest=appliance.digest,
        applies=appliance.applies,
        last_error=appliance.last_error,
        interfaces=interfaces,
        services=services,
        nat=NatCounters(snat_packets=snat[0], snat_bytes=snat[1],
                        dnat_packets=dnat[0], dnat_bytes=dnat[1]),
    )


def ruleset(appliance: Appliance) -> str:
    with entered(appliance.netns):
        return appliance.ports.nft.ruleset()
