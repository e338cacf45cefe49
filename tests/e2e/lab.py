"""A two-link mobile node lab in network namespaces, shared by the failover tests and
./tools/demo:

    CN namespace  --veth--  [home port]  monami-gw  [wifi port]  --veth--  MN namespace
    (2001:db8:1::99,         (root namespace,        [cell port]  --veth--  (monami-mn, HoA
     the kernel's stack)      net_af_packet ports)                           on a tun)

The CN sits on the home link, so it reaches the HoA through the gateway's proxy ND and
tunnel. The gateway classifies CoAs into access classes wifi (2001:db8:a::/48) and cellular
(2001:db8:c::/48); voice (UDP 5060-5090) prefers wifi, bulk (UDP 6000-6099) prefers
cellular, the rest is shared 3:1."""
import os
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MONAMI_BUILD", ROOT / "build"))

HA = "2001:db8:1::1"
HOA = "2001:db8:1::100"
CN = "2001:db8:1::99"
COA_WIFI = "2001:db8:a::100"
COA_CELL = "2001:db8:c::100"
VOICE_PORT = 5060
BULK_PORT = 6000


def sh(*cmd, check=True, timeout=30):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)


class Namespace:
    def __init__(self, name):
        self.name = name
        sh("ip", "netns", "add", name)

    def run(self, *cmd, check=True, timeout=30):
        return sh("ip", "netns", "exec", self.name, *cmd, check=check, timeout=timeout)

    def delete(self):
        sh("ip", "netns", "del", self.name, check=False)


def gateway_config(tag, heartbeat_ms, missed_limit, recovery, store=None, etcd=None):
    """The lab's gateway, its ports on the veths gw<tag>, gc<tag> and gh<tag>. `store`: the
    LMDB file of a binding store, or None; `etcd`: the state.etcd keys of a redundant pair
    (endpoints, prefix, member, lease_ttl_s) instead, with durability sync."""
    state = ""
    if store is not None:
        state = f'state: {{backend: lmdb, path: "{store}"}}\n'
    elif etcd is not None:
        endpoints = ", ".join(f'"{e}"' for e in etcd["endpoints"])
        state = textwrap.dedent(f"""\
            state:
              backend: etcd
              durability: sync
              etcd:
                endpoints: [{endpoints}]
                prefix: "{etcd['prefix']}"
                member: {etcd['member']}
                lease_ttl_s: {etcd.get('lease_ttl_s', 1)}
            """)
    return state + textwrap.dedent(f"""\
        ports:
          - name: wifi
            device: "net_af_packet0,iface=gw{tag}"
            addresses: ["2001:db8:a::1/64"]
          - name: cell
            device: "net_af_packet1,iface=gc{tag}"
            addresses: ["2001:db8:c::1/64"]
          - name: home
            device: "net_af_packet2,iface=gh{tag}"
            addresses: ["{HA}/64"]
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          max_binding_lifetime: 600
          dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
        mobile_nodes:
          - id: "mn1@example.com"
            home_addresses: ["{HOA}"]
        heartbeat:
          enabled: true
          interval_ms: {heartbeat_ms}
          missed_limit: {missed_limit}
          recovery: {recovery}
        policies:
          access_classes:
            - {{name: wifi, prefixes: ["2001:db8:a::/48"], cost: 1, preference: 10}}
            - {{name: cellular, prefixes: ["2001:db8:c::/48"], cost: 10, preference: 5}}
          traffic_classes:
            - name: voice
              match: {{protocol: udp, destination_ports: "5060-5090"}}
            - name: bulk
              match: {{protocol: udp, destination_ports: "6000-6099"}}
          profiles:
            - name: default
              rules:
                - {{traffic_class: voice, mode: prefer, order: [wifi, cellular]}}
                - {{traffic_class: bulk, mode: prefer, order: [cellular, wifi]}}
                - {{traffic_class: any, mode: weighted, weights: {{wifi: 3, cellular: 1}}}}
          default_profile: default
        """)


