"""The service (docs/deploy.md, "Running it as a service"): what `meson install` puts where,
the unit as systemd-analyze reads it, the man pages as man renders them, and systemd's notify
protocol spoken by the real monami-gw.

systemd is not PID 1 where these tests run, so the gateway is started the way systemd starts
a Type=notify service: NOTIFY_SOCKET names a unix datagram socket this test binds,
WATCHDOG_USEC asks for keep-alives, JOURNAL_STREAM says stderr is the journal. What arrives
on the socket is what systemd would have read."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import textwrap
import time

import pytest

from conftest import BUILD, ROOT, binary, eal_args

DEPLOY_MD = ROOT / "docs" / "deploy.md"
MAN_PAGES = [ROOT / "docs" / "man" / n for n in ("monami-gw.8", "monami-ctl.8", "monami.yaml.5")]


def run(*cmd, check=True, timeout=60, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: {res.returncode}\n{res.stdout}{res.stderr}")
    return res


# ---- What `meson install` puts where ------------------------------------------------------

def documented_install():
    """docs/deploy.md's install table: [(what, path with --prefix=/usr, path with /usr/local)]."""
    rows, in_table = [], False
    for line in DEPLOY_MD.read_text().splitlines():
        if line.startswith("| what | `--prefix=/usr` |"):
            in_table = True
        elif in_table and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set(cells[0]) <= {"-"}:
                continue
            usr, local = (re.fullmatch(r"`([^`]+)`", c).group(1) for c in cells[1:3])
            rows.append((cells[0], usr, local))
        elif in_table:
            break
    assert len(rows) >= 10, f"install table not found in {DEPLOY_MD}"
    return rows


def build_option(name):
    options = json.loads(run("meson", "introspect", str(BUILD), "--buildoptions").stdout)
    return next(o["value"] for o in options if o["name"] == name)


