"""Nova's ``os-server-groups``: request bodies and views by microversion. Pure.

Read by ``routes`` (create, list, show, delete) and ``service`` (which stores groups
and their members, and hands a group's policy to ``placement.choose``). Before 2.64 a
group has ``policies`` (a list of one); from 2.64 ``policy`` and ``rules``
(``max_server_per_host``, anti-affinity only). ``soft-anti-affinity`` and
``soft-affinity`` exist from 2.15. Quotas are Nova's defaults (``MAX_GROUPS`` per
project, ``MAX_MEMBERS`` per group), fixed here; a project whose instances are
unlimited (``quota_instances_overrides`` -1) has unlimited groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from astara.compute_service.api import bodies, errors

HARD = ("anti-affinity", "affinity")
SOFT = ("soft-anti-affinity", "soft-affinity")
MAX_GROUPS = 10  # Nova's [quota] server_groups
MAX_MEMBERS = 10  # Nova's [quota] server_group_members
GROUPS_OVER = "Quota exceeded, too many server groups."
MEMBERS_OVER = "Quota exceeded, too many servers in group"


@dataclass(frozen=True)
class GroupRequest:
    name: str
    policy: str
    max_server_per_host: int | None = None


def not_found(group_id: str) -> errors.NotFound:
    return errors.NotFound(f"Instance group {errors.shown(group_id)} could not be found.")


def policies(version: tuple[int, int]) -> tuple[str, ...]:
    return HARD + SOFT if version >= (2, 15) else HARD


def _type(value: Any, kind: str) -> str:
    return f"{errors.shown(value)} is not of type '{kind}'"


def parse_create(body: Any, version: tuple[int, int]) -> GroupRequest:
    if not isinstance(body, dict) or not isinstance(body.get("server_group"), dict):
        raise errors.BadRequest("Invalid input for field/attribute server_group. "
                                "'server_group' is a required property")
    group = body["server_group"]
    # Nova's parameter_types.name, as for servers: NUL and control characters are refused.
    name = bodies.name(group.get("name"))
    allowed = policies(version)
    if version >= (2, 64):
        extra = set(group) - {"name", "policy", "rules"}
        if extra:
            raise errors.BadRequest("Invalid input for field/attribute server_group. "
                                    "Additional properties are not allowed "
                                    f"({errors.shown(sorted(extra)[0])} was unexpected)")
        policy = group.get("policy")
        if policy not in allowed:
            raise errors.invalid("policy", policy,
                                 f"{errors.shown(policy)} is not one of {list(allowed)}")
        return GroupRequest(name, policy, _rules(group.get("rules", {}), policy))
    extra = set(group) - {"name", "policies"}
    if extra:
        raise errors.BadRequest("Invalid input for field/attribute server_group. "
                                "Additional properties are not allowed "
                                f"({errors.shown(sorted(extra)[0])} was unexpected)")
    value = group.get("policies")
    if not isinstance(value, list) or len(value) != 1 or value[0] not in allowed:
        raise errors.invalid("policies", value,
                             f"{errors.shown(value)} is not a list of one of {list(allowed)}")
    return GroupRequest(name, value[0])


def _rules(rules: Any, policy: str) -> int | None:
    if not isinstance(rules, dict):
        raise errors.invalid("rules", rules, _type(rules, "object"))
    if not rules:
        return None
    if policy != "anti-affinity":
        raise errors.BadRequest("Only anti-affinity policy supports rules.")
    extra = set(rules) - {"max_server_per_host"}
    if extra:
        raise errors.BadRequest("Invalid input for field/attribute rules. Additional "
                                f"properties are not allowed ({errors.shown(sorted(extra)[0])}"
                                " was unexpected)")
    n = rules["max_server_per_host"]
    # ASCII digits only and bounded: str.isdigit() accepts "²" and int() refuses 4300+ digits.
    if isinstance(n, str) and re.fullmatch(r"[0-9]{1,10}", n):
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 2**31 - 1:
        raise errors.invalid("max_server_per_host", n,
                             f"{errors.shown(n)} is not a positive integer")
    return n


def view(group, members: list[str], version: tuple[int, int]) -> dict:
    """``group``: a ``models.ServerGroup``; ``members``: its live instances' ids."""
    body: dict[str, Any] = {"id": group.id, "name": group.name}
    if version >= (2, 64):
        body["policy"] = group.policy
        body["rules"] = {"max_server_per_host": group.max_server_per_host} \
            if group.max_server_per_host is not None else {}
    else:
        body["policies"] = [group.policy]
        body["metadata"] = {}
    body["members"] = members
    if version >= (2, 13):
        body["project_id"] = group.project_id
        body["user_id"] = group.user_id
    return body
