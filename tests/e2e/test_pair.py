"""A redundant pair on etcd, end to end (tests/e2e/pair_lab.py): a real etcd (Debian's
etcd-server, started here with the short election timeout a 1 s lease needs), two real
monami-gw with the same addresses on shared home, Wi-Fi and cellular bridges (namespaces), a
two-link monami-mn registered in one bulk BU, and a correspondent's counted voice and bulk
flows to the HoA (voice over Wi-Fi, bulk over cellular by policy).

- The leader killed with SIGKILL: the silent standby takes over, its Override NAs move the
  CN's and the MN's next hops, and both flows reach the MN again with no BU from it (the gap
  is printed); the MN's next BU is taken with the next sequence number, a replayed one is
  refused; the old leader, started again, joins as a silent standby. Then the new leader
  stopped with SIGTERM (a planned switchover): the other takes over, no BU either.
- The leader cut off from etcd (SIGSTOP): silent within the lease TTL; afterwards one leads,
  and frame by frame the two never sent at the same time.
- A three-member etcd: the member first in the leader's endpoint list killed, then the
  leader: the standby takes over through the two members left."""
import time

import pytest

from conftest import MobileNodeProcess, have
from flows import FlowReceiver, FlowSender, lost, wait_until
from lab import BULK_PORT, COA_CELL, COA_WIFI, HA, HOA, VOICE_PORT
from mh_frames import binding_update
from pair_lab import (TTL_S, Etcd, PairLab, delivered_after, override_na_target,
                      sender_switches, warm_up)

pytestmark = pytest.mark.skipif(not have("dpdk-telemetry.py"), reason="needs dpdk-telemetry.py")

VOICE_RATE, BULK_RATE, BULK_SIZE = 100, 200, 1000
# Frames stamped by the kernel as they cross a bridge; a gateway's last frame may come this
# much after its lease could have run out (the worker's burst in flight, the veth).
ALLOWANCE_S = 0.2
# Generous: a takeover loses what was sent in about one TTL; ten are allowed.
MAX_LOSS = {"voice": VOICE_RATE * 10 * TTL_S, "bulk": BULK_RATE * 10 * TTL_S}


class Running:
    """A pair lab with gw1 leading and gw2 standing by, the MN registered through gw1 and
    the CN's voice and bulk flows running; close() undoes everything and prints the logs."""

    def __init__(self, tmp_path, endpoints):
        self.senders, self.receivers = {}, {}
        self.lab = PairLab(tmp_path, endpoints)
        try:
            standby = self.lab.start_pair()
            assert standby["leader"] == "gw1", standby
            self.mn = self.lab.mn = MobileNodeProcess(self.lab.mn_ns, self.lab.mn_args())
            self.ba = self.mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
            assert self.ba["status"] == 0 and self.ba["bids"] == {"1": 0, "2": 0}, self.mn.events
            warm_up(self.lab)
            for name, port in (("voice", VOICE_PORT), ("bulk", BULK_PORT)):
                self.receivers[name] = FlowReceiver(self.lab.mn_ns.name, HOA, port, name)
            self.senders["voice"] = FlowSender(self.lab.cn_ns.name, HOA, VOICE_PORT,
                                               VOICE_RATE).start()
            self.senders["bulk"] = FlowSender(self.lab.cn_ns.name, HOA, BULK_PORT, BULK_RATE,
                                              size=BULK_SIZE).start()
            time.sleep(1.5)
        except BaseException:
            self.close()
            raise

    def resumed(self, after):
        """Whether both flows reached the MN with a datagram sent after `after` (monotonic)."""
        return all(delivered_after(self.senders[k], self.receivers[k], after)
                   for k in self.senders)

    def losses(self, since, start=None):
        """Per flow: (datagrams lost, the send times of the first and last relative to
        `since`), counting those sent from `start` on (monotonic) and not in the last 0.3 s
        (still on their way)."""
        out, end = {}, time.monotonic() - 0.3
        for k, s in self.senders.items():
            missing = [i for i in lost(s, self.receivers[k])
                       if (start is None or s.times[i] >= start) and s.times[i] < end]
            out[k] = (len(missing), (s.times[missing[0]] - since, s.times[missing[-1]] - since)
                      if missing else None)
        return out

    def report(self, since, start=None, what="the kill"):
        return ", ".join(
            f"{k} lost {n}" + (f" sent {w[0]:.2f} to {w[1]:.2f} s after {what}" if w else "")
            for k, (n, w) in self.losses(since, start).items())

    def close(self):
        for s in self.senders.values():
            s.stop()
        time.sleep(0.3)
        for r in self.receivers.values():
            r.stop()
        self.lab.close()
        print(self.lab.logs())


