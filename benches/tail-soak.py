#!/usr/bin/env python3
"""Soak test of `logspike tail --state` under real logrotate.

A writer appends RATE lines a second to access.log (nginx `upstream`
format, one status in six a 5xx). Every ROTATE seconds the real `logrotate`
rotates it, with `create` + `compress` + `delaycompress` or with
`copytruncate` (alternating), and every RESTART seconds logspike is stopped
(SIGTERM) and started again with the same state file, after zero, one or
two more rotations made while it was down.

What was written is compared with what logspike counted (the status counts
in each run's summary): every line must be counted exactly once, so lost
or duplicated lines show as a difference. SIGKILL is not covered here: a
killed run's counts die with it (and by design it reads again the lines of
its last second, whose state was not yet saved).

    cargo build --release
    python3 benches/tail-soak.py [--rate 20000] [--seconds 180] [--rotate 2] [--restart 7]

Needs `logrotate` (Debian package `logrotate`).
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone

STATUSES = [200, 200, 200, 404, 503, 500]


def summary_counts(stderr):
    m = re.search(r"logspike tail: stopped; .*?; status ([^;]*);", stderr)
    if not m:
        return None
    out = Counter()
    for part in m.group(1).split(", "):
        if part == "none":
            continue
        code, n = part.split("=")
        out[int(code) if code != "-" else 0] += int(n)
    return out


class Writer(threading.Thread):
    def __init__(self, path, rate):
        super().__init__(daemon=True)
        self.path, self.rate = path, rate
        self.written = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seq = 0

    def run(self):
        batch = max(1, self.rate // 100)
        next_at = time.monotonic()
        while not self.stop.is_set():
            now = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
            lines = []
            with self.lock:
                for _ in range(batch):
                    self.seq += 1
                    s = STATUSES[self.seq % len(STATUSES)]
                    self.written[s] += 1
                    lines.append(
                        f'10.1.0.{self.seq % 250} - - [{now}] "GET /seq/{self.seq} HTTP/1.1" '
                        f'{s} 512 "-" "soak/1" 0.010 10.0.0.1:8080 {s} 0.009 0.001 0.008\n'
                    )
                # Opened per batch, as nginx reopens after a rotation's
                # signal: a rename rotation sends the next batch to the new
                # file; copytruncate keeps the same one.
                with open(self.path, "a") as f:
                    f.write("".join(lines))
            next_at += 0.01
            time.sleep(max(0.0, next_at - time.monotonic()))


def rotate(dir_, conf_state, mode, lock):
    conf = os.path.join(dir_, "logrotate.conf")
    body = {
        "create": "create\n  compress\n  delaycompress",
        "copytruncate": "copytruncate\n  compress\n  delaycompress",
    }[mode]
    with open(conf, "w") as f:
        f.write(
            f"{dir_}/access.log {{\n  rotate 50\n  missingok\n  notifempty\n  {body}\n}}\n"
        )
    # The writer opens the file per batch; holding its lock makes a rename
    # rotation atomic with respect to batches (as nginx's reopen would be).
    with lock:
        subprocess.run(
            ["logrotate", "-f", "-s", conf_state, conf],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def start(binary, dir_):
    return subprocess.Popen(
        [binary, "tail", "access.log", "--format", "nginx-upstream", "--state",
         "state.json", "--rotate-grace", "1s", "--alert", "503 >= 100000 in 1s"],
        cwd=dir_, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=20_000)
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--rotate", type=float, default=2.0)
    ap.add_argument("--restart", type=float, default=7.0)
    ap.add_argument("--binary", default="target/release/logspike")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--down-rotations", type=int, default=2,
                    help="most rotations made while logspike is stopped")
    args = ap.parse_args()
    if not shutil.which("logrotate"):
        sys.exit("tail-soak: needs logrotate (apt-get install logrotate)")
    binary = os.path.abspath(args.binary)
    random.seed(args.seed)
    dir_ = tempfile.mkdtemp(prefix="logspike-soak-")
    log = os.path.join(dir_, "access.log")
    open(log, "w").close()
    conf_state = os.path.join(dir_, "logrotate.state")
    writer = Writer(log, args.rate)
    counted = Counter()
    restarts = rotations = 0
    tail = start(binary, dir_)
    time.sleep(0.5)
    writer.start()
    began = time.monotonic()
    next_rotate = began + args.rotate
    next_restart = began + args.restart
    cycle = 0
    while time.monotonic() - began < args.seconds:
        now = time.monotonic()
        if now >= next_rotate:
            mode = ["create", "copytruncate"][cycle % 2]
            rotate(dir_, conf_state, mode, writer.lock)
            rotations += 1
            cycle += 1
            next_rotate = now + args.rotate
        if now >= next_restart:
            tail.send_signal(signal.SIGTERM)
            _, err = tail.communicate(timeout=60)
            c = summary_counts(err)
            if c is None:
                sys.exit(f"tail-soak: no summary from a stopped run:\n{err}")
            if os.environ.get("SOAK_VERBOSE"):
                print(err, file=sys.stderr)
                print(f"-- written so far {sum(writer.written.values())}, counted {sum((counted + c).values())}", file=sys.stderr)
            counted += c
            # Down for a moment, a rotation or two made meanwhile.
            time.sleep(random.uniform(0.2, 1.5))
            for _ in range(random.randint(0, args.down_rotations)):
                rotate(dir_, conf_state, ["create", "copytruncate"][cycle % 2], writer.lock)
                rotations += 1
                cycle += 1
            tail = start(binary, dir_)
            restarts += 1
            next_restart = time.monotonic() + args.restart
        time.sleep(0.05)
    writer.stop.set()
    writer.join()
    # Let the last run catch up (and its rotated files' grace pass), then stop.
    time.sleep(3)
    tail.send_signal(signal.SIGTERM)
    _, err = tail.communicate(timeout=60)
    c = summary_counts(err)
    if c is None:
        sys.exit(f"tail-soak: no summary from the last run:\n{err}")
    counted += c
    written = writer.written
    lost = sum(max(0, written[s] - counted[s]) for s in written)
    extra = sum(max(0, counted[s] - written[s]) for s in counted)
    total = sum(written.values())
    print(
        f"tail-soak: {args.seconds} s at {args.rate} lines/s: {total} lines written, "
        f"{sum(counted.values())} counted; lost {lost}, duplicated {extra}; "
        f"{rotations} logrotate runs (create+compress and copytruncate, alternating), "
        f"{restarts} restarts (SIGTERM), some with rotations while stopped"
    )
    shutil.rmtree(dir_, ignore_errors=True)
    sys.exit(0 if lost == 0 and extra == 0 else 1)


if __name__ == "__main__":
    main()
