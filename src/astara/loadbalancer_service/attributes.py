"""Request bodies checked as Octavia's WSME types check them (pure).

``parse(resource, body, create)`` takes the parsed JSON of a POST or PUT and returns
the clean values the body set (nothing filled in: defaults are the resources'),
or raises the 400 Octavia answers: an unknown attribute, a value of the wrong type
(named after the whole body, as WSME does), a value out of bounds or not in a
set (named after the attribute), a missing mandatory attribute.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from astara.loadbalancer_service import certificates, errors

MAX_LIST = 100  # tags, cidrs, container refs: bounded, Octavia sets no limit
MAX_TIMEOUT = 24 * 60 * 60 * 1000  # Octavia's MAX_TIMEOUT (ms)
MAX_DELAY = 2**31 - 1

_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


class _TypeError(Exception):
    """A value WSME cannot convert: the error names the whole body."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _TypeError(f"Value not an unambiguous boolean: {errors.shorten(value, 64)}")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _TypeError(f"int() argument must be a string or a real number, not "
                         f"'{type(value).__name__}'")
    if isinstance(value, str):
        try:
            return int(value.strip()) if len(value) < 32 else int("x")
        except ValueError:
            raise _TypeError(f"invalid literal for int() with base 10: "
                             f"'{errors.shorten(value, 64)}'") from None
    return value


@dataclass(frozen=True)
class Field:
    check: Callable[[str, Any], Any]
    create: bool = True
    update: bool = True
    required: bool = False
    nullable: bool = True  # an explicit null is accepted (and means "unset")


def _wrong_type(name: str, value: Any, expected: str) -> errors.BadRequest:
    return errors.invalid_input(name, value, f"Wrong type. Expected '{expected}', got "
                                f"'{type(value).__name__}'")


def string(max_len: int = 255) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _wrong_type(name, value, "str")
        if len(value) > max_len:
            raise errors.invalid_input(name, value, "Value should have a maximum character "
                                       f"requirement of {max_len}")
        return value
    return check