@pytest.fixture
def etcd(tmp_path):
    """One etcd member on loopback, timed for a 1 s lease."""
    e = Etcd(tmp_path, 1)
    yield e
    e.close()


@pytest.fixture
def pair(tmp_path, etcd):
    p = Running(tmp_path, etcd.endpoints)
    try:
        yield p
    finally:
        p.close()


def frame_list(frames):
    return [(round(t, 3), f[:64].hex()) for t, f in frames[:3]]


def test_standby_takes_over_without_a_binding_update(pair):
    lab, mn, seq = pair.lab, pair.mn, pair.ba["seq"]
    # The standby follows: both bindings and their sequence number are in its cache, and
    # not one frame came from it on any bridge.
    rows = lab.gateways[2].bindings()
    assert {b: (r["care_of"], r["sequence"]) for b, r in rows.items()} == {
        "1": (COA_WIFI, str(seq)), "2": (COA_CELL, str(seq))}, rows
    assert lab.frames_from(2) == [], frame_list(lab.frames_from(2))
    before = lab.tunnelled(1)
    assert before, "the leader never tunnelled the correspondent's packets"
    assert pair.resumed(0), pair.report(0)

    mark = mn.mark()
    killed, killed_mono = time.time(), time.monotonic()
    lab.gateways[1].kill()
    dead = time.monotonic()  # reaped: what is sent from now on cannot pass through gw1
    taken = lab.wait_role(2, "leader", step=0.05)
    assert taken["leader"] == "gw2", taken
    assert wait_until(lambda: pair.resumed(dead), timeout=15), pair.report(killed_mono)
    # Not one BU from the MN between the kill and the flows' return.
    assert [e for e in mn.events[mark:] if e["event"] == "bu"] == [], mn.events[mark:]
    time.sleep(0.5)
    after = lab.tunnelled(2, killed)
    assert after, "gw2 never tunnelled the correspondent's packets"
    losses = pair.losses(killed_mono)
    print(f"\npair: takeover gap {after[0] - before[-1]:.2f} s from the last packet tunnelled "
          f"by gw1 to the first by gw2 (lease TTL {TTL_S} s; killed {killed - before[-1]:.2f} s "
          f"after that last packet); {pair.report(killed_mono)}")
    for k, (n, _) in losses.items():
        assert n <= MAX_LOSS[k], (k, n)
    # The takeover's NAs carry Override, for the HA address and the HoA on the home link
    # and for the access routers' addresses, which moved the MN's next hops to gw2.
    home = {override_na_target(f) for _, f in lab.frames_from(2, killed, (lab.cn_bridge,))}
    assert HOA in home and HA in home, home
    moved = {e["link"]: bytes.fromhex(e["mac"].replace(":", ""))
             for e in mn.events[mark:] if e["event"] == "nd"}
    assert moved == {"wifi": lab.port_macs[2]["wifi"], "cell": lab.port_macs[2]["cell"]}, moved
    # Frame by frame, one switch from gw1 to gw2.
    assert sender_switches(lab.senders()) == 1

    # The MN's next BU is taken with the next sequence number, which gw2 records; a BU
    # replaying the previous one is refused (the sequence number was replicated).
    mark = mn.mark()
    mn.send("register")
    bu = mn.wait_for(lambda e: e["event"] == "bu", start=mark)
    assert bu["seq"] == seq + 1, bu
    ba = mn.wait_for(lambda e: e["event"] == "ba" and e["seq"] == bu["seq"], start=mark)
    assert ba["status"] == 0 and ba["bids"] == {"1": 0, "2": 0}, ba
    rows = lab.gateways[2].bindings()
    assert {b: r["sequence"] for b, r in rows.items()} == {"1": str(seq + 1), "2": str(seq + 1)}
    assert lab.send_bu(2, binding_update(seq, 30)) == (135, seq + 1)

    # The old leader comes back as a silent standby that follows gw2.
    mark = time.time()
    lab.gateways[1].start()
    back = lab.wait_role(1, "standby")
    assert back["leader"] == "gw2", back
    time.sleep(1.0)
    assert lab.frames_from(1, mark) == [], frame_list(lab.frames_from(1, mark))
    rows = lab.gateways[1].bindings()
    assert {b: r["sequence"] for b, r in rows.items()} == {"1": str(seq + 1), "2": str(seq + 1)}

    # A planned switchover: gw2 stopped with SIGTERM revokes its lease, so gw1 (watching the
    # election key) takes over without waiting for the lease to run out; no BU either.
    mark = mn.mark()
    before = lab.tunnelled(2)
    stopped, stopped_mono = time.time(), time.monotonic()
    assert lab.gateways[2].terminate() == 0
    gone = time.monotonic()
    taken = lab.wait_role(1, "leader", step=0.05)
    took = time.time() - stopped
    assert taken["leader"] == "gw1", taken
    assert wait_until(lambda: pair.resumed(gone), timeout=15), pair.report(stopped_mono)
    assert [e for e in mn.events[mark:] if e["event"] == "bu"] == [], mn.events[mark:]
    time.sleep(0.5)
    after = lab.tunnelled(1, stopped)
    assert after, "gw1 never tunnelled the correspondent's packets after the switchover"
    print(f"\npair: planned switchover (SIGTERM): gw1 leader {took:.2f} s after the signal; "
          f"gap {after[0] - before[-1]:.2f} s from the last packet tunnelled by gw2 to the "
          f"first by gw1 (lease TTL {TTL_S} s); {pair.report(stopped_mono, stopped_mono, what='the SIGTERM')}")


