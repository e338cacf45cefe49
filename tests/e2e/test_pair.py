"""A redundant pair on etcd, end to end: a real etcd (Debian's etcd-server, started here with
the short election timeout a 1 s lease needs), two real monami-gw with the same addresses on
a shared home bridge and a shared access bridge (namespaces), a correspondent pinging a home
address registered with a real BU. The standby is silent until the leader is killed with
SIGKILL; then it takes over and the correspondent's packets reach the CoA again with no new
BU (the gap is printed); a BU after the takeover is taken with the replicated sequence number
in force; the old leader, started again, joins as a silent standby."""
import socket
import subprocess
import textwrap
import threading
import time

import pytest
from scapy.all import Ether, IPv6, Raw, conf
from scapy.layers.inet6 import IPv6ExtHdrRouting

from conftest import Gateway, have, in_netns, link_mac
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


@pytest.mark.skipif(not have("etcd"), reason="needs etcd (tools/deps installs etcd-server)")
def test_standby_takes_over_without_a_binding_update(tmp_path, prefix, netns_factory, etcd):
    home_ns, access_ns = netns_factory("ph"), netns_factory("pa")
    home = Bridge(home_ns, "brh", f"{CN}/64")
    access = Bridge(access_ns, "bra", f"{COA}/64")
    tag = prefix[-5:]
    macs, gateways = {}, {}
    try:
        for n in (1, 2):
            home_if, access_if = f"h{n}{tag}", f"a{n}{tag}"
            macs[n] = (home.attach(home_if), access.attach(access_if))
            (tmp_path / f"gw{n}.yaml").write_text(
                gateway_yaml(home_if, access_if, f"gw{n}", etcd["endpoint"], tag))
        access_ns.run("ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:a::1")
        home_sniff, access_sniff = Sniffer(home_ns, "brh"), Sniffer(access_ns, "bra")
        gateways[1] = Gateway(tmp_path / "gw1.yaml", prefix + "1")
        wait_role(gateways[1], "leader")
        gateways[2] = Gateway(tmp_path / "gw2.yaml", prefix + "2")
        standby = wait_role(gateways[2], "standby")
        assert standby["leader"] == "gw1", standby

        # Register the HoA through the leader (a BU from the CoA, as a mobile node sends it).
        access_sniff.send(Ether(src=link_mac("bra", access_ns.name), dst=macs[1][1])
                          / bu_packet(COA, HA, HOA, binding_update(1, 30)))
        time.sleep(1.0)
        assert ba_status(access_sniff.frames, 0, macs[1][1]) == 0
        # The correspondent pings the HoA (50 a second) all along.
        ping = subprocess.Popen(["ip", "netns", "exec", home_ns.name, "ping", "-6", "-n", "-i",
                                 "0.02", "-w", "30", HOA], stdout=subprocess.DEVNULL)
        time.sleep(2.0)
        # The standby follows: the binding is in its cache, and not one frame came from it.
        rows = gateways[2].table("/monami/bindings")
        assert [(r["home_address"], r["care_of"]) for r in rows] == [(HOA, COA)], rows
        from_standby = [f for _, f in home_sniff.frames + access_sniff.frames
                        if Ether in f and f[Ether].src in macs[2]]
        assert from_standby == [], from_standby[:3]
        before = [t for t, f in access_sniff.frames if tunnelled_to_hoa(f)
                  and f[Ether].src == macs[1][1]]
        assert before, "the leader never tunnelled the correspondent's packets"

        gateways[1].proc.kill()
        killed = time.time()
        gateways[1].proc.wait(timeout=10)
        taken = wait_role(gateways[2], "leader")
        assert taken["leader"] == "gw2", taken
        time.sleep(2.0)
        after = [t for t, f in access_sniff.frames if t > killed and tunnelled_to_hoa(f)
                 and f[Ether].src == macs[2][1]]
        assert after, "the correspondent's packets never reached the CoA after the takeover"
        last_before = max(t for t in before)
        print(f"\npair: takeover gap {after[0] - last_before:.2f} s from the last packet "
              f"tunnelled by the leader to the first by the new leader (lease TTL {TTL_S} s); "
              f"killed {killed - last_before:.2f} s after that last packet")
        # The takeover NAs carry Override, for the HoA on the home link among others.
        takeover_nas = [f for t, f in home_sniff.frames if t > killed and Ether in f
                        and f[Ether].src == macs[2][0] and IPv6 in f and f[IPv6].nh == 58
                        and bytes(f[IPv6].payload)[:1] == b"\x88"]
        targets = {socket.inet_ntop(socket.AF_INET6, bytes(f[IPv6].payload)[8:24])
                   for f in takeover_nas if bytes(f[IPv6].payload)[4] & 0x20}
        assert HOA in targets and HA in targets, targets

        # A BU replayed from before is refused (sequence replicated); the next one is taken.
        mark = time.time()
        access_sniff.send(Ether(src=link_mac("bra", access_ns.name), dst=macs[2][1])
                          / bu_packet(COA, HA, HOA, binding_update(1, 30)))
        time.sleep(1.0)
        assert ba_status(access_sniff.frames, mark, macs[2][1]) == 135
        mark = time.time()
        access_sniff.send(Ether(src=link_mac("bra", access_ns.name), dst=macs[2][1])
                          / bu_packet(COA, HA, HOA, binding_update(2, 30)))
        time.sleep(1.0)
        assert ba_status(access_sniff.frames, mark, macs[2][1]) == 0

        # The old leader comes back as a silent standby.
        mark = time.time()
        gateways[1] = Gateway(tmp_path / "gw1.yaml", prefix + "1")
        back = wait_role(gateways[1], "standby")
        assert back["leader"] == "gw2", back
        time.sleep(1.0)
        from_old = [f for t, f in home_sniff.frames + access_sniff.frames
                    if t > mark and Ether in f and f[Ether].src in macs[1]]
        assert from_old == [], from_old[:3]
        ping.kill()
        home_sniff.stop()
        access_sniff.stop()
    finally:
        for gw in gateways.values():
            if gw.proc.poll() is None:
                gw.proc.kill()
                gw.proc.wait(timeout=10)
        home.delete()
        access.delete()
