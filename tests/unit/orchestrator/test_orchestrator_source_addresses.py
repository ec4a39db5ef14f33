"""Which destinations share a learnt source address (pure)."""

from __future__ import annotations

from astara.orchestrator.clients.source_addresses import SourceAddresses, network_of


def test_appliances_on_one_management_network_share_one_source():
    src = SourceAddresses()
    src.learn("fdca:3ba5:a17a:acda::3f4", "fdca:3ba5:a17a:acda::1")
    assert src.get("fdca:3ba5:a17a:acda::9") == "fdca:3ba5:a17a:acda::1"
    assert src.get("fdca:3ba5:a17a:acdb::9") is None  # another /64: the kernel chooses
    src.learn("10.0.5.7", "10.0.5.1")
    assert src.get("10.0.5.200") == "10.0.5.1"
    assert src.get("10.0.6.7") is None


def test_forgetting_one_network_keeps_the_others():
    src = SourceAddresses()
    src.learn("fdca::5", "fdca::1")
    src.learn("10.0.5.7", "10.0.5.1")
    src.forget("fdca::77")
    assert src.get("fdca::5") is None and src.get("10.0.5.7") == "10.0.5.1"


def test_link_local_and_names_are_never_learnt():
    src = SourceAddresses()
    src.learn("fe80::5", "fe80::1")
    src.learn("appliance.example", "10.0.0.1")
    src.learn("fdca::5", "fe80::1")  # a link-local source would lose its scope
    assert src.get("fe80::5") is None and src.get("appliance.example") is None
    assert src.get("fdca::5") is None
    assert network_of("fe80::5") is None and network_of("not an address") is None