def unit_directives(text):
    """KEY -> [values] of a unit file's assignments."""
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def path_of(where, what):
    """The documented path of the row whose description starts with `what`."""
    return next(p for w, p in where.items() if w.startswith(what))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`meson install --destdir` of the build directory: (destdir, {what: installed path})."""
    dest = tmp_path_factory.mktemp("destdir")
    run("meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--no-rebuild", "--quiet")
    prefix = build_option("prefix")
    where = {}
    for what, usr, local in documented_install():
        where[what] = usr if prefix == "/usr" else prefix + local[len("/usr/local"):]
    return dest, where


def test_meson_install_puts_every_file_where_the_docs_say(installed):
    dest, where = installed
    files = {"/" + str(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir()}
    assert files == set(where.values()), (
        f"installed but not in docs/deploy.md: {sorted(files - set(where.values()))}; "
        f"documented but not installed: {sorted(set(where.values()) - files)}")
    # The binaries run from where they went.
    gw = dest / where["the gateway"].lstrip("/")
    assert os.access(gw, os.X_OK)
    assert "usage: monami-ctl" in run(str(dest / where["the operator's view"].lstrip("/")),
                                      "--help").stderr
    # The configuration: readable by root only (keys), accepted as installed.
    config_path = path_of(where, "the configuration:")
    config = dest / config_path.lstrip("/")
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert run(str(gw), "--config", str(config), "--check-config").returncode == 0
    # The unit starts what was installed, on the installed configuration.
    unit = dest / where["the systemd unit"].lstrip("/")
    exec_start = unit_directives(unit.read_text())["ExecStart"]
    assert exec_start == [f"{where['the gateway']} --config {config_path}"]
    # Man pages as written.
    for page in MAN_PAGES:
        assert (dest / where[f"man page {page.stem}({page.suffix[1:]})"].lstrip("/")
                ).read_bytes() == page.read_bytes()


def test_an_install_over_an_edited_configuration_keeps_it(installed):
    """An upgrade (meson install again) never replaces the operator's configuration; the
    example beside the documentation is refreshed."""
    dest, where = installed
    config = dest / path_of(where, "the configuration:").lstrip("/")
    example = dest / path_of(where, "the example configuration").lstrip("/")
    edited = config.read_text() + "# the operator's edit\n"
    config.write_text(edited)
    example.write_text("stale\n")
    run("meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--no-rebuild", "--quiet")
    assert config.read_text() == edited
    assert example.read_text() == (ROOT / "config" / "production.yaml").read_text()


def test_with_prefix_usr_the_files_go_where_the_docs_say(tmp_path):
    """A build directory configured with --prefix=/usr (configured only: nothing is built):
    what it would install, and where its unit looks."""
    build = tmp_path / "build-usr"
    run("meson", "setup", str(build), "--prefix=/usr", cwd=ROOT, timeout=120)
    planned = set(json.loads(run("meson", "introspect", str(build), "--installed").stdout).values())
    rows = documented_install()
    config = next(usr for what, usr, _ in rows if what.startswith("the configuration:"))
    # The live configuration is copied by dist/install-config.sh (only when absent), so
    # meson's list of installed files does not have it.
    assert planned == {usr for _, usr, _ in rows} - {config}
    unit = unit_directives((build / "dist" / "monami.service").read_text())
    gw = next(usr for what, usr, _ in rows if what == "the gateway")
    assert unit["ExecStart"] == [f"{gw} --config {config}"]


def test_systemd_analyze_verify_accepts_the_installed_unit(installed, tmp_path):
    """systemd-analyze checks every directive and that ExecStart= and Documentation= exist:
    the unit is read with its paths moved into the destination directory (the same unit,
    the binary and man pages where this install put them)."""
    dest, where = installed
    text = (dest / where["the systemd unit"].lstrip("/")).read_text()
    for path in (path_of(where, "the gateway"), path_of(where, "the configuration:")):
        text = text.replace(path, str(dest) + path)
    unit = tmp_path / "monami.service"
    unit.write_text(text)
    man_dir = (dest / path_of(where, "man page monami-gw(8)").lstrip("/")).parent.parent
    env = dict(os.environ, MANPATH=str(man_dir))
    res = run("systemd-analyze", "verify", str(unit), check=False, env=env)
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stdout + res.stderr
    d = unit_directives(text)
    assert d["Type"] == ["notify"] and d["Restart"] == ["on-failure"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["LimitMEMLOCK"] == ["infinity"] and d["WatchdogSec"]
    # The check reads what we think it reads: a wrong directive in the same unit is named.
    bad = tmp_path / "bad.service"
    bad.write_text(text.replace("Type=notify", "Type=notify\nWatchdogSecs=10s"))
    res = run("systemd-analyze", "verify", str(bad), check=False, env=env)
    assert "Unknown key 'WatchdogSecs' in section [Service]" in res.stderr, res.stderr


# ---- Man pages ------------------------------------------------------------------------------

def groff_warnings(page):
    return run("groff", "-man", "-ww", "-z", str(page), check=False).stderr


@pytest.mark.parametrize("page", MAN_PAGES, ids=lambda p: p.name)
def test_man_page_renders_without_warnings(page):
    res = run("man", "-l", "--warnings", str(page), env=dict(os.environ, MANWIDTH="80"),
              check=False)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert "NAME" in res.stdout and "SEE ALSO" in res.stdout
    assert groff_warnings(page) == ""
    # whatis and apropos find the page by its NAME line.
    name, description = page.read_text().split(".SH NAME\n", 1)[1].splitlines()[0].split(" \\- ")
    assert name == page.name.rsplit(".", 1)[0]
    assert run("lexgrog", str(page)).stdout == f'{page}: "{name} - {description}"\n'


def test_a_broken_man_page_does_warn(tmp_path):
    """The rendering checks above can fail: an unknown macro and an unclosed font are named."""
    bad = tmp_path / "bad.8"
    bad.write_text(".TH BAD 8\n.SH NAME\nbad \\- x\n.XY unknown macro\n\\fBopen\n")
    assert groff_warnings(bad) != ""


def man_text(page):
    return page.read_text().replace("\\-", "-")


def test_monami_gw_page_has_every_option_and_exit_status():
    usage = run(binary("monami-gw"), check=False).stderr
    options = set(re.findall(r"--[a-z][a-z-]+", usage))
    assert {"--config", "--check-config", "--discard-state", "--stop-when-idle"} <= options
    text = man_text(ROOT / "docs" / "man" / "monami-gw.8")
    assert [o for o in options if o not in text] == []
    main = (ROOT / "dataplane" / "gw" / "main.cpp").read_text()
    statuses = {int(n) for n in re.findall(r"return (\d+);", main)}
    statuses |= {int(n) for n in re.findall(r"kExitCannotFollow = (\d+);", main)}
    exit_section = text.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    assert statuses == {0, 1, 2, 75}
    assert all(f".B {s}\n" in exit_section for s in statuses)
    assert ".B SIGHUP\nRe-reads the configuration" in text


def test_monami_ctl_page_has_every_command():
    usage = run(binary("monami-ctl"), "--help").stderr
    commands = set()
    for line in usage.splitlines()[1:]:
        first = line.strip().split("  ")[0]
        commands |= {c.strip().split()[0] for c in first.split("|") if c.strip()}
    assert {"bindings", "summary", "pair", "raw"} <= commands
    text = man_text(ROOT / "docs" / "man" / "monami-ctl.8")
    section = text.split(".SH COMMANDS", 1)[1].split(".SH ", 1)[0]
    assert [c for c in sorted(commands) if not re.search(rf"^\.BI? {c}\b", section, re.M)] == []


def test_monami_yaml_page_has_every_key_of_the_configuration_reference():
    keys = set()
    for line in (ROOT / "docs" / "config.md").read_text().splitlines():
        if line.startswith("| `"):
            keys |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    words = set(re.findall(r"[A-Za-z0-9_]+", man_text(ROOT / "docs" / "man" / "monami.yaml.5")))
    assert len(keys) > 80
    assert [k for k in sorted(keys) if re.sub(r"\[\]$", "", k.split(".")[-1]) not in words] == []


def test_monami_yaml_page_example_is_a_valid_configuration(tmp_path):
    text = man_text(ROOT / "docs" / "man" / "monami.yaml.5")
    example = text.split(".SH EXAMPLES", 1)[1].split(".EX\n", 1)[1].split(".EE", 1)[0]
    cfg = tmp_path / "example.yaml"
    cfg.write_text(example)
    res = run(binary("monami-gw"), "--config", str(cfg), "--check-config", check=False)
    assert res.returncode == 0, res.stderr


# ---- The notify protocol --------------------------------------------------------------------

class NotifySocket:
    """What systemd's end of NOTIFY_SOCKET would read: (monotonic time, {key: value}) per
    datagram."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def read(self, seconds, until=None):
        """Reads for `seconds`, or until a message satisfies `until` (then returns it)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            fields = dict(line.split("=", 1) for line in data.split("\n") if line)
            self.messages.append((time.monotonic(), fields))
            if until and until(fields):
                return fields
        if until:
            raise AssertionError(f"not received within {seconds} s; got {self.messages}")
        return None

    def close(self):
        self.sock.close()


class NotifiedGateway:
    """monami-gw started as systemd would start the unit: NOTIFY_SOCKET, optional watchdog,
    stderr to a file that JOURNAL_STREAM names."""

    def __init__(self, tmp_path, prefix, config, watchdog_usec=None, watchdog_pid=None,
                 wrapper=(), name="gw"):
        self.prefix = prefix
        self.notify = NotifySocket(tmp_path / f"{name}.notify")
        self.log_path, self.out_path = tmp_path / f"{name}.log", tmp_path / f"{name}.out"
        log = open(self.log_path, "w")  # noqa: SIM115 - handed to the child
        st = os.fstat(log.fileno())
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path,
                   JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        self.proc = subprocess.Popen(
            [*wrapper, binary("monami-gw"), *eal_args(prefix, "0"), "--", "--config",
             str(config)],
            env=env, stdout=open(self.out_path, "w"), stderr=log)  # noqa: SIM115
        log.close()

    def log(self):
        return self.log_path.read_text()

    def query(self, command):
        """One telemetry answer, over the socket monami-ctl reads."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(f"/var/run/dpdk/{self.prefix}/dpdk_telemetry.v2")
            size = json.loads(s.recv(1024))["max_output_len"]
            s.send(command.encode())
            return json.loads(s.recv(size))[command.split(",")[0]]

    def ready(self, timeout=30):
        """The READY=1 message (with its STATUS=)."""
        return self.notify.read(timeout, until=lambda m: "READY" in m)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)


