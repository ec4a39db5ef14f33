"""Flavors and images of the compute service: a fixed catalog, images are profiles.

An image names an instance *profile*, i.e. what the agent starts in the namespace:
``astara-appliance`` (a namespace served by the host's appliance agent; only its
management interface gets an address from us) and
``astara-tenant`` (a real DHCP client for v4, SLAAC for v6, answers ping, a tiny HTTP
responder naming itself). Flavors only size quota and views: namespaces have no RAM.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    ram: int
    disk: int
    vcpus: int


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    profile: str
    min_disk: int = 0
    min_ram: int = 0


FLAVORS = {f.id: f for f in [
    Flavor("1", "m1.tiny", 512, 1, 1),
    Flavor("2", "m1.small", 2048, 20, 1),
    Flavor("42", "astara.appliance", 256, 0, 1),
]}

TENANT_IMAGE = "a57a0000-0000-4000-8000-000000000002"
APPLIANCE_IMAGE = "a57a0000-0000-4000-8000-000000000001"
IMAGES = {i.id: i for i in [
    Image(APPLIANCE_IMAGE, "astara-appliance", "appliance"),
    Image(TENANT_IMAGE, "astara-tenant", "tenant"),
]}
CREATED = "2026-01-01T00:00:00Z"


def flavor(ref: str) -> Flavor | None:
    ref = ref.rstrip("/").rsplit("/", 1)[-1]
    return FLAVORS.get(ref)


def image(ref: str) -> Image | None:
    ref = ref.rstrip("/").rsplit("/", 1)[-1]
    found = IMAGES.get(ref)
    if found is None:
        found = next((i for i in IMAGES.values() if i.name == ref), None)
    return found


def bootable(found: Image, admin: bool) -> bool:
    """Whether a caller may boot (and so see, in the image API) an image: an
    appliance's management port is plugged with the host's management address beside
    it, so only the orchestrator (an admin) boots one."""
    return found.profile != "appliance" or admin
