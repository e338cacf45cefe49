"""A catalogue of hostile inputs against the real monami-gw (security.mode: esp) over veth
links: one case per class, each with its expected answer (nothing, an ICMPv6 error, a
Binding Error), the counter that must account for it, and the binding state checked
unchanged afterwards. A legitimate ESP-protected registration comes first; at the end the
binding still carries traffic to its CoA."""
import struct
import time

import pytest
from scapy.all import (Ether, ICMPv6PacketTooBig, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, Raw, UDP)
from scapy.layers.inet6 import HAO, PadN
from scapy.layers.ipsec import ESP, SecurityAssociation

import mh_frames
from conftest import have, two_link_gateway, two_link_ports

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
HOA = "2001:db8:1::100"
OTHER_HOA = "2001:db8:1::200"
COA, OTHER_COA = "2001:db8:a::100", "2001:db8:a::200"
SPI_IN, SPI_OUT = 4096, 8192
KEY_IN, SALT_IN = "00112233445566778899aabbccddeeff", "a0a1a2a3"
KEY_OUT = "0f0e0d0c0b0a09080706050403020100a4a5a6a7"
TUNNEL_MTU = 1400


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA, OTHER_COA],
            two_link_ports(HA, ["2001:db8:a::1/64"]), f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          max_options_per_message: 16
          dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
        tunnel:
          mtu: {TUNNEL_MTU}
        # The scapy "mobile node" answers no heartbeats, and every answer window here must
        # hold only replies to the frames sent (ESP heartbeats: test_security.py).
        heartbeat: {{enabled: false}}
        security:
          mode: esp
          sas:
            - {{spi: {SPI_IN}, direction: in, home_address: "{HOA}",
               algorithm: aes-gcm-128, key: "{KEY_IN}{SALT_IN}"}}
            - {{spi: {SPI_OUT}, direction: out, home_address: "{HOA}",
               algorithm: aes-gcm-128, key: "{KEY_OUT}"}}
        """)


class Esp:
    """The mobile node's outbound SA, as scapy implements it (RFC 4106 AES-GCM)."""

    def __init__(self, spi=SPI_IN):
        self.sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM",
                                      crypt_key=bytes.fromhex(KEY_IN + SALT_IN))
        self.seq = 0

    def wrap(self, pkt):
        self.seq += 1
        return self.sa.encrypt(IPv6(bytes(pkt)), seq_num=self.seq)


def bu(seq, coa=COA, hoa=HOA, options=b""):
    return mh_frames.bu_packet(coa, HA, hoa, mh_frames.binding_update(seq, 30, options))


def state(gw):
    return sorted((b["home_address"], b["care_of"], b["sequence"])
                  for b in gw.table("/monami/bindings"))


def counters(gw):
    out = dict(gw.telemetry("/monami/control"))
    out.update({"drop_" + k: v for k, v in gw.telemetry("/monami/drops").items()})
    return out


def is_ptb(f):
    return ICMPv6PacketTooBig in f and f[ICMPv6PacketTooBig].mtu == TUNNEL_MTU


def is_binding_error(f):
    return IPv6 in f and f[IPv6].nh == 135 and bytes(f[IPv6].payload)[2] == mh_frames.MH_BE


def catalogue(esp):
    """(name, side, frames, expected answer on that side, counter that must grow)."""
    mh_bu = mh_frames.binding_update(50, 30)
    dest_chain = IPv6(src=COA, dst=HA)
    for _ in range(11):
        dest_chain = dest_chain / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")])
    unknown_options = b"".join(bytes([200 + i % 50, 0]) for i in range(40))
    return [
        ("truncated IPv6 header", "access",
         [b"\x60" + b"\0" * 19], None, "drop_malformed"),
        ("payload length past the frame", "access",
         [bytes(IPv6(src=COA, dst=HA, nh=59, plen=1200) / Raw(b"\0" * 16))], None, "drop_malformed"),
        ("extension header chain of 11 (limit 8)", "access",
         [dest_chain / Raw(mh_bu)], None, "malformed"),
        ("extension header runs past the packet", "access",
         [IPv6(src=COA, dst=HA, nh=60) / Raw(bytes([135, 10]) + b"\x01\x04" + b"\0" * 4)],
         None, "malformed"),
        ("hop-by-hop header not first", "access",
         [IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
          / IPv6ExtHdrHopByHop(nh=135) / Raw(mh_bu)], None, "malformed"),
        ("BU in clear (no ESP)", "access", [bu(60, OTHER_COA)], None, "esp_required_drops"),
        ("BU for a foreign HoA under this MN's SA", "access",
         [esp.wrap(bu(61, OTHER_COA, hoa=OTHER_HOA))], None, "esp_selector_mismatch"),
        ("ESP with an unknown SPI", "access",
         [Esp(0x5555).wrap(bu(62, OTHER_COA))], None, "esp_unknown_spi"),
        ("ESP shorter than IV + ICV", "access",
         [IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(nh=50, options=[HAO(hoa=HOA)])
          / Raw(struct.pack("!II", SPI_IN, 900) + b"\0" * 4)], None, "esp_truncated"),
        ("BU with 40 options (limit 16)", "access",
         [esp.wrap(bu(63, OTHER_COA, options=unknown_options))], None, "mh_malformed"),
        ("unknown MH type inside ESP", "access",
         [esp.wrap(IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(nh=135, options=[HAO(hoa=HOA)])
                   / Raw(checksummed(mh_frames.mh_with_unknown_type(99), HOA, HA)))],
         is_binding_error, "mh_malformed"),
        ("fragmented BU", "access",
         [IPv6(src=COA, dst=HA) / IPv6ExtHdrFragment(nh=135, m=1, id=7) / Raw(mh_bu)],
         None, "not_handled"),
        ("spoofed tunnel: outer source is not the HoA's CoA", "access",
         [IPv6(src=OTHER_COA, dst=HA, nh=41) / IPv6(src=HOA, dst=CN) / UDP() / b"spoof"],
         None, "drop_spoofed_tunnel"),
        ("tunnel for a home address without binding", "access",
         [IPv6(src=COA, dst=HA, nh=41) / IPv6(src=OTHER_HOA, dst=CN) / UDP() / b"x"],
         None, "drop_no_binding"),
        ("packet larger than the tunnel MTU", "home",
         [IPv6(src=CN, dst=HOA) / UDP(sport=1, dport=2) / (b"\0" * (TUNNEL_MTU + 20))],
         is_ptb, "icmp_errors_sent"),
    ]