def uuid_(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(name, value, "str")
    try:
        return str(uuid.UUID(value)) if len(value) <= 64 else str(uuid.UUID("x"))
    except ValueError:
        raise errors.invalid_input(name, value, "Value should be UUID format") from None


def ip(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(name, value, "str")
    try:
        return str(ipaddress.ip_address(value if len(value) <= 64 else "x"))
    except ValueError:
        raise errors.invalid_input(name, value, "Value should be IPv4 or IPv6 format") \
            from None


def boolean(name: str, value: Any) -> bool:
    return _bool(value)


def integer(low: int, high: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        number = _int(value)
        if number < low:
            raise errors.invalid_input(name, number, f"Value should be greater or equal to "
                                       f"{low}")
        if number > high:
            raise errors.invalid_input(name, number, f"Value should be lower or equal to "
                                       f"{high}")
        return number
    return check


def enum(*values: str) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _wrong_type(name, value, "str")
        if value not in values:
            raise errors.invalid_input(name, value, "Value should be one of: "
                                       f"{', '.join(values)}")
        return value
    return check


def string_list(item: Callable[[str, Any], Any]) -> Callable[[str, Any], list]:
    def check(name: str, value: Any) -> list:
        if not isinstance(value, list):
            raise _wrong_type(name, value, "list")
        if len(value) > MAX_LIST:
            raise errors.invalid_input(name, f"{len(value)} items",
                                       f"Value should have at most {MAX_LIST} items")
        return [item(name, v) for v in value]
    return check


def tags(name: str, value: Any) -> list[str]:
    return sorted(set(string_list(string(255))(name, value)))


def cidr(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(name, value, "str")
    try:
        return str(ipaddress.ip_network(value if len(value) <= 64 else "x", strict=False))
    except ValueError:
        raise errors.invalid_input(name, value, "Value should be IPv4 or IPv6 CIDR format") \
            from None


def string_dict(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _wrong_type(name, value, "dict")
    if len(value) > MAX_LIST:
        raise errors.invalid_input(name, f"{len(value)} items",
                                   f"Value should have at most {MAX_LIST} items")
    return {string(255)(name, k): string(255)(name, v) for k, v in value.items()}


_CODES = re.compile(r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")


def expected_codes(name: str, value: Any) -> str:
    text = string(64)(name, value)
    if not _CODES.match(text):
        raise errors.invalid_input(name, text, "Value should match the pattern "
                                   r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")
    return text


_URL_PATH = re.compile(r"^/[\x21-\x7e]*$")


def url_path(name: str, value: Any) -> str:
    text = string(2048)(name, value)
    if not _URL_PATH.match(text):
        raise errors.invalid_input(name, text, "Value must be a valid URL Path string")
    return text


def http_version(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _wrong_type(name, value, "float")
    if str(value) in ("1", "1.0"):
        return "1.0"
    if str(value) == "1.1":
        return "1.1"
    raise errors.invalid_input(name, value, "Value should be one of: 1.0, 1.1")


def session_persistence(name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _wrong_type(name, value, "dict")
    known = {"type", "cookie_name", "persistence_timeout", "persistence_granularity"}
    for key in value:
        if key not in known:
            raise errors.unknown_attribute("session_persistence", str(key))
    if value.get("type") is None:
        raise errors.missing("type")
    out = {"type": enum("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")("type", value["type"]),
           "cookie_name": None, "persistence_timeout": None, "persistence_granularity": None}
    if value.get("cookie_name") is not None:
        out["cookie_name"] = string(255)("cookie_name", value["cookie_name"])
        if not re.fullmatch(r"[\x21-\x7e]+", out["cookie_name"]) or any(
                c in out["cookie_name"] for c in '()<>@,;:\\"/[]?={}'):
            raise errors.invalid_input("cookie_name", out["cookie_name"],
                                       "Value should match the pattern of a cookie name")
    if value.get("persistence_timeout") is not None:
        out["persistence_timeout"] = integer(0, 2**31 - 1)(
            "persistence_timeout", value["persistence_timeout"])
    if value.get("persistence_granularity") is not None:
        out["persistence_granularity"] = ip("persistence_granularity",
                                            value["persistence_granularity"])
    return out


def _common(project: bool = True) -> dict[str, Field]:
    out = {"name": Field(string()), "admin_state_up": Field(boolean, nullable=False),
           "tags": Field(tags)}
    if project:
        out["project_id"] = Field(string(), update=False)
        out["tenant_id"] = Field(string(), update=False)
    return out


def tls_ref(name: str, value: Any) -> str:
    """A certificate ref: checked without ever repeating a data URI."""
    if not isinstance(value, str):
        raise errors.invalid_input(name, certificates.redacted(value),
                                   f"Wrong type. Expected 'str', got '{type(value).__name__}'")
    return certificates.check_ref(name, value)


def opaque_ref(name: str, value: Any) -> str:
    """A ref this provider does not serve yet (refused after parsing): a data URI in it
    is never repeated either."""
    if isinstance(value, str) and certificates.is_data_uri(value):
        return value
    if not isinstance(value, str):
        value = certificates.redacted(value)
    return string()(name, value)


def tls_refs(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise errors.invalid_input(name, certificates.redacted(value),
                                   f"Wrong type. Expected 'list', got '{type(value).__name__}'")
    if len(value) > MAX_LIST:
        raise errors.invalid_input(name, f"{len(value)} items",
                                   f"Value should have at most {MAX_LIST} items")
    return [tls_ref(name, v) for v in value]


# In the order Octavia's messages list them.
LISTENER_PROTOCOLS = ("UDP", "HTTPS", "TCP", "HTTP", "SCTP", "PROMETHEUS", "TERMINATED_HTTPS")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP", "UDP", "SCTP")
ALGORITHMS = ("LEAST_CONNECTIONS", "SOURCE_IP", "ROUND_ROBIN", "SOURCE_IP_PORT")
MONITOR_TYPES = ("HTTPS", "HTTP", "TCP", "UDP-CONNECT", "SCTP", "PING", "TLS-HELLO")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
TIMEOUT = integer(0, MAX_TIMEOUT)
PORT = integer(1, 65535)


@dataclass(frozen=True)
class Resource:
    name: str  # the body's key, singular
    plural: str
    argument: str  # the controller argument Octavia's messages name
    fields: dict[str, Field]
    # Accepted by Octavia; here only at their empty value ("not yet" otherwise).
    unsupported: tuple[str, ...] = ()
    # Never repeated in a message (inline certificates and keys): a message echoing
    # the body shows them elided.
    secret: tuple[str, ...] = ()


LOADBALANCER = Resource("loadbalancer", "loadbalancers", "load_balancer", {
    **_common(),
    "description": Field(string()),
    "vip_address": Field(ip, update=False),
    "vip_port_id": Field(uuid_, update=False),
    "vip_subnet_id": Field(uuid_, update=False),
    "vip_network_id": Field(uuid_, update=False),
    "provider": Field(string(64), update=False),
    "flavor_id": Field(uuid_, update=False),
    "availability_zone": Field(string(), update=False),
    "vip_qos_policy_id": Field(uuid_),
    "vip_sg_ids": Field(string_list(uuid_)),
    "additional_vips": Field(string_list(lambda n, v: v), update=False),
    "listeners": Field(string_list(lambda n, v: v), update=False),
    "pools": Field(string_list(lambda n, v: v), update=False),
    "vip_vnic_type": Field(enum("normal"), update=False),
}, unsupported=("vip_qos_policy_id", "vip_sg_ids", "additional_vips", "listeners", "pools",
                "availability_zone"))

LISTENER = Resource("listener", "listeners", "listener_", {
    **_common(),
    "description": Field(string()),
    "loadbalancer_id": Field(uuid_, update=False, required=True),
    "protocol": Field(enum(*LISTENER_PROTOCOLS), update=False, required=True),
    "protocol_port": Field(PORT, update=False, required=True),
    "connection_limit": Field(integer(-1, 2**31 - 1)),
    "default_pool_id": Field(uuid_),
    "insert_headers": Field(string_dict),
    "timeout_client_data": Field(TIMEOUT),
    "timeout_member_connect": Field(TIMEOUT),
    "timeout_member_data": Field(TIMEOUT),
    "timeout_tcp_inspect": Field(TIMEOUT),
    "allowed_cidrs": Field(string_list(cidr)),
    "default_tls_container_ref": Field(tls_ref),
    "sni_container_refs": Field(tls_refs),
    "client_ca_tls_container_ref": Field(opaque_ref),
    "client_authentication": Field(enum("NONE", "OPTIONAL", "MANDATORY")),
    "client_crl_container_ref": Field(opaque_ref),
    "tls_ciphers": Field(string(2048)),
    "tls_versions": Field(string_list(string(32))),
    "alpn_protocols": Field(string_list(string(32))),
    "hsts_max_age": Field(integer(0, 2**31 - 1)),
    "hsts_include_subdomains": Field(boolean),
    "hsts_preload": Field(boolean),
    "default_pool": Field(lambda n, v: v, update=False),
    "l7policies": Field(string_list(lambda n, v: v), update=False),
}, unsupported=("client_ca_tls_container_ref", "client_crl_container_ref", "hsts_max_age",
                "hsts_include_subdomains", "hsts_preload", "default_pool", "l7policies"),
   secret=("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
           "client_crl_container_ref"))

POOL = Resource("pool", "pools", "pool_", {
    **_common(),
    "description": Field(string()),
    "listener_id": Field(uuid_, update=False),
    "loadbalancer_id": Field(uuid_, update=False),
    "protocol": Field(enum(*POOL_PROTOCOLS), update=False, required=True),
    "lb_algorithm": Field(enum(*ALGORITHMS), required=True, nullable=False),
    "session_persistence": Field(session_persistence),
    "tls_enabled": Field(boolean),
    "tls_container_ref": Field(opaque_ref),
    "ca_tls_container_ref": Field(opaque_ref),
    "crl_container_ref": Field(opaque_ref),
    "tls_ciphers": Field(string(2048)),
    "tls_versions": Field(string_list(string(32))),
    "alpn_protocols": Field(string_list(string(32))),
    "healthmonitor": Field(lambda n, v: v, update=False),
    "members": Field(string_list(lambda n, v: v), update=False),
}, unsupported=("tls_enabled", "tls_container_ref", "ca_tls_container_ref",
                "crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols",
                "healthmonitor", "members"),
   secret=("tls_container_ref", "ca_tls_container_ref", "crl_container_ref"))

MEMBER = Resource("member", "members", "member_", {
    **_common(),
    "address": Field(ip, update=False, required=True),
    "protocol_port": Field(PORT, update=False, required=True),
    "weight": Field(integer(0, 256)),
    "backup": Field(boolean),
    "subnet_id": Field(uuid_, update=False),
    "monitor_address": Field(ip),
    "monitor_port": Field(PORT),
    "request_sriov": Field(boolean, update=False),
}, unsupported=("request_sriov",))

HEALTHMONITOR = Resource("healthmonitor", "healthmonitors", "health_monitor_", {
    **_common(),
    "pool_id": Field(uuid_, update=False, required=True),
    "type": Field(enum(*MONITOR_TYPES), update=False, required=True),
    "delay": Field(integer(0, MAX_DELAY), required=True, nullable=False),
    "timeout": Field(integer(0, MAX_DELAY), required=True, nullable=False),
    "max_retries": Field(integer(1, 10), required=True, nullable=False),
    "max_retries_down": Field(integer(1, 10)),
    "http_method": Field(enum(*HTTP_METHODS)),
    "url_path": Field(url_path),
    "expected_codes": Field(expected_codes),
    "http_version": Field(http_version),
    "domain_name": Field(string()),
})



def url(name: str, value: Any) -> str:
    """An absolute http(s) URL (Octavia's URLType), printable, without spaces."""
    text = string(255)(name, value)
    try:
        parts = urlsplit(text) if re.fullmatch(r"[\x21-\x7e]+", text) else None
    except ValueError:  # e.g. an unclosed IPv6 host ("http://[::1")
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.invalid_input(name, text, "Value must be a valid URL string")
    return text


def one_of_ints(*values: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        number = _int(value)
        if number not in values:
            raise errors.invalid_input(name, number, "Value should be one of: "
                                       f"{', '.join(str(v) for v in values)}")
        return number
    return check


L7_ACTIONS = ("REDIRECT_PREFIX", "REDIRECT_TO_POOL", "REDIRECT_TO_URL", "REJECT")
REDIRECT_CODES = (301, 302, 303, 307, 308)
L7RULE_TYPES = ("PATH", "SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "FILE_TYPE", "HEADER",
                "HOST_NAME", "COOKIE", "SSL_DN_FIELD")
L7RULE_COMPARES = ("CONTAINS", "REGEX", "ENDS_WITH", "EQUAL_TO", "STARTS_WITH")
MAX_POSITION = 2**31 - 1  # Octavia's MAX_POLICY_POSITION: "at the end"

L7POLICY = Resource("l7policy", "l7policies", "l7policy_", {
    **_common(),
    "description": Field(string()),
    "listener_id": Field(uuid_, update=False, required=True),
    "action": Field(enum(*L7_ACTIONS), required=True, nullable=False),
    "redirect_pool_id": Field(uuid_),
    "redirect_url": Field(url),
    "redirect_prefix": Field(url),
    "redirect_http_code": Field(one_of_ints(*REDIRECT_CODES)),
    "position": Field(integer(1, MAX_POSITION)),
    "rules": Field(string_list(lambda n, v: v), update=False),
}, unsupported=("rules",))

L7RULE = Resource("rule", "rules", "rule_", {
    "admin_state_up": Field(boolean, nullable=False),
    "tags": Field(tags),
    "project_id": Field(string(), update=False),
    "tenant_id": Field(string(), update=False),
    "type": Field(enum(*L7RULE_TYPES), required=True, nullable=False),
    "compare_type": Field(enum(*L7RULE_COMPARES), required=True, nullable=False),
    "key": Field(string()),
    "value": Field(string(), required=True, nullable=False),
    "invert": Field(boolean),
})

RESOURCES = {r.plural: r for r in (LOADBALANCER, LISTENER, POOL, MEMBER, HEALTHMONITOR,
                                   L7POLICY, L7RULE)}


def _empty(value: Any) -> bool:
    return value in (None, [], {}, False, "")


def parse(resource: Resource, body: Any, create: bool) -> dict[str, Any]:
    """The clean values of ``body`` (``{"<name>": {...}}``) for a create or an update."""
    argument = resource.argument
    if not isinstance(body, dict) or resource.name not in body:
        for key in body if isinstance(body, dict) else ():
            raise errors.unknown_attribute(argument, str(key))
        raise errors.invalid_input(argument, certificates.redacted(body),
                                   "Mandatory field missing.")
    return parse_item(resource, body[resource.name], create, body)


def parse_item(resource: Resource, item: Any, create: bool, whole: Any) -> dict[str, Any]:
    argument = resource.argument
    if resource.secret:
        whole = certificates.redacted(whole)
    if not isinstance(item, dict):
        raise errors.invalid_input(argument, whole, f"unable to convert to "
                                   f"{resource.name}: not an object")
    for key in item:
        field = resource.fields.get(key) if isinstance(key, str) else None
        if field is None or not (field.create if create else field.update):
            raise errors.unknown_attribute(f"{argument}.{resource.name}", str(key))
    out: dict[str, Any] = {}
    for key, value in item.items():
        field = resource.fields[key]
        if value is None:
            if not field.nullable:
                raise errors.invalid_input(key, "None", "Mandatory field missing.")
            out[key] = None
            continue
        try:
            out[key] = field.check(key, value)
        except _TypeError as exc:
            raise errors.invalid_input(argument, whole, str(exc)) from None
    if create:
        for key, field in resource.fields.items():
            if field.required and out.get(key) is None:
                raise errors.missing(key)
    for key in resource.unsupported:
        if key in out and not _empty(out[key]):
            raise errors.unsupported(f"{key} (not yet)")
    if "tenant_id" in out:
        out.setdefault("project_id", out.pop("tenant_id"))
        out.pop("tenant_id", None)
    return out
