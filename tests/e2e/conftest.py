"""Shared helpers for monami's end-to-end tests: run the real monami-gw (and friends)
from the build directory, on pcap files or in network namespaces."""
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The helpers the tests share with tools/ (mh_frames, daemon_lab).
sys.path.insert(0, str(ROOT / "tools"))
BUILD = Path(os.environ.get("MONAMI_BUILD", ROOT / "build"))


def tshark_rows(pcap, *fields, display_filter=None):
    """tshark's decode of a pcap file: one row per frame (matching `display_filter`), the
    fields in order; a field that occurs more than once (an outer and an inner IPv6 header)
    gives its values joined by ','."""
    cmd = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-E", "aggregator=,"]
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def binary(name):
    path = BUILD / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build first (./tools/build)")
    return str(path)


def eal_args(prefix, lcores="0", vdevs=()):
    """EAL arguments for a hugepage-free, PCI-free run with its own runtime directory."""
    args = ["-l", lcores, "--no-huge", "-m", "1024", "--no-pci", f"--file-prefix={prefix}",
            "--log-level=lib.eal:error", "--log-level=monami.*:info"]
    for v in vdevs:
        args += ["--vdev", v]
    return args


def run_gw(config_path, prefix, stop_when_idle_ms=500, lcores="0", timeout=60, extra=()):
    cmd = [binary("monami-gw"), *eal_args(prefix, lcores), "--", "--config", str(config_path),
           "--stop-when-idle", str(stop_when_idle_ms), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def final_counters(stdout):
    """Parses the 'final statistics' block printed by monami-gw into a dict."""
    counters = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("drops:") or line.startswith("control:"):
            for item in line.split(":", 1)[1].split():
                k, v = item.split("=")
                counters[k] = int(v)
        elif line and line.split()[0] in ("rx_packets", "forwarded"):
            parts = line.split()
            for k, v in zip(parts[0::2], parts[1::2]):
                counters[k] = int(v)
    return counters


@pytest.fixture
def prefix():
    return "monami-test-" + uuid.uuid4().hex[:8]


def have(cmd):
    return shutil.which(cmd) is not None


class Netns:
    """A network namespace created for one test and deleted afterwards."""

    def __init__(self, name):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)

    def run(self, *cmd, check=True, timeout=30, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], check=check,
                              capture_output=True, text=True, timeout=timeout, **kw)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture
def netns_factory():
    created = []

    def make(tag):
        ns = Netns(f"mt{tag}{uuid.uuid4().hex[:6]}")
        created.append(ns)
        return ns

    yield make
    for ns in created:
        ns.delete()


# ---- Namespaces entered from this process (sockets stay in the namespace they were opened in)

import contextlib
import ctypes

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def in_netns(name):
    """Runs the block with this thread in network namespace `name`."""
    own = open("/proc/self/ns/net")
    target = open(f"/var/run/netns/{name}")
    try:
        if _libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        _libc.setns(own.fileno(), _CLONE_NEWNET)
        own.close()
        target.close()


def link_mac(name, ns=None):
    cmd = ["ip", "-o", "link", "show", name]
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.split("link/ether ")[1].split()[0]


class VethLink:
    """A veth pair: `outer` stays in the root namespace for the gateway (net_af_packet),
    `inner` goes into namespace `ns` with the given addresses."""

    def __init__(self, tag, ns, addresses):
        self.outer, self.inner, self.ns = f"g{tag}", f"h{tag}", ns
        subprocess.run(["ip", "link", "add", self.outer, "type", "veth", "peer", "name",
                        self.inner, "netns", ns.name], check=True)
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{self.outer}.disable_ipv6=1"], check=True)
        subprocess.run(["ip", "link", "set", self.outer, "up"], check=True)
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "link", "set", self.inner, "up")
        for a in addresses:
            ns.run("ip", "-6", "addr", "add", a, "dev", self.inner, "nodad")
        self.gateway_mac = link_mac(self.outer)
        self.host_mac = link_mac(self.inner, ns.name)

    def delete(self):
        subprocess.run(["ip", "link", "del", self.outer], check=False, capture_output=True)


