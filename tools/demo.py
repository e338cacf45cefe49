#!/usr/bin/python3
"""The monami demo (run through ./tools/demo): a correspondent node, monami-gw and a
two-link mobile node in network namespaces. Prints a timeline: bulk registration of two
CoAs, a voice-like and a bulk flow split by policy, the Wi-Fi link cut and its flow moving
to cellular, the link restored and the flow moving back, the gateway killed and started
again on its binding store (the flows resume with no Binding Update); then per-flow counts
and losses. Exits 0 when the flows behaved as the policy says, 1 otherwise."""
import os
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import MobileNodeProcess  # noqa: E402
from flows import FlowReceiver, FlowSender, in_netns, loss_window, lost  # noqa: E402
from lab import (BULK_PORT, CN, COA_CELL, COA_WIFI, HA, HOA, VOICE_PORT, Lab)  # noqa: E402

INTERVAL_MS, MISSED_LIMIT, RECOVERY = 100, 3, 3
VOICE_RATE, BULK_RATE, BULK_SIZE = 100, 400, 1000
TCP_PORT = 8080  # the "any" rule: Wi-Fi and cellular shared 3:1 by flow

T0 = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - T0:6.2f}s] {text}", flush=True)


class TcpTransfer:
    """A TCP stream CN -> MN at a bounded rate; counts the bytes the MN's kernel delivered."""

    def __init__(self, lab, rate_bytes=200_000):
        with in_netns(lab.mn_ns.name):
            self.server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.server.bind((HOA, TCP_PORT))
            self.server.listen(1)
        with in_netns(lab.cn_ns.name):
            self.client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.rate, self.received, self.sent = rate_bytes, 0, 0
        self.stop_flag = threading.Event()
        self.error = None
        threading.Thread(target=self._serve, daemon=True).start()
        self.client.settimeout(5)
        self.client.connect((HOA, TCP_PORT))
        threading.Thread(target=self._send, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self.server.accept()
            conn.settimeout(0.2)
            while not self.stop_flag.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                self.received += len(data)
        except OSError as e:
            self.error = e

    def _send(self):
        chunk = b"x" * 4000
        start = time.monotonic()
        try:
            while not self.stop_flag.is_set():
                if self.sent > (time.monotonic() - start) * self.rate:
                    time.sleep(0.005)
                    continue
                self.client.sendall(chunk)
                self.sent += len(chunk)
        except OSError as e:
            self.error = e

    def close(self):
        self.stop_flag.set()
        for s in (self.client, self.server):
            try:
                s.close()
            except OSError:
                pass


class LogFollower:
    """Prints the gateway's liveness log lines on the timeline as they appear."""

    def __init__(self, path):
        self.path, self.stop_flag, self.lines = path, threading.Event(), []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        pattern = re.compile(r"liveness: \S+ bid (\d+) care-of (\S+): (\w+) -> (\w+) \(([^,]+), "
                             r"(\d+) missed\).*published ([\d.]+) us")
        with open(self.path) as f:
            while not self.stop_flag.is_set():
                line = f.readline()
                if not line:
                    time.sleep(0.02)
                    continue
                m = pattern.search(line)
                if m:
                    bid, coa, a, b, cause, missed, us = m.groups()
                    link = "wifi" if coa == COA_WIFI else "cellular" if coa == COA_CELL else coa
                    self.lines.append((a, b, float(us)))
                    say(f"gateway: BID {bid} ({link}) {a} -> {b} ({cause}); new snapshot "
                        f"published {float(us):.0f} us after detection")


def link_counts(mn):
    mark = mn.mark()
    mn.send("stats")
    return mn.wait_for(lambda e: e["event"] == "stats", start=mark)["links"]


def per_link(before, after):
    return {name: after[name]["rx_tunnelled"] - before[name]["rx_tunnelled"]
            for name in ("wifi", "cell")}


def phase(mn, seconds, label):
    before = link_counts(mn)
    time.sleep(seconds)
    after = link_counts(mn)
    d = per_link(before, after)
    say(f"{label}: tunnelled to the MN in {seconds:.0f} s: wifi {d['wifi']} packets, "
        f"cellular {d['cell']} packets")
    return d


def main():
    work = Path(tempfile.mkdtemp(prefix="monami-demo-"))
    print("monami demo: a correspondent node on the home link, monami-gw (home agent),\n"
          "and a mobile node with two access links (Wi-Fi, cellular), in network namespaces.\n"
          f"  CN {CN}  HA {HA}  HoA {HOA}  CoAs {COA_WIFI} (wifi), {COA_CELL} (cellular)\n"
          "  policy: voice (UDP 5060-5090) prefers wifi, bulk (UDP 6000-6099) prefers cellular,\n"
          "          other flows shared 3:1 wifi:cellular\n"
          f"  failure detection: heartbeats every {INTERVAL_MS} ms, suspect after 1 miss, dead "
          f"after {MISSED_LIMIT}, back after {RECOVERY} answers\n", flush=True)
    lab = Lab(work, heartbeat_ms=INTERVAL_MS, missed_limit=MISSED_LIMIT, recovery=RECOVERY,
              tag=os.environ.get("MONAMI_DEMO_TAG"), store=True)
    ok = True
    killed = None
    receivers, senders, tcp, follower = [], [], None, None
    try:
        say("gateway up: ports wifi, cell, home (net_af_packet on veth pairs)")
        follower = LogFollower(work / "gw.log")
        lab.mn = mn = MobileNodeProcess(lab.mn_ns, lab.mn_args())
        bu = mn.wait_for(lambda e: e["event"] == "bu", timeout=20)
        say(f"MN: one bulk Binding Update over {bu['link']} registering BIDs {bu['bids']}")
        ba = mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        say(f"MN: Binding Ack status {ba['status']}, per BID {ba['bids']}, lifetime "
            f"{ba['lifetime']} s")
        rows = lab.bindings()
        say("gateway binding cache: " + "; ".join(
            f"BID {b} -> {r['care_of']} ({r['state']})" for b, r in sorted(rows.items())))
        ping = None
        for _ in range(10):
            ping = lab.cn_ns.run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", HOA, check=False)
            if ping.returncode == 0:
                break
            time.sleep(0.3)
        summary = ping.stdout.strip().splitlines()[-2:] if ping.stdout else ["no output"]
        say("ping6 CN -> HoA through the tunnel: " + " / ".join(summary))
        if ping.returncode != 0:
            raise RuntimeError("the HoA does not answer ping")

        receivers = [FlowReceiver(lab.mn_ns.name, HOA, VOICE_PORT, "voice"),
                     FlowReceiver(lab.mn_ns.name, HOA, BULK_PORT, "bulk")]
        senders = [FlowSender(lab.cn_ns.name, HOA, VOICE_PORT, VOICE_RATE).start(),
                   FlowSender(lab.cn_ns.name, HOA, BULK_PORT, BULK_RATE, size=BULK_SIZE).start()]
        say(f"CN starts voice ({VOICE_RATE} pkt/s to port {VOICE_PORT}) and bulk "
            f"({BULK_RATE} pkt/s x {BULK_SIZE} B to port {BULK_PORT}) flows")
        try:
            tcp = TcpTransfer(lab)
            say(f"CN starts a TCP transfer to port {TCP_PORT} (200 kB/s)")
        except OSError as e:
            say(f"TCP transfer could not start: {e}")
        time.sleep(0.5)
        steady = phase(mn, 2, "both links up")
        ok &= steady["wifi"] > 0 and steady["cell"] > 0

        cut = time.monotonic()
        say(">>> cutting the Wi-Fi link (monami-mn: link down wifi)")
        mn.send("link down wifi")
        deadline = time.monotonic() + 5
        while lab.bindings()["1"]["state"] != "dead" and time.monotonic() < deadline:
            time.sleep(0.05)
        cut_phase = phase(mn, 2, "Wi-Fi cut")
        ok &= cut_phase["wifi"] == 0

        say(">>> restoring the Wi-Fi link (monami-mn: link up wifi)")
        mark = mn.mark()
        mn.send("link up wifi")
        back_ba = mn.wait_for(lambda e: e["event"] == "ba", start=mark, timeout=10)
        say(f"MN: re-registered over wifi (Binding Ack status {back_ba['status']})")
        deadline = time.monotonic() + 5
        while lab.bindings()["1"]["state"] != "live" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        restored = phase(mn, 2, "Wi-Fi restored")
        ok &= restored["wifi"] > 0

        say(">>> killing monami-gw (SIGKILL) and starting it again on its binding store")
        mark = mn.mark()
        killed = time.monotonic()
        took = lab.restart_gateway()
        store = lab.telemetry("/monami/store")
        say(f"gateway up again {took:.2f} s after the kill: restored "
            f"{store['restored_home_addresses']} home address(es), {store['restored_bindings']} "
            f"bindings in {store['restore_us'] / 1000:.1f} ms from {store['path']}")
        rows = lab.bindings()
        say("gateway binding cache: " + "; ".join(
            f"BID {b} -> {r['care_of']} ({r['state']}, {r['lifetime_s']} s left)"
            for b, r in sorted(rows.items())))
        after = phase(mn, 2, "after the restart")
        new_bus = [e for e in mn.events[mark:] if e["event"] == "bu"]
        say(f"MN: {len(new_bus)} Binding Update(s) sent across the restart")
        ok &= after["wifi"] > 0 and not new_bus and len(rows) == 2
    finally:
        for s in senders:
            s.stop()
        time.sleep(0.5)
        for r in receivers:
            r.stop()
        if tcp:
            tcp.close()
        if follower:
            follower.stop_flag.set()
        control = {}
        try:
            control = lab.control()
        except Exception:  # noqa: BLE001 - the summary is best effort once things failed
            pass
        lab.close()

    print("\nper-flow summary (counted at the mobile node's sockets)")
    print(f"  {'flow':<6} {'path':<26} {'sent':>6} {'received':>9} {'lost':>5}  loss window")
    paths = {"voice": "wifi -> cellular -> wifi", "bulk": "cellular (never moved)"}
    bound = INTERVAL_MS * (MISSED_LIMIT + 1) / 1000
    restart_gaps = {}
    for s, r in zip(senders, receivers):
        # Losses around the cut; what the restart cost is shown apart.
        before_kill = [i for i in lost(s, r) if killed is None or s.times[i] < killed]
        around_kill = [i for i in lost(s, r) if killed is not None and s.times[i] >= killed]
        if around_kill:
            restart_gaps[r.name] = (s.times[around_kill[-1]] - killed, len(around_kill))
        window = (s.times[before_kill[0]], s.times[before_kill[-1]]) if before_kill else None
        missing = len(before_kill)
        text = "-" if not window else (f"{(window[0] - cut) * 1000:.0f} to "
                                       f"{(window[1] - cut) * 1000:.0f} ms after the cut")
        print(f"  {r.name:<6} {paths[r.name]:<26} {s.sent:>6} {len(r.arrivals):>9} {missing:>5}  "
              f"{text}")
        if r.name == "bulk":
            ok &= missing == 0
        else:
            ok &= window is None or (window[1] - cut <= bound and missing <= VOICE_RATE * bound + 2)
    if tcp:
        print(f"  tcp    shared 3:1 by flow         {tcp.sent:>6}B {tcp.received:>8}B "
              "(TCP retransmits what a cut link dropped)")
    for name, (gap, count) in restart_gaps.items():
        print(f"  {name:<6} across the restart: {count} packets lost, the last sent {gap:.2f} s "
              "after the kill (no Binding Update)")
    if control:
        print(f"\ngateway, since its restart: heartbeats sent {control.get('heartbeats_sent')}, "
              f"answered "
              f"{control.get('heartbeat_responses')}, missed {control.get('heartbeat_misses')}; "
              f"failure detected -> snapshot published: max "
              f"{control.get('failover_max_ns', 0) / 1000:.0f} us")
    print(f"\nresult: {'OK' if ok else 'UNEXPECTED'} (bulk flow lossless, voice loss within "
          f"the detection time of {bound * 1000:.0f} ms, flows back on Wi-Fi after restore, "
          f"resumed after the restart with no Binding Update); {time.monotonic() - T0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("tools/demo: run as root (it creates network namespaces)")
    sys.exit(main())
