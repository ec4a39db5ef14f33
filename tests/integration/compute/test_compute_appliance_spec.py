"""An appliance server through the API: the agent's job names the profile and prefix lengths."""

from __future__ import annotations

from sqlalchemy import select

from astara.compute_service import catalog
from astara.compute_service.models import Job


def test_appliance_job_spec_carries_profile_and_prefix_lengths(admin_user, compute):
    user = admin_user  # only an admin (the orchestrator) boots an appliance
    mgmt = user.sdk.network.create_network(name="astara-mgmt-test")
    user.sdk.network.create_subnet(network_id=mgmt.id, ip_version=6,
                                   cidr="fdca:3ba5:a17a:acd1::/64")
    net = user.sdk.network.create_network(name="inside")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.61.0.0/22")
    server = user.sdk.compute.create_server(
        name="router-1", image_id=catalog.APPLIANCE_IMAGE, flavor_id="42",
        networks=[{"uuid": mgmt.id}, {"uuid": net.id}])
    user.wait_status(server.id, "ACTIVE")
    with compute.db.read() as s:
        job = s.scalars(select(Job).where(Job.instance_id == server.id, Job.op == "create")).one()
        spec = job.payload["spec"]
    assert spec["profile"] == "appliance"
    assert [p["net_id"] for p in spec["ports"]] == [mgmt.id, net.id]
    assert [p["fixed_ips"][0]["prefixlen"] for p in spec["ports"]] == [64, 22]
    assert compute.backend.instances[server.id].profile == "appliance"
    user.sdk.compute.delete_server(server.id)


def test_a_member_cannot_boot_an_appliance(user, compute):
    """An appliance's management port gets the host's management address beside it:
    a tenant naming its own network like the management network must not get that."""
    import pytest
    from openstack import exceptions as sdk_exc

    net = user.sdk.network.create_network(name="astara-mgmt")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=6,
                                   cidr="fdca:3ba5:a17a:acd2::/64")
    try:
        with pytest.raises(sdk_exc.BadRequestException, match="Can not find requested image"):
            user.sdk.compute.create_server(name="fake-router",
                                           image_id=catalog.APPLIANCE_IMAGE, flavor_id="42",
                                           networks=[{"uuid": net.id}])
        assert list(user.sdk.compute.servers()) == []
    finally:  # the network API may be shared with tests that look for the real one
        user.sdk.network.delete_network(net.id)
