"""A seeded FIX 4.4 fuzzer: realistic frames, a mutator, a wire driver with an oracle, and in-process
targets (shared by ``tests/fuzz`` and ``bench/fuzz_fix.py``).

Seeds are the frames a real client sends (Logon, Heartbeat, TestRequest, ResendRequest, SequenceReset,
Logout, NewOrderSingle, Cancel, Replace, OrderStatus, MarketDataRequest, News), built like the ones
captured from ``fixclient`` sessions. The mutator (``random.Random(seed)``: a run is reproducible from its
seed) garbles, truncates, oversizes and rewrites them at the byte and at the field level.

Wire oracle, per connection: after its frames, a probe (a valid TestRequest when logged on, else a Logon
with a wrong password) must be answered -- any FIX message (Heartbeat, Reject, Logout,
BusinessMessageReject, ResendRequest) -- or the connection closed, within ``answer_timeout``; otherwise
the connection counts as a hang. The process must stay alive (crash = it exited) and its resident memory
is sampled.

In-process oracle: the order path's and market data's decoders, fed mutated field lists (as QuickFIX
hands them over once it has framed a message), raise only their documented errors.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

SOH = b"\x01"
BEGIN = b"8=FIX.4.4"

Fields = list[tuple[int, bytes]]


def _ts() -> bytes:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3].encode()


def encode(msg_type: str, body: Fields, sender: str, target: str, seq: int,
           extra_header: Fields | None = None) -> bytes:
    """A well-formed frame (BodyLength and CheckSum right)."""
    header: Fields = [(35, msg_type.encode()), (49, sender.encode()), (56, target.encode()),
                      (34, str(seq).encode()), (52, _ts()), *(extra_header or [])]
    payload = b"".join(b"%d=%s\x01" % (tag, value) for tag, value in header + body)
    head = BEGIN + SOH + b"9=%d" % len(payload) + SOH
    checksum = sum(head + payload) % 256
    return head + payload + b"10=%03d" % checksum + SOH


def seed_bodies() -> list[tuple[str, Fields]]:
    """Application and admin bodies of a realistic session (what ``fixclient`` sends)."""
    now = _ts()
    return [
        ("0", []),
        ("1", [(112, b"TEST-1")]),
        ("2", [(7, b"1"), (16, b"0")]),
        ("4", [(123, b"Y"), (36, b"5")]),
        ("D", [(11, b"ord-1"), (1, b"ACC1"), (55, b"AAPL"), (54, b"1"), (60, now), (38, b"100"), (40, b"2"),
               (44, b"189.50"), (59, b"0")]),
        ("D", [(11, b"ord-2"), (55, b"MSFT"), (54, b"2"), (60, now), (38, b"10"), (40, b"1"), (59, b"3")]),
        ("F", [(41, b"ord-1"), (11, b"cxl-1"), (55, b"AAPL"), (54, b"1"), (60, now), (38, b"100")]),
        ("G", [(41, b"ord-1"), (11, b"rpl-1"), (55, b"AAPL"), (54, b"1"), (60, now), (38, b"200"), (40, b"2"),
               (44, b"190.00")]),
        ("H", [(11, b"ord-1"), (55, b"AAPL"), (54, b"1")]),
        ("V", [(262, b"md-1"), (263, b"1"), (264, b"1"), (267, b"2"), (269, b"0"), (269, b"1"), (146, b"2"),
               (55, b"AAPL"), (55, b"MSFT")]),
        ("B", [(148, b"headline"), (33, b"1"), (58, b"text")]),
    ]


# --- the mutator ----------------------------------------------------------------------------------
_INTERESTING = [b"", b"0", b"-1", b"999999999999999999999", b"1e309", b"NaN", b"Infinity", b"\xff\xfe",
                b"=", b"\x01", b"9" * 300, b"A" * 64, b"20261302-25:61:61", b"Y", b"N", b"2147483648",
                b"%s%s%n", b"\x00", b"0.0000000001", b"1" * 40]
_TAGS = [0, 1, 8, 9, 10, 11, 34, 35, 36, 38, 40, 43, 44, 49, 52, 54, 55, 56, 58, 59, 60, 97, 98, 108, 112, 122, 123,
         141, 146, 262, 263, 264, 267, 268, 269, 279, 553, 554, 789, 9999, 99999999]


def _fields(body: Fields) -> Fields:
    return list(body)


def mutate_fields(rng: random.Random, body: Fields) -> Fields:
    out = _fields(body)
    for _ in range(rng.randint(1, 3)):
        choice = rng.randrange(8)
        if choice == 0 and out:
            out.pop(rng.randrange(len(out)))
        elif choice == 1 and out:
            out.insert(rng.randrange(len(out) + 1), out[rng.randrange(len(out))])  # duplicate
        elif choice == 2 and out:
            i = rng.randrange(len(out))
            out[i] = (out[i][0], rng.choice(_INTERESTING))
        elif choice == 3:
            out.insert(rng.randrange(len(out) + 1), (rng.choice(_TAGS), rng.choice(_INTERESTING)))
        elif choice == 4 and out:
            i = rng.randrange(len(out))
            out[i] = (rng.choice(_TAGS), out[i][1])
        elif choice == 5:  # group count that does not match
            out.append((rng.choice([146, 267, 268, 33]), rng.choice([b"0", b"1000000", b"-5", b"x"])))
        elif choice == 6 and out:
            rng.shuffle(out)
        elif choice == 7 and out:
            i = rng.randrange(len(out))
            out[i] = (out[i][0], out[i][1] * rng.randint(2, 200))
    return out


def mutate_bytes(rng: random.Random, frame: bytes, max_size: int) -> bytes:
    data = bytearray(frame)
    choice = rng.randrange(10)
    if choice == 0 and data:  # truncated
        return bytes(data[:rng.randrange(len(data))])
    if choice == 1 and data:  # bit flips
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 2:  # random bytes inserted
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    elif choice == 3 and data:  # a chunk removed
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 32)]
    elif choice == 4:  # oversized: a huge field value
        at = data.rfind(b"\x0110=")
        data[at if at > 0 else len(data):at if at > 0 else len(data)] = b"\x0158=" + b"X" * rng.randint(
            1_000, max_size)
    elif choice == 5:  # BodyLength lies
        return frame.replace(b"\x019=", b"\x019=" + str(rng.choice([0, 1, 99999999, -3])).encode() + b"\x01999=", 1)
    elif choice == 6:  # CheckSum wrong
        return frame[:-4] + b"%03d" % rng.randrange(1000) + SOH
    elif choice == 7:  # SOH replaced
        return frame.replace(SOH, rng.choice([b"|", b"", b"\x00", b"\x01\x01"]))
    elif choice == 8:  # pure garbage
        return rng.randbytes(rng.randint(1, 512))
    else:  # two frames spliced
        return frame + frame[:rng.randrange(len(frame) + 1)]
    return bytes(data)


@dataclass
class Frames:
    """A reproducible stream of (possibly broken) frames for one session."""

    rng: random.Random
    sender: str
    target: str
    max_size: int = 65_536
    seq: int = 2  # after the Logon at 1

    def next(self) -> bytes:
        msg_type, body = self.rng.choice(seed_bodies())
        layer = self.rng.randrange(4)
        if layer == 0:  # well-formed frame, mutated fields (reaches the application)
            frame = encode(msg_type, mutate_fields(self.rng, body), self.sender, self.target, self.seq)
            self.seq += 1
            return frame
        if layer == 1:  # a valid message (keeps the session honest)
            frame = encode(msg_type, body, self.sender, self.target, self.seq)
            self.seq += 1
            return frame
        frame = encode(msg_type, body, self.sender, self.target, self.seq)
        return mutate_bytes(self.rng, frame, self.max_size)


# --- wire driver and oracle -----------------------------------------------------------------------
@dataclass
class Figures:
    frames: int = 0
    connections: int = 0
    answered: int = 0  # the probe got a FIX answer
    closed: int = 0  # the server closed the connection (after a Logout or at once)
    hangs: int = 0
    crashes: int = 0
    refused_connects: int = 0
    rss_kb: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    hang_samples: list[str] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        """Fold one connection's counts in (frames are counted by the caller)."""
        self.connections += other.connections
        self.answered += other.answered
        self.closed += other.closed
        self.hangs += other.hangs
        self.refused_connects += other.refused_connects
        self.hang_samples.extend(other.hang_samples[:max(0, 5 - len(self.hang_samples))])

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> str:
        rss = f"rss {self.rss_kb[0] // 1024}->{self.rss_kb[-1] // 1024} MiB (max {max(self.rss_kb) // 1024})" \
            if self.rss_kb else "rss n/a"
        return (f"frames {self.frames} connections {self.connections} answered {self.answered} closed {self.closed} "
                f"hangs {self.hangs} crashes {self.crashes} refused_connects {self.refused_connects} {rss} "
                f"in {self.seconds:.1f}s ({self.frames / max(self.seconds, 1e-9):.0f} frames/s)")


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _read_answer(sock: socket.socket, timeout: float) -> str:
    """'answered' when a FIX frame (8=FIX...10=nnn) comes back, 'closed' on EOF/reset, 'hang' otherwise."""
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "hang"
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        except TimeoutError:
            return "hang"
        except OSError:
            return "closed"
        if not data:
            return "closed"
        buffer += data
        if b"8=FIX" in buffer and b"\x0110=" in buffer[buffer.index(b"8=FIX"):]:
            return "answered"