def test_a_leader_cut_off_from_etcd_goes_silent_and_never_serves_beside_the_other(pair, etcd):
    """etcd frozen (SIGSTOP): the leader cannot renew its lease and stops sending before the
    lease could have expired; when etcd is back, one gateway leads and the flows go on. At
    no moment did both send (the captures on the three bridges, frame by frame)."""
    lab = pair.lab
    assert lab.tunnelled(1), "the leader tunnelled nothing before the cut"
    etcd.pause()
    frozen, frozen_mono = time.time(), time.monotonic()
    try:
        time.sleep(TTL_S + 2.0)
        quiet_from = frozen + TTL_S + ALLOWANCE_S
        late = lab.frames_from(1, quiet_from)
        assert late == [], [(round(t - frozen, 3), f[:64].hex()) for t, f in late[:3]]
        last = max(t for t, _ in lab.frames_from(1))
        print(f"\npair: the leader's last frame {last - frozen:.2f} s after etcd froze "
              f"(lease TTL {TTL_S} s)")
    finally:
        etcd.resume()
    resumed, resumed_mono = time.time(), time.monotonic()
    leaders = wait_until(lambda: [n for n in (1, 2) if lab.role(n) == "leader"], timeout=15)
    assert len(leaders) == 1, leaders
    assert wait_until(lambda: pair.resumed(resumed_mono), timeout=15), pair.report(resumed_mono)
    time.sleep(1.0)
    # Frame by frame: the gateway that does not lead sent nothing once its lease could have
    # run out, and the one that leads sent nothing between then and etcd's return.
    other = 2 if leaders[0] == 1 else 1
    assert lab.frames_from(other, quiet_from) == [], (other, frame_list(
        lab.frames_from(other, quiet_from)))
    first_again = min(t for t, _ in lab.frames_from(leaders[0], quiet_from))
    assert first_again >= resumed, (first_again, resumed)
    assert sender_switches(lab.senders()) == (1 if leaders[0] == 2 else 0)
    print(f"pair: gw{leaders[0]} leads after etcd came back, sending again "
          f"{first_again - resumed:.2f} s later; the flows: "
          f"{pair.report(frozen_mono, what='etcd froze')}")


