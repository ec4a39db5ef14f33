"""The RPC views show a resource's appliance as it last reported (interfaces, services,
the config applied), or None before its first status check."""

from astara.cli.ctl import _show
from astara.orchestrator import appliance_view
from astara.orchestrator.reconcile.memory import RouterState
from astara.orchestrator.runtime import summary
from astara.wire.appliance_status import ApplianceStatus, HaStatus, InterfaceStatus, ServiceStatus

REPORT = ApplianceStatus(
    config_digest="abc", applies=3, last_error="nft -c: syntax error",
    interfaces=[InterfaceStatus(ifname="ge0", mac_address="fa:16:3e:00:00:01", up=True,
                                mtu=1500, addresses=["192.0.2.1/24"]),
                InterfaceStatus(ifname="ge1", mac_address="fa:16:3e:00:00:02", up=False,
                                mtu=1450, addresses=[])],
    services=[ServiceStatus(name="dnsmasq-ge1", healthy=False, detail="not running")],
    ha=HaStatus(role="backup"))


def test_a_report_is_shown_with_its_interfaces_and_services():
    assert appliance_view.view(REPORT) == {
        "config_digest": "abc", "applies": 3, "last_error": "nft -c: syntax error",
        "interfaces": [{"ifname": "ge0", "up": True, "mtu": 1500,
                        "addresses": ["192.0.2.1/24"]},
                       {"ifname": "ge1", "up": False, "mtu": 1450, "addresses": []}],
        "services": [{"name": "dnsmasq-ge1", "healthy": False, "detail": "not running"}],
        "ha_role": "backup"}
    assert appliance_view.view(None) is None


def test_the_router_view_carries_it_before_its_steps():
    st = RouterState(tenant_id="p1")
    assert summary("r1", st)["appliance"] is None  # no status check yet
    st.report = REPORT
    view = summary("r1", st)
    assert view["appliance"]["interfaces"][0]["ifname"] == "ge0"
    assert list(view)[-1] == "steps"


def test_ctl_show_prints_the_report_in_columns(capsys):
    _show({"id": "r1", "appliance": appliance_view.view(REPORT)}, "table")
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert lines == ["id: r1", "appliance:", "  config_digest: abc", "  applies: 3",
                     "  last_error: nft -c: syntax error", "  ha_role: backup",
                     "  interfaces:",
                     "    ge0  up    mtu 1500  192.0.2.1/24",
                     "    ge1  down  mtu 1450  -",
                     "  services:",
                     "    dnsmasq-ge1  unhealthy  not running"]
