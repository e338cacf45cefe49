"""A redundant pair on etcd, end to end: a real etcd (Debian's etcd-server, started here with
the short election timeout a 1 s lease needs), two real monami-gw with the same addresses on
a shared home bridge and a shared access bridge (namespaces), a correspondent pinging a home
address registered with a real BU. The standby is silent until the leader is killed with
SIGKILL; then it takes over and the correspondent's packets reach the CoA again with no new
BU (the gap is printed); a BU after the takeover is taken with the replicated sequence number
in force; the old leader, started again, joins as a silent standby."""
import signal
import socket
import subprocess
import textwrap
import threading
import time

import pytest
from scapy.all import Ether, IPv6, Raw, conf
from scapy.layers.inet6 import IPv6ExtHdrRouting

from conftest import Gateway, in_netns, link_mac
from mh_frames import binding_update, bu_packet

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
HOA = "2001:db8:1::100"
COA = "2001:db8:a::100"
TTL_S = 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def etcd(tmp_path):
    """One etcd member on loopback, timed for a 1 s lease (docs/architecture.md)."""
    client, peer = free_port(), free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    proc = subprocess.Popen(
        ["etcd", "--name", "t", "--data-dir", str(tmp_path / "etcd"), "--listen-client-urls", url,
         "--advertise-client-urls", url, "--listen-peer-urls", peer_url,
         "--initial-advertise-peer-urls", peer_url, "--initial-cluster", f"t={peer_url}",
         "--heartbeat-interval", "50", "--election-timeout", "500"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "etcd.log", "w"))
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, (tmp_path / "etcd.log").read_text()[-2000:]
            time.sleep(0.1)
    yield {"endpoint": f"127.0.0.1:{client}", "proc": proc}
    proc.kill()
    proc.wait(timeout=10)


class Bridge:
    """A bridge in namespace `ns` holding `address`, and a veth per gateway into it."""

    def __init__(self, ns, name, address):
        self.ns, self.name = ns, name
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "link", "add", name, "type", "bridge")
        ns.run("ip", "link", "set", name, "up")
        ns.run("ip", "-6", "addr", "add", address, "dev", name, "nodad")
        self.outers = []

    def attach(self, outer):
        inner = "p" + outer[1:]
        subprocess.run(["ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
                        "netns", self.ns.name], check=True)
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1"], check=True)
        subprocess.run(["ip", "link", "set", outer, "up"], check=True)
        self.ns.run("ip", "link", "set", inner, "master", self.name)
        self.ns.run("ip", "link", "set", inner, "up")
        self.outers.append(outer)
        return link_mac(outer)

    def delete(self):
        for outer in self.outers:
            subprocess.run(["ip", "link", "del", outer], check=False, capture_output=True)


def gateway_yaml(home_if, access_if, member, endpoint, prefix):
    return textwrap.dedent(f"""\
        ports:
          - name: home
            device: "net_af_packet0,iface={home_if}"
            addresses: ["{HA}/64"]
          - name: access
            device: "net_af_packet1,iface={access_if}"
            addresses: ["2001:db8:a::1/64"]
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          dad_wait_ms: 100
        heartbeat:
          enabled: false
        state:
          backend: etcd
          durability: sync
          etcd:
            endpoints: ["{endpoint}"]
            prefix: "/monami/{prefix}/"
            member: {member}
            lease_ttl_s: {TTL_S}
        """)


def wait_role(gw, role, seconds=15):
    end = time.time() + seconds
    last = None
    while time.time() < end:
        try:
            last = gw.telemetry("/monami/store")
            if last.get("role") == role and last.get("serving") == ("yes" if role == "leader"
                                                                    else "no"):
                return last
        except Exception:  # noqa: BLE001  (not up yet)
            pass
        time.sleep(0.1)
    raise AssertionError(f"never {role}: {last}")


class Sniffer:
    """Every frame on a namespace's bridge, with its arrival time, until stop()."""

    def __init__(self, ns, iface):
        with in_netns(ns.name):
            self.sock = conf.L2socket(iface=iface)
        self.frames, self.done = [], threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        import select
        while not self.done.is_set():
            if select.select([self.sock], [], [], 0.1)[0]:
                f = self.sock.recv()
                if f is not None:
                    self.frames.append((time.time(), f))

    def send(self, frame):
        self.sock.send(frame)

    def stop(self):
        self.done.set()
        self.thread.join()
        self.sock.close()


