"""A redundant pair of gateways on etcd in network namespaces, shared by tests/e2e/test_pair.py
and ./tools/demo --pair. The single-gateway lab (lab.py) with two gateways on shared links:

    CN namespace                root namespace                    MN namespace
    bridge hc<tag>  --veth--  gh1<tag> [monami-gw gw1] gw1<tag>  --veth--  bridge mw<tag> (wifi)
    (2001:db8:1::99)                                   gc1<tag>  --veth--  bridge mc<tag> (cell)
                    --veth--  gh2<tag> [monami-gw gw2] gw2<tag>  --veth--  (monami-mn, HoA on
                                                       gc2<tag>  --veth--   a tun)

Both gateways have the same addresses and configuration but for their etcd member name; one
leads and serves, the other is silent. Sniffers on the three bridges keep every frame with
the kernel's receive time; a gateway's frames are told apart by its veths' MACs. Etcd runs
the members of a cluster on loopback, timed for a 1 s lease (docs/architecture.md)."""
import json
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from flows import in_netns
from lab import (CN, COA_CELL, COA_WIFI, HA, HOA, GatewayProcess, Namespace, gateway_config,
                 mn_args, sh)

TTL_S = 1
ETH_P_ALL, SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 3, 263, 1, 1
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = 33
KEEP_BYTES = 192  # of each sniffed frame: every header the checks read


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """`members` etcd processes on loopback forming one cluster, each with its own data dir
    under `workdir` (pid files etcd<i>.pid there), heartbeat 50 ms and election timeout
    500 ms: etcd 3.4 grants no lease shorter than 1.5 x the election timeout."""

    def __init__(self, workdir, members=1, name="monami"):
        self.workdir = Path(workdir)
        self.names = [f"{name}-{i}" for i in range(members)]
        self.clients = [free_port() for _ in range(members)]
        peers = [free_port() for _ in range(members)]
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, peers))
        self.procs, self.logs = [], []
        try:
            for i, n in enumerate(self.names):
                url, peer = f"http://127.0.0.1:{self.clients[i]}", f"http://127.0.0.1:{peers[i]}"
                log = open(self.workdir / f"etcd{i}.log", "w")  # noqa: SIM115 - closed in close()
                self.logs.append(log)
                self.procs.append(subprocess.Popen(
                    ["etcd", "--name", n, "--data-dir", str(self.workdir / f"etcd{i}.data"),
                     "--listen-client-urls", url, "--advertise-client-urls", url,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", cluster, "--initial-cluster-state", "new",
                     "--initial-cluster-token", name, "--heartbeat-interval", "50",
                     "--election-timeout", "500"],
                    stdout=subprocess.DEVNULL, stderr=log))
                (self.workdir / f"etcd{i}.pid").write_text(str(self.procs[-1].pid))
            self.wait_healthy()
        except BaseException:
            self.close()
            raise

    @property
    def endpoints(self):
        """The members' client endpoints, `127.0.0.1:PORT`, in member order."""
        return [f"127.0.0.1:{p}" for p in self.clients]

    def healthy(self, i):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.clients[i]}/health",
                                        timeout=1) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def raft_leader(self):
        """The index of the member that is etcd's Raft leader (asked of a live member), or
        None."""
        for i, port in enumerate(self.clients):
            if self.procs[i].poll() is not None:
                continue
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v3/maintenance/status",
                                                 data=b"{}", method="POST")
                with urllib.request.urlopen(request, timeout=1) as r:
                    status = json.loads(r.read())
                ids = {}
                for j, other in enumerate(self.clients):
                    if self.procs[j].poll() is None:
                        request.full_url = f"http://127.0.0.1:{other}/v3/maintenance/status"
                        with urllib.request.urlopen(request, timeout=1) as r:
                            ids[json.loads(r.read())["header"]["member_id"]] = j
                return ids.get(status["leader"])
            except (OSError, ValueError, KeyError):
                continue
        return None

    def wait_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not all(self.healthy(i) for i in range(len(self.procs))
                      if self.procs[i].poll() is None):
            for i, p in enumerate(self.procs):
                if p.poll() is not None and p.returncode != -signal.SIGKILL:
                    raise RuntimeError(f"etcd {self.names[i]} exited: {self.log_text(i)}")
            if time.monotonic() > deadline:
                raise RuntimeError("etcd not healthy: " + self.log_text(0))
            time.sleep(0.1)

    def kill(self, i=0):
        self.procs[i].kill()
        self.procs[i].wait(timeout=10)

    def pause(self, i=0):
        self.procs[i].send_signal(signal.SIGSTOP)

    def resume(self, i=0):
        self.procs[i].send_signal(signal.SIGCONT)

    def log_text(self, i):
        self.logs[i].flush()
        return (self.workdir / f"etcd{i}.log").read_text()[-3000:]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=10)
        for log in self.logs:
            log.close()


