"""monami-mn against the real monami-gw: namespaces with veth pairs, the gateway on
net_af_packet ports, the mobile node registering two CoAs in one bulk BU, the binding
cache read through dpdk-telemetry.py, de-registration, and the signalling on the wire
decoded by tshark."""
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import MobileNodeProcess, binary, eal_args, have, rows, telemetry, veth_pair

HA = "2001:db8:1::1"
HOA = "2001:db8:1::100"
COA_WIFI = "2001:db8:a::100"
COA_CELL = "2001:db8:b::100"


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    """Gateway (root namespace) with an access port towards the MN's namespace (both CoAs on
    one veth) and a home port towards a home-link namespace."""
    tag = prefix[-6:]
    mn_ns = netns_factory("mn")
    home_ns = netns_factory("home")
    gw_access, mn_access = "ga" + tag, "ma" + tag
    gw_home, host_home = "gh" + tag, "hh" + tag
    veth_pair(gw_access, mn_access, mn_ns)
    veth_pair(gw_home, host_home, home_ns)
    try:
        for itf in (gw_access, gw_home):
            subprocess.run(["ip", "link", "set", itf, "up"], check=True)
            # The gateway owns these links' addresses, not the root namespace's kernel.
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{itf}.disable_ipv6=1"], check=True)
        mn_ns.run("ip", "link", "set", "lo", "up")
        mn_ns.run("ip", "link", "set", mn_access, "up")
        for coa in (COA_WIFI, COA_CELL):
            mn_ns.run("ip", "-6", "addr", "add", f"{coa}/64", "dev", mn_access, "nodad")
        # The wifi link finds its next hop through the kernel's route; cell names it (via=).
        mn_ns.run("ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:a::1", "dev",
                  mn_access)
        home_ns.run("ip", "link", "set", "lo", "up")
        home_ns.run("ip", "link", "set", host_home, "up")
        home_ns.run("ip", "-6", "addr", "add", "2001:db8:1::99/64", "dev", host_home, "nodad")

        cfg = tmp_path / "gw.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            ports:
              - name: access
                device: "net_af_packet0,iface={gw_access}"
                addresses: ["2001:db8:a::1/64", "2001:db8:b::1/64"]
              - name: home
                device: "net_af_packet1,iface={gw_home}"
                addresses: ["{HA}/64"]
            home_agent:
              addresses: ["{HA}"]
              home_prefixes: ["2001:db8:1::/64"]
              max_binding_lifetime: 600
              dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
            mobile_nodes:
              - id: "mn1@example.com"
                home_addresses: ["{HOA}"]
            """))
        check = subprocess.run([binary("monami-gw"), "--config", str(cfg), "--check-config"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        gw = subprocess.Popen([binary("monami-gw"), *eal_args(prefix), "--", "--config", str(cfg)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            yield {"mn_ns": mn_ns, "home_ns": home_ns, "gw": gw, "prefix": prefix,
                   "gw_access": gw_access, "mn_access": mn_access, "tmp": tmp_path}
        finally:
            if gw.poll() is None:
                gw.terminate()
            out, err = gw.communicate(timeout=20)
            print(out, err)
    finally:
        subprocess.run(["ip", "link", "del", gw_access], check=False)
        subprocess.run(["ip", "link", "del", gw_home], check=False)


def wait_for_gateway(prefix, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        try:
            ports = telemetry(prefix, "/monami/ports")
            if ports and all("link=up" in p for p in ports.values()):
                return
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        assert time.monotonic() < deadline, "gateway did not come up"
        time.sleep(0.3)


def start_capture(interface, path):
    cap = subprocess.Popen(["tshark", "-i", interface, "-w", str(path), "-f", "ip6"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while not (path.exists() and path.stat().st_size > 0):  # the pcapng header is written
        assert cap.poll() is None, cap.stderr.read()
        assert time.monotonic() < deadline, "tshark did not start"
        time.sleep(0.1)
    time.sleep(0.3)
    return cap


def stop_capture(cap):
    time.sleep(0.5)
    cap.send_signal(signal.SIGINT)
    cap.wait(timeout=20)


def decode_mobility(path):
    """(mh type, sequence, BIDs, BA status, BID statuses, BU lifetime) per MH packet."""
    res = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "mipv6", "-T", "fields", "-E", "separator=|",
         "-e", "mip6.mhtype", "-e", "mip6.bu.seqnr", "-e", "mip6.ba.seqnr", "-e", "mip6.bi.bid",
         "-e", "mip6.ba.status", "-e", "mip6.bi.status", "-e", "mip6.bu.lifetime",
         "-e", "mip6.bi.coa_ipv6", "-e", "ipv6.opt.mipv6.home_address",
         "-e", "ipv6.routing.mipv6.home_address", "-e", "mip6.mnid.identifier"],
        capture_output=True, text=True, check=True)
    rows = []
    for line in res.stdout.strip().splitlines():
        f = line.split("|")
        rows.append({"type": int(f[0]), "seq": f[1] or f[2], "bids": f[3].split(",") if f[3] else [],
                     "status": f[4], "bid_status": f[5].split(",") if f[5] else [],
                     "lifetime": f[6], "coas": f[7].split(",") if f[7] else [], "hao": f[8],
                     "rh2": f[9], "mn_id": f[10]})
    return rows


def bindings_of(prefix):
    return [b for b in rows(telemetry(prefix, "/monami/bindings")) if b["home_address"] == HOA]


@pytest.mark.skipif(not have("dpdk-telemetry.py") or not have("tshark"),
                    reason="needs dpdk-telemetry.py and tshark")
def test_bulk_registration_two_coas_and_deregistration(topology):
    t = topology
    wait_for_gateway(t["prefix"])
    pcap = t["tmp"] / "access.pcapng"
    cap = start_capture(t["gw_access"], pcap)
    mn = MobileNodeProcess(t["mn_ns"], [
        "--home-address", HOA, "--home-agent", HA,
        "--link", f"wifi:{t['mn_access']}:{COA_WIFI}",
        "--link", f"cell:{t['mn_access']}:{COA_CELL},via=2001:db8:b::1",
        "--mn-id", "mn1@example.com", "--lifetime", "120", "--bulk",
        "--flow", "fid=1,prio=10,bids=1+2,proto=17,dport=5000-5100",
        "--initial-timeout", "500", "--deregister-at-exit"])
    try:
        ba = mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        assert ba["status"] == 0, mn.events
        assert ba["bids"] == {"1": 0, "2": 0}
        assert ba["lifetime"] == 120
        assert ba["flows"] == {"1": 0}  # RFC 6089 flow binding accepted in the same BU
        bus = [e for e in mn.events if e["event"] == "bu"]
        assert bus[0]["bids"] == [1, 2] and bus[0]["link"] == "wifi"
        nd = [e for e in mn.events if e["event"] == "nd"]
        assert {e["next_hop"] for e in nd} >= {"2001:db8:a::1"}

        rows = bindings_of(t["prefix"])
        assert sorted((r["bid"], r["care_of"]) for r in rows) == [("1", COA_WIFI), ("2", COA_CELL)]
        assert all(r["mn_id"] == "mn1@example.com" for r in rows)
        assert all(int(r["lifetime_s"]) > 100 for r in rows)

        # De-registration on SIGTERM: a BU with lifetime 0 and no BID removes both.
        mark = mn.mark()
        assert mn.stop(signal.SIGTERM) == 0, mn.stderr
        dereg = mn.wait_for(lambda e: e["event"] == "ba", start=mark)
        assert dereg["status"] == 0 and dereg["lifetime"] == 0
        assert mn.events[-1] == {"event": "exit", "reason": "SIGTERM"}
        assert bindings_of(t["prefix"]) == []
    finally:
        mn.stop()
        stop_capture(cap)

    rows = decode_mobility(pcap)
    bu = [r for r in rows if r["type"] == 5]
    ba = [r for r in rows if r["type"] == 6]
    assert len(bu) >= 2 and len(ba) >= 2, rows
    first_bu, first_ba = bu[0], ba[0]
    assert first_bu["bids"] == ["1", "2"] and first_bu["coas"] == [COA_WIFI, COA_CELL]
    assert first_bu["hao"] == HOA and first_bu["mn_id"] == "mn1@example.com"
    assert first_ba["status"] == "0" and first_ba["seq"] == first_bu["seq"]
    assert first_ba["bids"] == ["1", "2"] and first_ba["bid_status"] == ["0", "0"]
    assert first_ba["rh2"] == HOA
    last_bu, last_ba = bu[-1], ba[-1]
    assert last_bu["lifetime"] == "0" and last_bu["bids"] == []
    assert last_ba["status"] == "0" and last_ba["seq"] == last_bu["seq"]
    assert int(last_bu["seq"]) > int(first_bu["seq"])


def ping(ns, target, count=3):
    res = None
    for _ in range(10):
        res = ns.run("ping", "-6", "-c", str(count), "-i", "0.2", "-W", "1", target, check=False)
        if res.returncode == 0:
            return res
        time.sleep(0.5)
    return res


@pytest.mark.skipif(not have("dpdk-telemetry.py"), reason="needs dpdk-telemetry.py")
def test_tun_carries_the_mobile_nodes_traffic_and_link_down_stops_a_link(topology):
    """Stage 2: the HoA lives on a tun interface in the MN's namespace. A host on the home
    link pings the HoA: the gateway tunnels to a CoA, monami-mn decapsulates into the tun,
    the kernel answers, monami-mn reverse-tunnels. `link down` silences a link for real."""
    t = topology
    mn_ns, home_ns = t["mn_ns"], t["home_ns"]
    # Everything but the access links' own prefixes goes through the tun (the HoA's stack).
    mn_ns.run("ip", "-6", "route", "del", "2001:db8:1::/64")
    wait_for_gateway(t["prefix"])
    tun = "mt" + t["prefix"][-6:]
    mn = MobileNodeProcess(mn_ns, [
        "--home-address", HOA, "--home-agent", HA,
        "--link", f"wifi:{t['mn_access']}:{COA_WIFI},via=2001:db8:a::1",
        "--link", f"cell:{t['mn_access']}:{COA_CELL},via=2001:db8:b::1",
        "--bulk", "--lifetime", "120", "--initial-timeout", "500", "--tap", tun])
    try:
        ba = mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        assert ba["status"] == 0 and ba["bids"] == {"1": 0, "2": 0}, mn.events
        addrs = mn_ns.run("ip", "-6", "addr", "show", "dev", tun).stdout
        assert f"{HOA}/128" in addrs

        res = ping(home_ns, HOA)
        assert res.returncode == 0, res.stdout + res.stderr + str(mn.events)

        mark = mn.mark()
        mn.send("stats")
        stats = mn.wait_for(lambda e: e["event"] == "stats", start=mark)
        links = stats["links"]
        assert sum(links[n]["rx_tunnelled"] for n in ("wifi", "cell")) >= 3
        assert sum(links[n]["tx_tunnelled"] for n in ("wifi", "cell")) >= 3
        # Reverse traffic without a flow binding leaves by the first live link.
        assert links["wifi"]["tx_tunnelled"] >= 3

        # wifi goes down; the MN moves its binding away over cell, traffic follows.
        mark = mn.mark()
        mn.send("link down wifi")
        mn.send("deregister wifi")
        dereg = mn.wait_for(lambda e: e["event"] == "ba", start=mark)
        assert dereg["link"] == "cell" and dereg["bids"] == {"1": 0} and dereg["lifetime"] == 0
        rows_now = bindings_of(t["prefix"])
        assert [(r["bid"], r["care_of"]) for r in rows_now] == [("2", COA_CELL)]
        mark = mn.mark()
        mn.send("stats")
        before = mn.wait_for(lambda e: e["event"] == "stats", start=mark)["links"]
        res = ping(home_ns, HOA)
        assert res.returncode == 0, res.stdout + res.stderr
        mark = mn.mark()
        mn.send("stats")
        after = mn.wait_for(lambda e: e["event"] == "stats", start=mark)["links"]
        assert after["wifi"]["rx_frames"] == before["wifi"]["rx_frames"]
        assert after["wifi"]["tx_frames"] == before["wifi"]["tx_frames"]
        assert after["cell"]["rx_tunnelled"] >= before["cell"]["rx_tunnelled"] + 3
        assert after["cell"]["tx_tunnelled"] >= before["cell"]["tx_tunnelled"] + 3

        mark = mn.mark()
        mn.send("link up wifi")
        back = mn.wait_for(lambda e: e["event"] == "ba", start=mark)
        assert back["status"] == 0 and back["bids"] == {"1": 0, "2": 0}

        mn.send("quit")
        mn.proc.wait(timeout=15)
        assert mn.stop() == 0
        assert mn.events[-2]["event"] == "stats" and mn.events[-1]["reason"] == "quit"
    finally:
        mn.stop()