class Gateway:
    """monami-gw running in the background with its telemetry socket under `prefix`."""

    def __init__(self, config_path, prefix, lcores="0-1"):
        self.prefix = prefix
        self.proc = subprocess.Popen(
            [binary("monami-gw"), *eal_args(prefix, lcores), "--", "--config", str(config_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def telemetry(self, command):
        """One dpdk-telemetry.py query, parsed from its JSON answer."""
        import json
        res = subprocess.run(["dpdk-telemetry.py", "-f", self.prefix], input=command + "\n",
                             capture_output=True, text=True, timeout=20)
        for line in res.stdout.splitlines():
            line = line.strip().lstrip("-> ").strip()
            name = command.split(",")[0]  # DPDK answers under the command's name alone
            if line.startswith("{") and f'"{name}"' in line:
                return json.loads(line)[name]
        raise AssertionError(f"no telemetry answer for {command}: {res.stdout} {res.stderr}")

    def table(self, command):
        """A monami paged command (/monami/bindings, /monami/neighbors) as a list of dicts,
        every page: each answer's "next" is where the following page starts."""
        result, after = [], None
        while True:
            page = self.telemetry(f"{command},{after}" if after else command)
            result += rows(page)
            after = page.get("next")
            if not after:
                return result

    def wait_ready(self, timeout=30):
        """Until the control loop answers (so the workers poll) and every port's link is up:
        a fixed sleep is too short on a loaded machine, and frames sent before are lost."""
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"monami-gw exited with {self.proc.returncode}: "
                                     f"{self.proc.stderr.read()}")
            try:
                ports = self.telemetry("/monami/ports")
                if (self.telemetry("/monami/summary") is not None and ports and
                        all("link=up" in items for items in ports.values())):
                    return
            except (AssertionError, subprocess.TimeoutExpired):
                pass  # the socket is not there yet
            time.sleep(0.2)
        raise AssertionError("monami-gw did not become ready in time")

    def stop(self):
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=30)
        self.stdout, self.stderr = out, err
        return self.proc.returncode, out, err
def telemetry(prefix, command, timeout=20):
    """Runs one command through DPDK's own client (dpdk-telemetry.py -f PREFIX, command on
    stdin) and returns its JSON answer (the value under the command's name). Tables
    (/monami/bindings, /monami/neighbors) come as {"total", "start", "r0": [...]}: use rows()."""
    import json
    res = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input=command + "\n",
                         capture_output=True, text=True, timeout=timeout)
    for line in res.stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and command in line:
            return json.loads(line)[command]
    raise AssertionError(f"no answer to {command}: {res.stdout} {res.stderr}")


def rows(table):
    """The records of one page of a monami telemetry table, in order, as dicts."""
    keys = sorted((k for k in table if k[:1] == "r" and k[1:].isdigit()), key=lambda k: int(k[1:]))
    return [dict(item.split("=", 1) for item in table[k]) for k in keys]


def veth_pair(name, peer, peer_netns=None):
    """Creates a veth pair; `peer` goes into `peer_netns` (a Netns) when given."""
    cmd = ["ip", "link", "add", name, "type", "veth", "peer", "name", peer]
    if peer_netns is not None:
        cmd += ["netns", peer_netns.name]
    subprocess.run(cmd, check=True)


class MobileNodeProcess:
    """monami-mn running in a namespace; its JSON-lines events are collected by a thread."""

    def __init__(self, netns, args):
        import json
        import queue
        import threading
        self.events = []
        self._json = json
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns.name, binary("monami-mn"), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = self._json.loads(line)
            except ValueError:
                event = {"event": "unparsed", "text": line}
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout=10, start=0):
        """Returns the first event at index >= start that satisfies predicate."""
        import time
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"event not seen; events so far: {self.events}")
                self._cond.wait(min(left, 0.2))

    def mark(self):
        with self._cond:
            return len(self.events)

    def stop(self, sig=None, timeout=20):
        import signal
        if self.proc.poll() is None:
            # The signal goes to monami-mn itself: `ip netns exec` execs it in place.
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        self.stderr = self.proc.stderr.read()
        return self.proc.returncode


