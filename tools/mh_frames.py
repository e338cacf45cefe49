"""Mobility Header messages built byte by byte in Python (scapy has no classes for the
RFC 5648 / RFC 6089 options), independent of monami's own C++ codec."""
import struct

from scapy.all import IPv6, IPv6ExtHdrDestOpt, Raw, in6_chksum
from scapy.layers.inet6 import HAO

MH_BU, MH_BA, MH_BE, MH_HEARTBEAT = 5, 6, 7, 13
OPT_BID, OPT_FLOW_SUMMARY, OPT_FLOW_ID = 35, 44, 45


def _padded(options, fixed_len):
    """Options after a message body of `fixed_len` bytes (counted from the MH start),
    padded with PadN/Pad1 to a multiple of 8."""
    total = fixed_len + len(options)
    pad = (-total) % 8
    if pad == 1:
        options += b"\x00"
    elif pad > 1:
        options += bytes([1, pad - 2]) + b"\x00" * (pad - 2)
    return options


def bid_option(bid, coa=None, status=0, home=False):
    body = struct.pack("!HBB", bid, status, 0x80 if home else 0)
    if coa is not None:
        from socket import AF_INET6, inet_pton
        body += inet_pton(AF_INET6, coa)
    return bytes([OPT_BID, len(body)]) + body


def flow_id_option(fid, priority, bids, dport=None, proto=None, reserved=0):
    """RFC 6089 Flow Identification with a BID Reference and an RFC 6088 s.3.2 IPv6
    selector (format 2): TS Format, Reserved, a 32-bit word holding the flags A..P from
    its top bit and 16 Reserved bits, then the start/end fields in flag order. `reserved`
    is the octet after FID-PRI, 0 as RFC 6089 s.4.2 has senders write it."""
    subs = bytes([2, 2 * len(bids)]) + b"".join(struct.pack("!H", b) for b in bids)
    if dport is not None or proto is not None:
        flags, fields = 0, b""
        if dport is not None:
            flags |= 1 << 21 | 1 << 20  # K, L: destination port start/end
            fields += struct.pack("!HH", dport[0], dport[1])
        if proto is not None:
            flags |= 1 << 17 | 1 << 16  # O, P: next header start/end
            fields += struct.pack("!BB", proto, proto)
        ts = struct.pack("!BBI", 2, 0, flags) + fields
        subs += bytes([3, len(ts)]) + ts
    body = struct.pack("!HHBB", fid, priority, reserved, 0) + subs
    return bytes([OPT_FLOW_ID, len(body)]) + body


def flow_summary_option(fids):
    """RFC 6089 s.4.1 Flow Summary: the FIDs of the flow bindings a BU keeps as they are."""
    body = b"".join(struct.pack("!H", fid) for fid in fids)
    return bytes([OPT_FLOW_SUMMARY, len(body)]) + body


def binding_update(seq, lifetime_4s, options=b"", ack=True, home=True, link_local=False):
    flags = (0x80 if ack else 0) | (0x40 if home else 0) | (0x20 if link_local else 0)
    body = struct.pack("!HBBH", seq, flags, 0, lifetime_4s)
    opts = _padded(options, 6 + len(body))
    length = 6 + len(body) + len(opts)
    header = struct.pack("!BBBBH", 59, length // 8 - 1, MH_BU, 0, 0)
    return header + body + opts


def bu_packet(coa, ha, hoa, mh_bytes):
    """IPv6 CoA -> HA with a Home Address destination option, MH checksum over HoA -> HA."""
    mh = bytearray(mh_bytes)
    pseudo = IPv6(src=hoa, dst=ha)
    csum = in6_chksum(135, pseudo, bytes(mh))
    mh[4:6] = struct.pack("!H", csum)
    return IPv6(src=coa, dst=ha) / IPv6ExtHdrDestOpt(nh=135, options=[HAO(hoa=hoa)]) / Raw(bytes(mh))


def mh_packet(src, dst, mh_bytes):
    """IPv6 src -> dst carrying the MH, checksum filled in."""
    mh = bytearray(mh_bytes)
    mh[4:6] = struct.pack("!H", in6_chksum(135, IPv6(src=src, dst=dst), bytes(mh)))
    return IPv6(src=src, dst=dst, nh=135) / Raw(bytes(mh))


def mh_with_unknown_type(mh_type=99):
    return struct.pack("!BBBBH", 59, 0, mh_type, 0, 0) + b"\x00" * 2
