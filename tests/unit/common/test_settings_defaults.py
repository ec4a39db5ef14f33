"""Every option default is written once, in its oslo.config option.

The settings dataclasses have no defaults of their own, and ``defaults()`` gives
exactly what an empty configuration gives: the oslo options' defaults.
"""

import dataclasses
import inspect
import os
import socket
from pathlib import Path

import pytest

from astara.common import opts as common_opts
from astara.common import settings as common
from astara.compute_service import opts as compute_opts
from astara.compute_service import settings as compute
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.orchestrator import intake
from astara.orchestrator import opts as orch_opts
from astara.orchestrator.drivers.router import Management
from astara.orchestrator.reconcile import model
from astara.orchestrator.reconcile.breaker import BreakerSettings
from astara.orchestrator.reconcile.observe import ManagementSettings


@pytest.mark.parametrize("cls", [common.Settings, common.DatabaseSettings, common.BusSettings,
                                 common.NetworkServiceSettings, compute.ComputeSettings,
                                 orch_opts.OrchestratorSettings, model.Settings,
                                 ManagementSettings, Management, dispatcher.RetryPolicy,
                                 BreakerSettings])
def test_settings_dataclasses_have_no_defaults_of_their_own(cls):
    own = [f.name for f in dataclasses.fields(cls)
           if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert own == []


def typed(opt) -> object:
    """An option's default as oslo.config hands it over ($state_path resolved)."""
    value = opt.default
    if isinstance(value, str):
        value = value.replace("$state_path", common_opts.DEFAULT_STATE_PATH)
        value = opt.type(value)
    return value


def test_common_defaults_are_the_options_defaults():
    d = common.defaults()
    by_dest = {o.dest: typed(o) for o in common_opts.network_service_opts
               if o.dest != "workers"}
    assert {k: getattr(d.network, k) for k in by_dest} == by_dest
    assert d.network.host == socket.gethostname()  # host = "" means the hostname
    assert d.network.workers == (os.cpu_count() or 1)  # workers = 0: one per core
    assert d.database.auto_migrate is typed(common_opts.database_opts[1]) is True
    bus = {o.dest: typed(o) for o in common_opts.bus_opts}
    assert {k: getattr(d.bus, k) for k in bus} == bus
    state = Path(common_opts.DEFAULT_STATE_PATH)
    assert (d.state_path, d.debug) == (state, False)
    assert d.database.url == common.sqlite_url(state)
    assert d.bus.wakeup_dir == state / "bus"


def test_compute_defaults_are_the_options_defaults():
    d = compute.defaults()
    for opt in compute_opts.compute_opts:
        value = getattr(d, opt.dest)
        if opt.dest == "quota_instances_overrides":
            assert dict(value) == {k: int(v) for k, v in opt.default.items()}
        elif opt.dest == "reconcile_fix":
            assert value == frozenset(opt.default)
        elif opt.dest == "management_address_host":  # comma-separated names
            assert value == tuple(n for n in opt.default.split(",") if n)
        else:
            assert value == typed(opt), opt.dest
    assert d.state_dir == Path(common_opts.DEFAULT_STATE_PATH) / "compute"


def test_orchestrator_defaults_are_the_options_defaults():
    d = orch_opts.defaults()
    for opt in orch_opts.OPTS:
        value = getattr(d, opt.dest)
        if opt.dest == "rpc_hosts":
            assert value == tuple(opt.default)
        elif opt.dest == "num_worker_processes":
            assert opt.default == 0 and value == (os.cpu_count() or 1)  # 0: one per core
        else:
            assert value == typed(opt), opt.dest
    assert d.rpc_auth_token_file == "/var/lib/astara/rpc_auth_token"


def test_the_orchestrator_recognises_notifications_of_its_own_calls():
    headers = orch_opts.defaults().service_headers
    message = {"_context_user_id": headers["X-User-Id"], intake.ADMIN_KEY: True}
    assert intake.is_own_write(message, orch_opts.SERVICE_USER)


def orchestrator_option(name: str) -> object:
    [opt] = [o for o in orch_opts.OPTS if o.dest == name]
    return typed(opt)


def test_plan_defaults_are_the_options_defaults():
    d = orch_opts.plan_defaults()
    for f in dataclasses.fields(d):
        if f.name == "boot_check_interval":  # not an option
            assert d.boot_check_interval == model.BOOT_CHECK_INTERVAL
        elif f.name == "max_error_cooldown":  # not an option: "capped at an hour"
            assert d.max_error_cooldown == model.MAX_ERROR_COOLDOWN == 3600.0
        else:
            assert getattr(d, f.name) == orchestrator_option(f.name), f.name


def test_management_defaults_are_the_options_defaults():
    d = orch_opts.management_defaults()
    assert d == ManagementSettings(orchestrator_option("management_address"),
                                   orchestrator_option("metadata_port"),
                                   orchestrator_option("management_prefix"))


def test_the_dispatcher_retry_policy_defaults_are_the_options_defaults():
    p = compute.default_retry_policy()
    by_dest = {o.dest: typed(o) for o in compute_opts.compute_opts}
    assert (p.max_attempts, p.delay, p.max_delay) == (
        by_dest["dispatcher_max_attempts"], by_dest["dispatcher_retry_delay"],
        dispatcher.MAX_RETRY_DELAY)


@pytest.mark.parametrize("fn", [dispatcher.make, dispatcher.Dispatcher])
def test_the_dispatcher_takes_its_settings_from_the_caller(fn):
    params = inspect.signature(fn).parameters
    assert all(params[name].default is inspect.Parameter.empty
               for name in ("policy", "max_idle_wait"))
