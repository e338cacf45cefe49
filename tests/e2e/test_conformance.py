"""Protocol conformance through the real monami-gw, one case per RFC rule (the rule table is
docs/conformance.md): each Binding Update is built byte by byte with scapy, the gateway's
answer is decoded with tshark, and the binding cache is checked unchanged after every
rejection."""
import struct
import subprocess

import pytest
from scapy.all import Ether, IPv6, wrpcap

from conftest import tshark_rows, two_link_gateway, two_link_ports
from mh_frames import (OPT_BID, binding_update, bid_option, bu_packet, flow_id_option,
                       flow_summary_option)

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
HOA = "2001:db8:1::100"
COA1, COA2 = "2001:db8:a::100", "2001:db8:b::100"


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1, COA2],
            two_link_ports(HA), f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          refresh_request_before_expiry: 4
          refresh_advice: 4
          dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
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
    return tshark_rows(path, *fields, display_filter="mipv6")


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
    # s.9.2: a wrong checksum, silently discarded.
    broken = bytearray(bytes(bu_packet(COA1, HA, HOA, binding_update(4, 30))))
    broken[-10] ^= 0xff  # inside the Mobility Header: the checksum no longer matches
    access.send_raw(bytes(broken))
    assert access.collect(0.6, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                          and IPv6 in f and f[IPv6].nh == 43) == []
    assert bindings(gw) == before
    # s.10.3.1: outside every home prefix, 132; s.10.3.2: de-registering an unknown one, 133.
    assert ba_of(bu_packet(COA1, HA, "2001:db8:2::100", binding_update(5, 30)), "prefix") == \
        [[COA1, "132", "5"]]
    assert ba_of(bu_packet(COA1, HA, "2001:db8:1::200", binding_update(5, 0)), "unknown") == \
        [[COA1, "133", "5"]]
    control = gw.telemetry("/monami/control")
    assert control["binding_updates_discarded"] == 4, control
    assert control["mh_malformed"] == 2, control  # the duplicate BID, the checksum

    # A short-lived bulk registration (8 s; BRRs 4 s before expiry): one BRR per binding, to
    # its CoA with a type 2 routing header, naming its BID.
    ack = answers(access, [bu_packet(COA1, HA, HOA, binding_update(6, 2, bulk))])
    # s.10.3.1: the Binding Refresh Advice (refresh_advice: 4 s) is below the lifetime.
    assert tshark(ack, tmp_path, "bra", "mip6.ba.status", "mip6.ba.lifetime",
                  "mip6.bra.interval") == [["0", "2", "1"]]
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


def bid_rows(replies, tmp_path, name):
    """(destination, BA status, sequence, BIDs, BID statuses) of each BA, as tshark decodes it
    (inside the tunnel too, for a BA to a bound home address)."""
    return tshark(replies, tmp_path, name, "ipv6.dst", "mip6.ba.status", "mip6.ba.seqnr",
                  "mip6.bi.bid", "mip6.bi.status")