HA, HOA, COA = "2001:db8:1::1", "2001:db8:1::100", "2001:db8:2::100"
GW_MAC, ACCESS_MAC, MN_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:99"


def pcap_gateway_config(tmp_path, frames_to_access):
    """Two pcap ports; `frames_to_access` are what the access port receives. An LMDB store."""
    from scapy.all import wrpcap
    for name, frames in (("home", []), ("access", frames_to_access)):
        wrpcap(str(tmp_path / f"{name}-in.pcap"), frames, linktype=1)
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        ports:
          - name: home
            device: "net_pcap0,rx_pcap={tmp_path}/home-in.pcap,tx_pcap={tmp_path}/home-out.pcap"
            mac: "{GW_MAC}"
            addresses: ["{HA}/64"]
          - name: access
            device: "net_pcap1,rx_pcap={tmp_path}/access-in.pcap,tx_pcap={tmp_path}/access-out.pcap"
            mac: "{ACCESS_MAC}"
            addresses: ["2001:db8:2::1/64"]
        neighbors:
          - {{address: "{COA}", mac: "{MN_MAC}", port: access}}
        home_agent:
          addresses: ["{HA}"]
          home_prefixes: ["2001:db8:1::/64"]
          duplicate_address_detection: false
          max_bindings: 1024  # small tables: a quick start
        heartbeat:
          enabled: false
        state:
          backend: lmdb
          path: "{tmp_path}/bindings.mdb"
        """))
    return cfg


def test_ready_after_ports_and_restored_state_then_status_watchdog_and_stopping(tmp_path,
                                                                                  prefix):
    from scapy.all import Ether

    from mh_frames import binding_update, bu_packet
    # A binding in the store: one BU through the gateway, which stops when its pcap is read.
    bu = Ether(src=MN_MAC, dst=ACCESS_MAC) / bu_packet(COA, HA, HOA,
                                                       binding_update(seq=1, lifetime_4s=75))
    cfg = pcap_gateway_config(tmp_path, [bu])
    first = run(binary("monami-gw"), *eal_args(prefix + "a", "0"), "--", "--config", str(cfg),
                "--stop-when-idle", "300", check=False)
    shutil.rmtree(f"/var/run/dpdk/{prefix}a", ignore_errors=True)
    assert first.returncode == 0 and "binding_acks_sent=1" in first.stdout, \
        first.stdout + first.stderr
    cfg = pcap_gateway_config(tmp_path, [])  # started again: nothing more arrives

    gw = NotifiedGateway(tmp_path, prefix, cfg, watchdog_usec=200_000)
    try:
        ready = gw.ready()
        # Everything READY=1 promises was there when it left: the log (stderr, written before
        # the datagram) has the restore, and the gateway answers at once with its ports up and
        # the binding in the forwarding state.
        log = gw.log()
        assert "restored 1 home addresses, 1 bindings" in log, log
        assert ready["STATUS"] == "serving; 2 port(s), 1 worker(s)", ready
        starting = [m for _, m in gw.notify.messages if m.get("STATUS", "").startswith("starting")]
        assert starting and gw.notify.messages[0][1] == starting[0]
        ports = gw.query("/monami/ports")
        assert len(ports) == 2 and all("link=up" in p for p in ports.values()), ports
        assert gw.query("/monami/summary")["bindings"] == 1

        # Keep-alives at half of WATCHDOG_USEC (100 ms), not one per loop iteration (the
        # loop runs ~10^5 times a second): at least one a period, at most one a period plus
        # what a busy machine delays and then delivers at once.
        ready_at = gw.notify.messages[-1][0]
        pings = lambda: [t for t, m in gw.notify.messages if m == {"WATCHDOG": "1"}]  # noqa
        gw.notify.read(1.5)
        elapsed = time.monotonic() - ready_at
        count = len(pings())
        assert elapsed / 0.1 / 2 <= count <= elapsed / 0.1 + 2, (elapsed, pings())

        # Log lines carry their priority for the journal: info, notice, warning.
        assert re.search(r"^<6>monami: started: 2 port\(s\)", log, re.M), log
        assert re.search(r"^<5>monami: binding store .* restored", log, re.M), log
        assert re.search(r"^<4>monami: security.mode is 'none'", log, re.M), log
        assert not re.search(r"^(monami|EAL|TELEMETRY): ", log, re.M), log

        gw.proc.send_signal(signal.SIGTERM)
        stopping = gw.notify.read(10, until=lambda m: "STOPPING" in m)
        assert stopping == {"STOPPING": "1", "STATUS": "stopping: asked to (SIGTERM or SIGINT)"}
        assert gw.proc.wait(timeout=20) == 0
        assert "final statistics" in gw.out_path.read_text()
        assert sum("READY" in m for _, m in gw.notify.messages) == 1
    finally:
        gw.close()


def test_no_keepalives_when_the_watchdog_is_meant_for_another_process(tmp_path, prefix):
    """sd_watchdog_enabled(3): WATCHDOG_PID names the process the watchdog is for."""
    cfg = pcap_gateway_config(tmp_path, [])
    gw = NotifiedGateway(tmp_path, prefix, cfg, watchdog_usec=100_000, watchdog_pid=os.getpid())
    try:
        gw.ready()
        gw.notify.read(0.6)
        assert not [m for _, m in gw.notify.messages if "WATCHDOG" in m], gw.notify.messages
        gw.proc.send_signal(signal.SIGTERM)
        gw.notify.read(10, until=lambda m: "STOPPING" in m)
        assert gw.proc.wait(timeout=20) == 0
    finally:
        gw.close()


def test_a_gateway_of_a_pair_is_ready_as_standby_then_says_it_leads(tmp_path, prefix):
    """With etcd the gateway is ready (ports up, cache read) before etcd makes it the
    leader: STATUS= says standby, then serving as the leader, without another READY."""
    from pair_lab import Etcd
    etcd = Etcd(tmp_path)
    try:
        cfg = tmp_path / "pair.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            ports:
              - name: home
                device: "net_null0,no-rx=1"
                addresses: ["{HA}/64"]
            heartbeat:
              enabled: false
            state:
              backend: etcd
              durability: sync
              etcd:
                endpoints: ["{etcd.endpoints[0]}"]
                prefix: "/monami/{prefix}/"
                member: gw-svc
                lease_ttl_s: 1
            """))
        gw = NotifiedGateway(tmp_path, prefix, cfg)
        try:
            ready = gw.ready()
            assert ready["STATUS"].startswith("standby: silent, following the pair"), ready
            leads = gw.notify.read(10, until=lambda m: "serving" in m.get("STATUS", ""))
            assert leads["STATUS"].startswith("serving as the leader of "), leads
            assert leads["STATUS"].endswith("; 1 port(s), 1 worker(s)"), leads
            gw.proc.send_signal(signal.SIGTERM)
            gw.notify.read(10, until=lambda m: "STOPPING" in m)
            assert gw.proc.wait(timeout=20) == 0
            assert sum("READY" in m for _, m in gw.notify.messages) == 1
        finally:
            gw.close()
    finally:
        etcd.close()


