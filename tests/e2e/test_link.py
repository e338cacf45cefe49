"""Foundation end to end: the real monami-gw on pcap files and on a veth link in a network
namespace, checked with scapy and tshark."""
import subprocess
import textwrap
import time

import pytest
from scapy.all import (Ether, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6, UDP, raw, rdpcap, wrpcap)

from conftest import ROOT, Netns, binary, eal_args, final_counters, run_gw

GW_MAC = "02:00:00:00:00:01"
HOST_MAC = "02:00:00:00:00:99"
GW = "2001:db8:1::1"
HOST = "2001:db8:1::99"


def pcap_config(tmp_path, rx, tx):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        ports:
          - name: home
            device: "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
            mac: "{GW_MAC}"
            addresses: ["{GW}/64"]
        """))
    return cfg


def test_check_config_accepts_example_and_rejects_bad(tmp_path):
    ok = subprocess.run([binary("monami-gw"), "--config", str(ROOT / "config" / "monami.yaml"),
                         "--check-config"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("ports:\n  - name: home\n    device: net_null0\n    colour: blue\n")
    res = subprocess.run([binary("monami-gw"), "--config", str(bad), "--check-config"],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert f"{bad}:4:5: unknown key 'colour'" in res.stderr
    # RFC 6275 s.10.3.1: no binding may outlive its home prefix (home_agent.lifetime).
    bad.write_text("ports:\n  - name: home\n    device: net_null0\n"
                   "    addresses: [\"2001:db8:1::1/64\"]\n"
                   "home_agent:\n  lifetime: 300\n  max_binding_lifetime: 600\n")
    res = subprocess.run([binary("monami-gw"), "--config", str(bad), "--check-config"],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert (f"{bad}:7:25: home_agent.max_binding_lifetime: max_binding_lifetime 600 exceeds "
            "the home prefixes' valid lifetime (lifetime: 300)") in res.stderr, res.stderr


def test_pcap_nd_echo_and_unknown_destination(tmp_path, prefix):
    rx, tx = tmp_path / "in.pcap", tmp_path / "out.pcap"
    sol = "ff02::1:ff00:1"
    packets = [
        Ether(src=HOST_MAC, dst="33:33:ff:00:00:01") / IPv6(src=HOST, dst=sol, hlim=255)
        / ICMPv6ND_NS(tgt=GW) / ICMPv6NDOptSrcLLAddr(lladdr=HOST_MAC),
        Ether(src=HOST_MAC, dst=GW_MAC) / IPv6(src=HOST, dst=GW) / ICMPv6EchoRequest(id=0x4242, seq=7, data=b"monami-echo"),
        Ether(src=HOST_MAC, dst=GW_MAC) / IPv6(src=HOST, dst="2001:db8:dead::1") / UDP(sport=1000, dport=2000) / b"lost",
    ]
    wrpcap(str(rx), packets)
    res = run_gw(pcap_config(tmp_path, rx, tx), prefix)
    assert res.returncode == 0, res.stdout + res.stderr
    counters = final_counters(res.stdout)
    assert counters["rx_packets"] == 3
    assert counters["no_route"] == 1
    assert counters["neighbor_solicitations_answered"] == 1
    assert counters["echo_replies"] == 1

    out = rdpcap(str(tx))
    assert len(out) == 2
    na = [p for p in out if ICMPv6ND_NA in p]
    assert len(na) == 1
    na = na[0]
    assert na[Ether].dst == HOST_MAC and na[Ether].src == GW_MAC
    assert na[IPv6].src == GW and na[IPv6].dst == HOST and na[IPv6].hlim == 255
    assert na[ICMPv6ND_NA].R == 0 and na[ICMPv6ND_NA].S == 1 and na[ICMPv6ND_NA].O == 1
    assert na[ICMPv6ND_NA].tgt == GW
    assert na[ICMPv6NDOptDstLLAddr].lladdr == GW_MAC
    reply = [p for p in out if ICMPv6EchoReply in p]
    assert len(reply) == 1
    reply = reply[0]
    assert reply[IPv6].src == GW and reply[IPv6].dst == HOST
    assert reply[ICMPv6EchoReply].id == 0x4242 and reply[ICMPv6EchoReply].seq == 7
    assert reply[ICMPv6EchoReply].data == b"monami-echo"
    # scapy recomputes the checksum when the field is cleared: it must match what we sent.
    sent_sum = reply[ICMPv6EchoReply].cksum
    clone = Ether(raw(reply))
    del clone[ICMPv6EchoReply].cksum
    assert Ether(raw(clone))[ICMPv6EchoReply].cksum == sent_sum

    # An independent decoder: tshark checks both checksums and decodes the ND fields.
    fields = subprocess.run(
        ["tshark", "-r", str(tx), "-T", "fields", "-E", "separator=|", "-e", "icmpv6.type",
         "-e", "icmpv6.checksum.status", "-e", "icmpv6.nd.na.flag.s", "-e", "icmpv6.nd.na.flag.o",
         "-e", "icmpv6.nd.na.target_address", "-e", "icmpv6.opt.linkaddr"],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()
    rows = [line.split("|") for line in fields]
    by_type = {r[0]: r for r in rows}
    assert set(by_type) == {"136", "129"}
    assert by_type["136"][1] == "1" and by_type["129"][1] == "1"  # 1 = checksum good
    assert by_type["136"][2] in ("1", "True") and by_type["136"][3] in ("1", "True")
    assert by_type["136"][4] == GW
    assert by_type["136"][5] == GW_MAC


def test_kernel_pings_gateway_over_veth(tmp_path, prefix, netns_factory):
    ns = netns_factory("host")
    veth_gw, veth_host = "mg" + prefix[-6:], "mh" + prefix[-6:]
    subprocess.run(["ip", "link", "add", veth_gw, "type", "veth", "peer", "name", veth_host,
                    "netns", ns.name], check=True)
    try:
        subprocess.run(["ip", "link", "set", veth_gw, "up"], check=True)
        # No IPv6 on the gateway's side in the kernel: monami owns that address.
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{veth_gw}.disable_ipv6=1"], check=True)
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "link", "set", veth_host, "up")
        ns.run("ip", "-6", "addr", "add", f"{HOST}/64", "dev", veth_host, "nodad")
        cfg = tmp_path / "gw.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            ports:
              - name: home
                device: "net_af_packet0,iface={veth_gw}"
                addresses: ["{GW}/64"]
            """))
        gw = subprocess.Popen([binary("monami-gw"), *eal_args(prefix), "--", "--config", str(cfg)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ping = None
            for _ in range(20):  # the gateway needs a moment to bring the port up
                ping = ns.run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", GW, check=False)
                if ping.returncode == 0:
                    break
                time.sleep(0.5)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            assert " 0% packet loss" in ping.stdout
            neigh = ns.run("ip", "-6", "neigh", "show", GW).stdout
            assert "lladdr" in neigh  # resolved through monami's Neighbor Advertisement
        finally:
            gw.terminate()
            out, err = gw.communicate(timeout=20)
        assert gw.returncode == 0, out + err
        counters = final_counters(out)
        assert counters["echo_replies"] >= 3
        assert counters["neighbor_solicitations_answered"] >= 1
    finally:
        subprocess.run(["ip", "link", "del", veth_gw], check=False)


def test_pcap_static_route_forwarding_and_time_exceeded(tmp_path, prefix):
    """A static route through a static neighbor: forwarded with hop limit - 1 and the
    neighbor's MAC; hop limit 1 gets ICMPv6 Time Exceeded back to the sender."""
    from scapy.all import ICMPv6TimeExceeded
    rx, tx = tmp_path / "in.pcap", tmp_path / "out.pcap"
    router_mac = "02:00:00:00:00:fe"
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        ports:
          - name: home
            device: "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
            mac: "{GW_MAC}"
            addresses: ["{GW}/64"]
        routes:
          - {{prefix: "2001:db8:cafe::/48", port: home, via: "2001:db8:1::fe"}}
        neighbors:
          - {{address: "2001:db8:1::fe", mac: "{router_mac}", port: home}}
        """))
    wrpcap(str(rx), [
        Ether(src=HOST_MAC, dst=GW_MAC) / IPv6(src=HOST, dst="2001:db8:cafe::5", hlim=10)
        / UDP(sport=1, dport=2) / b"routed",
        Ether(src=HOST_MAC, dst=GW_MAC) / IPv6(src=HOST, dst="2001:db8:cafe::5", hlim=1)
        / UDP(sport=1, dport=3) / b"expiring",
        Ether(src=HOST_MAC, dst="02:00:00:00:00:77") / IPv6(src=HOST, dst="2001:db8:cafe::5")
        / UDP(sport=1, dport=4) / b"not for us",
    ])
    res = run_gw(cfg, prefix)
    assert res.returncode == 0, res.stdout + res.stderr
    c = final_counters(res.stdout)
    assert c["forwarded"] == 1 and c["not_for_us"] == 1 and c["icmp_errors_sent"] == 1
    out = rdpcap(str(tx))
    routed = [p for p in out if UDP in p]
    assert len(routed) == 1
    assert routed[0][Ether].dst == router_mac and routed[0][Ether].src == GW_MAC
    assert routed[0][IPv6].hlim == 9 and routed[0][UDP].dport == 2
    te = [p for p in out if ICMPv6TimeExceeded in p]
    assert len(te) == 1 and te[0][IPv6].dst == HOST and te[0][IPv6].src == GW
    assert te[0][Ether].dst == HOST_MAC
