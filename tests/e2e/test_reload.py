"""Live reload end to end: the real monami-gw of the two-link lab (lab.py) with a registered
monami-mn, a CN sending a numbered voice flow (UDP 5060, policy: wifi first) and a bulk flow
(UDP 6000, policy: cellular first), and the gateway's configuration file edited in place.

- `monami-ctl reload` under traffic: a policy that puts voice on cellular first moves the
  voice flow to the other CoA; neither flow loses a datagram across the reload.
- A broken file (SIGHUP, then `monami-ctl reload`): nothing changes, and both the log and
  monami-ctl's output say FILE:LINE:COLUMN: what is wrong.
- A file that changes a port's device (with a policy change beside it): refused, naming
  `ports.wifi.device`; the old configuration stays in force and the flows keep flowing.
- SIGHUP with the original file: applied, voice back on wifi.

One lab for all of them (the cases run in order, each starting from the state the previous
one left); link counts come from monami-mn's per-link counters, losses from the receivers."""
import re
import signal
import subprocess
import time

import pytest

from conftest import MobileNodeProcess, have
from flows import FlowReceiver, FlowSender, lost, wait_until
from lab import BUILD, BULK_PORT, HOA, VOICE_PORT, Lab

pytestmark = pytest.mark.skipif(not have("dpdk-telemetry.py"), reason="needs dpdk-telemetry.py")

VOICE_RATE, BULK_RATE = 200, 300
# Packets to the HoA beyond the flows' in a window (the CN's own, should it send any).
NOISE = 3

VOICE_WIFI_FIRST = "- {traffic_class: voice, mode: prefer, order: [wifi, cellular]}"
VOICE_CELL_FIRST = "- {traffic_class: voice, mode: prefer, order: [cellular, wifi]}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # Heartbeats every second: a loaded machine's hiccup must not make a path Suspect (and
    # move voice) in the middle of a counted window; failure detection has its own tests.
    lab = Lab(tmp_path_factory.mktemp("reload"), heartbeat_ms=1000)
    try:
        lab.original = lab.config.read_text()
        assert VOICE_WIFI_FIRST in lab.original
        lab.mn = MobileNodeProcess(lab.mn_ns, lab.mn_args())
        ba = lab.mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        assert ba["status"] == 0 and ba["bids"] == {"1": 0, "2": 0}, lab.mn.events
        for _ in range(20):  # the CN resolves the HoA (proxy ND) before counted traffic
            if lab.cn_ns.run("ping", "-6", "-c", "1", "-W", "1", HOA, check=False).returncode == 0:
                break
            time.sleep(0.3)
        yield lab
    finally:
        lab.close()
        print(lab.gateway_log())


def ctl(lab, *args):
    return subprocess.run([str(BUILD / "monami-ctl"), "-f", lab.prefix, *args],
                          capture_output=True, text=True, timeout=30)


def link_counts(lab):
    mark = lab.mn.mark()
    lab.mn.send("stats")
    links = lab.mn.wait_for(lambda e: e["event"] == "stats", start=mark)["links"]
    return {name: link["rx_tunnelled"] for name, link in links.items()}


def counts_reaching(lab, before, total, timeout=3):
    """monami-mn's link counters once they hold `total` packets more than `before` (as they
    are after `timeout` otherwise)."""
    def enough():
        c = link_counts(lab)
        return c if c["wifi"] + c["cell"] - before["wifi"] - before["cell"] >= total else None
    return wait_until(enough, timeout) or link_counts(lab)


class Flows:
    """The voice and bulk flows from the CN, counted at the MN: per flow by the receivers,
    per link by monami-mn. `during` runs while they flow."""

    def __init__(self, lab, seconds, during=None):
        voice_rx = FlowReceiver(lab.mn_ns.name, HOA, VOICE_PORT)
        bulk_rx = FlowReceiver(lab.mn_ns.name, HOA, BULK_PORT)
        before = link_counts(lab)
        voice = FlowSender(lab.cn_ns.name, HOA, VOICE_PORT, rate=VOICE_RATE).start()
        bulk = FlowSender(lab.cn_ns.name, HOA, BULK_PORT, rate=BULK_RATE, size=1000).start()
        try:
            time.sleep(seconds / 2)
            self.during = during() if during else None
            time.sleep(seconds / 2)
        finally:
            voice.stop()
            bulk.stop()
            # What is still on its way arrives (waited for by count, not by time).
            wait_until(lambda: len(voice_rx.arrivals) >= voice.sent and
                       len(bulk_rx.arrivals) >= bulk.sent, timeout=3)
            voice_rx.stop()
            bulk_rx.stop()
        after = counts_reaching(lab, before, voice.sent + bulk.sent)
        self.voice, self.bulk = voice.sent, bulk.sent
        self.voice_lost, self.bulk_lost = lost(voice, voice_rx), lost(bulk, bulk_rx)
        self.duplicates = voice_rx.duplicates + bulk_rx.duplicates
        self.wifi = after["wifi"] - before["wifi"]
        self.cell = after["cell"] - before["cell"]

    def assert_complete(self):
        assert self.voice_lost == [], f"voice lost {len(self.voice_lost)} of {self.voice}"
        assert self.bulk_lost == [], f"bulk lost {len(self.bulk_lost)} of {self.bulk}"
        assert self.duplicates == 0

    def assert_split(self, wifi, cell):
        """Every datagram of the flows named for a link went over it, and nothing else
        (beyond NOISE)."""
        self.assert_complete()
        assert wifi <= self.wifi <= wifi + NOISE, (self.wifi, wifi, vars(self))
        assert cell <= self.cell <= cell + NOISE, (self.cell, cell, vars(self))


