#!/usr/bin/python3
"""Writes the standard scenarios' pcaps for pktgen-dpdk (-s P:file.pcap), with monami-bench's
addressing plan (dataplane/bench/plan.hpp): HoA i = 2001:db8:1::1:<i>, CoA k of HoA i =
2001:db8:c0<k>::<i>, HA 2001:db8:1::1, correspondents 2001:db8:ffff::/48.
  make_pcaps.py [--hoas N] [--coas C] [--packets P] [--out DIR]
The gateway needs the same HoAs registered: run monami-mn, or replay bu.pcap first."""
import argparse, os, random, struct
from scapy.all import Ether, IPv6, UDP, Raw, wrpcap

HOME_MAC, HOME_ROUTER_MAC = "02:00:00:00:01:01", "02:00:00:00:01:fe"
ACCESS_MAC, ACCESS_ROUTER_MAC = "02:00:00:00:02:01", "02:00:00:00:02:fe"
HA = "2001:db8:1::1"


def addr(prefix16, i):
    return f"{prefix16}::{i >> 16:x}:{i & 0xffff:x}"


def hoa(i): return f"2001:db8:1::1:{i >> 16:x}:{i & 0xffff:x}"
def coa(i, k): return addr(f"2001:db8:c0{k:02x}", i)
def cn(j): return addr("2001:db8:ffff", j)


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
    rnd = random.Random(1)
    imix = [64, 594, 64, 64, 594, 64, 1514, 64, 594, 64, 64, 594]
    encap, enc_imix, decap, ncast = [], [], [], []
    for n in range(a.packets):
        i, j = rnd.randrange(a.hoas), n & 0x3fff
        encap.append(Ether(dst=HOME_MAC, src=HOME_ROUTER_MAC) / inner(i, j, 64))
        enc_imix.append(Ether(dst=HOME_MAC, src=HOME_ROUTER_MAC) / inner(i, j, imix[n % len(imix)]))
        ncast.append(Ether(dst=HOME_MAC, src=HOME_ROUTER_MAC) / inner(i | 15, j, 64, dport=5004))
        rev = IPv6(src=hoa(i), dst=cn(j), hlim=64) / UDP(sport=1024 + j, dport=9) / Raw(b"\0" * 2)
        decap.append(Ether(dst=ACCESS_MAC, src=ACCESS_ROUTER_MAC) /
                     IPv6(src=coa(i, j % a.coas), dst=HA, hlim=64, nh=41) / rev)
    for name, pkts in [("encap_64", encap), ("encap_imix", enc_imix), ("decap_64", decap),
                       ("ncast_64", ncast)]:
        wrpcap(os.path.join(a.out, name + ".pcap"), pkts)
        print(name + ".pcap", len(pkts))


if __name__ == "__main__":
    main()
