"""The real monami-gw on memif ports with monami-loadgen as its far side, on one machine.

Used by the whole-daemon benchmark (tools/bench --daemon) and by the large end-to-end tests
(tests/e2e/test_scale.py). The addressing plan is monami-bench's (dataplane/bench/plan.hpp):
HoA i is 2001:db8:1::1:<i>, its CoA for BID k+1 is 2001:db8:c0<k>::<i> behind the access
router 2001:db8:2::fe; the correspondent sits behind 2001:db8:1::fe on the home link.
"""
import ipaddress
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def binary(name):
    build = Path(os.environ.get("MONAMI_BUILD", ROOT / "build"))
    return str(build / name)


def hoa(i):
    """Home address i, as monami prints addresses (RFC 5952)."""
    return str(ipaddress.IPv6Address((0x20010db8_0001_0000_0000_0001 << 32) | i))


def care_of(i, k):
    """The care-of address of HoA i for BID k+1."""
    return str(ipaddress.IPv6Address(((0x20010db8_c000 | k) << 80) | i))


def memif_server(index, socket_path):
    """The EAL device string of a memif server port listening on `socket_path`."""
    return f"net_memif{index},role=server,id=0,socket={socket_path},socket-abstract=no"


def gateway_config(devices, max_bindings, heartbeat_prefixes, interval_ms=100, missed_limit=3,
                   state=None, control_ring=None, tunnel_mtu=None):
    """The gateway's YAML for the plan on the EAL `devices` (home, access): PCI addresses or
    vdevs (memif_server()). `heartbeat_prefixes`: the CoAs heartbeats probe, none: no
    heartbeats. `state`: None, (durability, file) for an LMDB binding store, or (durability,
    "etcd://host:port") for an etcd group of one gateway (the leader). `control_ring`: the
    worker -> control ring's size when not the default (BUs arriving faster than the control
    thread takes them wait there). `tunnel_mtu`: the largest inner packet tunnelled whole
    (default 1452, within 1500-byte ports); the ports' MTU then leaves room for the outer
    header and the encapsulation limit option."""
    if state is None:
        store = ""
    elif str(state[1]).startswith("etcd://"):
        store = (f'state: {{backend: etcd, durability: {state[0]}, etcd: {{endpoints: '
                 f'["{str(state[1])[7:]}"], prefix: "/monami/bench-{uuid.uuid4().hex[:8]}/", '
                 f'member: bench}}}}\n')
    else:
        store = f'state: {{backend: lmdb, durability: {state[0]}, path: "{state[1]}"}}\n'

    if heartbeat_prefixes:
        prefixes = ", ".join(f'"{p}"' for p in heartbeat_prefixes)
        heartbeat = f"""heartbeat:
  enabled: true
  interval_ms: {interval_ms}
  missed_limit: {missed_limit}
  recovery: 1
  care_of_prefixes: [{prefixes}]
"""
    else:
        heartbeat = "heartbeat: {enabled: false}\n"
    ring = f"\n  control_ring: {control_ring}" if control_ring else ""
    port_mtu = f"\n    mtu: {tunnel_mtu + 48}" if tunnel_mtu else ""
    tunnel = f"tunnel: {{mtu: {tunnel_mtu}}}\n" if tunnel_mtu else ""
    return store + f"""
log_level: notice
ports:
  - name: home
    device: "{devices[0]}"
    mac: "02:00:00:00:01:01"
    addresses: ["2001:db8:1::1/64"]{port_mtu}
  - name: access
    device: "{devices[1]}"
    mac: "02:00:00:00:02:01"
    addresses: ["2001:db8:2::1/64"]{port_mtu}
routes:
  - {{prefix: "2001:db8:c000::/36", port: access, via: "2001:db8:2::fe"}}
  - {{prefix: "2001:db8:ffff::/48", port: home, via: "2001:db8:1::fe"}}
neighbors:
  - {{address: "2001:db8:2::fe", mac: "02:00:00:00:02:fe", port: access}}
  - {{address: "2001:db8:1::fe", mac: "02:00:00:00:01:fe", port: home}}
dataplane:
  signalling_steering: software{ring}
home_agent:
  addresses: ["2001:db8:1::1"]
  home_prefixes: ["2001:db8:1::/64"]
  lifetime: 3600  # the home prefixes' valid lifetime bounds the bindings'
  max_binding_lifetime: 3600
  # The bench measures BU work; DAD would hold each first BA dad_wait_ms (docs/performance.md).
  duplicate_address_detection: false
  max_bindings: {max_bindings}
""" + heartbeat + tunnel


