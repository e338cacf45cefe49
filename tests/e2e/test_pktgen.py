"""pktgen-dpdk built by tools/pktgen/build (the benchmark kit's traffic generator) runs the
kit's Lua script on two memif ports in one process, without hugepages or NICs."""
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import ROOT

KIT = ROOT / "tools" / "pktgen"
VENDOR = ROOT.parent / "shared" / "vendor" / "pktgen-dpdk-23.03.0.tar.gz"


@pytest.fixture(scope="session")
def pktgen():
    """Builds pktgen once per session (a few minutes the first time; build-pktgen/ keeps
    the result, so later runs only check it is up to date) and returns its binary."""
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


def test_kit_script_sends_over_memif(pktgen, tmp_path):
    sock = tmp_path / "memif.sock"
    prefix = "monami-pktgen-" + uuid.uuid4().hex[:8]
    # Pktgen.lua, which the kit's script requires, is at the top of the unpacked source.
    lua_path = f"{pktgen.parents[2] / 'src'}/?.lua;;"
    # pktgen makes six pools of 24576 10 KB mbufs per port: 2 ports need about 3.5 GB.
    cmd = [str(pktgen), "-l", "0-1", "--no-huge", "-m", "4096", "--no-pci",
           f"--file-prefix={prefix}", "--vdev", f"net_memif0,role=server,socket={sock}",
           "--vdev", f"net_memif1,role=client,socket={sock}", "--",
           "-P", "-m", "1.[0-1]", "-s", f"0:{KIT / 'encap_64.pcap'}",
           "-s", f"1:{KIT / 'decap_64.pcap'}", "-f", str(KIT / "monami.lua")]
    # pktgen draws its screen on stdout whatever it is; the script quits after 2 + 2 s.
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path,
                       env={**os.environ, "LUA_PATH": lua_path, "MONAMI_SECONDS": "2",
                            "MONAMI_RATE": "1"})
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", r.stdout + r.stderr)
    assert r.returncode == 0, out[-3000:]
    # memif has no settable MTU: the patched port setup warns and goes on.
    assert "cannot set its MTU" in out
    stats = {int(p): (int(o), int(i)) for p, o, i in
             re.findall(r"monami port (\d): opackets (\d+) ipackets (\d+)", out)}
    assert set(stats) == {0, 1}, out[-3000:]
    for port in (0, 1):
        sent, _ = stats[port]
        _, received = stats[1 - port]
        assert sent > 0, f"port {port} sent nothing"
        # The script waits 2 s after stopping: everything sent has arrived on the other end.
        assert received == sent, f"port {port} sent {sent}, port {1 - port} received {received}"
