"""L7 rules: the conditions of an L7 policy (all of a policy's rules must match).

``check`` validates a rule's values as Octavia does (a key for HEADER and COOKIE, the
characters a comparison value may hold, a regular expression that compiles, FILE_TYPE
compared only with EQUAL_TO or REGEX) and refuses, as the astara provider, what the
appliance cannot serve: the SSL_* types (they need client certificate authentication,
``client_ca_tls_container_ref``, which is not yet) and values or
names haproxy's configuration would need quoted. Pure.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources.base import (
    Op,
    apply_update,
    check_quota,
    intent_changed,
    new_row,
    parent,
    remove,
    touch_loadbalancer,
)

MAX_PER_POLICY = 50  # Octavia's MAX_L7RULES_PER_L7POLICY
UPDATABLE = ("admin_state_up", "tags", "type", "compare_type", "key", "value", "invert")
SSL_TYPES = ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD")
KEYED = ("HEADER", "COOKIE")
# Octavia's constants: a header name (an HTTP token), a header value (printable, no
# space) or a quoted one, a cookie value.
PCRE_MAX_REPEAT = 65535  # PCRE2's largest {n} (Python's re takes more)
_REPEATS = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_TOKEN = re.compile(r"\A[a-zA-Z0-9!#$%&'*+-.^_`|~]+\Z")
_VALUE = re.compile(r"\A[\x21-\x7e]+\Z")
_QUOTED = re.compile(r"\A\"[ \t\x21-\x7e]*\"\Z")
_COOKIE = re.compile(r"\A[a-zA-Z0-9!#$%&'()*+-./:<=>?@\[\]^_`{|}~]+\Z")
# What the appliance takes (wire.loadbalancer_config): a printable word, a plain name.
_SERVED_VALUE = re.compile(r"\A[\x21-\x7e]{1,255}\Z")
_SERVED_NAME = re.compile(r"\A[A-Za-z0-9_.-]{1,255}\Z")


def _parsing(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"Error parsing L7Rule: {message}")


def _invalid(message: str) -> errors.BadRequest:
    return _parsing(f"Invalid L7 Rule: {message}")


def check(rule: dict) -> None:
    """The whole rule (after an update: merged with the stored one), or its 400."""
    type_, compare, key, value = (rule["type"], rule["compare_type"], rule.get("key"),
                                  rule.get("value"))
    if type_ in SSL_TYPES:
        raise errors.unsupported(f"L7 rule type {type_} (client certificate "
                                 "authentication: not yet)")
    if not value:
        raise _invalid("L7 rule type requires a value")
    if type_ in KEYED:
        if not key:
            raise _invalid("L7 rule type requires a key")
        if not _TOKEN.match(key):
            raise _parsing("Invalid characters in header name")
    if type_ == "FILE_TYPE" and compare not in ("EQUAL_TO", "REGEX"):
        raise _invalid("invalid comparison type for rule type")
    if compare == "REGEX":
        try:
            re.compile(value)
        except (re.error, OverflowError, RecursionError) as exc:
            raise _parsing(f"Unable to parse regular expression: {exc}") from None
        if any(int(n) > PCRE_MAX_REPEAT for pair in _REPEATS.findall(value)
               for n in pair if n):
            # haproxy's PCRE2 refuses the document ("number too big in {} quantifier"):
            # the load balancer would stay in ERROR until the rule went.
            raise _parsing("Unable to parse regular expression: a repeat count above "
                           f"{PCRE_MAX_REPEAT}")
    elif type_ == "COOKIE":
        if not _COOKIE.match(value):
            raise _parsing("Invalid characters in cookie value")
    elif not (_VALUE.match(value) or _QUOTED.match(value)):
        raise _parsing("Invalid characters in comparison value")
    if not _SERVED_VALUE.match(value):
        raise errors.unsupported("L7 rule values with spaces or non-ASCII characters "
                                 "(not yet)")
    if type_ in KEYED and not _SERVED_NAME.match(key):
        raise errors.unsupported("header or cookie names with characters other than "
                                 "letters, digits, '_', '.' and '-' (not yet)")


def _whole(row: m.L7Rule | None, data: dict) -> dict:
    out = {k: getattr(row, k) for k in ("type", "compare_type", "key", "value")} \
        if row is not None else {}
    out.update({k: data[k] for k in ("type", "compare_type", "key", "value") if k in data})
    return out


def create(op: Op, policy: m.L7Policy, lb: m.LoadBalancer, data: dict) -> m.L7Rule:
    s = op.session
    check(_whole(None, data))
    used = s.scalar(select(func.count()).select_from(m.L7Rule)
                    .where(m.L7Rule.l7policy_id == policy.id)) or 0
    if used >= MAX_PER_POLICY:
        raise errors.Conflict(f"Too many rules on L7 policy {policy.id}")
    check_quota(op, lb.project_id, "l7rule")
    row = new_row(m.L7Rule, lb.project_id, l7policy_id=policy.id,
                  admin_state_up=data.get("admin_state_up", True), tags=data.get("tags") or [],
                  type=data["type"], compare_type=data["compare_type"], key=data.get("key"),
                  value=data["value"], invert=bool(data.get("invert") or False))
    s.add(row)
    intent_changed(policy)
    touch_loadbalancer(op, lb)
    s.flush()
    return row


def update(op: Op, row: m.L7Rule, policy: m.L7Policy, lb: m.LoadBalancer,
           data: dict) -> m.LoadBalancer:
    check(_whole(row, data))
    intent_changed(policy)
    return apply_update(op, row, lb, data, UPDATABLE, (("tags", []), ("invert", False)))


def delete_(op: Op, row: m.L7Rule, policy: m.L7Policy, lb: m.LoadBalancer) -> m.LoadBalancer:
    intent_changed(policy)
    return remove(op, row, lb)


def under(op: Op, policy_id: str) -> tuple[m.L7Policy, m.LoadBalancer]:
    """A policy's row and its load balancer's (locked), as a rule's write needs them."""
    policy = parent(op.session, m.L7Policy, policy_id, lock=False)
    listener = parent(op.session, m.Listener, policy.listener_id, lock=False)
    return policy, parent(op.session, m.LoadBalancer, listener.loadbalancer_id)
