"""monami-gw with a large binding table, through its ports: 100,000 home addresses registered
by Binding Updates that monami-loadgen sends over memif (retransmitting like a mobile node),
every HoA reachable through the workers, the whole table paged out through telemetry with
monami-ctl, one HoA queried alone, and heartbeats to a handful of paths sent at their
interval while the table is large and being paged. The BAs are decoded with tshark."""
import subprocess
import threading
import time
from collections import Counter

from conftest import binary, have
from daemon_lab import DaemonLab, care_of, hoa, rows

HOAS = 100_000
HEARTBEAT_PATHS = 64  # heartbeat.care_of_prefixes 2001:db8:c001::/122: BID 2 of HoAs 0..63
INTERVAL_MS = 100


def heartbeats_sent(lab):
    return int(lab.telemetry("/monami/control")["heartbeats_sent"])


def test_hundred_thousand_hoas_through_the_ports(tmp_path):
    assert have("tshark"), "tshark is needed (tools/deps installs it)"
    sample = tmp_path / "ba-sample.pcap"
    with DaemonLab(max_bindings=2 * HOAS + 64, memory_mb=1024, interval_ms=INTERVAL_MS,
                   pcap_sample=sample, tag="scale") as lab:
        # 1. Registration: every BU answered, every one accepted (a BA lost on the way is
        #    answered 135 with our own sequence number on the retransmission: registered).
        reg = lab.command(f"register 0 {HOAS} 2", timeout=600)
        assert reg["complete"] and reg["answered"] == HOAS, reg
        assert reg["accepted"] == HOAS and reg["rejected"] == 0, reg
        summary = lab.telemetry("/monami/summary")
        assert summary["home_addresses"] == HOAS and summary["bindings"] == 2 * HOAS, summary
        control = lab.telemetry("/monami/control")
        assert control["home_addresses"] == HOAS, control  # the workers' HoA table
        assert control["binding_updates"] >= HOAS, control

        # 2. tshark reads the BAs as Binding Acknowledgements with status 0 and both BIDs.
        out = subprocess.run(
            ["tshark", "-r", str(sample), "-Y", "mip6.mhtype == 6", "-T", "fields", "-E",
             "separator=|", "-E", "aggregator=,", "-e", "ipv6.routing.mipv6.home_address", "-e",
             "mip6.ba.status", "-e", "mip6.ba.seqnr", "-e", "mip6.bi.bid", "-e",
             "mip6.bi.status"], capture_output=True, text=True, check=True).stdout
        bas = [line.split("|") for line in out.splitlines() if line]
        assert len(bas) == 1000, out[-2000:]
        statuses = Counter(b[1] for b in bas)
        assert statuses["0"] + statuses["135"] == 1000 and statuses["0"] >= 990, statuses
        for b in bas:
            if b[1] == "0":
                assert b[2:] == ["1", "1,2", "0,0"], b
        assert len({b[0] for b in bas}) == 1000  # one BA per HoA (type 2 routing header)
        assert all(b[0].startswith("2001:db8:1::1:") for b in bas), bas[:3]

        # 3. Every HoA is in the workers' table: data to each one comes out tunnelled to one
        #    of its own CoAs.
        data = lab.command(f"data 0 {HOAS} 1.5", timeout=120)
        assert data["wrong_care_of"] == 0, data
        assert data["hoas_reached"] == HOAS, data
        assert data["tunnelled"] >= 0.99 * data["offered"], data

        # 4. Heartbeats keep their interval while the table is paged out in the background.
        before = heartbeats_sent(lab)
        start = time.monotonic()
        pager = {}

        def page_all():
            pager["result"] = subprocess.run(
                [binary("monami-ctl"), "-f", f"{lab.tag}gw", "bindings"], capture_output=True,
                text=True, timeout=600)

        thread = threading.Thread(target=page_all)
        thread.start()
        time.sleep(3)
        sent = heartbeats_sent(lab) - before
        elapsed = time.monotonic() - start
        expected = HEARTBEAT_PATHS * elapsed * 1000 / INTERVAL_MS
        assert sent >= 0.8 * expected, (sent, expected)
        thread.join(timeout=600)
        summary = lab.telemetry("/monami/summary")
        assert summary["paths_dead"] == 0 and summary["paths_suspect"] == 0, summary

        # 5. The pages hold every binding once and nothing else.
        result = pager["result"]
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split()[:4] == ["home_address", "mn_id", "bid", "care_of"], lines[0]
        assert lines[-1] == f"({2 * HOAS})", lines[-1]
        seen = Counter()
        for line in lines[1:-1]:
            home, _mn_id, bid, coa = line.split()[:4]
            seen[(home, bid, coa)] += 1
        expected_rows = {(hoa(i), str(k + 1), care_of(i, k)) for i in range(HOAS) for k in (0, 1)}
        assert set(seen) == expected_rows
        assert max(seen.values()) == 1

        # 6. One HoA alone, as its BA said: two bindings, sequence 1, about an hour left.
        one = rows(lab.telemetry(f"/monami/binding,{hoa(54321)}"))
        assert [(r["bid"], r["care_of"], r["sequence"], r["state"]) for r in one] == [
            ("1", care_of(54321, 0), "1", "live"), ("2", care_of(54321, 1), "1", "live")], one
        assert all(3500 <= int(r["lifetime_s"]) <= 3600 for r in one), one

        loop = lab.telemetry("/monami/loop")
        assert loop["iterations"] > 0 and loop["max_ns"] >= loop["p99_ns"] >= loop["p50_ns"]
    log = lab.gw_log.read_text()
    assert "control loop:" in log  # the final statistics' loop line