def tunnelled_to_hoa(frame):
    """A CN packet for the HoA, tunnelled to the CoA (IPv6 in IPv6, after the Tunnel
    Encapsulation Limit option)."""
    return (IPv6 in frame and frame[IPv6].dst == COA and IPv6 in frame[IPv6].payload
            and frame[IPv6].payload[IPv6].dst == HOA)


def ba_status(frames, after, mac):
    for t, f in frames:
        if t < after or Ether not in f or f[Ether].src != mac or IPv6ExtHdrRouting not in f:
            continue
        mh = bytes(f[IPv6ExtHdrRouting].payload)
        if len(mh) >= 12 and mh[2] == 6:
            return mh[6]
    return None


class Pair:
    """Two gateways of a pair on the shared bridges, sniffers on both bridges, the HoA
    registered through the leader (gw1) and the correspondent pinging it."""

    def __init__(self, tmp_path, prefix, netns_factory, endpoint):
        self.tmp, self.prefix = tmp_path, prefix
        self.home_ns, self.access_ns = netns_factory("ph"), netns_factory("pa")
        self.home = Bridge(self.home_ns, "brh", f"{CN}/64")
        self.access = Bridge(self.access_ns, "bra", f"{COA}/64")
        self.macs, self.gateways, self.ping = {}, {}, None
        self.home_sniff = self.access_sniff = None
        tag = prefix[-5:]
        for n in (1, 2):
            home_if, access_if = f"h{n}{tag}", f"a{n}{tag}"
            self.macs[n] = (self.home.attach(home_if), self.access.attach(access_if))
            (tmp_path / f"gw{n}.yaml").write_text(
                gateway_yaml(home_if, access_if, f"gw{n}", endpoint, tag))
        self.access_ns.run("ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:a::1")
        self.mn_mac = link_mac("bra", self.access_ns.name)
        self.home_sniff = Sniffer(self.home_ns, "brh")
        self.access_sniff = Sniffer(self.access_ns, "bra")

    def start(self, n):
        self.gateways[n] = Gateway(self.tmp / f"gw{n}.yaml", self.prefix + str(n))
        return self.gateways[n]

    def send_bu(self, n, sequence):
        """A BU from the CoA to gateway n; the BA's status (None: no answer)."""
        mark = time.time()
        self.access_sniff.send(Ether(src=self.mn_mac, dst=self.macs[n][1])
                               / bu_packet(COA, HA, HOA, binding_update(sequence, 30)))
        time.sleep(1.0)
        return ba_status(self.access_sniff.frames, mark, self.macs[n][1])

    def start_ping(self):
        """The correspondent pings the HoA, 50 a second."""
        self.ping = subprocess.Popen(["ip", "netns", "exec", self.home_ns.name, "ping", "-6",
                                      "-n", "-i", "0.02", "-w", "60", HOA],
                                     stdout=subprocess.DEVNULL)

    def frames_from(self, n, after=0.0):
        """(time, frame) of everything gateway n sent on either bridge after `after`."""
        return [(t, f) for t, f in self.home_sniff.frames + self.access_sniff.frames
                if t > after and Ether in f and f[Ether].src in self.macs[n]]

    def close(self):
        if self.ping:
            self.ping.kill()
            self.ping.wait()
        for sniffer in (self.home_sniff, self.access_sniff):
            if sniffer:
                sniffer.stop()
        for gw in self.gateways.values():
            if gw.proc.poll() is None:
                gw.proc.kill()
                gw.proc.wait(timeout=10)
        self.home.delete()
        self.access.delete()


@pytest.fixture
def pair(tmp_path, prefix, netns_factory, etcd):
    p = Pair(tmp_path, prefix, netns_factory, etcd["endpoint"])
    try:
        wait_role(p.start(1), "leader")
        standby = wait_role(p.start(2), "standby")
        assert standby["leader"] == "gw1", standby
        assert p.send_bu(1, 1) == 0
        p.start_ping()
        time.sleep(2.0)
        yield p
    finally:
        p.close()


