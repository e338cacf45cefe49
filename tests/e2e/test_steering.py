"""Signalling steering with rte_flow on a net_tap port: where the kernel has the multiq qdisc
(the tap PMD installs its rules as TC filters under it), signalling to the gateway (ICMPv6,
the Mobility Header) reaches the control thread through the port's own signalling queue and
no worker touches it, while data still goes through the workers. Where the kernel lacks
multiq (this CI host's), the port says why and the software classifier does the same job.
tools/vm/run runs this test in a guest with Debian's kernel, which has multiq.

The tap stays in the root namespace: moving it would drop the TC filters the PMD made."""
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from scapy.all import (Ether, ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, UDP, conf, raw)

from conftest import Gateway, collect, link_mac
from mh_frames import binding_update, bid_option, bu_packet

HA = "2001:db8:1::1"
HOA = "2001:db8:1::100"
ACCESS = "2001:db8:a::1"
COA = "2001:db8:a::100"


def kernel_has_multiq():
    if Path("/sys/module/sch_multiq").exists():
        return True
    out = subprocess.run("zcat /proc/config.gz 2>/dev/null", shell=True, capture_output=True,
                         text=True).stdout
    return "CONFIG_NET_SCH_MULTIQ=y" in out


def port_record(gw, name):
    return dict(item.split("=", 1) for item in gw.telemetry("/monami/ports")[name])


def worker_punts(gw):
    return int(gw.telemetry("/monami/workers")["punted"])


@pytest.fixture
def tap_gateway(tmp_path, prefix):
    iface = "mt" + prefix[-6:]
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        ports:
          - name: link
            device: "net_tap_{prefix[-6:]},iface={iface}"
            addresses: ["{HA}/64", "{ACCESS}/64"]
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          max_bindings: 1024
          dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
        heartbeat:
          enabled: false  # scapy does not answer RFC 5847 heartbeats
        """))
    # One lcore: under tools/vm/run's emulated CPUs, a busy-polling worker on a second lcore
    # would leave the test itself no CPU. The control thread polls the signalling queue either way.
    gw = Gateway(cfg, prefix, lcores="0")
    deadline = time.time() + 30
    while subprocess.run(["ip", "link", "show", iface], capture_output=True).returncode != 0:
        assert gw.proc.poll() is None, gw.stop()
        assert time.time() < deadline, "the tap never appeared"
        time.sleep(0.2)
    subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{iface}.accept_dad=0"], check=True)
    subprocess.run(["ip", "link", "set", iface, "up"], check=True)
    subprocess.run(["ip", "-6", "addr", "add", f"{COA}/64", "dev", iface, "nodad"], check=True)
    for _ in range(100):  # telemetry answers once the control loop runs
        try:
            gw_mac = port_record(gw, "link")["mac"]
            break
        except (AssertionError, subprocess.TimeoutExpired):
            time.sleep(0.2)
    sock = conf.L2socket(iface=iface)
    time.sleep(1.0)  # the kernel's own link-up chatter (RS, MLD) passes first
    yield gw, sock, link_mac(iface), gw_mac
    sock.close()
    if gw.proc.poll() is None:
        gw.stop()


def test_signalling_takes_the_steered_queue_where_the_kernel_can(tap_gateway):
    gw, sock, host_mac, gw_mac = tap_gateway
    link = port_record(gw, "link")
    config = gw.telemetry("/monami/config")
    steered = kernel_has_multiq()
    if steered:
        assert link["signalling_queue"] == "1", link
        assert link["signalling"].startswith("rte_flow to RX queue 1"), link
        # One rule per (our address, next header 135/50/58/60) plus multicast ICMPv6.
        assert int(link["signalling_rules"]) >= 1 + 4 * 3, link
        assert config["classifier"] == "rte_flow+software"
    else:
        assert link["signalling_queue"] == "-1", link
        assert "rte_flow_create" in link["signalling"], link
        assert link["signalling_rules"] == "0"
        assert config["classifier"] == "software"

    queue_before = int(link["signalling_queue_rx"])
    punts_before = worker_punts(gw)
    from_gw = lambda f: Ether in f and f[Ether].src == gw_mac  # noqa: E731

    # ICMPv6 to one of our addresses: answered.
    sock.send(Ether(src=host_mac, dst=gw_mac) / IPv6(src=COA, dst=ACCESS)
              / ICMPv6EchoRequest(id=7, seq=1, data=b"steer"))
    replies = collect(sock, 3.0, lambda f: from_gw(f) and ICMPv6EchoReply in f)
    assert replies and replies[0][ICMPv6EchoReply].data == b"steer"

    # A Binding Update (Mobility Header behind a Home Address option): accepted.
    mh = binding_update(1, 30, bid_option(1, COA))
    sock.send(Ether(src=host_mac, dst=gw_mac) / bu_packet(COA, HA, HOA, mh))
    acks = collect(sock, 3.0, lambda f: from_gw(f) and IPv6 in f and f[IPv6].nh in (43, 135))
    assert acks, "no Binding Acknowledgement"
    ba = raw(acks[0][IPv6].payload)
    # Type 2 routing header (8 + 16 bytes), then the MH (RFC 6275 s.6.1.8): type 6 (BA)
    # at byte 2, status at byte 6 (after the 2-byte checksum): 0, accepted.
    mh_start = 24 if acks[0][IPv6].nh == 43 else 0
    assert ba[mh_start + 2] == 6 and ba[mh_start + 6] == 0, ba.hex()

    # Data to the home address is not signalling: a worker tunnels it to the care-of address.
    # 16 flows: the tap's kernel side may hash some onto the signalling queue; the control
    # thread then hands them to the worker (strays). Every one must come out tunnelled.
    for flow in range(16):
        sock.send(Ether(src=host_mac, dst=gw_mac) / IPv6(src="2001:db8:a::99", dst=HOA)
                  / UDP(sport=1000 + flow, dport=2000) / (b"data%02d" % flow))
    tunnelled = collect(sock, 3.0, lambda f: from_gw(f) and IPv6 in f and f[IPv6].nh in (41, 60)
                        and f[IPv6].dst == COA)
    payloads = sorted(raw(f[IPv6].payload)[-6:] for f in tunnelled)
    assert payloads == [b"data%02d" % flow for flow in range(16)], (
        payloads, {k: v for k, v in gw.telemetry("/monami/workers").items() if v})

    link = port_record(gw, "link")
    queue_delta = int(link["signalling_queue_rx"]) - queue_before
    punts_delta = worker_punts(gw) - punts_before
    if steered:
        # Echo request, BU and the neighbor answers all came through the signalling queue.
        assert queue_delta >= 2, link
        assert punts_delta == 0, (punts_delta, link)
    else:
        assert queue_delta == 0
        assert punts_delta >= 2
    code, out, err = gw.stop()
    assert code == 0, err
