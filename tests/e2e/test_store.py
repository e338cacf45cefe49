"""The binding store through the real monami-gw: 1,000 home addresses register with real
Binding Updates while traffic runs, the gateway is killed with SIGKILL in the middle of the
stream and started again on the same LMDB file. Every home address whose BA left before the
kill is forwarded to the same CoA with no new BU, its lifetime goes on from where it was, and
a BU captured before the kill and replayed after it is refused. A damaged store stops the
start with an error naming the file; --discard-state starts empty."""
import subprocess
import threading
import time

import pytest
from scapy.all import Ether, IPv6, Raw, UDP
from scapy.layers.inet6 import IPv6ExtHdrRouting

from conftest import Gateway, binary, eal_args, rows, two_link_gateway, two_link_ports
from mh_frames import binding_update, bu_packet

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
COA1, COA2 = "2001:db8:a::100", "2001:db8:b::100"
COUNT = 1000
KILL_AFTER = 600  # BUs sent when the gateway is killed
LIFETIME_4S = 30  # 120 s


def hoa(i):
    return f"2001:db8:1::1:{i:x}"


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1, COA2],
            two_link_ports(HA), f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          duplicate_address_detection: false  # the BU stream is about the store
        heartbeat:
          enabled: false
        dataplane:
          control_ring: 4096
        state:
          backend: lmdb
          path: "{tmp_path}/bindings.mdb"
          durability: sync
        """)


def wait_for_telemetry(gw, seconds=15.0):
    end = time.time() + seconds
    while time.time() < end:
        try:
            return gw.telemetry("/monami/store")
        except Exception:  # noqa: BLE001  (the socket is not there yet)
            time.sleep(0.2)
    raise AssertionError("the restarted gateway never answered telemetry")


def acks(frames):
    """{home address: (CoA, status)} of the BAs among `frames` (RH2 names the HoA)."""
    out = {}
    for f in frames:
        if IPv6ExtHdrRouting not in f or f[IPv6].nh != 43:
            continue
        mh = bytes(f[IPv6ExtHdrRouting].payload)
        if len(mh) >= 12 and mh[2] == 6:
            out[f[IPv6ExtHdrRouting].addresses[0]] = (f[IPv6].dst, mh[6])
    return out


def test_kill_and_restart_keeps_every_acknowledged_binding(topology, tmp_path, prefix):
    gw, sides = topology
    home, access = sides["home"], sides["access"]
    access_mac, gw_access = access.link.host_mac, access.link.gateway_mac
    bus = [bytes(Ether(src=access_mac, dst=gw_access)
                 / bu_packet(COA1 if i % 2 == 0 else COA2, HA, hoa(i),
                             binding_update(1, LIFETIME_4S))) for i in range(COUNT)]
    # Traffic runs all along: CN -> the first home address, 200 packets a second.
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            home.send(IPv6(src=CN, dst=hoa(0), hlim=64) / UDP(sport=4000, dport=4001) / b"flow")
            time.sleep(0.005)

    seen = []
    for i, frame in enumerate(bus[:KILL_AFTER]):
        access.sock.send(Raw(frame))
        if i % 50 == 49:
            seen += access.collect(0.05, lambda f: Ether in f and f[Ether].src == gw_access)
    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        time.sleep(0.5)
        seen += access.collect(0.3, lambda f: Ether in f and f[Ether].src == gw_access)
        # The rest of the stream, and the kill in the middle of it.
        for frame in bus[KILL_AFTER:KILL_AFTER + 50]:
            access.sock.send(Raw(frame))
        gw.proc.kill()
        killed_at = time.time()
        gw.proc.wait(timeout=10)
        seen += access.collect(0.5, lambda f: Ether in f and f[Ether].src == gw_access)
        acked = {h: coa for h, (coa, status) in acks(seen).items() if status == 0}
        last_before = max((f.time for f in seen if UDP in f and f[UDP].dport == 4001), default=0)
        assert len(acked) >= KILL_AFTER, len(acked)

        restarted = Gateway(tmp_path / "gw.yaml", prefix)
        try:
            store = wait_for_telemetry(restarted)
            # Forwarding resumes with no Binding Update: the gap the flow saw.
            resumed = access.collect(3.0, lambda f: Ether in f and f[Ether].src == gw_access
                                     and UDP in f and f[UDP].dport == 4001)
            assert resumed, "the flow never resumed after the restart"
            # The flow has shown the gap; stopped, so the checks below read only their own
            # frames (a paused receive buffer fills up with the flow's).
            stop.set()
            sender.join()
            print(f"\nstore: {len(acked)} acknowledged home addresses before the kill; restored "
                  f"{store['restored_home_addresses']} in {store['restore_us'] / 1000:.1f} ms; "
                  f"forwarding gap {resumed[0].time - last_before:.2f} s "
                  f"(killed {killed_at - last_before:.2f} s after the last packet)")
            assert store["backend"] == "lmdb"
            assert store["restored_home_addresses"] >= len(acked)
            bindings = {r["home_address"]: r for r in restarted.table("/monami/bindings")}
            missing = [h for h in acked if h not in bindings]
            assert not missing, missing[:5]
            wrong = [h for h, coa in acked.items() if bindings[h]["care_of"] != coa]
            assert not wrong, wrong[:5]
            # Lifetimes go on from where they were, not from a fresh 120 s.
            # (The last ones were registered just before the kill; whole seconds round down.)
            elapsed = time.time() - killed_at
            assert elapsed >= 3, elapsed
            assert max(int(bindings[h]["lifetime_s"]) for h in acked) <= 121 - int(elapsed), elapsed
            # Every acknowledged home address is forwarded to its CoA (a sample of 50).
            sample = sorted(acked)[:: max(1, len(acked) // 50)]
            access.collect(0.3, lambda f: False)  # drain
            for h in sample:
                home.send(IPv6(src=CN, dst=h, hlim=64) / UDP(sport=5000, dport=5001) / b"x")
            got = access.collect(2.0, lambda f: Ether in f and f[Ether].src == gw_access
                                 and UDP in f and f[UDP].dport == 5001)
            assert len(got) == len(sample), (len(got), len(sample))
            for f in got:
                inner = f[IPv6].payload
                while not isinstance(inner, IPv6):
                    inner = inner.payload
                assert f[IPv6].dst == acked[inner.dst], inner.dst
            # A BU captured before the kill and replayed after the restart is refused.
            replayed_hoa = sorted(acked)[0]
            index = int(replayed_hoa.rsplit(":", 1)[1], 16)
            access.sock.send(Raw(bus[index]))
            answer = acks(access.collect(1.0, lambda f: Ether in f and f[Ether].src == gw_access))
            assert answer.get(replayed_hoa, (None, None))[1] == 135, answer
        finally:
            stop.set()
            sender.join()
            restarted.proc.kill()
            restarted.proc.wait(timeout=10)
    finally:
        stop.set()
        sender.join()

    # A damaged store stops the start, naming the file; --discard-state starts empty.
    store_path = tmp_path / "bindings.mdb"
    store_path.write_bytes(b"\x00" * 4096 + b"not an lmdb file" * 256)
    (tmp_path / "bindings.mdb-lock").unlink(missing_ok=True)
    bad = subprocess.run([binary("monami-gw"), *eal_args(prefix, "0-1"), "--", "--config",
                          str(tmp_path / "gw.yaml")], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert str(store_path) in bad.stderr and "--discard-state" in bad.stderr, bad.stderr
    empty = subprocess.Popen([binary("monami-gw"), *eal_args(prefix, "0-1"), "--", "--config",
                              str(tmp_path / "gw.yaml"), "--discard-state"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        probe = Gateway.__new__(Gateway)
        probe.prefix, probe.proc = prefix, empty
        assert wait_for_telemetry(probe)["restored_home_addresses"] == 0
        assert rows(probe.telemetry("/monami/bindings")) == []
    finally:
        empty.kill()
        empty.wait(timeout=10)
