"""monami-ctl top against the real monami-gw, driven in tmux like an operator's terminal:
the screen shows the gateway's bindings and non-zero rates on the ports the CN's packets
cross while they flow, and q (or Ctrl-C) leaves with exit status 0."""
import re
import subprocess
import threading
import time

import pytest
from scapy.all import IPv6, Raw, UDP

from conftest import binary, have, two_link_gateway, two_link_ports
from mh_frames import binding_update, bu_packet

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
COA1 = "2001:db8:a::100"
HOA = "2001:db8:1::100"


@pytest.fixture
def gateway(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1], two_link_ports(HA),
                                f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          duplicate_address_detection: false
        heartbeat:
          enabled: false
        """)


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)


def screen(session):
    return tmux("capture-pane", "-p", "-t", session).stdout


SI = r"([\d.]+[kMGT]?)"


def si(text):
    """'14.88M' -> 14880000.0"""
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    return float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)


def port_line(text, port):
    """The rates of a port's line: rx packets/s, rx bits/s, tx packets/s, tx bits/s, missed/s."""
    m = re.search(rf"^{port}\s+{SI}\s+{SI}\s+{SI}\s+{SI}\s+{SI}\s+up", text, re.M)
    return [si(x) for x in m.groups()] if m else None


@pytest.mark.skipif(not have("tmux"), reason="tmux is not installed (tools/deps installs it)")
def test_top_shows_the_rates_and_quits(gateway, prefix, tmp_path):
    gw, sides = gateway
    home, access = sides["home"], sides["access"]
    access.send(bu_packet(COA1, HA, HOA, binding_update(1, 100)))
    stop = threading.Event()

    def traffic():  # bounded: at most 30,000 packets or until stopped
        for _ in range(30000):
            if stop.is_set():
                return
            home.send(IPv6(src=CN, dst=HOA) / UDP(sport=4000, dport=4001) / Raw(b"t" * 200))

    sender = threading.Thread(target=traffic)
    sender.start()
    sessions = []
    try:
        for key in ("q", "C-c"):
            session = f"top{prefix[-6:]}{len(sessions)}"
            status_file = tmp_path / f"{session}.status"
            tmux("kill-session", "-t", session)
            tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                 f"{binary('monami-ctl')} -f {prefix} top; echo $? > {status_file}; sleep 30")
            sessions.append(session)
            deadline, seen = time.time() + 20, ""
            home_rates = access_rates = None
            while time.time() < deadline:
                seen = screen(session)
                home_rates, access_rates = port_line(seen, "home"), port_line(seen, "access")
                if ("bindings 1" in seen and home_rates and access_rates and
                        home_rates[0] > 0 and access_rates[2] > 0):
                    break
                time.sleep(0.5)
            assert "monami-ctl top" in seen, seen
            assert "bindings 1" in seen, seen
            assert home_rates and home_rates[0] > 0 and home_rates[1] > 0, seen  # CN -> HoA in
            assert access_rates and access_rates[2] > 0 and access_rates[3] > 0, seen  # tunnelled
            worker = re.search(rf"^0\s+\d+\s+[\d.]+\s+{SI}$", seen, re.M)
            assert worker and si(worker.group(1)) > 0, seen  # worker 0 received them
            tmux("send-keys", "-t", session, key)
            deadline = time.time() + 10
            while time.time() < deadline and not status_file.exists():
                time.sleep(0.2)
            assert status_file.exists(), f"{key} did not end monami-ctl top:\n" + screen(session)
            assert status_file.read_text().strip() == "0", key
            # The alternate screen is gone: the shell's screen is back, not the view.
            assert "monami-ctl top" not in screen(session)
    finally:
        stop.set()
        sender.join()
        for session in sessions:
            tmux("kill-session", "-t", session)