class Telemetry:
    """DPDK telemetry over its v2 socket (what dpdk-telemetry.py does), kept open: one
    question costs a round trip, not a process."""

    def __init__(self, prefix):
        path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)
        self.sock.recv(1024 * 64)  # the greeting

    def __call__(self, command):
        self.sock.send(command.encode())
        answer = json.loads(self.sock.recv(1024 * 64).decode())
        return answer[command.split(",")[0]]

    def close(self):
        self.sock.close()


def rows(page):
    """The records of one answer (r0, r1, ...), in order, as dicts."""
    keys = sorted((k for k in page if k[:1] == "r" and k[1:].isdigit()), key=lambda k: int(k[1:]))
    return [dict(item.split("=", 1) for item in page[k]) for k in keys]


class Loadgen:
    """monami-loadgen as the memif client of `sockets` (home, access), commands on stdin."""

    def __init__(self, sockets, tag, directory, lcore=0, pcap_sample=None):
        args = [binary("monami-loadgen"), "-l", str(lcore), "--no-huge", "-m", "512", "--no-pci",
                "--file-prefix", f"{tag}lg", "--log-level", "lib.eal:error",
                f"--vdev=net_memif0,role=client,id=0,socket={sockets[0]},socket-abstract=no",
                f"--vdev=net_memif1,role=client,id=0,socket={sockets[1]},socket-abstract=no",
                "--", "--home-port", "0", "--access-port", "1"]
        if pcap_sample:
            args += ["--pcap-sample", str(pcap_sample)]
        self.log = Path(directory) / f"{tag}-loadgen.log"
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "w"), text=True, bufsize=1)
        self.answer(timeout=60)  # "ready"

    def answer(self, timeout):
        """The loadgen's next JSON line."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError("monami-loadgen gave no answer")
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("monami-loadgen exited: " + self.log.read_text()[-2000:])
            if line.startswith("{"):
                return json.loads(line)

    def command(self, line, timeout=900):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.answer(timeout)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=10)
            except (TimeoutError, RuntimeError, BrokenPipeError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_for_sockets(sockets, proc, log, timeout=60):
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(s) for s in sockets):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the memif server did not start: " + Path(log).read_text()[-3000:])
        time.sleep(0.05)
    # The socket file exists from bind(); a client that connects before the server listens
    # is refused and memif does not retry.
    time.sleep(1)


def testpmd_io_command(lcores, eal, file_prefix):
    """dpdk-testpmd forwarding io (no lookup, no rewrite) between the ports `eal` names, one
    forwarding core, statistics every second until SIGINT: the baseline the ports allow."""
    return ["dpdk-testpmd", "-l", lcores, *eal, "--file-prefix", file_prefix,
            "--log-level", "lib.eal:error", "--", "--forward-mode=io", "--stats-period", "1",
            "--nb-cores=1", "--total-num-mbufs=16384"]


def memif_io_peer(loadgen_commands, tag="peer", memory_mb=1024):
    """DPDK's testpmd forwarding io (no lookup, no rewrite) between the same memif pairs, one
    forwarding core, driven by the same loadgen: what the ports and the generator allow.
    Returns the loadgen's answers to `loadgen_commands`."""
    directory = Path(tempfile.mkdtemp(prefix=f"monami-{tag}-"))
    sockets = [str(directory / "home.sock"), str(directory / "access.sock")]
    log = directory / "testpmd.log"
    testpmd = subprocess.Popen(
        testpmd_io_command("0-1", ["--no-huge", "-m", str(memory_mb), "--no-pci",
                                   f"--vdev={memif_server(0, sockets[0])}",
                                   f"--vdev={memif_server(1, sockets[1])}"], f"{tag}pmd"),
        stdin=subprocess.DEVNULL, stdout=open(log, "w"), stderr=subprocess.STDOUT, text=True)
    answers = []
    try:
        wait_for_sockets(sockets, testpmd, log)
        gen = Loadgen(sockets, tag, directory)
        try:
            time.sleep(1)  # memif links up
            answers = [gen.command(c, timeout=300) for c in loadgen_commands]
        finally:
            gen.stop()
    finally:
        testpmd.send_signal(signal.SIGINT)
        try:
            testpmd.wait(timeout=30)
        except subprocess.TimeoutExpired:
            testpmd.kill()
    return answers


