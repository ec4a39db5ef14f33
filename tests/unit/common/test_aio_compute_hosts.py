"""``astara-aio --compute-hosts N``: N compute agents, each its own host name."""

from __future__ import annotations

from astara.cli import aio
from astara.common.settings import load
from astara.compute_service import settings as compute_settings


def test_second_agent_is_another_host(tmp_path):
    own = tmp_path / "own.conf"
    own.write_text("[DEFAULT]\nhost = box\n[compute_service]\nagent_metrics_port = 9100\n")
    args = ["--state-path", str(tmp_path), "--config-file", str(own), "--compute-hosts", "2"]
    conf, _ = load(args, prog="t", cli_opts=aio.CLI_OPTS, groups=aio.option_groups())
    agents = aio.compute_agents(conf, tmp_path, conf.compute_hosts)
    assert [name for name, _ in agents] == ["compute-agent", "compute-agent-2"]
    assert agents[0][1] == []
    extra = agents[1][1]
    assert (tmp_path / "aio-compute-2.conf").stat().st_mode & 0o077 == 0
    # what the second agent reads: its own host name, no metrics port of the first's
    _conf, base, compute = compute_settings.load(
        ["--state-path", str(tmp_path), "--config-file", str(own), *extra], prog="t")
    assert compute.host == "box-2" and compute.agent_metrics_port == 0


def test_one_agent_by_default(tmp_path):
    conf, _ = load(["--state-path", str(tmp_path)], prog="t", cli_opts=aio.CLI_OPTS,
                   groups=aio.option_groups())
    assert [n for n, _ in aio.compute_agents(conf, tmp_path, conf.compute_hosts)] == [
        "compute-agent"]


def test_the_children_never_see_aio_s_own_option():
    args = ["--config-file", "a.conf", "--compute-hosts", "2", "--state-path", "/s",
            "--compute-hosts=3"]
    assert aio.children_args(args) == ["--config-file", "a.conf", "--state-path", "/s"]