class Sniffer:
    """Every frame seen on bridge `iface` of namespace `ns` (promiscuous), as (kernel receive
    time on the time.time() clock, first KEEP_BYTES bytes), until stop()."""

    def __init__(self, ns, iface):
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((iface, 0))
            index = socket.if_nametoindex(iface)
        self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                             struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.settimeout(0.1)
        self.iface, self.frames, self.done = iface, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(KEEP_BYTES, 64)
            except socket.timeout:
                continue
            except OSError:
                return
            stamp = time.time()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", value[:16])
                    stamp = sec + nsec / 1e9
            self.frames.append((stamp, data))

    def send(self, frame):
        self.sock.send(frame)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


# ---- Frames read byte by byte (no scapy on the sniffers' thousands of frames)

def ipv6(frame):
    """(source, destination, upper-layer protocol, offset of its header) of an IPv6 frame
    after its extension headers, or None."""
    if len(frame) < 54 or frame[12:14] != b"\x86\xdd":
        return None
    src = socket.inet_ntop(socket.AF_INET6, frame[22:38])
    dst = socket.inet_ntop(socket.AF_INET6, frame[38:54])
    nh, off = frame[20], 54
    while nh in (0, 43, 60, 44) and off + 8 <= len(frame):
        nh, off = frame[off], off + (8 if nh == 44 else (frame[off + 1] + 1) * 8)
    return src, dst, nh, off


def tunnelled_to_hoa(frame):
    """The CoA a packet for the HoA was tunnelled to (IPv6 in IPv6), or None."""
    outer = ipv6(frame)
    if not outer or outer[2] != 41 or outer[1] not in (COA_WIFI, COA_CELL):
        return None
    inner = ipv6(frame[:14] + frame[outer[3]:])
    return outer[1] if inner and inner[1] == HOA else None


def override_na_target(frame):
    """The target of a Neighbor Advertisement with the Override flag, or None."""
    ip = ipv6(frame)
    if not ip or ip[2] != 58 or len(frame) < ip[3] + 24:
        return None
    icmp = frame[ip[3]:]
    if icmp[0] != 136 or not icmp[4] & 0x20:
        return None
    return socket.inet_ntop(socket.AF_INET6, icmp[8:24])


def binding_ack(frame):
    """(status, sequence number) of a Binding Acknowledgement, or None."""
    ip = ipv6(frame)
    if not ip or ip[2] != 135 or len(frame) < ip[3] + 10 or frame[ip[3] + 2] != 6:
        return None
    mh = frame[ip[3]:]
    return mh[6], struct.unpack("!H", mh[8:10])[0]


def mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))


def link_mac(name, ns=None):
    cmd = ["ip", "-o", "link", "show", name]
    out = (sh("ip", "netns", "exec", ns, *cmd) if ns else sh(*cmd)).stdout
    return out.split("link/ether ")[1].split()[0]