def test_the_pair_survives_an_etcd_member_then_its_leader(tmp_path):
    """Three etcd members; the gateways list all three. The member first in the lists (the
    one gRPC's pick_first connected to) is killed, then the gateway leading after that: the
    other takes over through the two members left, the flows resume with no BU, and frame by
    frame the two gateways never sent at the same time."""
    etcd = Etcd(tmp_path, 3)
    pair = None
    try:
        pair = Running(tmp_path, etcd.endpoints)
        lab, mn = pair.lab, pair.mn
        mark = mn.mark()
        raft_leader = etcd.raft_leader()
        member_killed = time.monotonic()
        etcd.kill(0)
        time.sleep(2 * TTL_S + 1.0)
        leaders = wait_until(lambda: [n for n in (1, 2) if lab.role(n) == "leader"], timeout=15)
        assert len(leaders) == 1, leaders
        stores = {n: lab.store(n) for n in (1, 2)}
        takeovers = {n: lab.gateways[n].telemetry("/monami/control")["takeovers"]
                     for n in (1, 2)}
        if leaders == [1]:
            kept = "kept its lead" if takeovers[1] == 1 else "stepped down and led again"
        else:
            kept = "stepped down and gw2 took over"
        print(f"\npair, three etcd members: {etcd.names[0]} killed (the Raft leader: "
              f"{etcd.names[raft_leader] if raft_leader is not None else '?'}); gw1 {kept}; "
              f"takeovers gw1 {takeovers[1]}, gw2 {takeovers[2]}; fenced gw1 "
              f"{stores[1]['fenced']}, gw2 {stores[2]['fenced']}; the flows: "
              f"{pair.report(member_killed, what='the member died')}")
        assert pair.resumed(member_killed + TTL_S + 0.5), pair.report(member_killed)

        # The leader killed; the other takes over through the two members left.
        leader, other = leaders[0], 3 - leaders[0]
        takeovers[leader] = lab.gateways[leader].telemetry("/monami/control")["takeovers"]
        killed, killed_mono = time.time(), time.monotonic()
        lab.gateways[leader].kill()
        dead = time.monotonic()
        taken = lab.wait_role(other, "leader", step=0.05)
        assert taken["leader"] == f"gw{other}", taken
        assert wait_until(lambda: pair.resumed(dead), timeout=15), pair.report(killed_mono)
        assert [e for e in mn.events[mark:] if e["event"] == "bu"] == [], mn.events[mark:]
        time.sleep(0.5)
        after, before = lab.tunnelled(other, killed), lab.tunnelled(leader)
        print(f"pair, three etcd members: gw{leader} killed, gw{other} took over: gap "
              f"{after[0] - before[-1]:.2f} s from the last packet tunnelled by gw{leader} to the "
              f"first by gw{other}; the flows: {pair.report(killed_mono, killed_mono)}")
        for k, (n, _) in pair.losses(killed_mono, killed_mono).items():
            assert n <= MAX_LOSS[k], (k, n)
        # Each takeover (gw1's first included) starts at most one run of frames from its
        # gateway; both sending at once would interleave their frames.
        takeovers[other] = lab.gateways[other].telemetry("/monami/control")["takeovers"]
        switches = sender_switches(lab.senders())
        assert 1 <= switches <= takeovers[1] + takeovers[2] - 1, (switches, takeovers)
    finally:
        if pair:
            pair.close()
        etcd.close()
