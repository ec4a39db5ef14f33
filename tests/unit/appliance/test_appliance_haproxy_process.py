"""What the apply reports when `haproxy -c` refuses a configuration (captured output)."""

from astara.appliance.apply.haproxy_process import reason

REFUSED = """\
[NOTICE]   (555) : haproxy version is 2.6.12-1+deb12u4
[NOTICE]   (555) : path to executable is /usr/sbin/haproxy
[ALERT]    (555) : config : parsing [haproxy.cfg.tmp:20] : error detected while parsing ACL 're' : regex '([' is invalid (error=missing terminating ] for character class, erroffset=2).
[ALERT]    (555) : config : Fatal errors found in configuration.
"""  # noqa: E501


def test_reason_is_haproxys_alerts_without_tags():
    assert reason(REFUSED) == (
        "config : parsing [haproxy.cfg.tmp:20] : error detected while parsing ACL 're' : "
        "regex '([' is invalid (error=missing terminating ] for character class, "
        "erroffset=2).; config : Fatal errors found in configuration.")


def test_reason_without_alerts_is_the_whole_output():
    assert reason("  something else\n") == "something else"
