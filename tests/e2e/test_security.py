"""ESP-protected signalling end to end: the real monami-gw with `security.mode: esp` and the
real monami-mn in namespaces. Registration works through ESP, tshark given the SAs decrypts
the BU and BA and decodes the Mobility Headers inside, and BUs crafted with scapy (no ESP,
a replayed sequence number with a valid ICV, a bad ICV, an unknown SPI) change no binding
and are counted; the same crafting with a fresh sequence number moves the binding, so the
refusals are the gateway's doing and not a crafting mistake. RFC 5847 heartbeats go inside
ESP too (every 300 ms here): the binding stays live on protected heartbeats alone, and no
plain Mobility Header crosses the wire."""
import signal
import subprocess
import textwrap
import time

import pytest
from scapy.all import Ether, conf
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation

import mh_frames
from conftest import (ROOT, MobileNodeProcess, binary, eal_args, have, in_netns, link_mac, rows,
                      telemetry, veth_pair)
from test_mn import start_capture, stop_capture, wait_for_gateway

HA = "2001:db8:1::1"
HOA = "2001:db8:1::100"
COA_WIFI = "2001:db8:a::100"
COA_OTHER = "2001:db8:a::200"

SPI_IN, SPI_OUT = 4096, 8192
HEARTBEAT_MS = 300
KEY_IN = "00112233445566778899aabbccddeeff"  # AES-GCM-128 key
SALT_IN = "a0a1a2a3"
KEY_OUT = "0f0e0d0c0b0a09080706050403020100"  # AES-CBC-128 + HMAC-SHA-256-128
AUTH_OUT = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"


