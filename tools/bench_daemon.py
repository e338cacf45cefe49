#!/usr/bin/env python3
"""The whole-daemon benchmark: the real monami-gw on memif ports, driven by monami-loadgen,
beside monami-bench (the same pipeline in one process) measured in the same invocation.

    tools/bench --daemon [--hoas N] [--coas K] [--quick] [--json FILE]

Default: 1,000,000 HoAs x 2 CoAs (--quick: 100,000). Prints each figure beside its target
(docs/performance.md, "The whole daemon") and, with --json, writes them all to FILE.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon_lab import ROOT, DaemonLab, binary, memif_io_peer  # noqa: E402

HEARTBEAT_PATHS = 64  # BID 2 of HoAs 0..63: heartbeat.care_of_prefixes 2001:db8:c001::/122
INTERVAL_MS = 100
MISSED_LIMIT = 3
FIRST = 1000  # registered before the storm: the heartbeat HoAs among them
DATA_PPS = 100_000  # offered during the forwarding-under-a-storm windows (the generator shares
# core 0 with the control thread there: at 500k it could not keep up and lost BAs)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def in_process(hoas, coas):
    """monami-bench's registration, refresh and encapsulation figures at the same size."""
    out = subprocess.run(
        [binary("monami-bench"), "--hoas", str(hoas), "--coas", str(coas), "--only",
         "refresh,encap", "--distribution", "uniform", "--duration", "2", "--json"],
        capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError("monami-bench failed: " + out.stderr[-2000:])
    return json.loads(out.stdout)


class Window:
    """Worker and control-loop counters between two readings."""

    def __init__(self, lab):
        self.lab = lab
        self.workers = lab.telemetry("/monami/workers")
        self.loop = lab.telemetry("/monami/loop")
        self.t = time.monotonic()

    def end(self):
        workers = self.lab.telemetry("/monami/workers")
        loop = self.lab.telemetry("/monami/loop")
        seconds = time.monotonic() - self.t
        rx = workers["rx_packets"] - self.workers["rx_packets"]
        busy = workers["busy_cycles"] - self.workers["busy_cycles"]
        hz = workers.get("tsc_hz") or 1
        return {
            "seconds": round(seconds, 3),
            "worker_rx_packets": rx,
            "worker_encapsulated": workers["encapsulated"] - self.workers["encapsulated"],
            "worker_cycles_per_packet": round(busy / rx, 1) if rx else None,
            "worker_busy_share": round(busy / (hz * seconds), 3),
            "loop": loop_window(self.loop, loop),
        }


def loop_window(before, after):
    """p50/p99/max of the control-loop iterations between two /monami/loop readings."""
    def buckets(reading):
        return {int(k): int(v) for k, v in (b.split("=") for b in reading["buckets"])}
    a, b = buckets(before), buckets(after)
    delta = sorted((upper, b[upper] - a.get(upper, 0)) for upper in b if b[upper] > a.get(upper, 0))
    total = sum(n for _, n in delta)

    def quantile(q):
        rank, seen = q * (total - 1) + 1, 0
        for upper, n in delta:
            seen += n
            if seen >= rank:
                return upper
        return delta[-1][0] if delta else 0
    return {
        "iterations": total,
        "p50_us": round(quantile(0.5) / 1000, 1) if total else None,
        "p99_us": round(quantile(0.99) / 1000, 1) if total else None,
        # the bucket's upper bound: within 12.5% of the slowest iteration of the window
        "max_us": round(delta[-1][0] / 1000, 1) if total else None,
        "over_1ms": sum(n for upper, n in delta if upper > 1_000_000),
    }


def failure_detection(lab):
    """Stops answering the heartbeat paths' requests; ms until all of them are Dead (and then
    back to Live once answered again)."""
    summary = lab.telemetry("/monami/summary")
    assert summary["paths_dead"] == 0, summary
    lab.command("silence 1")
    start = time.monotonic()  # answers stop before the loadgen acknowledges the command
    first = None
    while True:
        dead = lab.telemetry("/monami/summary")["paths_dead"]
        now = time.monotonic()
        if dead and first is None:
            first = now
        if dead >= HEARTBEAT_PATHS or now - start > 10:
            break
        time.sleep(0.002)
    lab.command("answer 1")
    all_dead = now
    while lab.telemetry("/monami/summary")["paths_dead"] and time.monotonic() - all_dead < 10:
        time.sleep(0.01)
    return {"paths": HEARTBEAT_PATHS, "dead": dead,
            "first_ms": round(((first or now) - start) * 1000, 1),
            "all_ms": round((all_dead - start) * 1000, 1),
            "bound_ms": (MISSED_LIMIT + 1) * INTERVAL_MS}


def run(hoas, coas, realtime):
    result = {"hoas": hoas, "coas": coas, "bindings": hoas * coas}
    log(f"in-process: monami-bench --hoas {hoas} --coas {coas} ...")
    ref = in_process(hoas, coas)
    result["in_process"] = {k: ref[k] for k in (
        "bu_per_second", "bu_per_second_refresh", "forward_cycles_per_packet",
        "bytes_per_binding", "tsc_hz")}
    result["in_process"]["control_bytes_per_binding"] = ref["memory"]["control_bytes_per_binding"]
    memory_mb = 512 + hoas * 1200 // 1_000_000  # packed snapshots, index, counters
    storm_hoas = min(hoas, 200_000)  # refreshed during the forwarding-under-a-storm window
    with DaemonLab(max_bindings=hoas * coas + 64, memory_mb=memory_mb, interval_ms=INTERVAL_MS,
                   missed_limit=MISSED_LIMIT, tag="bench") as lab:
        result["scheduling"] = "control thread SCHED_FIFO" if realtime else "other"
        if realtime:
            # As on a dedicated core: nothing else on core 0 (the generator, this script)
            # preempts the control thread for a scheduler tick; it still sleeps when idle.
            subprocess.run(["chrt", "--fifo", "-p", "1", str(lab.gw.pid)], check=True)
        rss_start = lab.gw_rss_bytes()
        log("failure detection with 1,000 HoAs ...")
        lab.command(f"register 0 {FIRST} {coas}")
        time.sleep(1)
        result["failure_detection_small"] = failure_detection(lab)
        time.sleep(1)
        rest = Window(lab)
        time.sleep(3)
        result["rest_small"] = rest.end()

        # The storms: the loadgen beside the worker (core 1; it idles while it waits for BAs),
        # the control thread alone on core 0.
        log(f"registration storm: {hoas - FIRST} HoAs ...")
        lab.command("cpu 1")
        storm = Window(lab)
        result["registration"] = lab.command(f"register {FIRST} {hoas - FIRST} {coas}",
                                             timeout=3600)
        result["storm"] = storm.end()
        result["rss_bytes"] = {"start": rss_start, "registered": lab.gw_rss_bytes()}
        result["rss_bytes_per_binding"] = round(
            (result["rss_bytes"]["registered"] - rss_start) / (hoas * coas), 1)

        log("at rest ...")
        lab.command("cpu 0")
        time.sleep(1)
        rest = Window(lab)
        time.sleep(5)
        result["rest_full"] = rest.end()
        log("failure detection at full size ...")
        result["failure_detection_full"] = failure_detection(lab)

        log("refresh storm ...")
        lab.command("cpu 1")
        storm = Window(lab)
        result["refresh"] = lab.command(f"register 0 {hoas} {coas} 2", timeout=3600)
        result["refresh_storm"] = storm.end()

        # Forwarding under a storm: the same offered data (to every HoA) quiet, then while
        # refreshes of `storm_hoas` HoAs arrive. The worker keeps core 1 to itself here (a
        # paced generator beside it would preempt it at every wake-up); the generator and the
        # control thread share core 0.
        log("forwarding, quiet and during refreshes ...")
        lab.command("cpu 0")
        time.sleep(1)
        quiet = Window(lab)
        result["forward_quiet"] = lab.command(f"data 0 {hoas} 3 {DATA_PPS}", timeout=120)
        result["forward_quiet_window"] = quiet.end()
        during = Window(lab)
        result["forward_storm"] = lab.command(
            f"register 0 {storm_hoas} {coas} 3 {DATA_PPS} {hoas}", timeout=3600)
        result["forward_storm_window"] = during.end()

        log("data at rest, as fast as the generator goes ...")
        time.sleep(1)
        data = Window(lab)
        result["data"] = lab.command(f"data 0 {hoas} 3", timeout=120)
        result["data_window"] = data.end()
        result["summary"] = lab.telemetry("/monami/summary")
    log("peer: testpmd io on the same memif ports, the same generator ...")
    result["memif_io_peer"] = {"data": memif_io_peer([f"data 0 {hoas} 3"])[0]}
    return result


def thread_cpu_seconds(pid):
    """CPU seconds (user + system) of the gateway's threads by name: the control thread
    (monami-gw), the worker (rte-worker-1), the binding store's writer (monami-store)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def store_costs(hoas, coas, realtime, repeat=3):
    """The binding store's cost and restore, the same daemon and generator in each run: first
    registrations of `hoas` HoAs without a store, with an async and with a sync LMDB store,
    and with an etcd group of one (async and sync; etcd started here on loopback);
    then the sync gateway is killed (SIGKILL) and started again on its file: the restore time,
    and data to every HoA with no Binding Update. The three runs are interleaved `repeat`
    times (runs on this shared 2-core box vary by 30%) and each figure is the median."""
    result = {"hoas": hoas, "coas": coas, "repeat": repeat, "runs": []}
    memory_mb = 512 + hoas * 1200 // 1_000_000
    etcd = start_etcd()
    try:
        for _ in range(repeat):
            result["runs"].append(store_run(hoas, coas, realtime, memory_mb, etcd["endpoint"]))
    finally:
        etcd["proc"].kill()
        etcd["proc"].wait()
    median_run = lambda key: sorted(result["runs"], key=key)[len(result["runs"]) // 2]  # noqa: E731
    for name in STORE_RUNS:
        result[name] = median_run(lambda r: r[name]["per_second"])[name]
        result[name]["ratio_to_none"] = round(statistics.median(
            r[name]["per_second"] / r["none"]["per_second"] for r in result["runs"]), 3)
    result["restore"] = median_run(lambda r: r["restore"]["restore_ms"])["restore"]
    return result


# name: (durability, backend)
STORE_RUNS = {"none": (None, None), "async": ("async", "lmdb"), "sync": ("sync", "lmdb"),
              "etcd_async": ("async", "etcd"), "etcd_sync": ("sync", "etcd")}


def start_etcd():
    """One etcd member on loopback for the etcd runs, timed for a 1 s lease (as the tests
    start it); its data under /tmp."""
    import socket
    import tempfile

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    client, peer = free_port(), free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    data = tempfile.mkdtemp(prefix="monami-bench-etcd-")
    proc = subprocess.Popen(
        ["etcd", "--name", "b", "--data-dir", data, "--listen-client-urls", url,
         "--advertise-client-urls", url, "--listen-peer-urls", peer_url,
         "--initial-advertise-peer-urls", peer_url, "--initial-cluster", f"b={peer_url}",
         "--heartbeat-interval", "50", "--election-timeout", "500",
         "--quota-backend-bytes", str(8 << 30)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=1).close()
            return {"proc": proc, "endpoint": f"127.0.0.1:{client}"}
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def store_run(hoas, coas, realtime, memory_mb, etcd_endpoint):
    run = {}
    for name, (durability, backend) in STORE_RUNS.items():
        log(f"store {name}: {hoas:,} first registrations ...")
        with DaemonLab(max_bindings=hoas * coas + 64, memory_mb=memory_mb,
                       tag=f"store{name}", durability=durability,
                       etcd=etcd_endpoint if backend == "etcd" else None) as lab:
            if realtime:
                subprocess.run(["chrt", "--fifo", "-p", "1", str(lab.gw.pid)], check=True)
            lab.command("cpu 1")
            cpu_before = thread_cpu_seconds(lab.gw.pid)
            reg = lab.command(f"register 0 {hoas} {coas}", timeout=3600)
            cpu = {k: round(v - cpu_before.get(k, 0), 2)
                   for k, v in thread_cpu_seconds(lab.gw.pid).items()}
            run[name] = {"per_second": reg["per_second"], "seconds": reg["seconds"],
                         "thread_cpu_seconds": cpu}
            if durability is None:
                continue
            run[name]["store"] = lab.telemetry("/monami/store")
            if name != "sync":
                continue
            log("store sync: kill -9 and restart on the same file ...")
            restart_s = lab.restart()
            store = lab.telemetry("/monami/store")
            lab.command("cpu 0")
            data = lab.command(f"data 0 {hoas} 2", timeout=120)
            run["restore"] = {
                "home_addresses": store["restored_home_addresses"],
                "bindings": store["restored_bindings"],
                "restore_ms": store["restore_us"] / 1000,
                "restart_to_ready_s": round(restart_s, 2),
                "data_after_restart": data,
            }
    return run


def store_report(r):
    none = r["none"]["per_second"]
    print(f"binding store, monami-gw through its ports, {r['hoas']:,} HoAs x {r['coas']} CoAs "
          f"(memif, 2 lcores)")
    print(f"  medians of {r['repeat']} interleaved runs; a ratio is the median of the runs' ratios")
    for name, target in (("async", 0.95), ("sync", 0.80)):
        ratio = r[name]["ratio_to_none"]
        print(f"  first registrations, BU/s, {name:<5}  {r[name]['per_second']:>10,.0f}  "
              f"no store {none:,.0f}: {ratio:.2f} (target >= {target:.2f})  {verdict(ratio >= target)}")
    for name in ("etcd_async", "etcd_sync"):
        print(f"  first registrations, BU/s, {name:<10}  {r[name]['per_second']:>10,.0f}  "
              f"no store {none:,.0f}: {r[name]['ratio_to_none']:.2f} (etcd, one local member)")
    for name in STORE_RUNS:
        cpu = r[name].get("thread_cpu_seconds", {})
        print(f"  CPU seconds during the {name} run ({r[name]['seconds']:.2f} s): " +
              ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items()) if v > 0))
    rs = r["restore"]
    per_million = rs["restore_ms"] * 1_000_000 / max(rs["home_addresses"], 1)
    print(f"  restore after kill -9, {rs['home_addresses']:,} HoAs  {rs['restore_ms']:>8.1f} ms  "
          f"({per_million:,.0f} ms per million; target <= 2000)  {verdict(per_million <= 2000)}; "
          f"gateway ready {rs['restart_to_ready_s']} s after the kill")
    d = rs["data_after_restart"]
    print(f"  data after the restart, no BU: {d['tunnelled']:,} of {d['offered']:,} tunnelled, "
          f"{d['hoas_reached']:,} of {r['hoas']:,} HoAs reached, wrong CoA {d['wrong_care_of']}")


def verdict(met):
    return "met" if met else "NOT met"


def report(r):
    ref = r["in_process"]
    reg, refresh = r["registration"], r["refresh"]
    rows = []

    def row(name, value, target, met):
        rows.append((name, value, target, "" if met is None else verdict(met)))

    ratio = reg["per_second"] / ref["bu_per_second"] if ref["bu_per_second"] else 0
    row("first registrations through the ports, BU/s", f"{reg['per_second']:,.0f}",
        f">= 80% of in-process {ref['bu_per_second']:,.0f}: {ratio:.2f}", ratio >= 0.8)
    per_million = reg["seconds"] * 1_000_000 / max(r["hoas"] - FIRST, 1)
    row("  a million registrations take, s", f"{per_million:.1f}", "<= 20 now, <= 10 later",
        per_million <= 20)
    rratio = refresh["per_second"] / ref["bu_per_second_refresh"] if ref["bu_per_second_refresh"] else 0
    row("refreshes through the ports, BU/s", f"{refresh['per_second']:,.0f}",
        f"in-process {ref['bu_per_second_refresh']:,.0f}: {rratio:.2f}", None)
    for name, key in (("control loop, registration storm", "storm"),
                      ("control loop, refresh storm", "refresh_storm")):
        loop = r[key]["loop"]
        row(name, f"p99 {loop['p99_us']} us, max {loop['max_us']} us", "reported", None)
    for name, key in (("control loop at rest, 1,000 HoAs", "rest_small"),
                      (f"control loop at rest, {r['hoas']:,} HoAs", "rest_full")):
        loop = r[key]["loop"]
        row(name, f"p99 {loop['p99_us']} us, max {loop['max_us']} us", "max <= 1 ms",
            loop["max_us"] is not None and loop["max_us"] <= 1000)
    for name, key in (("failure detection, 1,000 HoAs", "failure_detection_small"),
                      (f"failure detection, {r['hoas']:,} HoAs", "failure_detection_full")):
        fd = r[key]
        row(name, f"{fd['all_ms']} ms ({fd['dead']}/{fd['paths']} paths)",
            f"<= {fd['bound_ms']} ms", fd["dead"] == fd["paths"] and fd["all_ms"] <= fd["bound_ms"])
    quiet, storm = r["forward_quiet_window"], r["forward_storm_window"]
    fq, fs = r["forward_quiet"], r["forward_storm"]
    row("worker cycles/packet quiet -> during refreshes",
        f"{quiet['worker_cycles_per_packet']} -> {storm['worker_cycles_per_packet']}",
        f"{DATA_PPS / 1e6:.1f} Mpps offered; {fs['per_second']:,.0f} BU/s meanwhile", None)
    loss_quiet = 1 - fq["tunnelled"] / fq["offered"] if fq["offered"] else None
    loss_storm = 1 - fs["data_tunnelled"] / fs["data_sent"] if fs["data_sent"] else None
    row("  data lost quiet / during refreshes",
        f"{loss_quiet:.4f} / {loss_storm:.4f}" if loss_quiet is not None and loss_storm is not None
        else "-", "", None)
    rest = r["data_window"]
    row("worker cycles/packet at rest (memif)", f"{rest['worker_cycles_per_packet']}",
        f"in-process {ref['forward_cycles_per_packet']} (ring ports): within 10%",
        rest["worker_cycles_per_packet"] is not None and
        rest["worker_cycles_per_packet"] <= 1.1 * ref["forward_cycles_per_packet"])
    data, peer = r["data"], r["memif_io_peer"]["data"]
    pratio = data["tunnelled_pps"] / peer["received"] * peer["seconds"] if peer["received"] else 0
    row("data at rest, Mpps tunnelled", f"{data['tunnelled_pps'] / 1e6:.2f}",
        f"testpmd io, same ports and generator: {peer['received'] / peer['seconds'] / 1e6:.2f} "
        f"({pratio:.2f}); wrong CoA {data['wrong_care_of']}", None)
    total_ref = ref["bytes_per_binding"] + ref["control_bytes_per_binding"]
    row("resident memory per binding, whole process", f"{r['rss_bytes_per_binding']} B",
        f"<= 2 x in-process {ref['bytes_per_binding']} B (data plane; "
        f"{total_ref:.0f} B with the control heap)",
        r["rss_bytes_per_binding"] <= 2 * ref["bytes_per_binding"])
    width = max(len(x[0]) for x in rows)
    vwidth = max(len(x[1]) for x in rows)
    print(f"monami-gw through its ports, {r['hoas']:,} HoAs x {r['coas']} CoAs (memif, 2 lcores, "
          f"{r['scheduling']})")
    for name, value, target, v in rows:
        print(f"  {name:<{width}}  {value:<{vwidth}}  {target}  {v}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hoas", type=int, default=1_000_000)
    p.add_argument("--coas", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="100,000 HoAs")
    p.add_argument("--store", action="store_true",
                   help="only the binding store: BU/s without a store, async and sync; restore")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--shared", action="store_true",
                   help="leave the control thread under the normal scheduler (default as root "
                        "with RT throttling on: SCHED_FIFO, as tools/bench does)")
    a = p.parse_args()
    hoas = 100_000 if a.quick else a.hoas
    if hoas <= FIRST * 2:
        p.error(f"--hoas must be above {2 * FIRST}")
    subprocess.run(["ninja", "-C", str(ROOT / "build"), "monami-gw", "monami-loadgen",
                    "monami-bench"], check=True, stdout=subprocess.DEVNULL)
    realtime = (not a.shared and os.geteuid() == 0 and
                Path("/proc/sys/kernel/sched_rt_runtime_us").read_text().strip() != "-1")
    if a.store:
        r = store_costs(hoas, a.coas, realtime)
        if a.json:
            Path(a.json).write_text(json.dumps(r, indent=2) + "\n")
        store_report(r)
        return
    r = run(hoas, a.coas, realtime)
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2) + "\n")
    report(r)


if __name__ == "__main__":
    main()
