"""Protocol conformance through the real monami-gw, one case per RFC rule (the rule table is
docs/conformance.md): each Binding Update is built byte by byte with scapy, the gateway's
answer is decoded with tshark, and the binding cache is checked unchanged after every
rejection."""
import struct
import subprocess

import pytest
from scapy.all import Ether, IPv6, wrpcap

from conftest import two_link_gateway
from mh_frames import (OPT_BID, binding_update, bid_option, bu_packet, flow_id_option,
                       flow_summary_option)

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
HOA = "2001:db8:1::100"
COA1, COA2 = "2001:db8:a::100", "2001:db8:b::100"


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1, COA2], f"""\
        ports:
          - name: home
            device: "net_af_packet0,iface={{home}}"
            addresses: ["{HA}/64"]
          - name: access
            device: "net_af_packet1,iface={{access}}"
            addresses: ["2001:db8:a::1/64", "2001:db8:b::1/64"]
        """, f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          refresh_request_before_expiry: 4
        heartbeat:
          enabled: false  # scapy answers no heartbeats
        """)


def answers(access, frames, seconds=1.0):
    for f in frames:
        access.send(f)
    return access.collect(seconds, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                          and IPv6 in f and f[IPv6].nh in (43, 135))


def tshark(frames, tmp_path, name, *fields):
    path = tmp_path / f"{name}.pcap"
    wrpcap(str(path), frames)
    cmd = ["tshark", "-r", str(path), "-Y", "mipv6", "-T", "fields", "-E", "separator=|",
           "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def bindings(gw):
    return sorted((b["home_address"], b["bid"], b["care_of"], b["sequence"])
                  for b in gw.table("/monami/bindings"))


def test_binding_identifier_of_wrong_length_is_answered_mcoa_malformed(topology, tmp_path):
    """RFC 5648 s.6.1: a Binding Identifier option is 4, 8 or 20 bytes long; any other length
    makes the home agent reject the BU with status 164 (MCOA MALFORMED)."""
    gw, sides = topology
    access = sides["access"]
    ok = answers(access, [bu_packet(COA1, HA, HOA, binding_update(
        1, 30, bid_option(1, COA1) + bid_option(2, COA2)))])
    assert len(ok) == 1
    before = bindings(gw)
    assert [b[2] for b in before] == [COA1, COA2], before
    for n, length in enumerate((3, 5, 12, 21)):
        body = struct.pack("!H", 1) + b"\0" * (length - 2)  # BID 1, then a wrong-sized rest
        bad = bytes([OPT_BID, length]) + body
        replies = answers(access, [bu_packet(COA1, HA, HOA, binding_update(10 + n, 30, bad))])
        assert len(replies) == 1, (length, [r.summary() for r in replies])
        rows = tshark(replies, tmp_path, f"ba{length}", "ipv6.dst",
                      "ipv6.routing.mipv6.home_address", "mip6.mhtype", "mip6.ba.status",
                      "mip6.ba.seqnr", "mip6.ba.lifetime")
        assert rows == [[COA1, HOA, "6", "164", str(10 + n), "0"]], (length, rows)
        assert bindings(gw) == before, length  # the cache did not change
    control = gw.telemetry("/monami/control")
    assert control["mh_malformed"] >= 4 and control["home_addresses"] == 1, control


def test_bad_payload_proto_or_header_len_gets_a_parameter_problem(topology, tmp_path):
    """RFC 6275 s.9.2: a Mobility Header whose Payload Proto is not 59, or whose Header Len is
    below its type's minimum, is discarded and answered with an ICMPv6 Parameter Problem,
    code 0, whose pointer (RFC 4443 s.3.4) is that field's offset in the packet."""
    gw, sides = topology
    access = sides["access"]
    answers(access, [bu_packet(COA1, HA, HOA, binding_update(1, 30, bid_option(1, COA1)))])
    before = bindings(gw)
    assert len(before) == 1, before
    valid = bu_packet(COA1, HA, HOA, binding_update(2, 30))
    ip = bytearray(bytes(valid))
    mh_at = len(ip) - len(binding_update(2, 30))  # after the fixed header and HAO options
    cases = []
    proto = bytearray(binding_update(2, 30))
    proto[0] = 58  # Payload Proto must be IPPROTO_NONE (59)
    cases.append(("proto", bytes(proto), mh_at))
    short = bytearray(binding_update(2, 30)[:8])
    short[1] = 0  # Header Len 0: 8 bytes, a BU needs 12
    cases.append(("header_len", bytes(short), mh_at + 1))
    for name, mh, pointer in cases:
        frame = bu_packet(COA1, HA, HOA, mh)  # checksum over the broken MH: only the field is wrong
        access.send(frame)
        replies = access.collect(1.0, lambda f: Ether in f and
                                 f[Ether].src == access.link.gateway_mac and IPv6 in f and
                                 f[IPv6].nh == 58)
        path = tmp_path / f"pp-{name}.pcap"
        wrpcap(str(path), replies)
        out = subprocess.run(
            ["tshark", "-r", str(path), "-Y", "icmpv6.type == 4", "-T", "fields", "-E",
             "separator=|", "-E", "occurrence=f",  # the error's own header, not the quoted one
             "-e", "ipv6.dst", "-e", "icmpv6.code", "-e", "icmpv6.pointer"],
            capture_output=True, text=True, check=True).stdout.split()
        assert out == [f"{COA1}|0|{pointer}"], (name, out, [r.summary() for r in replies])
        assert bindings(gw) == before, name


