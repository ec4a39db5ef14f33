"""Signed sessions and CSRF tokens: what a cookie can and cannot carry."""

from __future__ import annotations

import pytest

from astara.dashboard import session

SECRET = b"k" * 32
WHO = session.Identity("p1", "alice", ("member", "reader"), "nonce-1")


def test_round_trip_and_expiry():
    cookie = session.sign(SECRET, session.new_session(
        session.Identity("p1", "alice", ("member",), "n"), now=1000, max_age=60))
    assert session.identity_of(session.unsign(SECRET, cookie), now=1059).project_id == "p1"
    assert session.identity_of(session.unsign(SECRET, cookie), now=1061) is None


@pytest.mark.parametrize("mangle", [
    lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # signature changed
    lambda c: "e30" + c[3:],                              # payload changed
    lambda c: c.replace(".", ""),                         # no signature
    lambda c: c + "." + c,                                # two signatures
    lambda c: "x" * 5000,                                 # oversized
])
def test_a_tampered_cookie_is_no_session(mangle):
    cookie = session.sign(SECRET, session.new_session(WHO, 0, 60))
    assert session.unsign(SECRET, mangle(cookie)) is None


def test_another_secret_or_purpose_does_not_verify():
    cookie = session.sign(SECRET, {"a": 1})
    assert session.unsign(b"other" * 8, cookie) is None
    assert session.unsign(SECRET, cookie, "flash") is None


@pytest.mark.parametrize("data", [
    {"p": "p1", "u": "u", "r": ["root"], "n": "n", "e": 10**10},   # unknown role
    {"p": "", "u": "u", "r": ["member"], "n": "n", "e": 10**10},    # no project
    {"p": "p1", "u": "u", "r": "admin", "n": "n", "e": 10**10},     # roles not a list
    {"p": "p1", "u": "u", "r": ["member"], "n": "n", "e": "never"},  # bad expiry
])
def test_malformed_session_data_is_no_identity(data):
    assert session.identity_of(data, now=0) is None


def test_csrf_token_is_per_session():
    other = session.Identity("p1", "alice", ("member",), "nonce-2")
    token = session.csrf_token(SECRET, WHO)
    assert session.csrf_ok(SECRET, WHO, token)
    assert not session.csrf_ok(SECRET, other, token)
    assert not session.csrf_ok(SECRET, WHO, "")
    assert not session.csrf_ok(SECRET, WHO, None)


def test_identity_headers_carry_the_session_project():
    assert WHO.headers() == {"X-Project-Id": "p1", "X-User-Id": "alice",
                             "X-Roles": "member,reader"}
    assert not WHO.is_admin


@pytest.mark.parametrize("name,ok", [
    ("p1", True), ("a" * 255, True), ("user@example.org", True), ("9f1c-uuid_x.y:z", True),
    ("", False), ("a" * 256, False), ("two words", False), ("проект", False),
    ("x\r\nX-Roles: admin", False),
])
def test_login_names_fit_a_header(name, ok):
    assert session.valid_name(name) is ok
