"""The real daemons' port: `keepalived -t` refusals carry keepalived's words, and a
daemon is recognised only by its pid file *and* its command line."""

import subprocess
import sys

import pytest
from tests.support import wait_for

from astara.appliance.apply.errors import ValidationFailed
from astara.appliance.apply.ha_process import HaProcesses, _started_on


def test_keepalived_refusal_names_the_bad_line(tmp_path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text("global_defs {\n  vrrp_version 3\n}\nvrrp_instance r {\n"
                    "  no_such_keyword 1\n  interface lo\n  virtual_router_id 1\n"
                    "  priority 100\n  advert_int 0.2\n}\n")
    with pytest.raises(ValidationFailed, match="Unknown keyword 'no_such_keyword'"):
        HaProcesses().check_keepalived(conf)


def test_a_daemon_is_known_by_its_pid_file_and_configuration(tmp_path):
    conf, pid_file = tmp_path / "conntrackd.conf", tmp_path / "conntrackd.pid"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "-C", str(conf)])
    try:
        daemons = HaProcesses()
        assert daemons.conntrackd_running(conf, pid_file) is None  # no pid file
        pid_file.write_text(f"{proc.pid}\n")
        # until the child has exec'd, its command line is its parent's
        assert wait_for(lambda: daemons.conntrackd_running(conf, pid_file), 10) == proc.pid
        assert daemons.conntrackd_running(tmp_path / "other.conf", pid_file) is None
        assert daemons.keepalived_running(conf, pid_file) is None  # not `-f conf`
        assert _started_on("-C", conf) == [proc.pid]
        daemons.stop(proc.pid)
        assert proc.poll() is not None
        assert daemons.conntrackd_running(conf, pid_file) is None
    finally:
        proc.kill()
        proc.wait()
