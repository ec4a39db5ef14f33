"""Hypothesis strategies for requests to the network API, and what to send for them.

A generated request is plain data: method, path, query and a body tree in which
``Ref``/``IpIn``/``Raw`` markers stand for values known only when it is sent (ids
of resources created earlier in the run, addresses inside a subnet created earlier,
bytes that are not JSON). ``Pool`` keeps those ids per project and ``render`` turns a
request into bytes against the current pool, so many requests reach deep code.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

KINDS = ("networks", "subnets", "ports", "routers", "floatingips")
SINGULAR = {"networks": "network", "subnets": "subnet", "ports": "port",
            "routers": "router", "floatingips": "floatingip"}
ACTORS = ("a", "b", "admin")
OWNERS = ("own", "own", "own", "other", "admin", "ext", "missing", "junk")


@dataclass(frozen=True)
class Ref:
    """The id of a resource of ``kind``: the actor's own, the other project's, ... ."""

    kind: str
    owner: str
    index: int


@dataclass(frozen=True)
class IpIn:
    """An address ``offset`` into a known subnet (``scope`` appended when set)."""

    subnet: Ref
    offset: int
    scope: str | None = None


@dataclass(frozen=True)
class CidrNear:
    """A cidr inside / overlapping a known subnet's, or a fresh one."""

    subnet: Ref
    prefix_delta: int


@dataclass(frozen=True)
class Raw:
    """A body or string that is not built from JSON values."""

    name: str


HUGE = "a" * 200_000  # over the 114,688-byte body limit
BIG = "b" * 60_000  # under it, but far over any attribute's length
RAW_BODIES = {
    "empty": b"",
    "deep_list": b"[" * 100_000 + b"]" * 100_000,
    "deep_dict": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "deep_1000": b'{"network": {"name": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
    "truncated": b'{"network": {"name": ',
    "not_json": b"<xml/>",
    "nan": b'{"network": {"mtu": NaN}}',
    "inf": b'{"network": {"mtu": 1e999}}',
    "big_int": b'{"network": {"mtu": ' + b"9" * 5000 + b"}}",
    "surrogate": b'{"network": {"name": "\\ud800"}}',
    "surrogate_raw": b'{"network": {"name": "\xed\xa0\x80"}}',
    "latin1": b'{"network": {"name": "\xff\xfe"}}',
    "utf16": json.dumps({"network": {"name": "x"}}).encode("utf-16"),
    "nul": b'{"network": {"name": "a\\u0000b"}}',
    "huge": json.dumps({"network": {"name": HUGE}}).encode(),
    "huge_garbage": b"x" * 300_000,
    "array": b"[]",
    "scalar": b"42",
    "dup_keys": b'{"network": {}, "network": {"name": "x"}}',
}
ODD_STRINGS = ["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\U0001f600" * 70, "a" * 256,
               BIG, "'", '"', "%s%(x)s", "../..", "null", "None", "true", "1e999", "\u202e",
               "\ufeff", "\n", "\\", "<script>", "ﬀ", "İ"]
ODD_IPS = ["fd98::77%a", "fe80::1%eth0", "10.0.0.5%1", "1.2.3.4/24", "::ffff:10.0.0.5",
           "0.0.0.0", "255.255.255.255", "10.0.0.256", "010.0.0.1", " 10.0.0.5", "::", "::1",
           "1.2.3", "abc", "", "10.0.0.5\x00", "fd00::/64", "١.١.١.١", "2001:db8::1:0:0:1"]
ODD_CIDRS = ["10.0.0.0/8", "10.0.0.1/24", "0.0.0.0/0", "::/0", "10.0.0.0/33", "10.0.0.0/32",
             "10.0.0.0/31", "10.0.0.0/30", "fd00::/127", "fd00::/64", "fd98::%a/64",
             "10.0.0.0/24%a", "abc", "", "10.0.0.0", "1.2.3.4/-1", "10.0.0.0/ 24"]
