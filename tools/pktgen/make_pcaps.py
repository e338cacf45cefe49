#!/usr/bin/python3
"""Writes the pcaps of the pktgen kit (-s P:file.pcap), with monami-bench's addressing plan
(dataplane/bench/plan.hpp): HoA i = 2001:db8:1::1:<i>, CoA k of HoA i = 2001:db8:c0<k>::<i>,
HA 2001:db8:1::1, correspondents 2001:db8:ffff::/48.
  make_pcaps.py [--hoas N] [--coas K] [--packets P] [--out DIR]
bu.pcap registers the HoAs: one RFC 5648 bulk Binding Update per HoA (sequence 1, one BID
option per CoA, sent from CoA 0), and on every 16th HoA (i % 16 == 15) with K >= 2 an RFC 6089
flow binding of UDP to port 5004 onto BIDs 1 and 2, which ncast_64.pcap's traffic uses.
The data pcaps (P frames each): encap_64.pcap and encap_imix.pcap (CN -> HoA, into the home
port), decap_64.pcap (reverse tunnel CoA -> HA, into the access port), ncast_64.pcap."""
import argparse
import os
import random
import socket
import struct
import sys

from scapy.all import Ether, IPv6, UDP, Raw, wrpcap
from scapy.utils import RawPcapWriter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mh_frames import binding_update, bid_option, bu_packet, flow_id_option  # noqa: E402

HOME_MAC, HOME_ROUTER_MAC = "02:00:00:00:01:01", "02:00:00:00:01:fe"
ACCESS_MAC, ACCESS_ROUTER_MAC = "02:00:00:00:02:01", "02:00:00:00:02:fe"
HA = "2001:db8:1::1"
NCAST_PORT, NCAST_PERIOD = 5004, 16
LIFETIME_4S = 900  # one hour, as monami-bench registers


def addr(prefix16, i):
    return f"{prefix16}::{i >> 16:x}:{i & 0xffff:x}"


def hoa(i): return f"2001:db8:1::1:{i >> 16:x}:{i & 0xffff:x}"
def coa(i, k): return addr(f"2001:db8:c0{k:02x}", i)
def cn(j): return addr("2001:db8:ffff", j)


def is_ncast_hoa(i, coas):
    return coas >= 2 and i % NCAST_PERIOD == NCAST_PERIOD - 1


def registration(i, coas):
    """The Ethernet frame (access router -> HA) of HoA i's bulk registration."""
    options = b"".join(bid_option(k + 1, coa(i, k)) for k in range(coas))
    if is_ncast_hoa(i, coas):
        options += flow_id_option(1, 1, [1, 2], dport=(NCAST_PORT, NCAST_PORT), proto=17)
    mh = binding_update(1, LIFETIME_4S, options)
    return Ether(dst=ACCESS_MAC, src=ACCESS_ROUTER_MAC) / bu_packet(coa(i, 0), HA, hoa(i), mh)


def checksum(data):
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


class Registrations:
    """registration(i) for any i at the cost of a byte copy: scapy builds one frame per shape
    (with and without the n-cast flow binding) for a marker index, and every other frame is
    that frame with the marker's 4 bytes (the last 4 of the HoA and of each CoA) replaced
    and the Mobility Header checksum computed again. A million frames from scapy alone
    would take ten minutes."""
    MARKER = 0xA5C3E1F0  # its 4 bytes occur only inside the addresses that carry it

    def __init__(self, coas):
        self.coas = coas
        self.templates = {}
        for ncast in (False, True):
            t = self.MARKER | (NCAST_PERIOD - 1 if ncast else 0)
            frame = registration(t, coas)
            raw = bytes(frame)
            marker = struct.pack("!I", t)
            at, places = 0, []
            while (at := raw.find(marker, at)) >= 0:
                places.append(at)
                at += 4
            assert len(places) == coas + 2, "the marker occurs outside the addresses"
            mh_at = len(raw) - len(bytes(frame[IPv6].payload.payload))
            self.templates[ncast] = (bytearray(raw), places, mh_at)

    def __call__(self, i):
        frame, places, mh_at = self.templates[is_ncast_hoa(i, self.coas)]
        frame = bytearray(frame)
        for at in places:
            frame[at:at + 4] = struct.pack("!I", i)
        mh = frame[mh_at:]
        mh[4:6] = b"\0\0"
        # Pseudo-header: the HoA (the Home Address option replaces the source), the HA,
        # the upper-layer length and next header 135 (RFC 6275 s.6.1.1).
        pseudo = (socket.inet_pton(socket.AF_INET6, hoa(i)) + socket.inet_pton(socket.AF_INET6, HA)
                  + struct.pack("!IxxxB", len(mh), 135))
        frame[mh_at + 4:mh_at + 6] = struct.pack("!H", checksum(pseudo + bytes(mh)))
        return bytes(frame)


def inner(i, j, size, dport=9):
    pay = size - 14 - 40 - 8
    return IPv6(src=cn(j), dst=hoa(i), hlim=64) / UDP(sport=1024 + j, dport=dport) / Raw(b"\0" * pay)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hoas", type=int, default=1000)
    ap.add_argument("--coas", type=int, default=2)
    ap.add_argument("--packets", type=int, default=4096)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    a = ap.parse_args()
    if a.hoas < NCAST_PERIOD or not 1 <= a.coas <= 255:
        ap.error(f"--hoas must be at least {NCAST_PERIOD} and --coas 1..255")
    os.makedirs(a.out, exist_ok=True)
    # Streamed: a million registrations do not fit in a list of scapy packets comfortably.
    writer = RawPcapWriter(os.path.join(a.out, "bu.pcap"), linktype=1, sync=False)
    frames = Registrations(a.coas)
    for i in range(a.hoas):
        writer.write(frames(i))
    writer.close()
    print("bu.pcap", a.hoas)

    rnd = random.Random(1)
    imix = [64, 594, 64, 64, 594, 64, 1514, 64, 594, 64, 64, 594]
    encap, enc_imix, decap, ncast = [], [], [], []
    for n in range(a.packets):
        i, j = rnd.randrange(a.hoas), n & 0x3fff
        encap.append(Ether(dst=HOME_MAC, src=HOME_ROUTER_MAC) / inner(i, j, 64))
        enc_imix.append(Ether(dst=HOME_MAC, src=HOME_ROUTER_MAC) / inner(i, j, imix[n % len(imix)]))
        # An n-cast HoA: its flow binding copies UDP to NCAST_PORT onto BIDs 1 and 2.
        m = (i // NCAST_PERIOD) * NCAST_PERIOD + NCAST_PERIOD - 1
        if m >= a.hoas:
            m -= NCAST_PERIOD
        ncast.append(Ether(dst=HOME_MAC, src=HOME_ROUTER_MAC) / inner(m, j, 64, dport=NCAST_PORT))
        rev = IPv6(src=hoa(i), dst=cn(j), hlim=64) / UDP(sport=1024 + j, dport=9) / Raw(b"\0" * 2)
        decap.append(Ether(dst=ACCESS_MAC, src=ACCESS_ROUTER_MAC) /
                     IPv6(src=coa(i, j % a.coas), dst=HA, hlim=64, nh=41) / rev)
    for name, pkts in [("encap_64", encap), ("encap_imix", enc_imix), ("decap_64", decap),
                       ("ncast_64", ncast)]:
        wrpcap(os.path.join(a.out, name + ".pcap"), pkts)
        print(name + ".pcap", len(pkts))


if __name__ == "__main__":
    main()
