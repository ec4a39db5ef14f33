"""The metadata documents and path resolution, from plain instance data."""

from __future__ import annotations

import base64
import json

import pytest

from astara.compute_service.metadata.content import InstanceData, resolve

SEED = b"\x01" * 8
INST = InstanceData(
    id="6f0c2a44-1111-4222-8333-444455556666", name="web 1", hostname="web-1",
    project_id="proj", flavor_name="m1.tiny", image_id="a57a0000-0000-4000-8000-000000000002",
    reservation_id="r-abcd", metadata={"role": "web"},
    user_data=base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
    ports=({"port_id": "p1", "net_id": "n1", "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5", "prefixlen": 24},
                          {"subnet_id": "s2", "ip_address": "fd00::5", "prefixlen": 64}]},))


def text(path: str, inst: InstanceData = INST) -> str | None:
    found = resolve(inst, path, SEED)
    return None if found is None else found[0].decode()


@pytest.mark.parametrize("path, expected", [
    ("/latest/meta-data/instance-id", "i-6f0c2a44"),
    ("/latest/meta-data/hostname", "web-1"),
    ("/latest/meta-data/local-hostname", "web-1"),
    ("/latest/meta-data/local-ipv4", "10.0.0.5"),
    ("/latest/meta-data/instance-type", "m1.tiny"),
    ("/latest/meta-data/reservation-id", "r-abcd"),
    ("/latest/meta-data/placement/availability-zone", "nova"),
    ("/latest/meta-data/placement/", "availability-zone"),
    ("/2009-04-04/meta-data/ami-launch-index", "0"),
    ("/latest/user-data", "#!/bin/sh\necho hi\n"),
    ("/openstack/latest/user_data", "#!/bin/sh\necho hi\n"),
    ("/latest", "meta-data/\nuser-data"),
    ("/latest/meta-data/nope", None),
    ("/latest/meta-data/hostname/deeper", None),
    ("/1999-01-01/meta-data/hostname", None),
    ("/openstack/1999-01-01/meta_data.json", None),
    ("/openstack/latest/nope.json", None),
])
def test_paths(path, expected):
    assert text(path) == expected


def test_listings():
    listing = text("/latest/meta-data/").splitlines()
    assert "instance-id" in listing and "placement/" in listing
    assert text("/").splitlines()[-1] == "latest"
    assert text("/openstack").splitlines()[0] == "2012-08-10"
    assert text("/openstack/latest/").splitlines() == [
        "meta_data.json", "network_data.json", "user_data", "vendor_data.json",
        "vendor_data2.json"]


def test_openstack_meta_data_json():
    body, media = resolve(INST, "/openstack/latest/meta_data.json", SEED)
    doc = json.loads(body)
    assert media == "application/json"
    assert doc["uuid"] == INST.id and doc["name"] == "web 1" and doc["hostname"] == "web-1"
    assert doc["meta"] == {"role": "web"} and doc["project_id"] == "proj"
    assert base64.b64decode(doc["random_seed"]) == SEED


def test_network_data_json():
    doc = json.loads(resolve(INST, "/openstack/2018-08-27/network_data.json", SEED)[0])
    assert doc["links"][0]["ethernet_mac_address"] == "fa:16:3e:00:00:01"
    assert [(n["type"], n["ip_address"], n["netmask"]) for n in doc["networks"]] == [
        ("ipv4", "10.0.0.5", "255.255.255.0"), ("ipv6", "fd00::5", "ffff:ffff:ffff:ffff::")]


def test_no_user_data_is_a_404_and_not_listed():
    bare = InstanceData(id="x", name="x", hostname="x", project_id="p")
    assert text("/latest/user-data", bare) is None
    assert text("/openstack/latest/user_data", bare) is None
    assert "user_data" not in text("/openstack/latest", bare)
    assert text("/latest/meta-data/local-ipv4", bare) == ""


def test_user_data_that_is_not_base64_is_served_as_given():
    raw = InstanceData(id="x", name="x", hostname="x", project_id="p", user_data="plain text!")
    assert text("/latest/user-data", raw) == "plain text!"


def test_the_entry_point_refuses_to_start_without_a_secret(tmp_path):
    from astara.cli import compute_metadata as cli

    assert cli.main(["--state-path", str(tmp_path)]) == 2
