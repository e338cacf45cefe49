"""Counted UDP flows between network namespaces, for the failover tests and ./tools/demo.

A FlowSender paces numbered datagrams (8-byte sequence number, padded) at a fixed rate from a
socket opened in one namespace; a FlowReceiver, bound to the mobile node's home address in
its namespace, records which numbers arrived and when. Loss is what was sent and never
arrived; duplicates (n-cast) are counted apart. Sockets keep the namespace they were opened
in, so the threads run in the test's own namespace."""
import contextlib
import ctypes
import socket
import struct
import threading
import time

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def in_netns(name):
    """Runs the block with this thread in network namespace `name`."""
    own = open("/proc/self/ns/net")
    target = open(f"/var/run/netns/{name}")
    try:
        if _libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        _libc.setns(own.fileno(), _CLONE_NEWNET)
        own.close()
        target.close()


class FlowReceiver:
    def __init__(self, netns, address, port, name=None):
        self.name = name or f"udp/{port}"
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self.sock.bind((address, port))
        self.sock.settimeout(0.05)
        self.arrivals = {}  # sequence -> first arrival (monotonic)
        self.duplicates = 0
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 8:
                continue
            seq = struct.unpack("!Q", data[:8])[0]
            self.received += 1
            if seq in self.arrivals:
                self.duplicates += 1
            else:
                self.arrivals[seq] = time.monotonic()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class FlowSender:
    def __init__(self, netns, destination, port, rate, size=160, source_port=None, tos=0):
        self.destination, self.port, self.rate, self.size = destination, port, rate, size
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            if source_port:
                self.sock.bind(("::", source_port))
            if tos:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
        self.sent = 0
        self.times = []  # send time of each sequence number
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        start = time.monotonic()
        pad = b"\0" * max(0, self.size - 8)
        while not self._stop.is_set():
            due = start + self.sent / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(min(due - now, 0.01))
                continue
            self.times.append(now)
            try:
                self.sock.sendto(struct.pack("!Q", self.sent) + pad, (self.destination, self.port))
            except OSError:
                pass  # counted as lost: the receiver never sees it
            self.sent += 1

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self.sock.close()


def lost(sender, receiver):
    """Sequence numbers sent and never received, in order."""
    return [s for s in range(sender.sent) if s not in receiver.arrivals]


def loss_window(sender, receiver):
    """(first lost send time, last lost send time, count) or None without loss."""
    missing = lost(sender, receiver)
    if not missing:
        return None
    return sender.times[missing[0]], sender.times[missing[-1]], len(missing)


def wait_until(predicate, timeout=10, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