def test_mcoa_status_codes(topology, tmp_path):
    """RFC 5648 s.6.2: 165 for a BID while a binding without BID exists; a BU without BID
    replaces every binding; bulk registration with a failing BID is 4 (NOTCOMPLETE) with the
    status in each BID option; a BID sent from home without a CoA is 167; a BID with the H
    flag marks that interface at home (5); a de-registration naming only unknown BIDs, 133."""
    gw, sides = topology
    access = sides["access"]

    def ba(frame, name, seconds=1.0):
        access.send(frame)
        replies = access.collect(seconds, lambda f: Ether in f
                                 and f[Ether].src == access.link.gateway_mac and IPv6 in f
                                 and f[IPv6].nh in (41, 43, 60))
        return bid_rows(replies, tmp_path, name)

    regular = bu_packet(COA1, HA, HOA, binding_update(1, 30))
    assert ba(regular, "regular") == [[COA1, "0", "1", "", ""]]
    before = bindings(gw)
    assert [(b[1], b[2]) for b in before] == [("-", COA1)], before
    assert ba(bu_packet(COA1, HA, HOA, binding_update(2, 30, bid_option(1, COA2))), "165") == \
        [[COA1, "165", "2", "1", "165"]]
    assert bindings(gw) == before
    # A bulk registration after the regular binding is de-registered; a BU without BID then
    # replaces both bindings again.
    assert ba(bu_packet(COA1, HA, HOA, binding_update(3, 0)), "dereg")[0][1] == "0"
    bulk = bid_option(1, COA1) + bid_option(2, COA2)
    assert ba(bu_packet(COA1, HA, HOA, binding_update(4, 30, bulk)), "bulk") == \
        [[COA1, "0", "4", "1,2", "0,0"]]
    # One BID's CoA is link-local (invalid, 174): the others are bound, the BA says 4.
    partial = bid_option(1, COA1) + bid_option(3, "fe80::5")
    assert ba(bu_packet(COA1, HA, HOA, binding_update(5, 30, partial)), "notcomplete") == \
        [[COA1, "4", "5", "1,3", "0,174"]]
    assert sorted((b[1], b[2]) for b in bindings(gw)) == [("1", COA1), ("2", COA2)]
    # From the home address itself (no Home Address option), a BID without a CoA: 167. The
    # BA goes to the home address, through its tunnel.
    from mh_frames import mh_packet
    home_bu = mh_packet(HOA, HA, binding_update(6, 30, bid_option(3)))
    rows = ba(home_bu, "167")
    assert [r[1:] for r in rows] == [["167", "6", "3", "167"]], rows
    # BID 2 back home (H flag): 5, bound at home; BID 1 stays away.
    assert ba(bu_packet(COA1, HA, HOA, binding_update(7, 30, bid_option(2, home=True))),
              "home") == [[COA1, "5", "7", "2", "0"]]
    rows = {r["bid"]: r for r in gw.table(f"/monami/binding,{HOA}")}
    assert rows["2"]["at_home"] == "yes" and rows["1"]["care_of"] == COA1, rows
    # De-registering only an unknown BID: 133, nothing removed.
    before = bindings(gw)
    assert ba(bu_packet(COA1, HA, HOA, binding_update(8, 0, bid_option(9))), "133") == \
        [[COA1, "133", "8", "9", "133"]]
    assert bindings(gw) == before
    # A BU without BID replaces every binding with one.
    assert ba(bu_packet(COA2, HA, HOA, binding_update(9, 30)), "replace")[0][1] == "0"
    assert [(b[1], b[2]) for b in bindings(gw)] == [("-", COA2)]


@pytest.fixture(params=["allow_mcoa: false",
                        "allow_bulk_registration: false\n  allow_simultaneous_home_foreign: false"])
def restricted(request, tmp_path, prefix, netns_factory):
    """The gateway with MCoA, or bulk registration and simultaneous home and foreign
    bindings, refused by configuration: yields (the refusing keys, gateway, sides)."""
    for gw, sides in two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1, COA2],
            two_link_ports(HA), f"""\
home_agent:
  addresses: ["{HA}"]
  home_prefixes: ["2001:db8:1::/64"]
  dad_wait_ms: 100
  {request.param}
heartbeat:
  enabled: false
"""):
        yield request.param, gw, sides


def test_mcoa_refused_by_configuration(restricted, tmp_path):
    """RFC 5648 s.6.2: MCoA refused by configuration is 166; bulk registration refused, 168;
    simultaneous home and foreign bindings refused, 169 in the BID option."""
    extra, gw, sides = restricted
    access = sides["access"]
    bulk = bid_option(1, COA1) + bid_option(2, COA2)
    rows = tshark(answers(access, [bu_packet(COA1, HA, HOA, binding_update(1, 30, bulk))]),
                  tmp_path, "bulk", "mip6.ba.status", "mip6.bi.status")
    if "allow_mcoa" in extra:
        assert rows == [["166", "166,166"]], rows
        assert bindings(gw) == []
        return
    assert rows == [["168", "168,168"]], rows
    one = answers(access, [bu_packet(COA1, HA, HOA, binding_update(2, 30, bid_option(1, COA1)))])
    assert tshark(one, tmp_path, "one", "mip6.ba.status") == [["0"]]
    before = bindings(gw)
    home = answers(access, [bu_packet(COA1, HA, HOA, binding_update(
        3, 30, bid_option(2, home=True)))])
    assert tshark(home, tmp_path, "169", "mip6.ba.status", "mip6.bi.status") == [["169", "169"]]
    assert bindings(gw) == before


HOA_TAKEN = "2001:db8:1::300"  # a host on the home link owns it


