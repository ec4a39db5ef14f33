"""``[bus] transport = amqp`` for the compute dispatcher refuses queues that a broker
restart loses (a config error, one line), and takes durable or quorum ones."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from oslo_config import cfg

from astara.common.entry import ConfigError
from astara.compute_service import settings

AMQP = SimpleNamespace(bus=SimpleNamespace(transport="amqp"))


def conf(tmp_path, rabbit: str) -> cfg.ConfigOpts:
    path = tmp_path / "c.conf"
    path.write_text("[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:1/\n"
                    f"[oslo_messaging_rabbit]\n{rabbit}\n")
    c = cfg.ConfigOpts()
    c(args=[], default_config_files=[str(path)])
    return c


def test_non_durable_queues_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="amqp_durable_queues"):
        settings.bus_transport(conf(tmp_path, ""), AMQP)


@pytest.mark.parametrize("rabbit", ["amqp_durable_queues = true", "rabbit_quorum_queue = true"])
def test_durable_or_quorum_queues_start(tmp_path, rabbit):
    c = conf(tmp_path, rabbit)
    settings.bus_transport(c, AMQP).cleanup()
    assert c.oslo_messaging_rabbit.rabbit_qos_prefetch_count == settings.PREFETCH