def _send_all(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


@dataclass
class WireFuzzer:
    """Drives connections at ``port``: ``sessions`` maps SenderCompID -> password (logged-on fuzzing with
    141=Y so each connection starts at sequence 1); ``target`` is the gateway's CompID."""

    port: int
    sessions: dict[str, str]
    target: str = "BROKER"
    host: str = "127.0.0.1"
    frames_per_connection: int = 50
    answer_timeout: float = 15.0
    max_size: int = 65_536
    alive: Callable[[], bool] = lambda: True
    pid: int | None = None

    def connection(self, rng: random.Random, figures: Figures, budget: int) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=10)
        except OSError:
            figures.refused_connects += 1
            return
        figures.connections += 1
        try:
            self._drive(sock, rng, figures, budget)
        finally:
            sock.close()

    def _drive(self, sock: socket.socket, rng: random.Random, figures: Figures, budget: int) -> None:
        sender = rng.choice(sorted(self.sessions))
        logged_on = rng.random() < 0.6
        frames = Frames(rng, sender, self.target, self.max_size)
        if logged_on:
            # HeartBtInt 5: a session whose parser waits for the rest of a lying frame is still bounded by
            # the engine's own heartbeat (5 s) and timeout (2.4 x 5 s), within answer_timeout
            logon = encode("A", [(98, b"0"), (108, b"5"), (141, b"Y"), (554, self.sessions[sender].encode())],
                           sender, self.target, 1)
            if not _send_all(sock, logon) or _read_answer(sock, self.answer_timeout) != "answered":
                figures.closed += 1  # the session is busy on another connection, or was just logged out
                return
        count = rng.randint(1, budget)
        sent: list[bytes] = []
        for _ in range(count):
            frame = frames.next() if logged_on else mutate_bytes(rng, encode(*rng.choice(seed_bodies()), sender,
                                                                              self.target, 1), self.max_size)
            figures.frames += 1
            sent.append(frame)
            if not _send_all(sock, frame):
                figures.closed += 1
                return
        if logged_on:
            probe = encode("1", [(112, b"probe")], sender, self.target, frames.seq)
        else:
            probe = SOH + encode("A", [(98, b"0"), (108, b"30"), (554, b"wrong")], sender, self.target, 1)
        if not _send_all(sock, probe):
            figures.closed += 1
            return
        outcome = _read_answer(sock, self.answer_timeout)
        if outcome == "hang":
            figures.hangs += 1
            if len(figures.hang_samples) < 5:
                figures.hang_samples.append(f"logged_on={logged_on} frames={count} sender={sender} "
                                            f"last={[f[:160] for f in sent[-3:]]!r}")
        elif outcome == "closed":
            figures.closed += 1
        else:
            figures.answered += 1
        if not logged_on and outcome == "answered":
            return
        if logged_on and outcome == "answered":  # end politely so the next connection may log on
            _send_all(sock, encode("5", [], sender, self.target, frames.seq + 1))
            _read_answer(sock, 2.0)

    def run(self, total_frames: int, seed: int, on_progress: Callable[[Figures], None] | None = None,
            progress_every: float = 10.0, workers: int = 1) -> Figures:
        """Connections one after the other in each of ``workers`` threads (each with its own CompIDs, so
        no two connections fight over one session) until ``total_frames`` were sent."""
        figures = Figures()
        self._sample(figures)
        names = sorted(self.sessions)
        workers = max(1, min(workers, len(names)))
        lock = threading.Lock()
        stop = threading.Event()

        def work(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            mine = WireFuzzer(self.port, {n: self.sessions[n] for n in names[index::workers]}, self.target,
                              self.host, self.frames_per_connection, self.answer_timeout, self.max_size)
            while not stop.is_set():
                local = Figures()
                with lock:
                    budget = min(self.frames_per_connection, total_frames - figures.frames)
                    if budget <= 0:
                        return
                    figures.frames += budget  # reserved; corrected below
                mine.connection(random.Random(rng.getrandbits(64)), local, budget)
                with lock:
                    figures.frames += local.frames - budget
                    figures.add(local)
                if not self.alive():
                    stop.set()

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
        for thread in threads:
            thread.start()
        last = time.monotonic()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(0.5)
            if not self.alive():
                stop.set()
            if time.monotonic() - last > progress_every:
                last = time.monotonic()
                self._sample(figures)
                if on_progress is not None:
                    on_progress(figures)
        if not self.alive():
            figures.crashes += 1
        self._sample(figures)
        return figures

    def _sample(self, figures: Figures) -> None:
        if self.pid is not None:
            rss = rss_kb(self.pid)
            if rss is not None:
                figures.rss_kb.append(rss)


# --- in-process targets ---------------------------------------------------------------------------
def field_lists(seed: int, count: int) -> Iterator[tuple[str, Fields]]:
    rng = random.Random(seed)
    bodies = seed_bodies()
    for _ in range(count):
        msg_type, body = rng.choice(bodies)
        yield msg_type, mutate_fields(rng, body)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.isdigit() else default