@pytest.fixture
def dad_topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN, HOA_TAKEN], [COA1, COA2],
            two_link_ports(HA), f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
        heartbeat:
          enabled: false
        """)


def test_duplicate_address_detection(dad_topology, tmp_path):
    """RFC 6275 s.10.3.1: before a first registration the home agent runs DAD (RFC 4862) for
    the home address on the home link, and for the link-local address when L is set; a node
    that owns the address defends it and the BU is rejected with 134. s.10.4.1: with L the
    link-local address is then defended by proxy too; s.10.4.2: packets to it are not
    tunnelled."""
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, UDP
    gw, sides = dad_topology
    home, access = sides["home"], sides["access"]
    # The home host's kernel answers the probe for the address it owns.
    taken = answers(access, [bu_packet(COA1, HA, HOA_TAKEN, binding_update(
        1, 30, bid_option(1, COA1)))], seconds=2.5)
    assert tshark(taken, tmp_path, "134", "ipv6.dst", "ipv6.routing.mipv6.home_address",
                  "mip6.ba.status", "mip6.ba.lifetime", "mip6.bi.status") == \
        [[COA1, HOA_TAKEN, "134", "0", "134"]]
    assert bindings(gw) == []
    # A free address with L: two probes on the home link, then the BA (after the wait).
    access.send(bu_packet(COA1, HA, HOA, binding_update(1, 30, bid_option(1, COA1),
                                                        link_local=True)))
    probes = home.collect(0.8, lambda f: home.from_gateway(f) and ICMPv6ND_NS in f
                          and f[IPv6].src == "::")
    # (The first BU's probe, for the taken address, is among them.)
    assert sorted(f[ICMPv6ND_NS].tgt for f in probes) == [HOA, HOA_TAKEN, "fe80::100"]
    assert all(ICMPv6NDOptSrcLLAddr not in f for f in probes)  # RFC 4861 s.4.3
    ok = access.collect(1.5, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                        and IPv6 in f and f[IPv6].nh == 43)
    assert tshark(ok, tmp_path, "ok", "mip6.ba.status") == [["0"]]
    assert [b[0] for b in bindings(gw)] == [HOA]
    control = gw.telemetry("/monami/control")
    assert control["dad_probes_sent"] == 3 and control["dad_duplicates"] == 1, control
    # The link-local address is defended by proxy on the home link.
    home.send(IPv6(src="fe80::99", dst="ff02::1:ff00:100", hlim=255) / ICMPv6ND_NS(tgt="fe80::100")
              / ICMPv6NDOptSrcLLAddr(lladdr=home.link.host_mac))
    na = home.collect(1.0, lambda f: home.from_gateway(f) and ICMPv6ND_NA in f
                      and f[ICMPv6ND_NA].tgt == "fe80::100")
    # The unsolicited NA of the registration (Override set), then the proxy's answer.
    assert [(f[IPv6].dst, f[ICMPv6ND_NA].S, f[ICMPv6ND_NA].O) for f in na] == \
        [("ff02::1", 0, 1), ("fe80::99", 1, 0)]
    # Packets to it stay on the home link: nothing is tunnelled to the CoA.
    home.send(IPv6(src="fe80::99", dst="fe80::100", hlim=64) / UDP(sport=1, dport=2) / b"ll")
    assert access.collect(0.6, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                          and IPv6 in f and f[IPv6].nh in (41, 60)) == []
    # A neighbour's unicast NUD probe of the home address (RFC 4861 s.7.3.1: to the address
    # and the proxy's MAC, hop limit 255) is the proxy's to answer, solicited, not the MN's
    # to receive through its tunnel: tunnelled, it went unanswered and every correspondent
    # on the home link lost its entry (and packets) at each reachable time.
    home.send(IPv6(src=CN, dst=HOA, hlim=255) / ICMPv6ND_NS(tgt=HOA)
              / ICMPv6NDOptSrcLLAddr(lladdr=home.link.host_mac))
    na = home.collect(1.0, lambda f: home.from_gateway(f) and ICMPv6ND_NA in f
                      and f[ICMPv6ND_NA].tgt == HOA)
    assert [(f[IPv6].dst, f[IPv6].hlim, f[ICMPv6ND_NA].S, f[ICMPv6ND_NA].O) for f in na] == \
        [(CN, 255, 1, 0)]
    assert access.collect(0.6, lambda f: Ether in f and f[Ether].src == access.link.gateway_mac
                          and IPv6 in f and f[IPv6].nh in (41, 60)) == []