class DaemonLab:
    """monami-gw (control on lcore 0, one worker on lcore 1) and monami-loadgen, joined by two
    memif pairs. Use as a context manager; everything is stopped on exit."""

    def __init__(self, max_bindings, heartbeat_prefixes=("2001:db8:c001::/122",), memory_mb=1024,
                 interval_ms=100, missed_limit=3, loadgen_lcore=0, pcap_sample=None, tag=None,
                 durability=None, etcd=None):
        self.tag = tag or f"lab{os.getpid()}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"monami-{self.tag}-"))
        self.sockets = [str(self.dir / "home.sock"), str(self.dir / "access.sock")]
        self.config = self.dir / "gw.yaml"
        self.store = (None if durability is None else
                      f"etcd://{etcd}" if etcd else self.dir / "bindings.mdb")
        self.config.write_text(gateway_config(
            [memif_server(i, s) for i, s in enumerate(self.sockets)], max_bindings, heartbeat_prefixes, interval_ms, missed_limit,
            None if durability is None else (durability, self.store)))
        self.memory_mb = memory_mb
        self.loadgen_lcore = loadgen_lcore
        self.pcap_sample = pcap_sample
        self.gw = self.gen = self.telemetry = None
        self.gw_log = self.dir / "gw.log"

    def __enter__(self):
        self._start_gateway()
        self.gen = Loadgen(self.sockets, self.tag, self.dir, self.loadgen_lcore, self.pcap_sample)
        self._wait_ready()
        return self

    def _start_gateway(self):
        self.gw = subprocess.Popen(
            [binary("monami-gw"), "-l", "0-1", "--no-huge", "-m", str(self.memory_mb), "--no-pci",
             "--file-prefix", f"{self.tag}gw", "--", "--config", str(self.config)],
            stdout=open(self.gw_log, "a"), stderr=subprocess.STDOUT)
        wait_for_sockets(self.sockets, self.gw, self.gw_log)

    def restart(self):
        """SIGKILL the gateway and start it again on the same configuration (and store),
        with a new generator (DPDK's memif client does not reconnect to a new server);
        returns the seconds until the gateway answers telemetry with both links up."""
        started = time.monotonic()
        if self.telemetry:
            self.telemetry.close()
            self.telemetry = None
        self.gw.kill()
        self.gw.wait(timeout=30)
        self.gen.stop()
        for s in self.sockets:
            Path(s).unlink(missing_ok=True)
        self._start_gateway()
        self.gen = Loadgen(self.sockets, self.tag, self.dir, self.loadgen_lcore, self.pcap_sample)
        self._wait_ready()
        return time.monotonic() - started

    def _wait_ready(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                self.telemetry = Telemetry(f"{self.tag}gw")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # Both memif links up (the client connected).
        while not all("link=up" in " ".join(p) for p in self.telemetry("/monami/ports").values()):
            if time.monotonic() > deadline:
                raise RuntimeError("memif links did not come up: " + self.gw_log.read_text())
            time.sleep(0.05)
        # An etcd group: the gateway serves once it holds the election key.
        while str(self.store or "").startswith("etcd://"):
            store = self.telemetry("/monami/store") or {}
            if store.get("serving") == "yes":
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway never became the etcd group's leader: " +
                                   self.gw_log.read_text()[-2000:])
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.stop()

    def command(self, line, timeout=900):
        return self.gen.command(line, timeout)

    def gw_rss_bytes(self):
        for line in Path(f"/proc/{self.gw.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        """Stops both, the gateway first; returns the gateway's output (final statistics).
        The gateway stops its workers before it closes its ports; a memif server whose client
        leaves first unmaps the rings while its worker may be inside rx/tx on them (DPDK's
        memif PMD does not wait), which a preempted worker does not survive."""
        if self.telemetry:
            self.telemetry.close()
            self.telemetry = None
        if self.gw and self.gw.poll() is None:
            self.gw.terminate()
            try:
                self.gw.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.gw.kill()
        if self.gen:
            self.gen.stop()
        return self.gw_log.read_text() if self.gw_log.exists() else ""