def checksummed(mh, src, dst):
    from scapy.all import in6_chksum
    mh = bytearray(mh)
    mh[4:6] = struct.pack("!H", in6_chksum(135, IPv6(src=src, dst=dst), bytes(mh)))
    return bytes(mh)


@pytest.mark.skipif(not have("dpdk-telemetry.py"), reason="needs dpdk-telemetry.py")
def test_hostile_input_catalogue(topology):
    gw, sides = topology
    home, access = sides["home"], sides["access"]
    # The CN announces itself so ICMPv6 errors towards it need no resolution.
    from scapy.all import ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr
    home.send(IPv6(src=CN, dst=HA, hlim=255) / ICMPv6ND_NS(tgt=HA)
              / ICMPv6NDOptSrcLLAddr(lladdr=home.link.host_mac))
    esp = Esp()
    access.send(esp.wrap(bu(1)))
    replies = access.answers(1.5)
    assert [f[IPv6].dst for f in replies] == [COA], [f.summary() for f in replies]
    registered = state(gw)
    assert registered == [(HOA, COA, "1")]

    before = counters(gw)
    results = []
    for name, side_name, frames, expected, counter in catalogue(esp):
        side = sides[side_name]
        for f in frames:
            side.send_raw(f) if isinstance(f, bytes) else side.send(f)
        got = side.answers(0.6)
        after = counters(gw)
        if expected is None:
            answered_ok = got == []
        else:
            answered_ok = len(got) == 1 and expected(got[0])
        results.append((name, answered_ok, after.get(counter, 0) - before.get(counter, 0),
                        after["binding_updates"] - before["binding_updates"],
                        [g.summary() for g in got]))
        before = after
    for r in results:
        print(f"{r[0]:55} answered as expected={r[1]} counter+={r[2]} bu+={r[3]} {r[4]}")
    assert state(gw) == registered
    failures = [r for r in results if not (r[1] and r[2] >= 1 and r[3] == 0)]
    assert not failures, "\n".join(map(str, failures))

    # The binding still carries traffic to its CoA.
    home.send(IPv6(src=CN, dst=HOA) / UDP(sport=9, dport=9) / b"still here")
    tunnelled = [f for f in access.answers(1.0) if f[IPv6].dst == COA and UDP in f]
    assert len(tunnelled) == 1


# Sends prebuilt frames on an interface as fast as one Python loop can for `seconds` (at most
# `limit` frames), then prints how many it sent. Runs inside a namespace with `ip netns exec`.
BLAST = """
import socket, sys, time
iface, seconds, limit, path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
frames = open(path, "rb").read().split(b"\\n--frame--\\n")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
sent, end, n = 0, time.monotonic() + seconds, len(frames)
while sent < limit:
    for _ in range(256):
        try:
            s.send(frames[sent % n])
        except OSError:
            pass
        sent += 1
    if time.monotonic() > end:
        break
print(sent)
"""


def home_port_stats(gw):
    """DPDK's own per-port counters of port 0 (the home port)."""
    import json
    import subprocess
    res = subprocess.run(["dpdk-telemetry.py", "-f", gw.prefix], input="/ethdev/stats,0\n",
                         capture_output=True, text=True, timeout=20)
    for line in res.stdout.splitlines():
        line = line.strip().lstrip("-> ").strip()
        if line.startswith("{") and "/ethdev/stats" in line:
            return json.loads(line)["/ethdev/stats"]
    raise AssertionError(res.stdout + res.stderr)