def mn_args(wifi, cell, tun, *extra):
    """monami-mn's arguments for the lab's two links (interfaces `wifi` and `cell` holding the
    CoAs), bulk registration, 120 s lifetime (no refresh within a test), HoA on tun `tun`."""
    return ["--home-address", HOA, "--home-agent", HA,
            "--link", f"wifi:{wifi}:{COA_WIFI},via=2001:db8:a::1",
            "--link", f"cell:{cell}:{COA_CELL},via=2001:db8:c::1",
            "--mn-id", "mn1@example.com", "--bulk", "--lifetime", "120",
            "--initial-timeout", "1500", "--tap", tun, *extra]


class GatewayProcess:
    """monami-gw in the root namespace: its configuration `<name>.yaml`, log `<name>.log` and
    pid file `<name>.pid` in `workdir`, DPDK file prefix `prefix` (telemetry)."""

    def __init__(self, workdir, name, prefix, config_text, lcores="0-1"):
        self.workdir, self.name, self.prefix = Path(workdir), name, prefix
        self.config = self.workdir / f"{name}.yaml"
        self.config.write_text(config_text)
        check = sh(str(BUILD / "monami-gw"), "--config", str(self.config), "--check-config",
                   check=False)
        if check.returncode != 0:
            raise RuntimeError(check.stderr)
        self.log_path = self.workdir / f"{name}.log"
        self.log = open(self.log_path, "w+")  # noqa: SIM115 - closed in close()
        self.command = [
            str(BUILD / "monami-gw"), "-l", lcores, "--no-huge", "-m", "1024", "--no-pci",
            f"--file-prefix={prefix}", "--log-level=lib.eal:error",
            "--log-level=monami.*:info", "--", "--config", str(self.config)]
        self.proc = None

    def start(self, wait=True):
        self.proc = subprocess.Popen(  # noqa: SIM115 - ended in kill() or close()
            self.command, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        (self.workdir / f"{self.name}.pid").write_text(str(self.proc.pid))
        if wait:
            self.wait_ready()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL, as a crash."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def terminate(self):
        """SIGTERM, as an operator's stop; returns the exit status."""
        self.proc.terminate()
        return self.proc.wait(timeout=30)

    def telemetry(self, command):
        """The answer to one telemetry command (None when the control thread was busy)."""
        import json
        res = subprocess.run(["dpdk-telemetry.py", "-f", self.prefix], input=command + "\n",
                             capture_output=True, text=True, timeout=20)
        for line in res.stdout.splitlines():
            line = line.strip().lstrip("-> ").strip()
            if line.startswith("{") and command in line:
                return json.loads(line)[command]
        raise RuntimeError(f"no telemetry answer for {command}: {res.stdout} {res.stderr}")

    def query(self, command):
        """telemetry() over the telemetry socket itself (no client process: a few ms, for
        polling); None when the control thread was busy. Raises OSError when the gateway
        does not answer."""
        import json
        import socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(f"/var/run/dpdk/{self.prefix}/dpdk_telemetry.v2")
            size = json.loads(s.recv(1024))["max_output_len"]
            s.send(command.encode())
            return json.loads(s.recv(size))[command.split(",")[0]]

    def bindings(self):
        """The HoA's bindings by BID, each a dict of /monami/bindings' columns."""
        table = self.telemetry("/monami/bindings")
        keys = sorted((k for k in table if k[:1] == "r" and k[1:].isdigit()),
                      key=lambda k: int(k[1:]))
        rows = [dict(item.split("=", 1) for item in table[k]) for k in keys]
        return {r["bid"]: r for r in rows if r["home_address"] == HOA}

    def wait_ready(self, timeout=20):
        """Until every port is up."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"monami-gw {self.name} exited: " + self.log_text())
            try:
                ports = self.telemetry("/monami/ports")
                if ports and all("link=up" in p for p in ports.values()):
                    return
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway {self.name} did not come up: " + self.log_text())
            time.sleep(0.3)

    def log_text(self):
        if not self.log or self.log.closed:
            return self.log_path.read_text() if self.log_path.exists() else ""
        self.log.flush()
        return self.log_path.read_text()

    def close(self):
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
        # The EAL's runtime directory (its telemetry socket, config), left behind by DPDK.
        if self.proc is not None:
            import shutil
            shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)


class Lab:
    """Namespaces, veths and a running monami-gw; close() undoes everything."""

    def __init__(self, workdir, heartbeat_ms=100, missed_limit=3, recovery=3, lcores="0-1",
                 tag=None, store=False):
        self.tag = tag or uuid.uuid4().hex[:6]
        self.prefix = "monami-lab-" + self.tag
        self.workdir = Path(workdir)
        self.heartbeat_ms, self.missed_limit = heartbeat_ms, missed_limit
        self.namespaces, self.links, self.gateway, self.mn = [], [], None, None
        self.tun = "mt" + self.tag
        self.store = self.workdir / "bindings.mdb" if store else None
        try:
            self._build(lcores, recovery)
        except BaseException:
            self.close()
            raise

    @property
    def gw(self):
        """The gateway's process (Popen)."""
        return self.gateway.proc if self.gateway else None

    def _veth(self, outer, inner, ns):
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns.name)
        self.links.append(outer)
        sh("sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1")
        sh("ip", "link", "set", outer, "up")
        ns.run("ip", "link", "set", inner, "up")
        # A veth hands UDP/TCP over with the checksum left to the receiver (offload); the
        # gateway's af_packet port forwards that as is, so the far kernel would drop it.
        ns.run("ethtool", "-K", inner, "tx", "off")

    def _build(self, lcores, recovery):
        t = self.tag
        self.mn_ns = Namespace("mlmn" + t)
        self.namespaces.append(self.mn_ns)
        self.cn_ns = Namespace("mlcn" + t)
        self.namespaces.append(self.cn_ns)
        for ns in self.namespaces:
            ns.run("ip", "link", "set", "lo", "up")
        self.mn_wifi, self.mn_cell = "mw" + t, "mc" + t
        self._veth("gw" + t, self.mn_wifi, self.mn_ns)
        self._veth("gc" + t, self.mn_cell, self.mn_ns)
        self._veth("gh" + t, "hc" + t, self.cn_ns)
        self.mn_ns.run("ip", "-6", "addr", "add", f"{COA_WIFI}/64", "dev", self.mn_wifi, "nodad")
        self.mn_ns.run("ip", "-6", "addr", "add", f"{COA_CELL}/64", "dev", self.mn_cell, "nodad")
        self.cn_ns.run("ip", "-6", "addr", "add", f"{CN}/64", "dev", "hc" + t, "nodad")
        self.gateway = GatewayProcess(
            self.workdir, "gw", self.prefix,
            gateway_config(t, self.heartbeat_ms, self.missed_limit, recovery, self.store), lcores)
        self.config = self.gateway.config
        self.gateway.start()

    def restart_gateway(self):
        """SIGKILL the gateway and start it again on the same configuration (and binding
        store); returns the seconds until its ports are up again."""
        started = time.monotonic()
        self.gateway.kill()
        self.gateway.start()
        return time.monotonic() - started

    def telemetry(self, command):
        return self.gateway.telemetry(command)

    def bindings(self):
        return self.gateway.bindings()

    def control(self):
        return self.telemetry("/monami/control")

    def wait_for_gateway(self, timeout=20):
        self.gateway.wait_ready(timeout)

    def mn_args(self, *extra):
        return mn_args(self.mn_wifi, self.mn_cell, self.tun, *extra)

    def gateway_log(self):
        return self.gateway.log_text() if self.gateway else ""

    def close(self):
        if self.mn is not None:
            try:
                self.mn.stop()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        if self.gateway is not None:
            self.gateway.close()
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        for ns in self.namespaces:
            ns.delete()
        self.links, self.namespaces = [], []
