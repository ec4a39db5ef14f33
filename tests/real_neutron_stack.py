"""A real neutron-server and Astara around it, on loopback (root): for the end-to-end
test (tests/functional/e2e/test_e2e_real_neutron.py) and bench/real_neutron.py.

RabbitMQ (tools/rabbitmq-loopback), Keystone (tools/keystone-loopback, its catalog
naming that Neutron), Neutron 29.0.0 (tools/neutron-loopback: keystone auth,
notifications to that RabbitMQ, its own PostgreSQL), then ``tools/aio --keystone``
with ``[bus] transport = amqp``: the orchestrator and compute service find Neutron in
the catalog. Astara's own network API runs too (astara-aio starts it) but nothing
is pointed at it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.support import quiet_port

REPO = Path(__file__).parents[1]


def tool(name: str, *args: str, env: dict | None = None) -> str:
    done = subprocess.run([str(REPO / "tools" / name), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)}: {done.stderr[-3000:]}")
    return done.stdout.strip()


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tools/aio exited:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} never opened:\n{log.read_text()[-4000:]}")


def rpc_view(state: Path, rpc: str, router_id: str) -> dict | None:
    """The orchestrator's view of one router (its RPC API), or None while it is down."""
    token = (state / "rpc_auth_token").read_text().strip()
    try:
        routers = httpx.get(f"{rpc}/routers/", headers={"X-Auth-Token": token},
                            timeout=5).json()["routers"]
    except httpx.TransportError:
        return None
    return next((r for r in routers if r["id"] == router_id), None)


def configured(state: Path, rpc: str, router_id: str) -> bool:
    """The router's appliance booted and configured: its last step ``Alive``."""
    view = rpc_view(state, rpc, router_id)
    return bool(view and view["steps"] and view["steps"][-1]["step"] == "Alive")


@contextlib.contextmanager
def running(state: Path, aio_conf: Callable[[Path, dict], Path]
            ) -> Iterator[tuple[dict[str, int], float]]:
    """Yields the ports and the harness's start-up time (s); stops everything it
    started (by the PIDs the tools recorded). ``aio_conf(state, ports)`` writes the
    base astara-aio config."""
    t0 = time.monotonic()
    names = ("net", "comp", "meta", "rpc", "lb", "dash", "keystone", "neutron")
    picked: set[int] = set()
    while len(picked) < len(names):  # distinct: each pick is free, not yet bound
        picked.add(quiet_port())
    ports = dict(zip(names, sorted(picked), strict=True))
    ks_env = {"KEYSTONE_PORT": str(ports["keystone"]),
              "ASTARA_NETWORK_URL": f"http://127.0.0.1:{ports['neutron']}",
              "ASTARA_COMPUTE_URL": f"http://127.0.0.1:{ports['comp']}/v2.1",
              "ASTARA_LOADBALANCER_URL": f"http://127.0.0.1:{ports['lb']}"}
    rabbit, neutron, ks = state / "rabbit", state / "neutron", state / "keystone"
    proc = None
    try:
        transport = tool("rabbitmq-loopback", "start", str(rabbit))
        # Keystone first (Neutron checks tokens as its astara user), then halted:
        # tools/aio starts it again on the same directory, port and data.
        tool("keystone-loopback", "start", str(ks), env=ks_env)
        tool("neutron-loopback", "start", str(neutron), env={
            "NEUTRON_PORT": str(ports["neutron"]), "NEUTRON_KEYSTONE_DIR": str(ks),
            "NEUTRON_TRANSPORT_URL": transport})
        tool("keystone-loopback", "halt", str(ks))
        conf = aio_conf(state, ports)
        conf.write_text(conf.read_text() + f"""[DEFAULT]
transport_url = {transport}
[bus]
transport = amqp
[oslo_messaging_rabbit]
amqp_durable_queues = true
""")
        log = state / "aio.log"
        env = {**os.environ, "ASTARA_STATE_PATH": str(state), **ks_env}
        with open(log, "w") as out:
            # Its own session: SIGTERM to the group reaches the script and astara-aio.
            proc = subprocess.Popen([str(REPO / "tools" / "aio"), "--keystone",
                                     "--config-file", str(conf)], stdout=out,
                                    stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        _wait_port(ports["rpc"], proc, log, timeout=600)
        yield ports, time.monotonic() - t0
    finally:
        if proc is not None:
            # tools/aio may have exited already: the stops below must still run.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name, where in (("keystone-loopback", ks), ("neutron-loopback", neutron),
                            ("rabbitmq-loopback", rabbit)):
            subprocess.run([str(REPO / "tools" / name), "stop", str(where)], check=False,
                           capture_output=True)
