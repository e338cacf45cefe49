"""Fast path end to end: a mobile node with two care-of addresses registers (bulk BU built
with scapy), then a correspondent node's traffic reaches it through the real monami-gw over
veth links in network namespaces. What the gateway emits is decoded with scapy and tshark."""
import subprocess

import pytest
from scapy.all import (Ether, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrRouting, UDP, raw, wrpcap)

from conftest import binary, final_counters, tshark_rows, two_link_gateway, two_link_ports
from mh_frames import (binding_update, bid_option, bu_packet, flow_id_option, mh_packet,
                       mh_with_unknown_type)

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
HOA = "2001:db8:1::100"
HOA2 = "2001:db8:1::200"
COA1, COA2 = "2001:db8:a::100", "2001:db8:b::100"
NCAST_PORT = 5001


def from_gateway(link):
    return lambda f: Ether in f and f[Ether].src == link.gateway_mac


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1, COA2],
            two_link_ports(HA), f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          max_bindings: 4096
          dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
        heartbeat:
          enabled: false  # scapy does not answer RFC 5847 heartbeats: the CoAs would die
        tunnel:
          mtu: 1400
          encapsulation_limit: 4
        """)


def register(access, seq, lifetime_4s=30, flows=b""):
    mh = binding_update(seq, lifetime_4s,
                        bid_option(1, COA1) + bid_option(2, COA2) + flows)
    access.send(bu_packet(COA1, HA, HOA, mh))
    return access.collect(1.0, lambda f: from_gateway(access.link)(f) and IPv6 in f
                          and f[IPv6].nh in (43, 135))


def tshark_fields(frames, tmp_path, name, *fields, display_filter="mipv6"):
    path = tmp_path / f"{name}.pcap"
    wrpcap(str(path), frames)
    return tshark_rows(path, *fields, display_filter=display_filter)


def test_registration_forwarding_and_filters(topology, tmp_path):
    gw, sides = topology
    home, access = sides["home"], sides["access"]

    # 1. Bulk registration of two CoAs plus a flow binding n-casting UDP/5001 to both.
    replies = register(access, 1, flows=flow_id_option(1, 10, [1, 2], dport=(NCAST_PORT, NCAST_PORT), proto=17))
    assert len(replies) == 1, [r.summary() for r in replies]
    rows = tshark_fields(replies, tmp_path, "ba", "ipv6.dst", "ipv6.routing.type",
                         "mip6.mhtype", "mip6.ba.status", "mip6.ba.seqnr", "mip6.bi.bid",
                         "mip6.bi.status")
    assert rows == [[COA1, "2", "6", "0", "1", "1,2", "0,0"]], rows
    # Wireshark (MIP6_FI = 45) names the flow status option of the BA, independently of
    # monami's registry, which once had the Flow Summary / Flow Identification numbers to
    # be checked.
    verbose = subprocess.run(["tshark", "-r", str(tmp_path / "ba.pcap"), "-V"],
                             capture_output=True, text=True, check=True).stdout
    assert "Mobility Option: Flow Identification (45)" in verbose, verbose

    bindings = gw.table("/monami/bindings")
    assert sorted(b["care_of"] for b in bindings) == [COA1, COA2]
    assert {b["bid"] for b in bindings} == {"1", "2"}
    # The operator CLI shows the same two bindings.
    ctl = subprocess.run([binary("monami-ctl"), "-f", gw.prefix, "bindings"], capture_output=True,
                         text=True, timeout=20)
    assert ctl.returncode == 0, ctl.stderr
    lines = [line.split() for line in ctl.stdout.splitlines()]
    assert lines[0][:4] == ["home_address", "mn_id", "bid", "care_of"]
    assert sorted((l[0], l[2], l[3]) for l in lines[1:-1]) == [(HOA, "1", COA1), (HOA, "2", COA2)]
    assert lines[-1] == ["(2)"]

    # 2. Proxy ND on the home link for the registered HoA.
    ns = (IPv6(src=CN, dst="ff02::1:ff00:100", hlim=255) / ICMPv6ND_NS(tgt=HOA)
          / ICMPv6NDOptSrcLLAddr(lladdr=home.link.host_mac))
    home.send(ns)
    na = home.collect(1.0, lambda f: from_gateway(home.link)(f) and ICMPv6ND_NA in f)
    # First the unsolicited NA sent when the binding was created (RFC 6275 s.10.4.1: to
    # all-nodes, Override set), then the answer to our solicitation (a proxy: no Override).
    assert [(f[IPv6].dst, f[ICMPv6ND_NA].S, f[ICMPv6ND_NA].O) for f in na] == \
        [("ff02::1", 0, 1), (CN, 1, 0)]
    for f in na:
        assert f[ICMPv6ND_NA].tgt == HOA
        assert f[ICMPv6NDOptDstLLAddr].lladdr == home.link.gateway_mac

    # 3. CN -> HoA: unbound flows are tunnelled to one CoA (RFC 2473, TEL option = 4);
    #    the n-cast flow reaches both CoAs.
    for sport in range(40000, 40016):
        home.send(IPv6(src=CN, dst=HOA, hlim=64) / UDP(sport=sport, dport=7000) / b"unicast")
    home.send(IPv6(src=CN, dst=HOA, hlim=64) / UDP(sport=1234, dport=NCAST_PORT) / b"both")
    tunnelled = access.collect(1.5, lambda f: from_gateway(access.link)(f) and IPv6 in f
                               and f[IPv6].src == HA and f[IPv6].nh == 60)
    assert len(tunnelled) == 16 + 2
    for f in tunnelled:
        assert f[IPv6].dst in (COA1, COA2)
        opt = f[IPv6ExtHdrDestOpt]
        assert opt.nh == 41
        tel = [o for o in opt.options if getattr(o, "otype", None) == 4]
        assert len(tel) == 1 and tel[0].tunenclimit == 4 if hasattr(tel[0], "tunenclimit") \
            else raw(opt)[2:5] == b"\x04\x01\x04"
        inner = f[IPv6ExtHdrDestOpt].payload
        assert inner.src == CN and inner.dst == HOA and inner.hlim == 63
    ncast = [f for f in tunnelled if f[UDP].dport == NCAST_PORT]
    assert sorted(f[IPv6].dst for f in ncast) == [COA1, COA2]
    # Independent decode of the tunnel packets.
    rows = tshark_fields(tunnelled, tmp_path, "tunnel", "ipv6.src", "ipv6.dst",
                         "ipv6.opt.tel", "udp.dstport", display_filter="ipv6.nxt == 60")
    assert len(rows) == 18 and all(r[0] == f"{HA},{CN}" and r[2] == "4" for r in rows), rows

    # 4. Reverse tunnel from a registered CoA is decapsulated and routed to the CN; the CN's
    #    address is resolved first (the gateway learns it from the CN's solicitation).
    home.send(IPv6(src=CN, dst=HA, hlim=255) / ICMPv6ND_NS(tgt=HA)
              / ICMPv6NDOptSrcLLAddr(lladdr=home.link.host_mac))
    home.collect(0.3, lambda f: False)
    inner = IPv6(src=HOA, dst=CN, hlim=64) / UDP(sport=5555, dport=6666) / b"reverse"
    access.send(IPv6(src=COA2, dst=HA, nh=41) / inner)
    # 5. A spoofed tunnel (outer source not registered) goes nowhere.
    access.send(IPv6(src="2001:db8:a::200", dst=HA, nh=41)
                / IPv6(src=HOA, dst=CN) / UDP(sport=5555, dport=6667) / b"spoofed")
    got = home.collect(1.0, lambda f: from_gateway(home.link)(f) and UDP in f)
    assert [(f[IPv6].src, f[IPv6].dst, f[UDP].dport, f[IPv6].hlim) for f in got] == \
        [(HOA, CN, 6666, 63)]

    # 5b. A HoA used as the CoA of another (seed 6.3.1): MN B registers HoA A as its CoA; its BU
    #     arrives through A's reverse tunnel, its BA and its traffic follow the chain.
    access.collect(0.2, lambda f: False)
    bu_b = bu_packet(HOA, HA, HOA2, binding_update(1, 30))
    access.send(IPv6(src=COA1, dst=HA, nh=41) / bu_b)
    ba_b = access.collect(1.0, lambda f: from_gateway(access.link)(f) and IPv6 in f
                          and f[IPv6].src == HA and f[IPv6].nh == 60)
    assert len(ba_b) == 1, [f.summary() for f in ba_b]
    inner = ba_b[0][IPv6ExtHdrDestOpt].payload
    assert inner.src == HA and inner.dst == HOA and IPv6ExtHdrRouting in inner
    assert inner[IPv6ExtHdrRouting].addresses == [HOA2]
    home.send(IPv6(src=CN, dst=HOA2, hlim=64) / UDP(sport=4242, dport=7000) / b"chained")
    chained = access.collect(1.0, lambda f: from_gateway(access.link)(f) and UDP in f)
    assert len(chained) == 1
    outer = chained[0][IPv6]
    middle = outer[IPv6ExtHdrDestOpt].payload
    innermost = middle[IPv6ExtHdrDestOpt].payload
    assert outer.dst in (COA1, COA2) and (middle.src, middle.dst) == (HA, HOA)
    assert (innermost.src, innermost.dst, innermost[UDP].dport) == (CN, HOA2, 7000)
    # RFC 2473 s.4.1.1: the outer tunnel's limit is one less than the one it carries.
    assert raw(outer[IPv6ExtHdrDestOpt])[2:5] == b"\x04\x01\x03"
    assert raw(middle[IPv6ExtHdrDestOpt])[2:5] == b"\x04\x01\x04"

    # 6. Too big for the tunnel MTU (1400): ICMPv6 Packet Too Big back to the CN.
    home.send(IPv6(src=CN, dst=HOA) / UDP(sport=1, dport=7000) / (b"x" * 1420))
    ptb = home.collect(1.0, lambda f: from_gateway(home.link)(f) and ICMPv6PacketTooBig in f)
    assert len(ptb) == 1, [p.summary() for p in ptb]
    assert ptb[0][ICMPv6PacketTooBig].mtu == 1400
    assert ptb[0][IPv6].dst == CN
    rows = tshark_fields(ptb, tmp_path, "ptb", "icmpv6.type", "icmpv6.mtu",
                         "icmpv6.checksum.status", display_filter="icmpv6")
    assert rows == [["2", "1400", "1"]]

    # 7. An unknown MH type gets a Binding Error, status 2.
    access.send(mh_packet(COA1, HA, mh_with_unknown_type()))
    be = access.collect(1.0, lambda f: from_gateway(access.link)(f) and IPv6 in f and f[IPv6].nh == 135)
    rows = tshark_fields(be, tmp_path, "be", "mip6.mhtype", "mip6.be.status")
    assert rows == [["7", "2"]]

    # 8. Deregistration of both BIDs: BA, the bindings and proxy ND are gone.
    replies = access.collect(0.1, lambda f: False)
    mh = binding_update(2, 0, bid_option(1, COA1) + bid_option(2, COA2))
    access.send(bu_packet(COA1, HA, HOA, mh))
    replies = access.collect(1.0, lambda f: from_gateway(access.link)(f) and IPv6 in f
                             and f[IPv6].nh in (43, 135))
    rows = tshark_fields(replies, tmp_path, "dereg", "mip6.ba.status", "mip6.ba.lifetime")
    assert rows and rows[0][0] == "0" and rows[0][1] == "0", rows
    assert [b["home_address"] for b in gw.table("/monami/bindings")] == [HOA2]
    home.send(ns)
    assert home.collect(1.0, lambda f: from_gateway(home.link)(f) and ICMPv6ND_NA in f) == []
    home.send(IPv6(src=CN, dst=HOA) / UDP(sport=2, dport=7000) / b"after")
    assert access.collect(0.5, lambda f: from_gateway(access.link)(f) and UDP in f) == []

    code, out, err = gw.stop()
    assert code == 0, err
    c = final_counters(out)
    assert c["spoofed_tunnel"] == 1
    assert c["decapsulated"] == 2  # the reverse packet and B's BU
    # 18 + B's BA + 2 for the chained packet, plus perhaps the CN kernel's Port Unreachable.
    assert c["encapsulated"] in (21, 22)
    assert c["binding_updates"] == 3 and c["binding_acks_sent"] == 3
    assert c["binding_errors_sent"] == 1
    assert c["proxy_neighbor_advertisements"] >= 1  # the CN kernel may ask too