def control(lab):
    return lab.telemetry("/monami/control")


def reload_state(lab):
    config = lab.gateway.query("/monami/config")
    return config["reload_sequence"], config["reload_result"], config["reload_message"]


def sighup_and_wait(lab):
    """SIGHUP, then the gateway's next reload outcome (read off its control thread)."""
    sequence = reload_state(lab)[0]
    lab.gw.send_signal(signal.SIGHUP)
    assert wait_until(lambda: reload_state(lab)[0] > sequence, timeout=10), reload_state(lab)
    return reload_state(lab)


def test_policy_reload_moves_voice_under_traffic_losing_nothing(lab):
    before = Flows(lab, 1.0)
    before.assert_split(wifi=before.voice, cell=before.bulk)

    lab.config.write_text(lab.original.replace(VOICE_WIFI_FIRST, VOICE_CELL_FIRST))
    across = Flows(lab, 1.2, during=lambda: ctl(lab, "reload"))
    result = across.during
    assert result.returncode == 0, result.stdout + result.stderr
    assert "applied" in result.stdout and "policies" in result.stdout, result.stdout
    # Across the reload, under traffic: not one datagram lost or doubled; each went over
    # one link.
    across.assert_complete()
    assert across.voice + across.bulk <= across.wifi + across.cell <= \
        across.voice + across.bulk + NOISE

    after = Flows(lab, 1.0)
    after.assert_split(wifi=0, cell=after.voice + after.bulk)
    assert control(lab)["reloads_applied"] == 1
    assert "reload of" in lab.gateway_log() and "applied: policies" in lab.gateway_log()


def broken_file(text):
    """The file with a bad value in `heartbeat.missed_limit`, and the LINE:COLUMN of it."""
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("missed_limit:"):
            column = line.index(":") + 3
            lines[number - 1] = line[:column - 1] + "many"
            return "\n".join(lines) + "\n", number, column
    raise AssertionError("no missed_limit in the lab's configuration")


def test_broken_file_changes_nothing_and_says_where(lab):
    good = lab.config.read_text()
    broken, line, column = broken_file(good)
    lab.config.write_text(broken)
    where = f"{lab.config}:{line}:{column}:"

    # SIGHUP: the outcome is logged and kept for monami-ctl config.
    sequence, outcome, message = sighup_and_wait(lab)
    assert outcome == "invalid", message
    assert any(where in m for m in message), (where, message)
    log = lab.gateway_log()
    assert re.search(r"reload of \S+ \(SIGHUP\) invalid: " + re.escape(where), log), log
    assert "nothing changed" in log

    # monami-ctl reload: the same error in its output, exit status 5.
    result = ctl(lab, "reload")
    assert result.returncode == 5, result.stdout + result.stderr
    assert where in result.stdout, result.stdout
    assert "invalid" in result.stdout

    # The policy of the last good reload is still in force.
    still = Flows(lab, 1.0)
    still.assert_split(wifi=0, cell=still.voice + still.bulk)
    counters = control(lab)
    assert counters["reloads_invalid"] == 2 and counters["reloads_applied"] == 1
    lab.config.write_text(good)


def test_port_change_is_refused_naming_the_key_and_sighup_applies_the_original(lab):
    good = lab.config.read_text()
    device = re.search(r'device: "net_af_packet0,iface=(\w+)"', good)
    assert device, good
    # A port's device and a policy at once: the whole file is refused, the policy too.
    changed = good.replace(device.group(0), 'device: "net_af_packet0,iface=nosuchlink"')
    changed = changed.replace(VOICE_CELL_FIRST, VOICE_WIFI_FIRST)
    lab.config.write_text(changed)

    flows = Flows(lab, 1.0, during=lambda: ctl(lab, "reload"))
    result = flows.during
    assert result.returncode == 4, result.stdout + result.stderr
    assert "refused" in result.stdout and "ports.wifi.device" in result.stdout, result.stdout
    assert "restart" in result.stdout
    assert "ports.wifi.device cannot change while running" in lab.gateway_log()
    # Nothing applied (voice stays on cellular), and the traffic went on untouched.
    flows.assert_split(wifi=0, cell=flows.voice + flows.bulk)
    assert control(lab)["reloads_refused"] == 1

    # SIGHUP with the original file: applied, voice back on wifi.
    lab.config.write_text(lab.original)
    sequence, outcome, message = sighup_and_wait(lab)
    assert outcome == "applied" and any("policies" in m for m in message), message
    back = Flows(lab, 1.0)
    back.assert_split(wifi=back.voice, cell=back.bulk)
    counters = control(lab)
    assert counters["reloads_applied"] == 2 and counters["reloads_refused"] == 1
    # The binding was never touched: still both BIDs, live.
    rows = lab.bindings()
    assert sorted(rows) == ["1", "2"] and all(r["state"] == "live" for r in rows.values()), rows