def test_the_gateway_runs_with_no_more_than_the_units_capabilities(tmp_path, prefix):
    """Root limited to the unit's CapabilityBoundingSet= with NoNewPrivileges=, as systemd
    starts it: an af_packet port (raw socket, promiscuous mode) comes up and the gateway
    reports ready. The set is what it needs, not more than it is checked with: without
    CAP_NET_RAW the same start fails."""
    unit = unit_directives((ROOT / "dist" / "monami.service.in").read_text())
    caps = unit["CapabilityBoundingSet"][0].split()
    assert unit["NoNewPrivileges"] == ["yes"] and "CAP_NET_RAW" in caps

    def setpriv(kept):
        bounding = ",".join(["-all"] + ["+" + c[len("CAP_"):].lower() for c in kept])
        return ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--no-new-privs"]

    veth = "svc" + prefix[-6:]
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
    try:
        for side in (veth, veth + "p"):
            run("ip", "link", "set", side, "up")
        cfg = tmp_path / "caps.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            ports:
              - name: home
                device: "net_af_packet0,iface={veth}"
                addresses: ["{HA}/64"]
            heartbeat:
              enabled: false
            home_agent:
              max_bindings: 1024
            """))
        gw = NotifiedGateway(tmp_path, prefix, cfg, wrapper=setpriv(caps))
        try:
            gw.ready()
            ports = gw.query("/monami/ports")
            assert all("link=up" in p for p in ports.values()), ports
            gw.proc.send_signal(signal.SIGTERM)
            assert gw.proc.wait(timeout=20) == 0
        finally:
            gw.close()
        without_raw = NotifiedGateway(tmp_path, prefix, cfg, name="without-raw",
                                      wrapper=setpriv(c for c in caps if c != "CAP_NET_RAW"))
        try:
            assert without_raw.proc.wait(timeout=30) == 1
            assert "Operation not permitted" in without_raw.log()
            assert not [m for _, m in without_raw.notify.messages if "READY" in m]
        finally:
            without_raw.close()
    finally:
        run("ip", "link", "del", veth, check=False)
