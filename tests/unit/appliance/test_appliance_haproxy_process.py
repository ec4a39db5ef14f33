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


def test_a_haproxy_that_wrote_no_pid_file_is_found_by_its_configuration(tmp_path):
    """start() kills what it launched when the pid file never came: found by `-f conf`."""
    import subprocess
    import sys

    from tests.support import wait_for

    from astara.appliance.apply.haproxy_process import _started_on

    conf = tmp_path / "haproxy.cfg"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                              "-f", str(tmp_path / "other.cfg")])
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "-f", str(conf)])
    try:
        def found():
            return [p.pid for p in _started_on(conf)]
        wait_for(lambda: mine.pid in found(), 10, "its command line readable", 0.01)
        assert found() == [mine.pid]
    finally:
        for p in (mine, other):
            p.kill()
            p.wait()
