"""The /metrics endpoint of the real monami-gw, scraped over HTTP and read with Prometheus'
own Python client (Debian's python3-prometheus-client), not with our parser: every family
parses, the counters move by what the test sent (packets tunnelled, bytes, BAs by status,
BUs timed), histogram buckets are cumulative and end at their count. A listen address
already taken stops the start with a message that names it."""
import socket
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from scapy.all import Ether, IPv6, Raw, UDP

from conftest import binary, eal_args, two_link_gateway, two_link_ports
from mh_frames import binding_update, bu_packet

HA = "2001:db8:1::1"
CN = "2001:db8:1::99"
COA1 = "2001:db8:a::100"
HOA = "2001:db8:1::100"
OUTSIDE_HOA = "2001:db8:77::100"  # not in a home prefix: BA status 132 (RFC 6275 6.1.8)
PACKETS = 200


def free_port():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


@pytest.fixture
def metrics_gateway(tmp_path, prefix, netns_factory):
    port = free_port()
    gen = two_link_gateway(tmp_path, prefix, netns_factory, [CN], [COA1], two_link_ports(HA),
                           f"""\
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          duplicate_address_detection: false
        heartbeat:
          enabled: false
        metrics:
          listen: "[::1]:{port}"
        """)
    gw, sides = next(gen)
    yield gw, sides, port
    next(gen, None)


def scrape(port):
    """{(name, labels as a sorted tuple): value} and the families, parsed by prometheus_client."""
    deadline = time.time() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=5) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                body = r.read().decode()
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    types = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "a family twice: " + str(
        sorted({t for t in types if types.count(t) > 1}))
    families = list(text_string_to_metric_families(body))
    samples = {}
    for family in families:
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def total(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == v2 for k, v2 in labels.items()))


def check_histograms(families):
    checked = 0
    for family in families:
        if family.type != "histogram":
            continue
        buckets = [s for s in family.samples if s.name.endswith("_bucket")]
        count = [s.value for s in family.samples if s.name.endswith("_count")]
        bounds = [float(s.labels["le"]) for s in buckets]
        values = [s.value for s in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == float("inf"), family.name
        assert values == sorted(values), f"{family.name}: buckets not cumulative: {values}"
        assert count == [values[-1]], family.name
        checked += 1
    return checked


def test_scrape_parses_and_counters_move_with_traffic(metrics_gateway):
    gw, sides, port = metrics_gateway
    home, access = sides["home"], sides["access"]
    families, before = scrape(port)
    names = {f.name for f in families}
    for family in ("monami_port_rx_packets", "monami_worker_drops", "monami_binding_acks",
                   "monami_paths", "monami_bindings", "monami_update_latency_seconds",
                   "monami_binding_update_processing_seconds",
                   "monami_control_loop_iteration_seconds", "monami_worker_busy_seconds",
                   "monami_control_binding_updates"):
        assert family in names, f"{family} missing from {sorted(names)}"
    assert total(before, "monami_control_thread_answering") == 1
    assert {dict(ls)["port"] for (n, ls) in before if n == "monami_port_up"} == {"home", "access"}

    # One accepted registration, one refused (not a home subnet), then the CN's packets.
    access.send(bu_packet(COA1, HA, HOA, binding_update(1, 100)))
    access.send(bu_packet(COA1, HA, OUTSIDE_HOA, binding_update(1, 100)))
    deadline = time.time() + 10
    while time.time() < deadline:
        _, after_bu = scrape(port)
        if total(after_bu, "monami_binding_acks_total") >= 2:
            break
        time.sleep(0.2)
    for i in range(PACKETS):
        home.send(IPv6(src=CN, dst=HOA, hlim=64) / UDP(sport=4000, dport=4001) / Raw(b"m" * 64))
    deadline = time.time() + 10
    while time.time() < deadline:
        families, after = scrape(port)
        if total(after, "monami_worker_encapsulated_total") - total(
                before, "monami_worker_encapsulated_total") >= PACKETS:
            break
        time.sleep(0.2)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("monami_binding_acks_total", status="0") == 1
    assert delta("monami_binding_acks_total", status="132") == 1
    assert delta("monami_control_binding_updates_total") == 2
    assert delta("monami_binding_update_processing_seconds_count") == 2
    assert delta("monami_update_latency_seconds_count") == 1  # only the accepted one
    assert total(after, "monami_bindings") == 1 and total(after, "monami_home_addresses") == 1
    assert total(after, "monami_paths", state="live") == 1
    assert delta("monami_worker_encapsulated_total") == PACKETS
    assert delta("monami_port_rx_packets_total", port="home") >= PACKETS
    assert delta("monami_port_tx_packets_total", port="access") >= PACKETS
    # Each tunnelled packet leaves 40 bytes (the outer IPv6 header) longer than it came.
    assert delta("monami_port_tx_bytes_total", port="access") >= PACKETS * (14 + 40 + 40 + 8 + 64)
    assert delta("monami_worker_busy_seconds_total") > 0
    assert total(after, "monami_control_thread_answering") == 1
    assert check_histograms(families) == 3


def test_a_taken_listen_address_stops_the_start(tmp_path, prefix):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.bind(("::1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cfg = tmp_path / "gw.yaml"
        cfg.write_text(f"""\
ports:
  - name: p0
    device: "net_null0"
    addresses: ["2001:db8:1::1/64"]
home_agent:
  addresses: ["2001:db8:1::1"]
  home_prefixes: ["2001:db8:1::/64"]
metrics:
  listen: "[::1]:{port}"
""")
        r = subprocess.run([binary("monami-gw"), *eal_args(prefix), "--", "--config", str(cfg),
                            "--stop-when-idle", "3000"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"metrics: cannot listen on [::1]:{port}" in r.stdout + r.stderr
