"""The binding store through the real monami-gw: 1,000 home addresses register with real
Binding Updates while traffic runs, the gateway is killed with SIGKILL in the middle of the
stream and started again on the same LMDB file. Every home address whose BA left before the
kill is forwarded to the same CoA with no new BU, its lifetime goes on from where it was, and
a BU captured before the kill and replayed after it is refused. With ESP, the replay window
refuses it too (its mark was stored), and the gateway's own ESP sequence numbers go on past
every one it sent before the kill. A damaged store stops the start with an error naming the
file; --discard-state starts empty."""
import subprocess
import threading
import time

import pytest
from scapy.all import Ether, IPv6, Raw, UDP
from scapy.layers.inet6 import IPv6ExtHdrRouting
from scapy.layers.ipsec import ESP, SecurityAssociation

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
        {store_yaml(tmp_path)}""")



def store_yaml(path):
    """The state section both fixtures use, to sit at 8 spaces inside their YAML."""
    return ("state:\n"
            "          backend: lmdb\n"
            f'          path: "{path}/bindings.mdb"\n'
            "          durability: sync\n")


ESP_HOA = "2001:db8:1::100"
SPI_IN, SPI_OUT = 4096, 8192
KEY_IN, SALT_IN = "00112233445566778899aabbccddeeff", "a0a1a2a3"  # AES-GCM-128
KEY_OUT = "0f0e0d0c0b0a09080706050403020100"  # AES-CBC-128 + HMAC-SHA-256-128
AUTH_OUT = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"


@pytest.fixture
def esp_topology(tmp_path, prefix, netns_factory):
    yield from two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1, COA2],
            two_link_ports(HA), f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          duplicate_address_detection: false
        heartbeat:
          enabled: false
        security:
          mode: esp
          replay_window: 64
          sas:
            - {{spi: {SPI_IN}, direction: in, home_address: "{ESP_HOA}",
               algorithm: aes-gcm-128, key: "{KEY_IN}{SALT_IN}"}}
            - {{spi: {SPI_OUT}, direction: out, home_address: "{ESP_HOA}",
               algorithm: aes-cbc-128-hmac-sha256, key: "{KEY_OUT}", auth_key: "{AUTH_OUT}"}}
        {store_yaml(tmp_path)}""")


def wait_for_telemetry(gw, seconds=15.0):
    end = time.time() + seconds
    while time.time() < end:
        try:
            answer = gw.telemetry("/monami/store")
            # null: the control thread did not answer in time (busy starting): ask again.
            if answer is not None:
                return answer
        except Exception:  # noqa: BLE001  (the socket is not there yet)
            pass
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
            # Since the kill, at least this long when the table is read (reading it pages
            # through telemetry and takes seconds of its own).
            elapsed = time.time() - killed_at
            bindings = {r["home_address"]: r for r in restarted.table("/monami/bindings")}
            missing = [h for h in acked if h not in bindings]
            assert not missing, missing[:5]
            wrong = [h for h, coa in acked.items() if bindings[h]["care_of"] != coa]
            assert not wrong, wrong[:5]
            # Lifetimes go on from where they were, not from a fresh 120 s.
            # (The last ones were registered just before the kill; whole seconds round down.)
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


def test_esp_replay_window_and_sequence_numbers_survive_a_kill(esp_topology, tmp_path, prefix):
    gw, sides = esp_topology
    access = sides["access"]
    bu_sa = SecurityAssociation(ESP, spi=SPI_IN, crypt_algo="AES-GCM",
                                crypt_key=bytes.fromhex(KEY_IN + SALT_IN))

    def protected_bu(esp_seq, mh_seq, coa):
        inner = IPv6(bytes(bu_packet(coa, HA, ESP_HOA, binding_update(mh_seq, LIFETIME_4S))))
        return bytes(Ether(src=access.link.host_mac, dst=access.link.gateway_mac)
                     / bu_sa.encrypt(inner, seq_num=esp_seq))

    def ba_sequences(seconds):
        """The ESP sequence numbers of what the gateway sent under its outbound SA."""
        frames = access.collect(seconds, lambda f: access.from_gateway(f) and ESP in f
                                and f[ESP].spi == SPI_OUT)
        return [f[ESP].seq for f in frames]

    def binding_of(gateway):
        return [(r["care_of"], int(r["sequence"])) for r in gateway.table("/monami/bindings")
                if r["home_address"] == ESP_HOA]

    first, second = protected_bu(1, 1, COA1), protected_bu(2, 2, COA2)
    access.sock.send(Raw(first))
    sent_before = ba_sequences(1.0)
    access.sock.send(Raw(second))
    sent_before += ba_sequences(1.0)
    assert len(sent_before) == 2, (sent_before, gw.telemetry("/monami/control"))
    assert binding_of(gw) == [(COA2, 2)]

    gw.proc.kill()
    gw.proc.wait(timeout=10)
    restarted = Gateway(tmp_path / "gw.yaml", prefix)
    try:
        wait_for_telemetry(restarted)
        assert binding_of(restarted) == [(COA2, 2)]
        before = restarted.telemetry("/monami/control")
        # Both captured BUs come back: the restored replay window drops them before the
        # Mobility Header is read (no BA, not even a 135), and the binding stays.
        access.sock.send(Raw(second))
        access.sock.send(Raw(first))
        assert ba_sequences(1.0) == []
        after = restarted.telemetry("/monami/control")
        assert after["esp_replayed"] == before["esp_replayed"] + 2, (before, after)
        assert after["binding_updates"] == before["binding_updates"]
        assert binding_of(restarted) == [(COA2, 2)]
        # A fresh BU is taken, and its BA's ESP sequence number lies past every one sent
        # before the kill (a reused number would be dropped by the mobile node's window).
        access.sock.send(Raw(protected_bu(3, 3, COA1)))
        sent_after = ba_sequences(1.5)
        assert len(sent_after) == 1, sent_after
        assert sent_after[0] > max(sent_before), (sent_before, sent_after)
        assert binding_of(restarted) == [(COA1, 3)]
    finally:
        restarted.proc.kill()
        restarted.proc.wait(timeout=10)
