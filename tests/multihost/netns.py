"""Small "hosts" made of Linux network namespaces, for tests that run the store across machines.

A :class:`Network` is a bridge in the root namespace with its own /24; each :class:`Host` is a
namespace joined to the bridge by a veth pair, with one address. The test process itself sits
on the bridge (the ``.1`` address), as the buyer's and the operator's machine. Cutting a
host's link (:meth:`Host.link_down`) is pulling its cable: the processes inside keep running
and their connections hang, exactly what a network partition does to a real worker.

Every name a run creates starts with ``ipmh-<pid>-`` (namespaces) or carries that tag as the
link's alias (bridge, veths), so :func:`remove_leftovers` can clear what a crashed run left
behind without touching anything else. Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TAG = "ipmh"


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS`` (inside ``netns`` when given)."""
    argv = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and veth pairs)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    probe = f"{TAG}-probe-{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` does not work here: {made.stderr.strip()}"
    ip("netns", "delete", probe, check=False)
    return None


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_inside(netns: str) -> None:
    """SIGKILL whatever still runs inside ``netns`` (a crashed run's services)."""
    for pid in ip("netns", "pids", netns, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_leftovers() -> list[str]:
    """Delete namespaces (and what runs in them) and links of earlier runs whose test process
    is gone; returns their names."""
    removed = []
    owner = re.compile(rf"^{TAG}-(\d+)-")
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = owner.match(name)
        if match and not _pid_alive(int(match.group(1))):
            kill_inside(name)
            ip("netns", "delete", name, check=False)
            removed.append(name)
    for line in ip("-o", "link", "show").stdout.splitlines():
        alias = re.search(rf"alias ({TAG}-(\d+)-\S*)", line)
        if alias and not _pid_alive(int(alias.group(2))):
            link = line.split(":")[1].strip().split("@")[0]
            ip("link", "delete", link, check=False)
            removed.append(link)
    return removed


def free_subnet() -> ipaddress.IPv4Network:
    """A 10.231.x.0/24 no route of this machine overlaps."""
    routes = [ipaddress.ip_network(r.split()[0], strict=False)
              for r in ip("-4", "route", "show").stdout.splitlines() if r and r.split()[0][0].isdigit()]
    candidates = list(range(1, 255))
    secrets.SystemRandom().shuffle(candidates)
    for third in candidates:
        net = ipaddress.ip_network(f"10.231.{third}.0/24")
        if not any(net.overlaps(route) for route in routes):
            return net
    raise RuntimeError("no free 10.231.x.0/24 subnet")


@dataclass
class Network:
    """A bridge in the root namespace: the switch every host is plugged into."""

    prefix: str
    subnet: ipaddress.IPv4Network
    hosts: list[Host] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge (the test process: buyer and operator)."""
        return str(self.subnet.network_address + 1)

    @classmethod
    def create(cls) -> Network:
        """A fresh bridge with a random short name and a free subnet."""
        # Interface names have at most 15 characters: "mh" + 6 hex + "br", or + "h<octet>p".
        network = cls(prefix=f"mh{secrets.token_hex(3)}", subnet=free_subnet())
        ip("link", "add", network.bridge, "type", "bridge")
        ip("link", "set", network.bridge, "alias", network.alias)
        ip("addr", "add", f"{network.gateway}/{network.subnet.prefixlen}", "dev", network.bridge)
        ip("link", "set", network.bridge, "up")
        return network

    @property
    def alias(self) -> str:
        return f"{TAG}-{os.getpid()}-{self.prefix}"

    def add_host(self, name: str, last_octet: int) -> Host:
        """A namespace with one veth to the bridge and the address ``<subnet>.<last_octet>``."""
        host = Host(name=name, netns=f"{TAG}-{os.getpid()}-{self.prefix}-{name}",
                    address=str(self.subnet.network_address + last_octet),
                    outer=f"{self.prefix}h{last_octet}", prefixlen=self.subnet.prefixlen)
        ip("netns", "add", host.netns)
        self.hosts.append(host)
        inner = f"{host.outer}p"
        ip("link", "add", host.outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", host.outer, "alias", self.alias)
        ip("link", "set", inner, "netns", host.netns)
        ip("link", "set", inner, "name", Host.IFACE, netns=host.netns)
        ip("addr", "add", f"{host.address}/{host.prefixlen}", "dev", Host.IFACE, netns=host.netns)
        ip("link", "set", "lo", "up", netns=host.netns)
        ip("link", "set", Host.IFACE, "up", netns=host.netns)
        ip("link", "set", host.outer, "master", self.bridge)
        ip("link", "set", host.outer, "up")
        return host

    def remove(self) -> None:
        """Delete every host's namespace (its veth goes with it) and the bridge. Never raises."""
        for host in self.hosts:
            kill_inside(host.netns)
            ip("netns", "delete", host.netns, check=False)
            ip("link", "delete", host.outer, check=False)
        ip("link", "delete", self.bridge, check=False)


@dataclass
class Host:
    """One machine: a namespace, its address, the root-side end of its cable (``outer``)."""

    IFACE = "eth0"

    name: str
    netns: str
    address: str
    outer: str
    prefixlen: int

    def command(self, argv: Sequence[str], user: str | None = None) -> list[str]:
        """``argv`` as run inside this host (as ``user`` when given)."""
        inner = ["runuser", "-u", user, "--", *argv] if user else list(argv)
        return ["ip", "netns", "exec", self.netns, *inner]

    def start(self, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None,
              user: str | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process inside this host, its output appended to ``log``."""
        with open(log, "ab") as out:
            return subprocess.Popen(self.command(argv, user), env=dict(env), cwd=cwd, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, user: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command inside this host to its end; raises with its output when it fails."""
        done = subprocess.run(self.command(argv, user), env=dict(env), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(argv)} exited {done.returncode}\n"
                               f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def link_down(self) -> None:
        """Pull the cable: the host's side of its veth goes down."""
        ip("link", "set", self.IFACE, "down", netns=self.netns)

    def link_up(self) -> None:
        ip("link", "set", self.IFACE, "up", netns=self.netns)

    def listening(self) -> list[str]:
        """Local addresses of TCP sockets listening inside this host, as ``ip:port``."""
        out = subprocess.run(["ip", "netns", "exec", self.netns, "ss", "-Hltn"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
        return [line.split()[3] for line in out.splitlines() if line.strip()]


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM the process's group, SIGKILL it if it is still there after ``timeout``. Never raises."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
