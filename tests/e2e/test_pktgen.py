"""pktgen-dpdk built by tools/pktgen/build (the benchmark kit's traffic generator) runs the
kit's Lua script on two vdev ports (memif, net_pcap) in one process, without hugepages or
NICs; and tools/pktgen/run drives monami-gw and testpmd with it over memif."""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

from conftest import ROOT, tshark_rows

KIT = ROOT / "tools" / "pktgen"
VENDOR = ROOT.parent / "shared" / "vendor" / "pktgen-dpdk-23.03.0.tar.gz"
HOA_BASE = int(ipaddress.IPv6Address("2001:db8:1::1:0:0"))  # HoA i = 2001:db8:1::1:<i>


@pytest.fixture(scope="session")
def pktgen():
    """Builds pktgen once per session (under a minute on two cores the first time;
    build-pktgen/ keeps the result, so later runs only run ninja) and returns its binary."""
    src = os.environ.get("PKTGEN_SRC")
    if not (src and Path(src).exists()) and not VENDOR.exists():
        pytest.skip(f"no pktgen-dpdk source: {VENDOR} is missing and PKTGEN_SRC "
                    + (f"({src}) does not exist" if src else "is unset"))
    r = subprocess.run([str(KIT / "build")], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, f"tools/pktgen/build failed:\n{r.stdout}\n{r.stderr}"
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("pktgen: "), f"unexpected last line from tools/pktgen/build: {last}"
    return Path(last.split(": ", 1)[1])


def test_build_without_source_says_what_is_missing(tmp_path):
    missing = tmp_path / "pktgen-dpdk-23.03.0.tar.gz"
    r = subprocess.run([str(KIT / "build")], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PKTGEN_SRC": str(missing),
                            "PKTGEN_BUILD": str(tmp_path / "out")})
    assert r.returncode != 0
    assert f"PKTGEN_SRC={missing} not found" in r.stderr
    assert not (tmp_path / "out").exists()


def run_kit(pktgen, tmp_path, vdevs, seconds, rate):
    """Runs tools/pktgen/monami.lua (encap_64.pcap from port 0, decap_64.pcap from port 1)
    and returns {port: (opackets, ipackets)} as the script prints them, and the output."""
    prefix = "monami-pktgen-" + uuid.uuid4().hex[:8]
    # Pktgen.lua, which the kit's script requires, is at the top of the unpacked source.
    lua_path = f"{pktgen.parents[2] / 'src'}/?.lua;;"
    # pktgen makes six pools of 24576 10 KB mbufs per port: 2 ports need about 3.5 GB.
    cmd = [str(pktgen), "-l", "0-1", "--no-huge", "-m", "4096", "--no-pci",
           f"--file-prefix={prefix}"]
    for v in vdevs:
        cmd += ["--vdev", v]
    cmd += ["--", "-P", "-m", "1.[0-1]", "-s", f"0:{KIT / 'encap_64.pcap'}",
            "-s", f"1:{KIT / 'decap_64.pcap'}", "-f", str(KIT / "monami.lua")]
    # pktgen draws its screen on stdout whatever it is; the script quits by itself
    # 2 s after it stops sending.
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60, cwd=tmp_path,
                           env={**os.environ, "LUA_PATH": lua_path,
                                "MONAMI_SECONDS": str(seconds), "MONAMI_RATE": str(rate)})
    finally:
        # EAL leaves its runtime directory behind.
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", r.stdout + r.stderr)
    assert r.returncode == 0, out[-3000:]
    stats = {int(p): (int(o), int(i)) for p, o, i in
             re.findall(r"monami port (\d): opackets (\d+) ipackets (\d+)", out)}
    assert set(stats) == {0, 1}, out[-3000:]
    return stats, out


def test_kit_script_sends_over_memif(pktgen, tmp_path):
    sock = tmp_path / "memif.sock"
    stats, out = run_kit(pktgen, tmp_path, [f"net_memif0,role=server,socket={sock}",
                                            f"net_memif1,role=client,socket={sock}"], 2, 1)
    # memif has no settable MTU: the patched port setup warns and goes on.
    assert "cannot set its MTU" in out
    for port in (0, 1):
        sent, _ = stats[port]
        _, received = stats[1 - port]
        assert sent > 0, f"port {port} sent nothing"
        # The script waits 2 s after stopping: everything sent has arrived on the other end.
        assert received == sent, f"port {port} sent {sent}, port {1 - port} received {received}"


def test_kit_script_sends_the_pcaps_frames(pktgen, tmp_path):
    """What pktgen counts as sent is on the wire, and is the kit's pcaps' frames: net_pcap
    ports write every frame they transmit to a file."""
    vdevs = [f"net_pcap{p},tx_pcap={tmp_path / f'tx{p}.pcap'}" for p in (0, 1)]
    # 1% of net_pcap's nominal 10 Gb/s for 0.5 s: about 74,000 64-byte frames per port.
    stats, _ = run_kit(pktgen, tmp_path, vdevs, 0.5, 1)
    for port, pcap in ((0, "encap_64.pcap"), (1, "decap_64.pcap")):
        kit = {bytes(d) for d, _ in RawPcapReader(str(KIT / pcap))}
        sent = [bytes(d) for d, _ in RawPcapReader(str(tmp_path / f"tx{port}.pcap"))]
        assert len(sent) == stats[port][0] > 0
        assert all(f in kit for f in sent), f"port {port} sent frames not in {pcap}"


