#!/usr/bin/python3
"""The redundant pair demo (run through ./tools/demo --pair): etcd on loopback, two monami-gw
(gw1, gw2) with the same addresses on shared Wi-Fi, cellular and home links, a two-link
mobile node and a correspondent's voice and bulk flows, in network namespaces. Prints a
timeline: both gateways up (gw1 leads, gw2 a silent standby that follows the bindings), the
bulk registration, the flows per link; gw1 killed with SIGKILL; gw2 leading about one lease
TTL later, its Override NAs, the first packet reaching the MN again; per-flow loss windows,
no Binding Update from the MN; gw1 restarted as a standby; the MN's next BU taken by gw2
with the next sequence number; then per-flow counts. Exits 0 when gw2 took over with no BU
and both flows resumed, 1 otherwise."""
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import MobileNodeProcess  # noqa: E402
import flows  # noqa: E402
from flows import FlowReceiver, FlowSender, wait_until  # noqa: E402
from lab import (BULK_PORT, CN, COA_CELL, COA_WIFI, HA, HOA, VOICE_PORT)  # noqa: E402
from pair_lab import (TTL_S, Etcd, PairLab, binding_ack, delivered_after,  # noqa: E402
                      override_na_target, sender_switches, tunnelled_to_hoa, warm_up)

VOICE_RATE, BULK_RATE, BULK_SIZE = 100, 400, 1000
LINKS = {COA_WIFI: "wifi", COA_CELL: "cellular"}

T0 = time.monotonic()
WALL = time.time() - T0  # time.time() - time.monotonic(): sniffer stamps to the timeline


def say(text, at=None):
    """A timeline line; `at`: when it happened (monotonic) if not now."""
    print(f"[{(time.monotonic() if at is None else at) - T0:6.2f}s] {text}", flush=True)


def link_counts(mn):
    mark = mn.mark()
    mn.send("stats")
    return mn.wait_for(lambda e: e["event"] == "stats", start=mark)["links"]


def phase(mn, seconds, label):
    before = link_counts(mn)
    time.sleep(seconds)
    after = link_counts(mn)
    d = {k: after[k]["rx_tunnelled"] - before[k]["rx_tunnelled"] for k in ("wifi", "cell")}
    say(f"{label}: tunnelled to the MN in {seconds:.0f} s: wifi {d['wifi']} packets, "
        f"cellular {d['cell']} packets")
    return d


def loss_window(sender, receiver, until=None):
    """flows.loss_window, of the datagrams sent before `until` (monotonic) if given."""
    if until is None:
        return flows.loss_window(sender, receiver)
    missing = [s for s in flows.lost(sender, receiver) if sender.times[s] < until]
    return (sender.times[missing[0]], sender.times[missing[-1]], len(missing)) if missing else None


def first_arrival_after(sender, receiver, after):
    """(arrival time, sequence) of the first datagram sent after `after` that arrived."""
    got = [(receiver.arrivals[s], s) for s in range(sender.sent)
           if sender.times[s] > after and s in receiver.arrivals]
    return min(got) if got else None