def blast(ns, iface, frames, seconds, limit, path):
    import subprocess
    path.write_bytes(b"\n--frame--\n".join(bytes(f) for f in frames))
    return subprocess.Popen(["ip", "netns", "exec", ns.name, "/usr/bin/python3", "-c", BLAST,
                             iface, str(seconds), str(limit), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not have("dpdk-telemetry.py"), reason="needs dpdk-telemetry.py")
def test_signalling_flood_keeps_data_and_legitimate_bus(topology, tmp_path):
    import random
    gw, sides = topology
    home, access = sides["home"], sides["access"]
    home.send(IPv6(src=CN, dst=HA, hlim=255) / __import__("scapy.all").all.ICMPv6ND_NS(tgt=HA))
    esp = Esp()
    access.send(esp.wrap(bu(1)))
    assert [f[IPv6].dst for f in access.answers(1.5)] == [COA]

    # Junk signalling: ESP "BUs" with random SPIs, half from spoofed random sources (unknown,
    # each with a fresh bucket), half from one source (its token bucket empties).
    rng = random.Random(6)
    junk = []
    for i in range(512):
        src = f"2001:db8:a::{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}" \
            if i % 2 else "2001:db8:a::666"
        junk.append(Ether(src=access.link.host_mac, dst=access.link.gateway_mac)
                    / IPv6(src=src, dst=HA) / IPv6ExtHdrDestOpt(nh=50, options=[HAO(hoa=HOA)])
                    / Raw(struct.pack("!II", rng.randrange(256, 1 << 32), i) + bytes(48)))
    data = [Ether(src=home.link.host_mac, dst=home.link.gateway_mac)
            / IPv6(src=CN, dst=HOA) / UDP(sport=1000 + i, dport=7) / bytes(64) for i in range(64)]
    seconds = 4.0
    before_workers = gw.telemetry("/monami/workers")
    before_home = home_port_stats(gw)
    before = counters(gw)
    flood = blast(access.link.ns, access.link.inner, junk, seconds, 3_000_000, tmp_path / "junk")
    time.sleep(0.5)
    # Data at a moderate rate from the home link while the flood runs.
    data_proc = blast(home.link.ns, home.link.inner, data, 2.0, 20_000, tmp_path / "data")
    # The registered MN refreshes every 20 ms while the flood lasts, like a retransmitting MN
    # (each one a new BU). When the two cores are saturated the kernel drops most frames
    # before the gateway's af_packet ring, legitimate or not: many tries make sure some
    # arrive.
    legitimate = 0
    while flood.poll() is None and legitimate < 400:
        legitimate += 1
        access.send(esp.wrap(bu(1 + legitimate)))
        time.sleep(0.02)
    data_sent = int(data_proc.communicate(timeout=60)[0])
    flood_sent = int(flood.communicate(timeout=60)[0])
    time.sleep(0.5)
    after_workers = gw.telemetry("/monami/workers")
    after_home = home_port_stats(gw)
    after = counters(gw)

    def delta(name, a=after, b=before):
        return a.get(name, 0) - b.get(name, 0)

    received = after_workers["rx_packets"] - before_workers["rx_packets"]
    home_received = after_home["ipackets"] - before_home["ipackets"]
    encapsulated = after_workers["encapsulated"] - before_workers["encapsulated"]
    punted = after_workers["punted"] - before_workers["punted"]
    print(f"flood: {flood_sent} junk frames in {seconds} s ({flood_sent / seconds:.0f}/s), "
          f"gateway received {received} frames; data {data_sent} sent, {home_received} "
          f"received on the home port, {encapsulated} encapsulated; punted {punted}, "
          f"ring full {delta('drop_control_ring_full')}, rate limited "
          f"{delta('control_rate_limited')}, deferred {delta('control_deferred')}, "
          f"deferred drops {delta('control_deferred_drops')}, unknown SPI "
          f"{delta('esp_unknown_spi')}; {legitimate} legitimate BUs, "
          f"{delta('binding_updates')} reached the binding cache, {delta('binding_acks_sent')} BAs")
    assert flood_sent > 10_000
    assert punted + delta("drop_control_ring_full") > 10_000  # the junk reached the gateway
    assert delta("control_rate_limited") > 0
    # Every data packet that reached the gateway was forwarded (only data arrives on the
    # home port). What the kernel drops before the af_packet
    # ring when the machine's two cores are saturated never reaches the gateway.
    assert home_received > 0 and encapsulated >= home_received - 5, (encapsulated, home_received)
    # Legitimate refreshes were answered and applied during the flood.
    assert delta("binding_acks_sent") >= 1
    assert delta("binding_updates") == delta("binding_acks_sent")
    assert int(state(gw)[0][2]) >= 2 and state(gw)[0][:2] == (HOA, COA)