class PairLab:
    """The namespaces, bridges and veths of a pair, the two gateways' configurations (gw1, gw2
    on etcd `endpoints`, not started) and sniffers on the three bridges; close() undoes
    everything. Gateway n is self.gateways[n] (lab.GatewayProcess), its MACs self.macs[n]."""

    def __init__(self, workdir, endpoints, tag=None, lcores="0-1", heartbeat_ms=100,
                 missed_limit=3, recovery=3, endpoints_of=None):
        self.tag = t = tag or uuid.uuid4().hex[:6]
        self.prefix = "monami-lab-" + t
        self.workdir = Path(workdir)
        self.namespaces, self.links, self.sniffers, self.gateways, self.mn = [], [], {}, {}, None
        self.macs, self.port_macs = {}, {}
        self.tun = "mt" + t
        self.mn_wifi, self.mn_cell, self.cn_bridge = "mw" + t, "mc" + t, "hc" + t
        try:
            self.mn_ns = self._namespace("mlmn" + t)
            self.cn_ns = self._namespace("mlcn" + t)
            self._bridge(self.mn_ns, self.mn_wifi, COA_WIFI)
            self._bridge(self.mn_ns, self.mn_cell, COA_CELL)
            self._bridge(self.cn_ns, self.cn_bridge, CN)
            for n in (1, 2):
                self.port_macs[n] = {
                    "wifi": mac_bytes(self._veth(f"gw{n}{t}", self.mn_ns, self.mn_wifi)),
                    "cell": mac_bytes(self._veth(f"gc{n}{t}", self.mn_ns, self.mn_cell)),
                    "home": mac_bytes(self._veth(f"gh{n}{t}", self.cn_ns, self.cn_bridge))}
                self.macs[n] = set(self.port_macs[n].values())
                etcd = {"endpoints": (endpoints_of or {}).get(n, endpoints),
                        "prefix": f"/monami/{t}/", "member": f"gw{n}", "lease_ttl_s": TTL_S}
                self.gateways[n] = GatewayProcess(
                    self.workdir, f"gw{n}", f"{self.prefix}-gw{n}",
                    gateway_config(f"{n}{t}", heartbeat_ms, missed_limit, recovery, etcd=etcd),
                    lcores)
            self.mn_mac = {"wifi": mac_bytes(link_mac(self.mn_wifi, self.mn_ns.name)),
                           "cell": mac_bytes(link_mac(self.mn_cell, self.mn_ns.name))}
            for name, ns in ((self.mn_wifi, self.mn_ns), (self.mn_cell, self.mn_ns),
                             (self.cn_bridge, self.cn_ns)):
                self.sniffers[name] = Sniffer(ns.name, name)
        except BaseException:
            self.close()
            raise

    def _namespace(self, name):
        ns = Namespace(name)
        self.namespaces.append(ns)
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    def _bridge(self, ns, name, address):
        ns.run("ip", "link", "add", name, "type", "bridge", "mcast_snooping", "0")
        ns.run("ip", "link", "set", name, "up")
        ns.run("ip", "-6", "addr", "add", f"{address}/64", "dev", name, "nodad")
        # The kernel leaves UDP checksums to the receiver (offload) on the bridge and the
        # veths; a gateway's af_packet port forwards them as they are, so the far kernel
        # would drop them.
        ns.run("ethtool", "-K", name, "tx", "off")

    def _veth(self, outer, ns, bridge):
        """A veth from the root namespace (a gateway's port) into `bridge`; its MAC."""
        inner = "p" + outer[1:]
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns.name)
        self.links.append(outer)
        sh("sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1")
        sh("ip", "link", "set", outer, "up")
        ns.run("ip", "link", "set", inner, "master", bridge)
        ns.run("ip", "link", "set", inner, "up")
        ns.run("ethtool", "-K", inner, "tx", "off")
        return link_mac(outer)

    # ---- gateways

    def store(self, n):
        """Gateway n's /monami/store (asked again while the control thread is busy)."""
        for _ in range(50):
            try:
                answer = self.gateways[n].query("/monami/store")
            except (OSError, ValueError):
                answer = None
            if answer:
                return answer
            if not self.gateways[n].running():
                raise RuntimeError(f"gw{n} exited: " + self.gateways[n].log_text()[-3000:])
            time.sleep(0.05)
        raise RuntimeError(f"gw{n}: no /monami/store answer")

    def role(self, n):
        """"leader" (serving), "standby" (silent) or what the store says in between."""
        s = self.store(n)
        if s.get("role") == "leader" and s.get("serving") == "yes":
            return "leader"
        if s.get("role") == "standby" and s.get("serving") == "no":
            return "standby"
        return f"{s.get('role')}/{s.get('serving')}"

    def wait_role(self, n, role, timeout=15, step=0.1):
        """Gateway n's /monami/store once it is `role` ("leader": serving); raises after
        `timeout` seconds."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            last = self.store(n)
            if last.get("role") == role and last.get("serving") == ("yes" if role == "leader"
                                                                    else "no"):
                return last
            time.sleep(step)
        raise AssertionError(f"gw{n} never {role}: {last}")

    def start_pair(self):
        """gw1 started and leading, then gw2 started and standing by; gw2's store answer."""
        self.gateways[1].start()
        self.wait_role(1, "leader")
        self.gateways[2].start()
        return self.wait_role(2, "standby")

    def mn_args(self, *extra):
        return mn_args(self.mn_wifi, self.mn_cell, self.tun, *extra)

    # ---- what the sniffers saw

    def frames(self, after=0.0, bridges=None):
        """(time, frame) on the bridges (all three by default) after `after`, in time order."""
        got = []
        for name, sniffer in self.sniffers.items():
            if bridges is None or name in bridges:
                got += [(t, f) for t, f in list(sniffer.frames) if t > after]
        return sorted(got, key=lambda tf: tf[0])

    def frames_from(self, n, after=0.0, bridges=None):
        """(time, frame) of everything gateway n sent after `after`."""
        macs = self.macs[n]
        return [(t, f) for t, f in self.frames(after, bridges) if f[6:12] in macs]

    def senders(self, after=0.0):
        """(time, n) of every frame a gateway sent after `after`, in time order."""
        owner = {mac: n for n, macs in self.macs.items() for mac in macs}
        return [(t, owner[f[6:12]]) for t, f in self.frames(after) if f[6:12] in owner]

    def tunnelled(self, n, after=0.0):
        """Times at which gateway n tunnelled a packet for the HoA to a CoA."""
        return [t for t, f in self.frames_from(n, after, (self.mn_wifi, self.mn_cell))
                if tunnelled_to_hoa(f)]

    def send_bu(self, n, mh, wait=1.0):
        """A BU (lifetime, sequence, options in `mh`, from mh_frames.binding_update) from the
        wifi CoA to gateway n; its BA as (status, sequence), None without one."""
        from scapy.all import Ether
        from mh_frames import bu_packet
        ether = Ether(src=self.mn_mac["wifi"].hex(":"), dst=self.port_macs[n]["wifi"].hex(":"))
        frame = bytes(ether / bu_packet(COA_WIFI, HA, HOA, mh))
        mark = time.time()
        self.sniffers[self.mn_wifi].send(frame)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for _, f in self.frames_from(n, mark, (self.mn_wifi,)):
                if binding_ack(f):
                    return binding_ack(f)
            time.sleep(0.05)
        return None

    def logs(self):
        return "\n".join(f"---- gw{n}\n" + gw.log_text()[-4000:] for n, gw in self.gateways.items())

    def close(self):
        if self.mn is not None:
            try:
                self.mn.stop()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        for gw in self.gateways.values():
            gw.close()
        for sniffer in self.sniffers.values():
            sniffer.stop()
        for link in self.links:
            sh("ip", "link", "del", link, check=False)
        for ns in self.namespaces:
            ns.delete()
        self.links, self.namespaces, self.sniffers = [], [], {}


# ---- the mobile node and the correspondent's flows

def warm_up(lab, tries=20):
    """The CN reaches the HoA (proxy ND, tunnel) before counted traffic starts."""
    res = None
    for _ in range(tries):
        res = lab.cn_ns.run("ping", "-6", "-c", "1", "-W", "1", HOA, check=False)
        if res.returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"HoA unreachable from the CN: {res.stdout} {res.stderr}")


def delivered_after(sender, receiver, after):
    """Whether a datagram sent after `after` (monotonic) reached the receiver."""
    return any(s in receiver.arrivals for s in range(sender.sent) if sender.times[s] > after)


def sender_switches(senders):
    """How often the sending gateway changes in a time-ordered list of (time, n)."""
    return sum(1 for a, b in zip(senders, senders[1:]) if a[1] != b[1])