@pytest.fixture
def topology(tmp_path, prefix, netns_factory):
    tag = prefix[-6:]
    mn_ns = netns_factory("mn")
    gw_access, mn_access = "ga" + tag, "ma" + tag
    gw_home, home_peer = "gh" + tag, "hh" + tag
    home_ns = netns_factory("home")
    veth_pair(gw_access, mn_access, mn_ns)
    veth_pair(gw_home, home_peer, home_ns)
    gw = None
    try:
        for itf in (gw_access, gw_home):
            subprocess.run(["ip", "link", "set", itf, "up"], check=True)
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{itf}.disable_ipv6=1"], check=True)
        mn_ns.run("ip", "link", "set", "lo", "up")
        mn_ns.run("ip", "link", "set", mn_access, "up")
        for coa in (COA_WIFI, COA_OTHER):
            mn_ns.run("ip", "-6", "addr", "add", f"{coa}/64", "dev", mn_access, "nodad")
        mn_ns.run("ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:a::1", "dev",
                  mn_access)
        home_ns.run("ip", "link", "set", home_peer, "up")
        cfg = tmp_path / "gw.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            ports:
              - name: access
                device: "net_af_packet0,iface={gw_access}"
                addresses: ["2001:db8:a::1/64"]
              - name: home
                device: "net_af_packet1,iface={gw_home}"
                addresses: ["{HA}/64"]
            home_agent:
              addresses: ["{HA}"]
              home_prefixes: ["2001:db8:1::/64"]
              dad_wait_ms: 100  # DAD before first registrations, shortened for the tests
            heartbeat: {{interval_ms: {HEARTBEAT_MS}, missed_limit: 3, recovery: 1}}
            security:
              mode: esp
              replay_window: 64
              sas:
                - {{spi: {SPI_IN}, direction: in, home_address: "{HOA}",
                   algorithm: aes-gcm-128, key: "{KEY_IN}{SALT_IN}"}}
                - {{spi: {SPI_OUT}, direction: out, home_address: "{HOA}",
                   algorithm: aes-cbc-128-hmac-sha256, key: "{KEY_OUT}",
                   auth_key: "{AUTH_OUT}"}}
            """))
        check = subprocess.run([binary("monami-gw"), "--config", str(cfg), "--check-config"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        gw = subprocess.Popen([binary("monami-gw"), *eal_args(prefix, "0-1"), "--", "--config",
                               str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        yield {"mn_ns": mn_ns, "gw": gw, "prefix": prefix, "gw_access": gw_access,
               "mn_access": mn_access, "tmp": tmp_path}
    finally:
        if gw is not None:
            if gw.poll() is None:
                gw.terminate()
            out, err = gw.communicate(timeout=20)
            print(out, err)
            # Keys are never logged, not even at start-up.
            for key in (KEY_IN, KEY_OUT, AUTH_OUT):
                assert key not in out + err
        subprocess.run(["ip", "link", "del", gw_access], check=False)
        subprocess.run(["ip", "link", "del", gw_home], check=False)


def control(prefix):
    return telemetry(prefix, "/monami/control")


def bindings(prefix):
    return sorted((b["home_address"], b["care_of"], b["sequence"])
                  for b in rows(telemetry(prefix, "/monami/bindings")))


def bu_sa(spi=SPI_IN):
    return SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM",
                               crypt_key=bytes.fromhex(KEY_IN + SALT_IN))


def bu(seq, coa=COA_OTHER):
    return mh_frames.bu_packet(coa, HA, HOA, mh_frames.binding_update(seq, 30))


@pytest.mark.skipif(not have("dpdk-telemetry.py") or not have("tshark"),
                    reason="needs dpdk-telemetry.py and tshark")
def test_esp_registration_tshark_and_hostile_bus(topology):
    t = topology
    wait_for_gateway(t["prefix"])
    pcap = t["tmp"] / "access.pcapng"
    cap = start_capture(t["gw_access"], pcap)
    mn = MobileNodeProcess(t["mn_ns"], [
        "--home-address", HOA, "--home-agent", HA,
        "--link", f"wifi:{t['mn_access']}:{COA_WIFI}", "--lifetime", "600",
        "--initial-timeout", "500",
        "--esp-sa", f"out:{SPI_IN}:aes-gcm-128:{KEY_IN}{SALT_IN}",
        "--esp-sa", f"in:{SPI_OUT}:aes-cbc-128-hmac-sha256:{KEY_OUT}:{AUTH_OUT}"])
    try:
        ba = mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        assert ba["status"] == 0, mn.events
        assert [e for e in mn.events if e["event"] == "bu"][0]["esp"] is True
    finally:
        assert mn.stop(signal.SIGTERM) == 0, mn.stderr
        stop_capture(cap)
    assert not [e for e in mn.events if e["event"] == "esp_error"], mn.events

    # Wireshark, given the SAs, decrypts both directions and finds a BU and a BA inside.
    res = subprocess.run(
        ["/usr/bin/python3", str(ROOT / "tests/e2e/esp_tshark_check.py"), str(pcap),
         "--sa", f"{SPI_IN}:aes128-gcm16:{KEY_IN}{SALT_IN}",
         "--sa", f"{SPI_OUT}:aes128-cbc-hmac-sha256-128:{KEY_OUT}:{AUTH_OUT}",
         "--expect-mh-types", "5,6"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    # And nothing readable went in clear: every MH on the wire was inside ESP.
    clear = subprocess.run(["tshark", "-r", str(pcap), "-Y", "mipv6 || esp", "-T", "fields",
                            "-e", "ipv6.nxt"], capture_output=True, text=True, check=True)
    assert clear.stdout.split() and "135" not in clear.stdout.split(), clear.stdout

    registered = bindings(t["prefix"])
    assert [(h, c) for h, c, _ in registered] == [(HOA, COA_WIFI)]
    before = control(t["prefix"])

    gw_mac = link_mac(t["gw_access"])
    mn_mac = link_mac(t["mn_access"], t["mn_ns"].name)
    with in_netns(t["mn_ns"].name):
        sock = conf.L2socket(iface=t["mn_access"])
    try:
        def send(pkt):
            sock.send(Ether(src=mn_mac, dst=gw_mac) / pkt)

        send(bu(100))                                                   # no ESP
        send(bu_sa().encrypt(IPv6(bytes(bu(101))), seq_num=1))          # replayed, valid ICV
        forged = bytearray(bytes(bu_sa().encrypt(IPv6(bytes(bu(102))), seq_num=500)))
        forged[-1] ^= 0x01
        send(IPv6(bytes(forged)))                                       # bad ICV
        send(bu_sa(0x9999).encrypt(IPv6(bytes(bu(103))), seq_num=501))  # unknown SPI
        time.sleep(1.0)
        after = control(t["prefix"])
        assert bindings(t["prefix"]) == registered
        assert after["binding_updates"] == before["binding_updates"]
        assert after["binding_acks_sent"] == before["binding_acks_sent"]
        for counter in ("esp_required_drops", "esp_replayed", "esp_bad_icv", "esp_unknown_spi"):
            assert after[counter] == before[counter] + 1, (counter, before, after)
        assert after["esp_rejected"] == before["esp_rejected"] + 3

        # The control: the same crafting with a fresh sequence number is accepted.
        send(bu_sa().encrypt(IPv6(bytes(bu(104))), seq_num=1000))
        deadline = time.monotonic() + 5
        while [(h, c) for h, c, _ in bindings(t["prefix"])] != [(HOA, COA_OTHER)]:
            assert time.monotonic() < deadline, bindings(t["prefix"])
            time.sleep(0.2)
        final = control(t["prefix"])
        assert final["binding_acks_sent"] == before["binding_acks_sent"] + 1
        # One BA; the rest are the heartbeats to the (silent) CoAs, all inside ESP too.
        heartbeats = final["heartbeats_sent"] - before["heartbeats_sent"]
        assert final["esp_protected_sent"] == before["esp_protected_sent"] + 1 + heartbeats
    finally:
        sock.close()


def binding_states(prefix):
    return [(b["care_of"], b["state"]) for b in rows(telemetry(prefix, "/monami/bindings"))]


@pytest.mark.skipif(not have("dpdk-telemetry.py") or not have("tshark"),
                    reason="needs dpdk-telemetry.py and tshark")
def test_esp_heartbeats_keep_the_binding_live(topology):
    """RFC 5847 s.6: heartbeat requests go inside ESP (type 2 routing header naming the HoA,
    the HoA's outbound SA), monami-mn answers inside ESP with its Home Address option; over
    a few seconds every request is answered and the binding stays live. On the wire: ESP
    only, which Wireshark decrypts (given the SAs) to MH type 13 with a good ICV; no plain
    heartbeat."""
    t = topology
    wait_for_gateway(t["prefix"])
    pcap = t["tmp"] / "heartbeats.pcapng"
    cap = start_capture(t["gw_access"], pcap)
    mn = MobileNodeProcess(t["mn_ns"], [
        "--home-address", HOA, "--home-agent", HA,
        "--link", f"wifi:{t['mn_access']}:{COA_WIFI}", "--lifetime", "600",
        "--initial-timeout", "500",
        "--esp-sa", f"out:{SPI_IN}:aes-gcm-128:{KEY_IN}{SALT_IN}",
        "--esp-sa", f"in:{SPI_OUT}:aes-cbc-128-hmac-sha256:{KEY_OUT}:{AUTH_OUT}"])
    try:
        ba = mn.wait_for(lambda e: e["event"] == "ba", timeout=20)
        assert ba["status"] == 0, mn.events
        start = control(t["prefix"])
        samples = []
        for _ in range(8):  # ~3 s: a dozen heartbeat intervals
            time.sleep(0.4)
            samples.append(binding_states(t["prefix"]))
        end = control(t["prefix"])
    finally:
        assert mn.stop(signal.SIGTERM) == 0, mn.stderr
        stop_capture(cap)
    assert not [e for e in mn.events if e["event"] == "esp_error"], mn.events
    keys = ("heartbeats_sent", "heartbeat_responses", "heartbeat_responses_late",
            "heartbeat_responses_unmatched", "heartbeat_misses", "paths_suspect", "paths_dead")
    delta = {k: end[k] - start[k] for k in keys}
    sent, answered, misses = (delta["heartbeats_sent"], delta["heartbeat_responses"],
                              delta["heartbeat_misses"])
    # This 2-core machine is shared: one answer later than an interval (a Suspect blink)
    # is tolerated; a path never dies, and every other request is answered (the last one
    # may still be in flight).
    assert sent >= 8 and misses <= 1 and end["paths_dead"] == 0, delta
    assert answered >= sent - 1 - misses, delta
    assert delta["heartbeat_responses_unmatched"] == 0, delta
    assert all(s == [(COA_WIFI, "live")] for s in samples) or misses == 1, (samples, delta)
    assert all(state != "dead" for sample in samples for _, state in sample), samples
    assert end["esp_required_drops"] == 0 and end["esp_rejected"] == 0, end
    requests = [e for e in mn.events if e["event"] == "heartbeat" and not e["response"]]
    assert len(requests) >= sent and all(e["esp"] for e in requests), requests[:3]

    # Without the SAs tshark sees no Mobility Header at all, so none went in clear ...
    plain = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", "mipv6", "-T", "fields",
                            "-e", "frame.number", "-e", "mip6.mhtype"],
                           capture_output=True, text=True, check=True)
    assert plain.stdout.strip() == "", plain.stdout
    # ... the requests are ESP after a type 2 routing header, the responses ESP after a
    # Home Address option ...
    esp_frames = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", "esp", "-T", "fields",
         "-e", "ipv6.routing.type", "-e", "ipv6.opt.mipv6.home_address"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    fields = [f.split("\t") for f in esp_frames]
    routed = [f for f in fields if f[0] == "2"]  # HA -> MN: BA, heartbeat requests
    from_hoa = [f for f in fields if f[1] == HOA]  # MN -> HA: BU, heartbeat responses
    assert len(routed) >= 1 + sent and len(from_hoa) >= 1 + answered, esp_frames[:6]
    assert len(routed) + len(from_hoa) == len(fields), esp_frames
    # ... and with the SAs Wireshark decrypts heartbeats (MH type 13) with good ICVs.
    res = subprocess.run(
        ["/usr/bin/python3", str(ROOT / "tests/e2e/esp_tshark_check.py"), str(pcap),
         "--sa", f"{SPI_IN}:aes128-gcm16:{KEY_IN}{SALT_IN}",
         "--sa", f"{SPI_OUT}:aes128-cbc-hmac-sha256-128:{KEY_OUT}:{AUTH_OUT}",
         "--expect-mh-types", "5,6,13"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
