"""The pure rules of L7 policies and rules: Octavia's consistent action and targets,
a rule's validation, the URL type."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import attributes as A
from astara.loadbalancer_service import errors
from astara.loadbalancer_service.resources.l7policies import settle
from astara.loadbalancer_service.resources.l7rules import check


@pytest.mark.parametrize("given, expected", [
    ({"action": "REJECT", "redirect_url": "http://a/", "redirect_http_code": 301},
     {"action": "REJECT", "redirect_url": None, "redirect_pool_id": None,
      "redirect_prefix": None, "redirect_http_code": None}),
    ({"redirect_url": "http://a/"},
     {"action": "REDIRECT_TO_URL", "redirect_url": "http://a/", "redirect_pool_id": None,
      "redirect_prefix": None, "redirect_http_code": 302}),
    ({"redirect_prefix": "http://a", "redirect_http_code": 307},
     {"action": "REDIRECT_PREFIX", "redirect_prefix": "http://a", "redirect_pool_id": None,
      "redirect_url": None, "redirect_http_code": 307}),
    ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": "p", "redirect_http_code": 301},
     {"action": "REDIRECT_TO_POOL", "redirect_pool_id": "p", "redirect_url": None,
      "redirect_prefix": None, "redirect_http_code": None}),
    ({"name": "x"}, {"name": "x"}),
])
def test_settle_makes_action_and_targets_consistent(given, expected):
    assert settle(given, create=False) == expected


@pytest.mark.parametrize("given, create, message", [
    ({"action": "REDIRECT_TO_URL"}, True, "Invalid L7 Policy arguments: redirect_url must "
                                          "not be None"),
    ({"action": "REDIRECT_PREFIX"}, True, "Invalid L7 Policy arguments: redirect_prefix "
                                          "must not be None"),
    ({"redirect_pool_id": "p", "redirect_prefix": "http://a"}, False,
     "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or "
     "redirect_prefix at the same time"),
    ({"name": "x"}, True, "Invalid L7 Policy action specified: None"),
    ({}, False, "Invalid L7 Policy arguments: Invalid update options"),
])
def test_settle_refuses_as_octavia(given, create, message):
    with pytest.raises(errors.BadRequest) as err:
        settle(given, create)
    assert err.value.message == message


@pytest.mark.parametrize("rule", [
    {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
    {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
    {"type": "HEADER", "compare_type": "CONTAINS", "key": "X-Test", "value": '"quoted"'},
    {"type": "COOKIE", "compare_type": "REGEX", "key": "sid", "value": "^[a-f0-9]+$"},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg"},
    {"type": "FILE_TYPE", "compare_type": "REGEX", "value": "png|gif"},
])
def test_rules_the_appliance_serves_pass(rule):
    check(rule)


@pytest.mark.parametrize("rule, message", [
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"},
     "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"),
    ({"type": "PATH", "compare_type": "REGEX", "value": "(x"},
     "Error parsing L7Rule: Unable to parse regular expression: missing ), unterminated "
     "subpattern at position 0"),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "a b"},
     "Error parsing L7Rule: Invalid characters in comparison value"),
    ({"type": "FILE_TYPE", "compare_type": "CONTAINS", "value": "jpg"},
     "Error parsing L7Rule: Invalid L7 Rule: invalid comparison type for rule type"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X:Y", "value": "v"},
     "Error parsing L7Rule: Invalid characters in header name"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X|Y", "value": "v"},
     "Provider 'astara' does not support a requested option: header or cookie names with "
     "characters other than letters, digits, '_', '.' and '-' (not yet)"),
    ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "CN", "value": "v"},
     "Provider 'astara' does not support a requested option: L7 rule type SSL_DN_FIELD "
     "(client certificate authentication: not yet)"),
    ({"type": "PATH", "compare_type": "REGEX", "value": "a b"},
     "Provider 'astara' does not support a requested option: L7 rule values with spaces "
     "or non-ASCII characters (not yet)"),
])
def test_rules_refused(rule, message):
    with pytest.raises(errors.BadRequest) as err:
        check(rule)
    assert err.value.message == message


def test_regexes_python_or_haproxy_cannot_take_are_400_never_500():
    for value in ("a{4294967296}", "a{1000000000}", "a{2,70000}"):
        with pytest.raises(errors.BadRequest) as err:
            check({"type": "PATH", "compare_type": "REGEX", "value": value})
        assert err.value.message.startswith(
            "Error parsing L7Rule: Unable to parse regular expression"), value
    check({"type": "PATH", "compare_type": "REGEX", "value": "^/a{1,65535}$"})


@pytest.mark.parametrize("value, ok", [("https://x/", True), ("http://a.b:8080/p?q=1", True),
                                       ("not a url", False), ("ftp://x/", False),
                                       ("http://", False), ("http://a b/", False),
                                       ("http://" + "a" * 300, False),
                                       ("http://[::1", False)])  # urlsplit raises
def test_url(value, ok):
    if ok:
        assert A.url("redirect_url", value) == value
    else:
        with pytest.raises(errors.BadRequest):
            A.url("redirect_url", value)
