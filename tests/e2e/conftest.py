"""Shared helpers for monami's end-to-end tests: run the real monami-gw (and friends)
from the build directory, on pcap files or in network namespaces."""
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MONAMI_BUILD", ROOT / "build"))


def binary(name):
    path = BUILD / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build first (./tools/build)")
    return str(path)


def eal_args(prefix, lcores="0", vdevs=()):
    """EAL arguments for a hugepage-free, PCI-free run with its own runtime directory."""
    args = ["-l", lcores, "--no-huge", "-m", "1024", "--no-pci", f"--file-prefix={prefix}",
            "--log-level=lib.eal:error", "--log-level=monami.*:info"]
    for v in vdevs:
        args += ["--vdev", v]
    return args


def run_gw(config_path, prefix, stop_when_idle_ms=500, lcores="0", timeout=60, extra=()):
    cmd = [binary("monami-gw"), *eal_args(prefix, lcores), "--", "--config", str(config_path),
           "--stop-when-idle", str(stop_when_idle_ms), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def final_counters(stdout):
    """Parses the 'final statistics' block printed by monami-gw into a dict."""
    counters = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("drops:") or line.startswith("control:"):
            for item in line.split(":", 1)[1].split():
                k, v = item.split("=")
                counters[k] = int(v)
        elif line and line.split()[0] in ("rx_packets", "forwarded"):
            parts = line.split()
            for k, v in zip(parts[0::2], parts[1::2]):
                counters[k] = int(v)
    return counters


@pytest.fixture
def prefix():
    return "monami-test-" + uuid.uuid4().hex[:8]


def have(cmd):
    return shutil.which(cmd) is not None


class Netns:
    """A network namespace created for one test and deleted afterwards."""

    def __init__(self, name):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)

    def run(self, *cmd, check=True, timeout=30, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], check=check,
                              capture_output=True, text=True, timeout=timeout, **kw)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture
def netns_factory():
    created = []

    def make(tag):
        ns = Netns(f"mt{tag}{uuid.uuid4().hex[:6]}")
        created.append(ns)
        return ns

    yield make
    for ns in created:
        ns.delete()