DEVICE_OWNERS = ["", "compute:nova", "network:router_interface", "network:router_gateway",
                 "network:floatingip", "network:dhcp", "network:router_ha_interface", "x"]


_REFS = {kind: st.builds(Ref, st.just(kind), st.sampled_from(OWNERS), st.integers(0, 6))
         for kind in KINDS}


def refs(kind: str) -> st.SearchStrategy[Ref]:
    return _REFS[kind]


def odd_text() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=8))


junk: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, -1, 2**31, 2**64, 10**30, 1.5, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True), odd_text(), st.just([]), st.just({}),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.none(),
                                                         max_size=2),
    st.just(Raw("deep")),
)


def ips() -> st.SearchStrategy[Any]:
    in_subnet = st.builds(IpIn, refs("subnets"), st.sampled_from([0, 1, 2, 3, 5, 9, 20, -1, -2]),
                          st.sampled_from([None, None, None, None, "a", "1"]))
    return st.one_of(in_subnet, in_subnet, st.sampled_from(ODD_IPS),
                     st.ip_addresses().map(str), junk)


def cidrs() -> st.SearchStrategy[Any]:
    near = st.builds(CidrNear, refs("subnets"), st.integers(-2, 4))
    fresh = st.one_of(
        st.tuples(st.integers(0, 255), st.integers(0, 255), st.sampled_from([16, 24, 26, 28,
                                                                             29, 30]))
        .map(lambda t: str(ipaddress.ip_network(f"10.{t[0]}.{t[1]}.0/{t[2]}", strict=False))),
        st.integers(0, 0xFFFF).map(lambda n: f"fd{n >> 8:02x}:{n & 0xFF:x}::/64"))
    return st.one_of(fresh, fresh, near, st.sampled_from(ODD_CIDRS), junk)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a well-shaped value, sometimes anything at all."""
    return st.one_of(good, good, good, junk)


def pools() -> st.SearchStrategy[Any]:
    return st.lists(maybe(st.fixed_dictionaries({"start": ips(), "end": ips()})), max_size=3)


def routes() -> st.SearchStrategy[Any]:
    return st.lists(maybe(st.fixed_dictionaries({"destination": cidrs(), "nexthop": ips()})),
                    max_size=3)


def fixed_ips() -> st.SearchStrategy[Any]:
    item = st.fixed_dictionaries({}, optional={"subnet_id": maybe(refs("subnets")),
                                               "ip_address": ips()})
    return st.lists(maybe(item), max_size=3)


booleans = maybe(st.booleans())
names = maybe(st.text(max_size=10))
macs = st.one_of(st.sampled_from(["fa:16:3e:00:00:01", "FA:16:3E:00:00:02", "01:00:5e:00:00:01",
                                  "00:00:00:00:00:00", "fa:16:3e:00:00", "fa-16-3e-00-00-03"]),
                 st.binary(min_size=6, max_size=6).map(
                     lambda b: ":".join(f"{(x & 0xFE) if i == 0 else x:02x}"
                                        for i, x in enumerate(b))))

ATTRS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "networks": {
        "name": names, "description": names, "admin_state_up": booleans, "shared": booleans,
        "router:external": booleans, "is_default": booleans, "port_security_enabled": booleans,
        "mtu": maybe(st.integers(0, 70000)), "project_id": maybe(st.sampled_from(["p"])),
        "provider:network_type": maybe(st.sampled_from(["flat", "vlan", "vxlan", "local"])),
        "provider:physical_network": maybe(st.sampled_from(["public", None])),
        "provider:segmentation_id": maybe(st.integers(-1, 2**25)),
        "availability_zone_hints": maybe(st.lists(st.text(max_size=3), max_size=2)),
        "id": maybe(refs("networks")), "status": junk, "subnets": junk,
    },
    "subnets": {
        "network_id": maybe(refs("networks")), "ip_version": maybe(st.sampled_from([4, 6])),
        "cidr": cidrs(), "gateway_ip": st.one_of(st.none(), ips()), "name": names,
        "allocation_pools": maybe(pools()), "dns_nameservers": maybe(st.lists(ips(), max_size=3)),
        "host_routes": maybe(routes()), "enable_dhcp": booleans,
        "ipv6_ra_mode": maybe(st.sampled_from(["slaac", "dhcpv6-stateful", "dhcpv6-stateless",
                                               None])),
        "ipv6_address_mode": maybe(st.sampled_from(["slaac", "dhcpv6-stateful",
                                                    "dhcpv6-stateless", None])),
        "subnetpool_id": junk, "service_types": maybe(st.lists(st.text(max_size=3), max_size=2)),
        "id": maybe(refs("subnets")), "description": names,
    },
    "ports": {
        "network_id": maybe(refs("networks")), "fixed_ips": maybe(fixed_ips()), "name": names,
        "mac_address": maybe(macs), "device_id": maybe(st.one_of(refs("routers"), names)),
        "device_owner": maybe(st.sampled_from(DEVICE_OWNERS)), "admin_state_up": booleans,
        "allowed_address_pairs": maybe(st.lists(maybe(st.fixed_dictionaries(
            {"ip_address": st.one_of(ips(), cidrs())}, optional={"mac_address": macs})),
            max_size=2)),
        "status": maybe(st.sampled_from(["ACTIVE", "DOWN", "BUILD", "ERROR"])),
        "binding:host_id": names, "port_security_enabled": booleans,
        "security_groups": maybe(st.lists(refs("ports"), max_size=1)),
        "binding:vnic_type": maybe(st.just("normal")), "id": maybe(refs("ports")),
    },
    "routers": {
        "name": names, "admin_state_up": booleans, "ha": booleans, "distributed": booleans,
        "external_gateway_info": st.one_of(st.none(), st.just({}), maybe(st.fixed_dictionaries(
            {"network_id": maybe(refs("networks"))},
            optional={"enable_snat": booleans, "external_fixed_ips": maybe(fixed_ips())}))),
        "routes": maybe(routes()), "status": junk, "flavor_id": junk,
        "id": maybe(refs("routers")), "project_id": maybe(st.sampled_from(["p"])),
    },
    "floatingips": {
        "floating_network_id": maybe(refs("networks")), "port_id": st.one_of(
            st.none(), maybe(refs("ports"))), "fixed_ip_address": st.one_of(st.none(), ips()),
        "floating_ip_address": ips(), "subnet_id": maybe(refs("subnets")),
        "description": names, "id": maybe(refs("floatingips")),
    },
}
# What a create usually carries, so that many creates succeed and later requests reach deep.
USUAL = {"networks": [], "subnets": ["network_id", "cidr", "ip_version"],
         "ports": ["network_id"], "routers": [], "floatingips": ["floating_network_id"]}


def _own(kind: str, owner: str = "own") -> st.SearchStrategy[Ref]:
    return st.builds(Ref, st.just(kind), st.just(owner), st.integers(0, 3))


_OWN_IP = st.builds(IpIn, _own("subnets"), st.integers(2, 40))
_FRESH_CIDR = cidrs().filter(lambda c: isinstance(c, str) and "/" in c)
# Bodies a careful client would send (own ids, addresses inside own subnets), so that
# many writes succeed and later requests meet routers with interfaces, ports with
# floating IPs, and full subnets.
GOOD_CREATE: dict[str, st.SearchStrategy[Any]] = {
    "networks": st.fixed_dictionaries({"name": st.text(max_size=5)},
                                      optional={"mtu": st.integers(1280, 9000)}),
    "subnets": st.fixed_dictionaries(
        {"network_id": _own("networks"), "cidr": _FRESH_CIDR, "ip_version": st.just(Raw(
            "cidr_version"))},
        optional={"gateway_ip": st.one_of(st.none(), _OWN_IP),
                  "ipv6_address_mode": st.sampled_from(["slaac", "dhcpv6-stateful"])}),
    "ports": st.fixed_dictionaries(
        {"network_id": _own("networks")},
        optional={"fixed_ips": st.lists(st.fixed_dictionaries(
            {"subnet_id": _own("subnets")}, optional={"ip_address": _OWN_IP}), max_size=2),
            "device_owner": st.sampled_from(["compute:nova", ""]),
            "allowed_address_pairs": st.lists(st.fixed_dictionaries(
                {"ip_address": _OWN_IP}), max_size=1)}),
    "routers": st.fixed_dictionaries({}, optional={
        "external_gateway_info": st.fixed_dictionaries({"network_id": _own("networks", "ext")}),
        "name": st.text(max_size=5)}),
    "floatingips": st.fixed_dictionaries(
        {"floating_network_id": _own("networks", "ext")},
        optional={"port_id": _own("ports"), "description": st.text(max_size=5)}),
}
GOOD_UPDATE: dict[str, st.SearchStrategy[Any]] = {
    "networks": st.fixed_dictionaries({}, optional={"name": st.text(max_size=5),
                                                    "admin_state_up": st.booleans()}),
    "subnets": st.fixed_dictionaries({}, optional={
        "gateway_ip": st.one_of(st.none(), _OWN_IP),
        "allocation_pools": st.lists(st.fixed_dictionaries({"start": _OWN_IP, "end": _OWN_IP}),
                                     max_size=2),
        "dns_nameservers": st.lists(_OWN_IP, max_size=2, unique=True),
        "host_routes": st.lists(st.fixed_dictionaries({"destination": _FRESH_CIDR,
                                                       "nexthop": _OWN_IP}), max_size=2)}),
    "ports": st.fixed_dictionaries({}, optional={
        "fixed_ips": st.lists(st.fixed_dictionaries({"subnet_id": _own("subnets")},
                                                    optional={"ip_address": _OWN_IP}),
                              max_size=2),
        "device_id": _own("routers"), "name": st.text(max_size=5)}),
    "routers": st.fixed_dictionaries({}, optional={
        "external_gateway_info": st.one_of(st.none(), st.fixed_dictionaries(
            {"network_id": _own("networks", "ext")})),
        "routes": st.lists(st.fixed_dictionaries({"destination": _FRESH_CIDR,
                                                  "nexthop": _OWN_IP}), max_size=2)}),
    "floatingips": st.fixed_dictionaries({}, optional={
        "port_id": st.one_of(st.none(), _own("ports")), "fixed_ip_address": _OWN_IP}),
}
_GOOD_IFACE = st.one_of(st.fixed_dictionaries({"subnet_id": _own("subnets")}),
                        st.fixed_dictionaries({"port_id": _own("ports")}))

# Strategies are built once: building one per draw costs more than the request it makes.
_ATTR_KEYS = {k: st.lists(st.sampled_from(sorted(a)), max_size=4, unique=True)
              for k, a in ATTRS.items()}
_UNKNOWN_KEYS = st.sampled_from(["colour", "tenant_id", "created_at", "", "\x00"])
_ONE_IN_20 = st.integers(0, 19)
CIDR_VERSION = Raw("cidr_version")


@st.composite
def _resource_body(draw, kind: str) -> Any:
    attrs = ATTRS[kind]
    keys = list(USUAL[kind]) if draw(st.booleans()) else []
    keys += draw(_ATTR_KEYS[kind])
    body = {k: draw(attrs[k]) for k in dict.fromkeys(keys)}
    if kind == "subnets" and "cidr" in body and draw(st.booleans()):
        body["ip_version"] = CIDR_VERSION  # fixed when rendered, from the cidr
    if draw(_ONE_IN_20) == 0:
        body[draw(_UNKNOWN_KEYS)] = draw(junk)
    return body


BODIES = {kind: _resource_body(kind) for kind in KINDS}
BULK = {kind: st.lists(maybe(BODIES[kind]), max_size=3) for kind in KINDS}


@dataclass
class Request:
    actor: str
    method: str
    path: list[Any]  # strings and Refs, joined with "/"
    query: list[tuple[Any, Any]] = field(default_factory=list)
    body: Any = None  # a JSON tree (with markers), a Raw body name, or None
    headers: dict[str, str] = field(default_factory=dict)
    raw_query: str = ""

    def describe(self) -> str:
        return f"{self.actor} {self.method} {self.path} q={self.query!r:.300} " \
               f"body={self.body!r:.600} headers={self.headers!r:.200}"


QUERY_KEYS = ["fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "name", "id",
              "network_id", "fixed_ips", "device_id", "device_owner", "cidr", "gateway_ip",
              "ip_version", "mtu", "revision_number", "router:external", "shared", "status",
              "project_id", "tenant_id", "floating_ip_address", "fixed_ip_address", "router_id",
              "provider:network_type", "binding:host_id", "admin_state_up", "colour", ""]
query_values = st.one_of(
    st.sampled_from(["", "asc", "desc", "abc", "-1", "0", "1", "2", "True", "false", "null",
                     "99999999999999999999999", "2147483648", "id", "name", "mtu",
                     "ip_address=10.0.0.5", "ip_address=fd98::77%a", "subnet_id=x", "x=y",
                     "\x00", "fd98::77%a", "10.0.0.0/24", "fixed_ips", "ACTIVE", "é"]),
    st.text(max_size=6), refs("networks"), refs("ports"), refs("subnets"), refs("routers"))
ODD_QUERIES = ["%zz", "%", "%ff%fe", "a=%c3%28", "limit=%00", "=&=&", "&&&", "fields",
               "sort_key", "limit=1&limit=abc", "marker=", "fields=&fields=,,,",
               "sort_key=name&sort_key=id&sort_dir=asc", "a" * 5000 + "=1", "name=" + "%ff" * 50]
ODD_PATHS = ["/", "/v2.0", "/v2.0/", "/v2.0/extensions", "/v2.0/extensions/router", "/v3",
             "/v2.0/widgets", "/v2.0/networks.json", "/v2.0/networks/%zz", "/v2.0/networks/%ff%fe",
             "/v2.0/networks/%00", "/v2.0/ports/" + "a" * 3000, "/v2.0/networks/../ports",
             "/v2.0//networks", "/v2.0/routers/x/y/z", "/v2.0/net%20works", "/%ff",
             "/v2.0/routers/%00/add_router_interface", "/v2.0/subnets/%c3%28"]
HEADER_SETS = [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/xml"},
               {"X-Roles": ""}, {"X-Roles": "admin"}, {"Accept": "text/html"},
               {"X-Project-Id": ""}, {"X-Project-Id": "p" * 300}, {"X-Project-Id": "é"},
               {"X-Tenant-Id": "other"}, {"X-Openstack-Request-Id": "x"}]


_ACTORS = st.sampled_from(["a", "a", "a", "b", "b", "b", "admin", "admin", "admin", "anon"])
_KINDS = st.sampled_from(KINDS)
_SHAPES = st.sampled_from(
    ["list", "list", "show", "create", "create", "create", "bulk", "update", "update",
     "delete", "iface", "iface", "model", "bindings", "raw", "odd", "method", "good_create",
     "good_create",
     "good_create", "good_create", "good_update", "good_update", "good_iface", "good_iface"])
_LIST_QUERY = st.lists(st.tuples(st.sampled_from(QUERY_KEYS), query_values), max_size=4)
_SHOW_QUERY = st.lists(st.tuples(st.just("fields"), st.sampled_from(
    ["id", "name", "", ",", "x", "fixed_ips"])), max_size=2)
_ACTIONS = st.sampled_from(["add_router_interface", "add_router_interface",
                            "remove_router_interface", "bogus"])
_IFACE_KEYS = st.sampled_from(["subnet_id", "subnet_id", "port_id", "both", "none"])
_IFACE_SUBNET, _IFACE_PORT = maybe(refs("subnets")), maybe(refs("ports"))
_BODY_OR_JUNK = st.sampled_from([True, True, True, False])
_WRITE = st.sampled_from(["POST", "PUT"])
_RAW_NAMES = st.sampled_from(sorted(RAW_BODIES))
_ODD_PATHS = st.sampled_from(ODD_PATHS)
_ODD_METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE"])
_ODD_QUERIES = st.sampled_from(ODD_QUERIES + [""])
_WRONG_METHODS = st.sampled_from(["PATCH", "DELETE", "PUT", "POST", "OPTIONS", "HEAD"])
_WRONG_PATHS = st.sampled_from(["collection", "member", "model", "bindings"])
# PUT /v2.0/astara_port_bindings: an admin's (a member's is refused whatever it names)
_BINDING = st.one_of(st.fixed_dictionaries({"port_id": refs("ports"),
                                            "host": st.text(max_size=8)}), junk)
_BINDINGS = st.one_of(st.fixed_dictionaries({"bindings": st.lists(_BINDING, max_size=4)}),
                      junk)
_ONE_IN_10 = st.integers(0, 9)
_HEADERS = st.sampled_from(HEADER_SETS)


@st.composite
def requests(draw) -> Request:
    actor = draw(_ACTORS)
    kind = draw(_KINDS)
    member = [kind, draw(refs(kind))]
    shape = draw(_SHAPES)
    req = Request(actor, "GET", [kind])
    if shape == "list":
        req.query = draw(_LIST_QUERY)
    elif shape == "show":
        req.path, req.query = member, draw(_SHOW_QUERY)
    elif shape == "create":
        req.method, req.body = "POST", {SINGULAR[kind]: draw(BODIES[kind])}
    elif shape == "bulk":
        req.method, req.body = "POST", {kind: draw(BULK[kind])}
    elif shape == "update":
        req.method, req.path = "PUT", member
        req.body = {SINGULAR[kind]: draw(BODIES[kind])}
    elif shape == "good_create":
        req.method, req.body = "POST", {SINGULAR[kind]: draw(GOOD_CREATE[kind])}
    elif shape == "good_update":
        req.method, req.path = "PUT", [kind, draw(_own(kind))]
        req.body = {SINGULAR[kind]: draw(GOOD_UPDATE[kind])}
    elif shape == "good_iface":
        req.method = "PUT"
        req.path = ["routers", draw(_own("routers")), draw(_ACTIONS)]
        req.body = draw(_GOOD_IFACE)
    elif shape == "delete":
        req.method, req.path = "DELETE", member
    elif shape == "iface":
        req.method = "PUT"
        req.path = ["routers", draw(refs("routers")), draw(_ACTIONS)]
        which = draw(_IFACE_KEYS)
        body: dict[str, Any] = {}
        if which in ("subnet_id", "both"):
            body["subnet_id"] = draw(_IFACE_SUBNET)
        if which in ("port_id", "both"):
            body["port_id"] = draw(_IFACE_PORT)
        req.body = body if draw(_BODY_OR_JUNK) else draw(junk)
    elif shape == "model":
        req.path = ["routers", draw(refs("routers")), "astara_model"]
    elif shape == "bindings":
        req.method, req.path, req.body = "PUT", ["astara_port_bindings"], draw(_BINDINGS)
    elif shape == "raw":
        req.method = draw(_WRITE)
        req.path = [kind] if req.method == "POST" else member
        req.body = Raw(draw(_RAW_NAMES))
    elif shape == "odd":
        req.path, req.method = [Raw(draw(_ODD_PATHS))], draw(_ODD_METHODS)
        req.raw_query = draw(_ODD_QUERIES)
        if req.method in ("POST", "PUT"):
            req.body = {SINGULAR[kind]: {}}
    else:  # a method the route does not have
        req.method = draw(_WRONG_METHODS)
        req.path = {"collection": [kind], "member": member,
                    "model": ["routers", draw(refs("routers")), "astara_model"],
                    "bindings": ["astara_port_bindings"]}[draw(_WRONG_PATHS)]
    if draw(_ONE_IN_10) == 0:
        req.headers = dict(draw(_HEADERS))
    return req