def test_mobile_prefix_solicitation_from_away(topology, tmp_path):
    """RFC 6275 s.6.7, s.11.4.2: a registered mobile node solicits from its CoA with a Home
    Address option, or reverse-tunnelled from its home address; s.6.8, s.10.6.3: the
    advertisement goes to a CoA with a type 2 routing header naming the home address, the
    Identifier echoed. s.9.3.1: from a CoA the home address is not bound to, the Home
    Address option is not trusted: no advertisement, a Binding Error status 1."""
    from scapy.layers.inet6 import HAO, ICMPv6MPSol, IPv6ExtHdrDestOpt
    gw, sides = topology
    access = sides["access"]
    answers(access, [bu_packet(COA1, HA, HOA, binding_update(1, 30, bid_option(1, COA1)))])
    before = bindings(gw)

    def advertisements(name):
        replies = access.collect(1.0, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                                 and IPv6 in f and f[IPv6].nh in (43, 135))
        path = tmp_path / f"{name}.pcap"
        wrpcap(str(path), replies)
        out = subprocess.run(
            ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|", "-e", "ipv6.dst",
             "-e", "ipv6.routing.type", "-e", "ipv6.routing.mipv6.home_address", "-e",
             "icmpv6.type", "-e", "icmpv6.mip6.identifier", "-e", "icmpv6.checksum.status",
             "-e", "icmpv6.opt.prefix", "-e", "mip6.mhtype", "-e", "mip6.be.status", "-e",
             "mip6.be.haddr"],
            capture_output=True, text=True, check=True).stdout.split()
        return out, [r.summary() for r in replies]

    # From the CoA, Home Address option: scapy computes the checksum over the home address.
    access.send(IPv6(src=COA1, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
                / ICMPv6MPSol(id=0x4242))
    out, seen = advertisements("mpa-hao")
    # Identifier echoed, checksum good (Wireshark's status 1, computed over the final
    # destination, the HoA), one Prefix Information option carrying the HA's own address (R).
    assert out == [f"{COA1}|2|{HOA}|147|{0x4242}|1|{HA}|||"], (out, seen)

    # Reverse-tunnelled from the home address through COA1: answered at COA1 the same way.
    access.send(IPv6(src=COA1, dst=HA, nh=41) / IPv6(src=HOA, dst=HA) / ICMPv6MPSol(id=0x4343))
    out, seen = advertisements("mpa-tunnel")
    assert out == [f"{COA1}|2|{HOA}|147|{0x4343}|1|{HA}|||"], (out, seen)

    # From COA2, where the home address has no binding: a Binding Error, no advertisement.
    access.send(IPv6(src=COA2, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
                / ICMPv6MPSol(id=0x4444))
    out, seen = advertisements("be-unbound")
    assert out == [f"{COA2}|||||||7|1|{HOA}"], (out, seen)

    control = gw.telemetry("/monami/control")
    assert control["mobile_prefix_advertisements"] == 2, control
    assert control["binding_errors_sent"] == 1, control
    assert bindings(gw) == before


def test_binding_updates_rejected_or_discarded(topology, tmp_path):
    """RFC 5648 s.6.2: two Binding Identifier options with one BID: MCOA MALFORMED (164).
    RFC 6275 s.9.5.1: no answer at all for a home address that is not unicast routable (the
    home prefix's Subnet-Router and Home-Agents anycast addresses), for a home registration
    carrying a Nonce Indices option, or for a correspondent registration (H clear) without the
    return routability options; one with them is answered 138 (monami gave out no nonces).
    The binding cache is unchanged after each. RFC 5648 s.6.4: a BRR names the BID it is for."""
    gw, sides = topology
    access = sides["access"]
    bulk = bid_option(1, COA1) + bid_option(2, COA2)
    assert len(answers(access, [bu_packet(COA1, HA, HOA, binding_update(1, 30, bulk))])) == 1
    before = bindings(gw)

    def ba_of(frame, name):
        replies = answers(access, [frame], seconds=0.6)
        rows = tshark(replies, tmp_path, name, "ipv6.dst", "mip6.ba.status", "mip6.ba.seqnr")
        assert bindings(gw) == before, name
        return rows

    duplicate = bid_option(1, COA1) + bid_option(1, COA2)
    assert ba_of(bu_packet(COA1, HA, HOA, binding_update(2, 30, duplicate)), "dup") == \
        [[COA1, "164", "2"]]
    nonce_indices = bytes([4, 4, 0, 1, 0, 2])  # at offset 12: 2n-aligned
    authorization = bytes([5, 12]) + b"\xab" * 12  # then at 8n+2
    anycast = "2001:db8:1::fdff:ffff:ffff:fffe"
    for name, frame in [
            ("ha-anycast", bu_packet(COA1, HA, anycast, binding_update(3, 30, bid_option(1, COA1)))),
            ("router-anycast", bu_packet(COA1, HA, "2001:db8:1::", binding_update(3, 30))),
            ("nonce-with-h", bu_packet(COA1, HA, HOA, binding_update(3, 30, nonce_indices))),
            ("h-clear", bu_packet(COA1, HA, HOA, binding_update(3, 30, home=False)))]:
        assert ba_of(frame, name) == [], name
    assert ba_of(bu_packet(COA1, HA, HOA, binding_update(
        4, 30, nonce_indices + authorization, home=False)), "rr") == [[COA1, "138", "4"]]
    control = gw.telemetry("/monami/control")
    assert control["binding_updates_discarded"] == 4, control
    assert control["mh_malformed"] == 1, control  # the duplicate BID

    # A short-lived bulk registration (8 s; BRRs 4 s before expiry): one BRR per binding, to
    # its CoA with a type 2 routing header, naming its BID.
    assert len(answers(access, [bu_packet(COA1, HA, HOA, binding_update(5, 2, bulk))])) == 1
    brrs = access.collect(6.0, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                          and IPv6 in f and f[IPv6].nh == 43)
    rows = tshark(brrs, tmp_path, "brr", "ipv6.dst", "ipv6.routing.mipv6.home_address",
                  "mip6.mhtype", "mip6.bi.bid")
    assert sorted(rows) == [[COA1, HOA, "0", "1"], [COA2, HOA, "0", "2"]], rows


def test_binding_errors_are_rate_limited_and_never_to_unspecified(topology):
    """RFC 6275 s.9.3.3: Binding Errors are rate-limited like ICMPv6 errors (RFC 4443
    s.2.4(f), one bucket) and never sent to a source that is not unicast."""
    from scapy.all import Raw
    from mh_frames import mh_packet, mh_with_unknown_type
    gw, sides = topology
    access = sides["access"]
    bulk = bid_option(1, COA1) + bid_option(2, COA2)
    assert len(answers(access, [bu_packet(COA1, HA, HOA, binding_update(1, 30, bulk))])) == 1
    frames = [bytes(Ether(src=access.link.host_mac, dst=access.link.gateway_mac)
                    / mh_packet(src, HA, mh_with_unknown_type())) for src in (COA1, COA2)] * 150
    for f in frames:
        access.sock.send(Raw(f))
    errors = access.collect(2.0, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                            and IPv6 in f and f[IPv6].nh == 135)
    control = gw.telemetry("/monami/control")
    assert len(errors) == control["binding_errors_sent"], control
    assert control["icmp_errors_rate_limited"] > 0, control
    assert len(errors) + control["icmp_errors_rate_limited"] <= len(frames), control
    sent = control["binding_errors_sent"]
    access.send(mh_packet("::", HA, mh_with_unknown_type()))
    assert access.collect(0.6, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                          and IPv6 in f and f[IPv6].nh == 135) == []
    assert gw.telemetry("/monami/control")["binding_errors_sent"] == sent


def flow_answers(ba):
    """(FID, Reserved, Status) of each Flow Identification option (RFC 6089 s.4.2) in a BA,
    read from the raw Mobility Header: tshark names the option but not its fields."""
    from scapy.layers.inet6 import IPv6ExtHdrRouting
    mh = bytes(ba[IPv6ExtHdrRouting].payload)
    out, at, end = [], 12, (mh[1] + 1) * 8  # options follow the 12-octet BA
    while at < end:
        if mh[at] == 0:  # Pad1
            at += 1
            continue
        if mh[at] == 45:
            fid, _, reserved, status = struct.unpack("!HHBB", mh[at + 2:at + 8])
            out.append((fid, reserved, status))
        at += 2 + mh[at + 1]
    return out


def test_flow_bindings_kept_by_summary_and_removed_by_omission(topology, tmp_path):
    """RFC 6089 s.4.2: the octet after FID-PRI is Reserved, ignored on receipt and sent as 0.
    s.5: a BU names every flow binding the MN keeps, in a Flow Identification option or in
    the Flow Summary; one left out is removed, all of them when the BU carries neither; an
    unknown FID in the summary is answered FID NOT FOUND (132). Each step is checked in the
    cache and in the data path: an n-cast flow reaches both CoAs, an unbound one one CoA."""
    from scapy.layers.inet6 import UDP
    gw, sides = topology
    home, access = sides["home"], sides["access"]
    bids = bid_option(1, COA1) + bid_option(2, COA2)

    def bu(seq, flow_options=b""):
        replies = answers(access, [bu_packet(COA1, HA, HOA, binding_update(seq, 30, bids + flow_options))])
        assert len(replies) == 1, (seq, [r.summary() for r in replies])
        rows = tshark(replies, tmp_path, f"ba-flows-{seq}", "ipv6.dst", "mip6.ba.status",
                      "mip6.ba.seqnr", "mip6.mobility_opt")
        return rows[0], flow_answers(replies[0])

    def copies(dport):
        home.send(IPv6(src=CN, dst=HOA, hlim=64) / UDP(sport=1234, dport=dport) / b"flow")
        out = access.collect(1.0, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                             and IPv6 in f and f[IPv6].src == HA and UDP in f
                             and f[UDP].dport == dport)
        return sorted(f[IPv6].dst for f in out)

    def flows():
        return gw.telemetry("/monami/summary")["flows"]

    # Two n-cast flows; the first one's Reserved octet is set and must be read as 0.
    row, flow_status = bu(1, flow_id_option(1, 10, [1, 2], dport=(7000, 7000), proto=17,
                                            reserved=0xff) +
                          flow_id_option(2, 20, [1, 2], dport=(7001, 7001), proto=17))
    assert row[:3] == [COA1, "0", "1"] and "45" in row[3].split(","), row
    assert flow_status == [(1, 0, 0), (2, 0, 0)]  # Reserved written 0 in the answers
    assert flows() == 2
    assert [r["flows"] for r in gw.table(f"/monami/binding,{HOA}")] == ["1,2", "1,2"]
    assert copies(7000) == [COA1, COA2] and copies(7001) == [COA1, COA2]
    with_both = bindings(gw)

    # Flow 1 kept by the summary, flow 2 left out: removed.
    row, flow_status = bu(2, flow_summary_option([1]))
    assert row[:3] == [COA1, "0", "2"] and flow_status == [], (row, flow_status)
    assert flows() == 1
    assert copies(7000) == [COA1, COA2] and len(copies(7001)) == 1
    kept = [(b[0], b[1], b[2]) for b in bindings(gw)]
    assert kept == [(h, bid, coa) for h, bid, coa, _ in with_both]

    # A rejected BU (sequence 2 again: 135) changes nothing, whatever its flow options say.
    row, flow_status = bu(2, flow_id_option(3, 30, [1], dport=(7002, 7002), proto=17))
    assert row[1] == "135" and flow_status == [], row
    assert flows() == 1 and copies(7000) == [COA1, COA2] and len(copies(7002)) == 1

    # The summary names a FID this HA does not hold: 132 for it, flow 1 kept.
    row, flow_status = bu(3, flow_summary_option([1, 9]))
    assert row[1] == "0" and flow_status == [(9, 0, 132)], (row, flow_status)
    assert flows() == 1

    # Neither option: every flow binding goes, the bindings stay.
    row, flow_status = bu(4)
    assert row[1] == "0" and flow_status == [], (row, flow_status)
    assert flows() == 0
    assert len(copies(7000)) == 1
    assert [b[2] for b in bindings(gw)] == [COA1, COA2]
    rows = gw.table(f"/monami/binding,{HOA}")
    assert all(r["flows"] == "-" for r in rows), rows
