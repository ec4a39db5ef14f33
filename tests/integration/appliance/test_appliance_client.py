"""The orchestrator's appliance client against a real appliance API on loopback.

The client derives the appliance's secret from the deployment key and the
instance id it is given; the appliance (fake backend) answers only that secret.
A refusal is a ``RemoteError`` naming the credential, not an unreachable appliance
(which the reconciler would replace).
"""

from __future__ import annotations

import pytest
from tests.integration.appliance.test_appliance_fuzz import LINKS
from tests.support import Server, free_port

from astara.appliance.api import SCOPE_KEY, Served, make_app
from astara.appliance.apply.fakes import FakeDnsmasq, FakeNetlink, FakeNft
from astara.appliance.converge import Appliance, Ports
from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.clients.base import Fenced, RemoteError
from astara.wire import auth, examples, parse_config
from astara.wire.tenure import Tenure

KEY = b"client-test-key"


@pytest.fixture
def appliance(tmp_path):
    ports = Ports(netlink=FakeNetlink(LINKS), nft=FakeNft(), dnsmasq=FakeDnsmasq(),
                  sysctl=lambda k, v: None)
    one = Served(Appliance("i-1", None, tmp_path, 5000, ports),
                 auth.appliance_secret(KEY, "i-1"))
    app = make_app()

    async def one_appliance(scope, receive, send):
        await app({**scope, SCOPE_KEY: one}, receive, send)

    server = Server(one_appliance, free_port()).start()
    yield server, one.appliance
    server.stop()


def test_client_with_the_deployment_key_configures_and_health_checks(appliance):
    server, target = appliance
    client = HttpApplianceAPI(KEY, server.port)
    config = parse_config(examples.router_document(1))
    try:
        assert client.status("127.0.0.1", "i-1").config_digest is None
        client.push("127.0.0.1", "i-1", config)
        seen = client.status("127.0.0.1", "i-1")
        assert seen.reachable and seen.config_digest == config.digest()
    finally:
        client.close()
    assert target.applies == 1


@pytest.mark.parametrize(("key", "instance"), [(b"wrong-key", "i-1"), (KEY, "i-2")])
def test_a_refused_credential_is_a_remote_error_and_changes_nothing(appliance, key, instance):
    server, target = appliance
    client = HttpApplianceAPI(key, server.port)
    try:
        with pytest.raises(RemoteError, match="refused our credentials"):
            client.status("127.0.0.1", instance)
        with pytest.raises(RemoteError, match="refused our credentials"):
            client.push("127.0.0.1", instance, parse_config(examples.router_document()))
    finally:
        client.close()
    assert target.applies == 0 and target.config is None


def test_an_older_lease_epoch_is_fenced_and_the_document_stays(appliance):
    server, target = appliance
    client = HttpApplianceAPI(KEY, server.port)
    first = parse_config(examples.router_document(1))
    try:
        client.push("127.0.0.1", "i-1", first, Tenure(5, "orch-a/1/x"))
        with pytest.raises(Fenced, match="a newer owner exists"):
            client.push("127.0.0.1", "i-1", parse_config(examples.router_document(2)),
                        Tenure(4, "orch-b/2/y"))
        assert client.status("127.0.0.1", "i-1").config_digest == first.digest()
    finally:
        client.close()
    assert target.applies == 1


def test_an_operator_override_pushes_past_the_fence_and_the_appliance_says_so(appliance,
                                                                              caplog):
    server, target = appliance
    client = HttpApplianceAPI(KEY, server.port)
    second = parse_config(examples.router_document(2))
    try:
        client.push("127.0.0.1", "i-1", parse_config(examples.router_document(1)),
                    Tenure(5, "orch-a/1/x"))
        client.override = "astara-debug-router root@h pid 7\n"  # sent printable
        with caplog.at_level("WARNING", logger="astara.appliance.api"):
            client.push("127.0.0.1", "i-1", second)  # the debugger's: no epoch
        assert client.status("127.0.0.1", "i-1").config_digest == second.digest()
    finally:
        client.close()
    assert target.applies == 2
    assert "overriding the fence, by astara-debug-router root@h pid 7?: applied" \
        in caplog.text
    assert "holds epoch 5 (owner orch-a/1/x), kept" in caplog.text