def main():
    tag = os.environ.get("MONAMI_DEMO_TAG")
    work = Path(tempfile.mkdtemp(prefix="monami-demo-"))
    print("monami pair demo: two home agents (gw1, gw2) with the same addresses on shared links,\n"
          "their bindings shared through etcd; a mobile node with two links (Wi-Fi, cellular)\n"
          "and a correspondent node on the home link, in network namespaces.\n"
          f"  CN {CN}  HA {HA}  HoA {HOA}  CoAs {COA_WIFI} (wifi), {COA_CELL} (cellular)\n"
          f"  etcd: one member on loopback, election timeout 500 ms; lease TTL {TTL_S} s\n"
          "  policy: voice (UDP 5060) on wifi, bulk (UDP 6000) on cellular\n", flush=True)
    ok, killed = False, None
    etcd = lab = None
    senders, receivers = {}, {}
    result = {}
    try:
        etcd = Etcd(work, 1, name=f"monami-demo-{tag}" if tag else "monami-demo")
        say(f"etcd up on {etcd.endpoints[0]}")
        lab = PairLab(work, etcd.endpoints, tag=tag)
        lab.gateways[1].start()
        s1 = lab.wait_role(1, "leader")
        say(f"gw1 up: {s1['role']}, serving {s1['serving']} (leader {s1['leader']}, lease "
            f"{s1['lease_left_ms']} ms left)")
        lab.gateways[2].start()
        s2 = lab.wait_role(2, "standby")
        say(f"gw2 up: {s2['role']}, serving {s2['serving']} (leader {s2['leader']}): silent, "
            "follows the leader's bindings through etcd's watch")

        lab.mn = mn = MobileNodeProcess(lab.mn_ns, lab.mn_args())
        bu = mn.wait_for(lambda e: e["event"] == "bu", timeout=20)
        ba = mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        seq = ba["seq"]
        say(f"MN: one bulk BU over {bu['link']} (seq {bu['seq']}, BIDs {bu['bids']}) -> BA "
            f"status {ba['status']} from gw1, per BID {ba['bids']}")
        time.sleep(0.3)
        rows = lab.gateways[2].bindings()
        say("gw2 (standby) binding cache: " + "; ".join(
            f"BID {b} -> {r['care_of']} seq {r['sequence']}" for b, r in sorted(rows.items()))
            + f"; frames sent by gw2 so far: {len(lab.frames_from(2))}")
        warm_up(lab)
        for name, port in (("voice", VOICE_PORT), ("bulk", BULK_PORT)):
            receivers[name] = FlowReceiver(lab.mn_ns.name, HOA, port, name)
        senders["voice"] = FlowSender(lab.cn_ns.name, HOA, VOICE_PORT, VOICE_RATE).start()
        senders["bulk"] = FlowSender(lab.cn_ns.name, HOA, BULK_PORT, BULK_RATE,
                                     size=BULK_SIZE).start()
        say(f"CN starts voice ({VOICE_RATE} pkt/s to port {VOICE_PORT}) and bulk "
            f"({BULK_RATE} pkt/s x {BULK_SIZE} B to port {BULK_PORT})")
        time.sleep(0.5)
        phase(mn, 2, "through gw1")

        # The takeover.
        mark = mn.mark()
        before = lab.tunnelled(1)
        killed = time.monotonic()
        lab.gateways[1].kill()
        dead = time.monotonic()  # reaped: what is sent from now on cannot pass through gw1
        say(">>> kill -9 gw1 (the leader)", at=killed)
        leader_at = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            s = lab.store(2)
            if s.get("role") == "leader" and s.get("serving") == "yes":
                leader_at = time.monotonic()
                break
            time.sleep(0.05)
        resumed = wait_until(lambda: all(delivered_after(senders[k], receivers[k], dead)
                                         for k in senders), timeout=15)
        time.sleep(0.3)
        events = []
        if leader_at:
            events.append((leader_at, f"gw2 reports leader ({leader_at - killed:.2f} s after "
                                      "the kill; polled every 50 ms)"))
        nas = sorted((t - WALL, override_na_target(f))
                     for t, f in lab.frames_from(2, killed + WALL) if override_na_target(f))
        if nas:
            targets = sorted({target for _, target in nas})
            events.append((nas[0][0], f"gw2: unsolicited NAs with Override ({len(nas)}: "
                                      f"{', '.join(targets)})"))
        after = [(t - WALL, f) for t, f in lab.frames_from(2, killed + WALL,
                                                          (lab.mn_wifi, lab.mn_cell))]
        tunnelled = [t for t, f in after if tunnelled_to_hoa(f)]
        if tunnelled and before:
            events.append((tunnelled[0], "gw2 tunnels the CN's packets again, "
                                         f"{tunnelled[0] - (before[-1] - WALL):.2f} s after the "
                                         "last one gw1 tunnelled"))
        for k in senders:
            first = first_arrival_after(senders[k], receivers[k], dead)
            if first:
                events.append((first[0], f"MN: the first {k} packet sent after gw1 died arrives "
                                         f"(#{first[1]}, through gw2)"))
        for at, text in sorted(events):
            say(text, at=at)
        settled = time.monotonic() - 0.3  # what was sent later may still be on its way
        for k in senders:
            w = loss_window(senders[k], receivers[k], settled)
            say(f"{k}: " + ("no loss" if not w else
                            f"{w[2]} packets lost, sent {w[0] - killed:+.2f} to "
                            f"{w[1] - killed:+.2f} s from the kill "
                            f"({w[1] - w[0] + 1 / senders[k].rate:.2f} s of traffic)"))
        bus = [e for e in mn.events[mark:] if e["event"] == "bu"]
        moved = [e["link"] for e in mn.events[mark:] if e["event"] == "nd"]
        say(f"MN: {len(bus)} Binding Update(s) sent since the kill; next hops moved to gw2 on "
            f"{', '.join(moved) or 'no link'} (by the NAs)")
        result.update(takeover=leader_at is not None, resumed=bool(resumed), no_bu=not bus)
        phase(mn, 2, "through gw2")

        # The old leader back, as a standby.
        restart = time.monotonic()
        lab.gateways[1].start()
        back = lab.wait_role(1, "standby")
        time.sleep(1.0)
        say(f"gw1 restarted: {back['role']}, serving {back['serving']}, leader {back['leader']}; "
            f"frames sent by gw1 since: {len(lab.frames_from(1, restart + WALL))}")
        result["rejoined"] = back["leader"] == "gw2" and not lab.frames_from(1, restart + WALL)

        # The next BU (the refresh the MN would send at 80% of the lifetime, sent now).
        mark = mn.mark()
        sent_at = time.time()
        mn.send("register")
        bu = mn.wait_for(lambda e: e["event"] == "bu", start=mark)
        ba = mn.wait_for(lambda e: e["event"] == "ba" and e["seq"] == bu["seq"], start=mark)
        from_gw2 = wait_until(lambda: [binding_ack(f) for _, f in lab.frames_from(
            2, sent_at, (lab.mn_wifi, lab.mn_cell)) if binding_ack(f)], timeout=3)
        rows2, rows1 = lab.gateways[2].bindings(), lab.gateways[1].bindings()
        say(f"MN: refresh BU seq {bu['seq']} (the last before the kill: {seq}) -> BA status "
            f"{ba['status']} from {'gw2' if from_gw2 else '?'}; sequence in gw2's cache "
            f"{sorted({r['sequence'] for r in rows2.values()})}, in gw1's (standby) "
            f"{sorted({r['sequence'] for r in rows1.values()})}")
        result["refresh"] = (bu["seq"] == seq + 1 and ba["status"] == 0 and bool(from_gw2)
                             and all(r["sequence"] == str(seq + 1) for r in rows2.values()))
        phase(mn, 1, "through gw2")
        result["one_switch"] = sender_switches(lab.senders()) == 1
        ok = all(result.values()) and len(result) == 6
    finally:
        for s in senders.values():
            s.stop()
        time.sleep(0.5)
        for r in receivers.values():
            r.stop()
        if lab:
            lab.close()
        if etcd:
            etcd.close()

    print("\nper-flow summary (counted at the mobile node's sockets)")
    print(f"  {'flow':<6} {'path':<10} {'sent':>6} {'received':>9} {'lost':>5}  loss window "
          "(from the kill)")
    paths = {"voice": "wifi", "bulk": "cellular"}
    for k, s in senders.items():
        r = receivers[k]
        w = loss_window(s, r)
        text = "-" if not w or killed is None else f"{w[0] - killed:+.2f} to {w[1] - killed:+.2f} s"
        print(f"  {k:<6} {paths[k]:<10} {s.sent:>6} {len(r.arrivals):>9} "
              f"{s.sent - len(r.arrivals):>5}  {text}")
    print(f"\nresult: {'OK' if ok else 'UNEXPECTED'} (gw2 took over, the flows resumed with no "
          "Binding Update, gw1 rejoined silent, the next BU took the next sequence number, one "
          f"switch of sender on the links: {result}); {time.monotonic() - T0:.1f} s; logs in "
          f"{work}")
    return 0 if ok else 1


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("tools/demo: run as root (it creates network namespaces)")
    sys.exit(main())
