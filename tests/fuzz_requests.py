"""Hypothesis strategies for fuzzing an HTTP API, and the seed every fuzz run prints.

Shared by the control-plane fuzz suites (RPC API, appliance API): a request is a
method, a path (a known route, a known route with a hostile id, or garbage), a
credential (none, wrong, right) and a body (none, random bytes, random JSON,
deeply nested JSON, an oversized body, or a known-good document with one value
replaced). ``run_seed()`` reads ``ASTARA_FUZZ_SEED`` (or draws one) so a run can
be repeated exactly.
"""

from __future__ import annotations

import json
import os
import random
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")
# No shrinking: a failure prints its example and the seed repeats the run; shrinking
# thousands of requests would take longer than the run.
SETTINGS = dict(deadline=None, database=None, print_blob=True,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def run_seed() -> int:
    return int(os.environ.get("ASTARA_FUZZ_SEED") or random.SystemRandom().randrange(2**32))


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, **SETTINGS)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
                | st.floats(allow_nan=False) | st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=8)

# Strings that broke APIs before: huge, lone surrogates, NUL, path tricks.
nasty_texts = st.sampled_from([
    "", " ", "\x00", "\ud800", "..", "../..", "%2e%2e", "a" * 5000, "\u202e", "x\r\ny",
    "'; DROP TABLE x; --", "{}", "[]", "1e999", "-1", "9" * 40, "\N{PILE OF POO}",
]) | st.text(max_size=60)


def segment() -> st.SearchStrategy[str]:
    """One path segment, percent-encoded so it stays one segment."""
    return nasty_texts.map(lambda s: urllib.parse.quote(
        s.encode("utf-8", "surrogatepass"), safe=""))


def raw_json(value: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes: valid JSON text, hostile value
    return json.dumps(value).encode()


def deep(depth: int, kind: str) -> bytes:
    return (b"[" * depth + b"]" * depth) if kind == "list" else (
        b'{"a":' * depth + b"1" + b"}" * depth)


def bodies(max_body: int, good_documents: st.SearchStrategy[dict] | None = None
           ) -> st.SearchStrategy[bytes | None]:
    """Mostly small bodies; now and then a deep, oversized or malformed one."""
    kinds = {
        "none": st.none(),
        "bytes": st.binary(max_size=200),
        "json": json_values.map(raw_json),
        "deep": st.builds(deep, st.sampled_from([1000, 100_000]),
                          st.sampled_from(["list", "dict"])),
        "broken": st.sampled_from([b"{", b'{"a": }', b"\xff\xfe", b"null", b"1e99999",
                                   b'"\\ud800"', b"\x00", b"NaN", b'{"version": "1"}',
                                   b" " * 10]),
        "big": st.sampled_from([max_body, max_body + 1]).map(
            lambda n: b'"' + b"a" * (n - 2) + b'"'),
    }
    weights = (["none"] * 25 + ["bytes"] * 12 + ["json"] * 25 + ["deep"] * 2
               + ["broken"] * 5 + ["big"])
    if good_documents is not None:
        kinds["document"] = good_documents.map(raw_json)
        weights += ["document"] * 30
    return st.sampled_from(weights).flatmap(kinds.__getitem__)


def mutated(document: dict) -> st.SearchStrategy[dict]:
    """``document`` with one value somewhere replaced by arbitrary JSON (or a key dropped)."""
    paths = list(_paths(document))

    def apply(path: tuple, value: Any, drop: bool) -> dict:
        doc = json.loads(json.dumps(document))
        target = doc
        for key in path[:-1]:
            target = target[key]
        if drop and isinstance(target, dict):
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
        return doc

    return st.builds(apply, st.sampled_from(paths), json_values | nasty_texts, st.booleans())


def _paths(value: Any, prefix: tuple = ()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def requests(routes: list[tuple[str, str]], credentials: st.SearchStrategy[dict[str, str]],
             body: st.SearchStrategy[bytes | None]) -> st.SearchStrategy[Request]:
    """``routes`` are (method, path template) with ``{}`` where an id goes."""
    def fill(route: tuple[str, str]) -> st.SearchStrategy[tuple[str, str]]:
        holes = route[1].count("{}")  # draw only the ids the route has room for
        return st.lists(segment(), min_size=holes, max_size=holes).map(
            lambda ids: (route[0], route[1].format(*ids)))

    known = st.sampled_from(routes).flatmap(fill)
    # Each part non-empty: a path starting with "//" is not one an HTTP client sends.
    garbage = st.builds(lambda parts: ("/" + "/".join(parts)),
                        st.lists(segment().filter(bool), max_size=4))
    method_path = st.one_of(
        known, known.flatmap(lambda mp: st.tuples(st.sampled_from(METHODS), st.just(mp[1]))),
        st.tuples(st.sampled_from(METHODS), garbage))
    extra = st.one_of(st.just({}), st.builds(
        lambda k, v: {k: v},
        st.sampled_from(["Content-Type", "Accept", "X-Roles", "Content-Encoding",
                         "X-Forwarded-For"]),
        st.sampled_from(["application/json", "text/plain", "gzip", "admin", "*/*",
                         "application/x-www-form-urlencoded", "127.0.0.1", "x" * 200])))
    return st.builds(lambda mp, cred, more, b: Request(mp[0], mp[1], {**more, **cred}, b),
                     method_path, credentials, extra, body)
