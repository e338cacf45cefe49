"""pktgen-dpdk built by tools/pktgen/build (the benchmark kit's traffic generator) runs the
kit's Lua script on two vdev ports (memif, net_pcap) in one process, without hugepages or
NICs."""
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

from conftest import ROOT

KIT = ROOT / "tools" / "pktgen"
VENDOR = ROOT.parent / "shared" / "vendor" / "pktgen-dpdk-23.03.0.tar.gz"


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
