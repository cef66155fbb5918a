"""Hosts in Linux network namespaces for the multi-host test (test_multihost.py).

Each host is a network namespace of its own with one address on a bridge that lives in a
"hub" namespace; the root namespace joins the bridge through one veth pair, on which a TCP
forwarder (haproxy in TCP mode) relays Postgres and Redis to 127.0.0.1. The system's Postgres
and Redis keep their configuration; the forwarder listens on the veth address only, so every
packet stays inside the test's namespaces and loopback. The namespaces share the machine's
file system: each host gets its own folders through its environment.

Everything is torn down on exit, on failure too: the processes started in a namespace are
killed (SIGKILL to every pid `ip netns pids` lists) before the namespaces are deleted, which
deletes their veth ends with them.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path


class NetnsUnavailable(Exception):
    """This machine cannot make network namespaces (not root, no `ip netns`, no haproxy)."""


def unavailable_reason() -> str | None:
    """Why the multi-host test cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    if shutil.which("haproxy") is None:
        return "haproxy is not installed (apt-get install haproxy)"
    probe = f"mp-probe-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, command: list[str], *, env: dict, cwd: Path, log: Path) -> subprocess.Popen:
        """Run `command` inside this host's namespace, output to `log`, in its own session."""
        with open(log, "ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, *command],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def routes(self) -> list[str]:
        done = subprocess.run(
            ["ip", "-n", self.namespace, "-4", "route"], capture_output=True, text=True
        )
        return [" ".join(line.split()[:3]) for line in done.stdout.splitlines()]

    def pids(self) -> list[int]:
        done = subprocess.run(
            ["ip", "netns", "pids", self.namespace], capture_output=True, text=True
        )
        return [int(pid) for pid in done.stdout.split()]

    def kill(self) -> None:
        """The host dies: SIGKILL to every process in its namespace, at once."""
        for _ in range(5):  # a process forking meanwhile is caught by the next pass
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        for process in self.processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM to each process group started here (a graceful stop begins)."""
        for process in self.processes:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)

    def stop(self, deadline: float) -> None:
        """Wait for the graceful stop until `deadline` (monotonic), then SIGKILL what is left."""
        for process in self.processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        self.kill()


class Network:
    """A bridge, the root namespace's address on it, and one namespace per host.

    Use as a context manager; `add_host(name)` makes a host. Names are unique per run (a
    random tag), so two runs, or a run next to leftovers of a killed one, never clash.
    """

    def __init__(self):
        self.tag = secrets.token_hex(3)
        self.hub = f"mp-{self.tag}-hub"
        self.subnet = self._free_subnet()
        self.gateway = str(self.subnet.network_address + 1)  # the root namespace's address
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []

    @staticmethod
    def _free_subnet() -> ipaddress.IPv4Network:
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        taken = [
            ipaddress.ip_network(word, strict=False)
            for word in routes.split()
            if "/" in word and word[0].isdigit()
        ]
        for _ in range(100):
            candidate = ipaddress.ip_network(
                f"10.{random.randint(160, 250)}.{random.randint(0, 255)}.0/24"  # noqa: S311
            )
            if not any(candidate.overlaps(net) for net in taken):
                return candidate
        raise RuntimeError("no free 10.x.y.0/24 for the test's bridge")

    def __enter__(self) -> Network:
        try:
            self._add_namespace(self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            root_end = f"mp{self.tag}r"
            _ip("link", "add", root_end, "type", "veth", "peer", "name", "root", "netns", self.hub)
            _ip("-n", self.hub, "link", "set", "root", "master", "br0", "up")
            _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", root_end)
            _ip("link", "set", root_end, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts)
        namespace = f"mp-{self.tag}-{name}"
        address = str(self.subnet.network_address + 10 + index)
        self._add_namespace(namespace)
        hub_end = f"h{index}"
        _ip(
            "-n", self.hub, "link", "add", hub_end, "type", "veth",
            "peer", "name", "eth0", "netns", namespace,
        )  # fmt: skip
        _ip("-n", self.hub, "link", "set", hub_end, "master", "br0", "up")
        _ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        host = Host(name, namespace, address)
        self.hosts[name] = host
        return host

    def stop_hosts(self) -> None:
        """Stop every host's processes, all at once: their graceful stops overlap."""
        for host in self.hosts.values():
            host.terminate()
        deadline = time.monotonic() + 10
        for host in self.hosts.values():
            host.stop(deadline)

    def close(self) -> None:
        self.stop_hosts()
        # Deleting a namespace deletes its veth ends and their peers, but the kernel does it
        # later, in the background: the root's end is deleted now, so none is left behind.
        subprocess.run(["ip", "link", "del", f"mp{self.tag}r"], capture_output=True)
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self._namespaces.clear()


@dataclass
class Haproxy:
    process: subprocess.Popen
    config: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_haproxy(config: str, folder: Path, name: str, *, host: Host | None = None) -> Haproxy:
    """haproxy in the foreground with `config`, in `host`'s namespace (the root's when None)."""
    folder.mkdir(parents=True, exist_ok=True)
    path, log = folder / f"{name}.cfg", folder / f"{name}.log"
    path.write_text(config)
    check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy config {name} refused:\n{check.stdout}{check.stderr}")
    command = ["haproxy", "-db", "-f", str(path)]
    if host is not None:
        process = host.start(command, env=dict(os.environ), cwd=folder, log=log)
    else:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
    return Haproxy(process, path, log)


def forwarder_config(routes: dict[str, tuple[str, int, str, int]]) -> str:
    """haproxy in TCP mode: each route name -> (bind address, port, target address, port).

    Connections stay open as long as their clients want (database pools, the broker's
    long polls): idle timeouts of an hour, far beyond the test.
    """
    lines = [
        "global",
        "  maxconn 4000",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 1h",
        "  timeout server 1h",
    ]
    for name, (bind, port, target, target_port) in routes.items():
        lines += [
            f"listen {name}",
            f"  bind {bind}:{port}",
            f"  server {name} {target}:{target_port}",
        ]
    return "\n".join(lines) + "\n"


def balancer_config(*, bind: str, port: int, servers: dict[str, str], host_header: str) -> str:
    """haproxy balancing HTTP round-robin over `servers` (name -> "address:port").

    GET /api/health every second takes a host out after 2 failures (3 s to answer each). A
    connection refused by a dead host is sent to another one (retries + redispatch): that
    request never reached a server, so it is safe to send again. A request a host received and
    never answered is NOT replayed (that could store a prediction twice): the client gets a 502
    for it. Each answer names the host that gave it in X-MindPulse-Host, so the test knows who
    answered.
    """
    lines = [
        "global",
        "  maxconn 2000",
        "  log stdout format raw local0",  # one line per request in the balancer's log
        "defaults",
        "  mode http",
        "  log global",
        "  option httplog",
        "  timeout connect 2s",
        "  timeout client 60s",
        "  timeout server 60s",
        # A host slow to answer its check under load is busy, not dead: a dead one refuses
        # the connection at once, and its requests go to another host whatever the check says.
        "  timeout check 3s",
        "  retries 3",
        "  option redispatch 1",
        "  retry-on conn-failure",
        "  option forwardfor",
        "frontend web",
        f"  bind {bind}:{port}",
        "  default_backend hosts",
        "backend hosts",
        "  balance roundrobin",
        "  option httpchk",
        f"  http-check send meth GET uri /api/health ver HTTP/1.1 hdr Host {host_header}",
        "  http-response set-header X-MindPulse-Host %s",
    ]
    lines += [
        f"  server {name} {address} check inter 1s fall 2 rise 2"
        for name, address in servers.items()
    ]
    return "\n".join(lines) + "\n"