def test_standby_takes_over_without_a_binding_update(pair):
    gw1, gw2 = pair.gateways[1], pair.gateways[2]
    # The standby follows: the binding is in its cache, and not one frame came from it.
    rows = gw2.table("/monami/bindings")
    assert [(r["home_address"], r["care_of"]) for r in rows] == [(HOA, COA)], rows
    assert pair.frames_from(2) == [], [f.summary() for _, f in pair.frames_from(2)[:3]]
    before = [t for t, f in pair.frames_from(1) if tunnelled_to_hoa(f)]
    assert before, "the leader never tunnelled the correspondent's packets"

    gw1.proc.kill()
    killed = time.time()
    gw1.proc.wait(timeout=10)
    taken = wait_role(gw2, "leader")
    assert taken["leader"] == "gw2", taken
    time.sleep(2.0)
    after = [t for t, f in pair.frames_from(2, killed) if tunnelled_to_hoa(f)]
    assert after, "the correspondent's packets never reached the CoA after the takeover"
    print(f"\npair: takeover gap {after[0] - before[-1]:.2f} s from the last packet tunnelled by "
          f"the leader to the first by the new leader (lease TTL {TTL_S} s); killed "
          f"{killed - before[-1]:.2f} s after that last packet")
    # The takeover NAs carry Override: for the HA address and the HoA on the home link.
    targets = set()
    for _, f in pair.frames_from(2, killed):
        icmp = bytes(f[IPv6].payload) if IPv6 in f and f[IPv6].nh == 58 else b""
        if icmp[:1] == b"\x88" and icmp[4] & 0x20:
            targets.add(socket.inet_ntop(socket.AF_INET6, icmp[8:24]))
    assert HOA in targets and HA in targets, targets

    # A BU replayed from before is refused (the sequence number was replicated); the next
    # one is taken.
    assert pair.send_bu(2, 1) == 135
    assert pair.send_bu(2, 2) == 0

    # The old leader comes back as a silent standby.
    mark = time.time()
    back = wait_role(pair.start(1), "standby")
    assert back["leader"] == "gw2", back
    time.sleep(1.0)
    assert pair.frames_from(1, mark) == [], [f.summary() for _, f in pair.frames_from(1, mark)]


def test_a_leader_cut_off_from_etcd_goes_silent_and_never_serves_beside_the_other(pair, etcd):
    """etcd frozen (SIGSTOP): the leader cannot renew its lease and stops sending before the
    lease could have expired; when etcd is back, one gateway leads. At no moment did both
    send (the captures on both bridges, frame by frame)."""
    assert pair.frames_from(1), "the leader sent nothing before the cut"
    etcd["proc"].send_signal(signal.SIGSTOP)
    frozen = time.time()
    try:
        time.sleep(TTL_S + 2.0)
        # Silent within the TTL. (The capture's clock runs in this process: 0.3 s allowed for
        # frames the sniffer thread stamps late.)
        late = pair.frames_from(1, frozen + TTL_S + 0.3)
        assert late == [], [(round(t - frozen, 2), f.summary()) for t, f in late[:3]]
        last = max((t for t, _ in pair.frames_from(1)), default=0)
        print(f"\npair: the leader's last frame {last - frozen:.2f} s after etcd froze "
              f"(lease TTL {TTL_S} s)")
    finally:
        etcd["proc"].send_signal(signal.SIGCONT)
    resumed = time.time()
    # One of them leads again.
    end = time.time() + 15
    leaders = []
    while time.time() < end and len(leaders) != 1:
        leaders = [n for n, gw in pair.gateways.items()
                   if (gw.telemetry("/monami/store") or {}).get("serving") == "yes"]
        time.sleep(0.2)
    assert len(leaders) == 1, leaders
    time.sleep(2.0)
    # Frame by frame: the gateway that does not lead sent nothing once its lease could have
    # run out, and the one that leads sent nothing between then and etcd's return.
    other = 2 if leaders[0] == 1 else 1
    quiet_from = frozen + TTL_S + 0.3
    assert pair.frames_from(other, quiet_from) == [], (other, [
        (round(t - frozen, 2), f.summary()) for t, f in pair.frames_from(other, quiet_from)[:3]])
    first_again = min((t for t, _ in pair.frames_from(leaders[0], quiet_from)), default=None)
    assert first_again is not None and first_again >= resumed, (first_again, resumed)
    print(f"pair: gw{leaders[0]} leads after etcd came back, sending again "
          f"{first_again - resumed:.2f} s later")