def collect(sock, seconds, keep):
    """Frames a scapy socket receives for `seconds` (bounded), those for which keep(frame)
    is true."""
    import select
    import time
    got, end = [], time.time() + seconds
    while (left := end - time.time()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        frame = sock.recv()
        if frame is not None and keep(frame):
            got.append(frame)
    return got


class HostSide:
    """An L2 socket on the namespace end of a VethLink: what a host there sends and sees."""

    def __init__(self, link):
        from scapy.all import conf
        self.link = link
        import socket
        with in_netns(link.ns.name):
            self.sock = conf.L2socket(iface=link.inner)
        # Frames wait here between two collect() calls: a burst of BAs (a thousand BUs
        # answered) overflowed the default ~200 KB buffer on a loaded machine.
        self.sock.ins.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE (root)

    def send(self, pkt):
        from scapy.all import Ether
        self.sock.send(Ether(src=self.link.host_mac, dst=self.link.gateway_mac) / pkt)

    def send_raw(self, payload):
        from scapy.all import Ether, Raw
        self.sock.send(Ether(src=self.link.host_mac, dst=self.link.gateway_mac, type=0x86dd)
                       / Raw(payload))

    def from_gateway(self, frame):
        from scapy.all import Ether
        return Ether in frame and frame[Ether].src == self.link.gateway_mac

    def collect(self, seconds, keep):
        """Frames received for `seconds` (bounded), those for which keep(frame) is true."""
        return collect(self.sock, seconds, keep)

    def answers(self, seconds):
        """What the gateway sent in `seconds`, Neighbor Discovery left out."""
        from scapy.all import IPv6

        def keep(f):
            if not self.from_gateway(f):
                return False
            nd = IPv6 in f and f[IPv6].nh == 58 and bytes(f[IPv6].payload)[:1] in (b"\x87", b"\x88")
            return not nd
        return self.collect(seconds, keep)

    def close(self):
        self.sock.close()


def two_link_ports(ha, access_addresses=("2001:db8:a::1/64", "2001:db8:b::1/64")):
    """The ports section for two_link_gateway: `home` (the HA address, /64) and `access`
    (`access_addresses`), af_packet ports on the two veth pairs."""
    addresses = ", ".join(f'"{a}"' for a in access_addresses)
    return f"""\
        ports:
          - name: home
            device: "net_af_packet0,iface={{home}}"
            addresses: ["{ha}/64"]
          - name: access
            device: "net_af_packet1,iface={{access}}"
            addresses: [{addresses}]
        """


def two_link_gateway(tmp_path, prefix, netns_factory, home_hosts, access_hosts, ports_yaml,
                     rest_yaml):
    """The real monami-gw between a home link and an access link, each a veth pair into a
    namespace holding `home_hosts` / `access_hosts` (addresses/64). `ports_yaml` is the YAML
    of the two ports' other keys, formatted with {home} and {access} (the gateway-side
    interface names); `rest_yaml` follows the ports. Yields (gateway, {"home", "access"}
    HostSides) and takes everything down afterwards: use with `yield from`."""
    import textwrap
    import time
    home_ns, access_ns = netns_factory("home"), netns_factory("acc")
    home = VethLink("h" + prefix[-5:], home_ns, [f"{a}/64" for a in home_hosts])
    access = VethLink("a" + prefix[-5:], access_ns, [f"{a}/64" for a in access_hosts])
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(textwrap.dedent(ports_yaml).format(home=home.outer, access=access.outer) +
                   textwrap.dedent(rest_yaml))
    gw = Gateway(cfg, prefix)
    sides = {"home": HostSide(home), "access": HostSide(access)}
    gw.wait_ready()
    yield gw, sides
    for side in sides.values():
        side.close()
    if gw.proc.poll() is None:
        gw.stop()
    home.delete()
    access.delete()