def test_run_provisions_and_drives_every_scenario_over_memif(pktgen, tmp_path):
    """tools/pktgen/run end to end on memif: 1,000 HoAs x 2 CoAs registered by pktgen
    replaying bu.pcap once, then every scenario through monami-gw and through testpmd io
    at 1% rate. What the gateway sent back is decoded with tshark from pktgen's captures."""
    hoas = 1000
    report = tmp_path / "report.json"
    r = subprocess.run([str(KIT / "run"), "--hoas", str(hoas), "--coas", "2", "--seconds", "1",
                        "--rate", "0.1", "--bu-rate", "0.01", "--packets", "1024", "--workdir", str(tmp_path / "run"),
                        "--sample", "--json", str(report)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    result = json.loads(report.read_text())
    work = tmp_path / "run"
    # Nothing of the run's shares the gateway worker's CPU: a thread of pktgen's there,
    # quitting, preempted the worker inside memif rx/tx while the PMD unmapped the rings
    # (SIGSEGV in 3 runs of 4 before).
    cpus = result["cpus"]
    assert cpus["gateway_workers"] == [1]
    assert not set(cpus["gateway_workers"]) & (set(cpus["pktgen"]) | set(cpus["run"])), cpus

    # Provisioning: each BU sent once, each accepted, one BA for each.
    p = result["provisioning"]
    assert p["bus_sent"] == hoas and p["accepted"] == hoas
    assert p["gateway"]["binding_updates"] == hoas == p["gateway"]["binding_acks_sent"]
    assert p["home_addresses"] == hoas and p["bindings"] == 2 * hoas
    # At 0.01% of memif's 100G (about 8,000 BUs/s) the 1,000 take over 50 ms: timed.
    assert p["bus_per_second"] > 0
    bas = [f for f in tshark_rows(p["sample"], "mip6.mhtype", "mip6.ba.status",
                                    "ipv6.routing.mipv6.home_address") if f[0] == "6"]
    assert len(bas) == hoas, f"{len(bas)} BAs reached pktgen for {hoas} BUs"
    assert {status for _, status, _ in bas} == {"0"}
    assert {hoa for _, _, hoa in bas} == {str(ipaddress.IPv6Address(HOA_BASE + i))
                                          for i in range(hoas)}

    # Every scenario, through both, with the ratio.
    assert set(result["scenarios"]) == {"encap_64", "encap_imix", "decap_64", "ncast_64"}
    for name, s in result["scenarios"].items():
        for side in ("monami", "testpmd"):
            assert s[side]["offered_mpps"] > 0 and s[side]["received_mpps"] > 0, (name, side)
        assert s["ratio"] > 0, name

    # What monami sent out of the access port: tunnelled from the HA to a CoA registered
    # for the inner destination (CoA k of HoA i is 2001:db8:c00<k>::<i>).
    def care_of_home_address(frame):
        outer_src, _ = frame[0].split(",")
        outer_dst, inner_dst = frame[1].split(",")
        assert outer_src == "2001:db8:1::1"
        coa, hoa = ipaddress.IPv6Address(outer_dst), ipaddress.IPv6Address(inner_dst)
        assert int(hoa) - HOA_BASE < hoas
        assert int(coa) & 0xffffffff == int(hoa) - HOA_BASE, frame
        return int(coa) >> 80 & 0xff, int(hoa)

    for name in ("encap_64", "encap_imix"):
        frames = tshark_rows(work / f"{name}.monami.rx1.pcap", "ipv6.src", "ipv6.dst")
        assert len(frames) > 1000, name
        coas = [care_of_home_address(f) for f in frames if "," in f[0]]
        assert {k for k, _ in coas} <= {0, 1}
    # n-cast: every frame copied onto both CoAs of its HoA.
    frames = tshark_rows(work / "ncast_64.monami.rx1.pcap", "ipv6.src", "ipv6.dst")
    copies = Counter(care_of_home_address(f) for f in frames)
    per_coa = Counter(k for k, _ in copies.elements())
    assert per_coa[0] == per_coa[1] > 500, per_coa
    # The reverse tunnel: plain IPv6 from the HoA to the correspondent on the home port.
    frames = tshark_rows(work / "decap_64.monami.rx0.pcap", "ipv6.src", "ipv6.dst",
                           "eth.dst")
    assert len(frames) > 1000
    for src, dst, mac in frames:
        assert int(ipaddress.IPv6Address(src)) - HOA_BASE < hoas
        assert dst.startswith("2001:db8:ffff:") and mac == "02:00:00:00:01:fe"


def test_run_refuses_half_a_port_plan():
    """NIC ports come in pairs for both sides; an unknown scenario is named."""
    for args, message in ((["--gw-ports", "0000:01:00.0,0000:01:00.1"],
                           "--gw-ports and --pktgen-ports go together"),
                          (["--gw-ports", "0000:01:00.0", "--pktgen-ports", "0000:02:00.0"],
                           "--gw-ports takes two ports"),
                          (["--scenarios", "encap_64,bicast"], "unknown scenarios bicast")):
        r = subprocess.run([str(KIT / "run"), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
