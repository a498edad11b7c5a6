#!/usr/bin/env python3
"""Soak test of `logspike tail --state` under real logrotate.

A writer appends RATE lines a second to access.log (nginx `upstream`
format, one status in six a 5xx). Every ROTATE seconds the real `logrotate`
rotates it, with `create` + `compress` + `delaycompress` or with
`copytruncate` (alternating), and every RESTART seconds logspike is stopped
(SIGTERM) and started again with the same state file, after zero, one or
two more rotations made while it was down.

Some stops are SIGKILL (every --kill-every'th; 0 for none). Two ledgers:

- Per sequence number: one line in SAMPLE is a 504 from an upstream of its
  own, and the rule `504 >= 1 in 5s by upstream` raises one alert for it,
  written (and flushed) to the run's stdout before the state that covers
  it is saved. A sampled line that no run alerted on was lost; one alerted
  on twice was read twice. A killed run's alerts survive it, so this ledger
  holds across SIGKILL: by design a killed run's successor reads again the
  lines after the last saved state (at most a second of them), which shows
  as duplicates, never as losses.
- Status totals: the counts in each run's summary against what was
  written, exact when no run was killed (a killed run prints no summary).

    cargo build --release
    python3 benches/tail-soak.py [--rate 20000] [--seconds 180] [--rotate 2] [--restart 7] [--kill-every 2]

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
# One line in SAMPLE is traced by sequence number.
SAMPLE = 200
SEQ = re.compile(r"GET /seq/(\d+) ")


def late_count(stderr):
    m = re.search(r"logspike tail: stopped; .*? (\d+) late;", stderr)
    return int(m.group(1)) if m else 0


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
            lines = []
            with self.lock:
                # Stamped once the lock is held, as a server stamps a
                # request when it logs it: a batch stamped before waiting
                # out a logrotate run would reach logspike seconds late.
                now = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
                for _ in range(batch):
                    self.seq += 1
                    s = STATUSES[self.seq % len(STATUSES)]
                    upstream = "10.0.0.1:8080"
                    if self.seq % SAMPLE == 0:
                        # Its own upstream, so its alert is its own.
                        s, n = 504, self.seq // SAMPLE
                        upstream = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}:8080"
                    self.written[s] += 1
                    lines.append(
                        f'10.1.0.{self.seq % 250} - - [{now}] "GET /seq/{self.seq} HTTP/1.1" '
                        f'{s} 512 "-" "soak/1" 0.010 {upstream} {s} 0.009 0.001 0.008\n'
                    )
                # Opened per batch, as nginx reopens after a rotation's
                # signal: a rename rotation sends the next batch to the new
                # file; copytruncate keeps the same one.
                with open(self.path, "a") as f:
                    f.write("".join(lines))
            next_at += 0.01
            time.sleep(max(0.0, next_at - time.monotonic()))


def trace(message):
    if os.environ.get("SOAK_VERBOSE"):
        print(f"{time.monotonic():.3f} {message}", file=sys.stderr)


def rotate(dir_, conf_state, mode, lock, writer=None):
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
    trace(f"rotated ({mode}) at seq {writer.seq if writer else '?'}")


def start(binary, dir_, run):
    out = open(os.path.join(dir_, f"alerts-{run}.json"), "w")
    p = subprocess.Popen(
        [binary, "tail", "access.log", "--format", "nginx-upstream", "--state",
         "state.json", "--rotate-grace", "1s", "--alert", "504 >= 1 in 5s by upstream",
         "--settle", "1s", "--output", "json", "--no-server-config"],
        cwd=dir_, stdout=out, stderr=subprocess.PIPE, text=True,
    )
    out.close()
    return p


def ranges(seqs):
    """Sampled sequence numbers as runs: `100-900 (5), 1300`."""
    out, start, prev = [], None, None
    for n in seqs + [None]:
        if start is not None and n == prev + SAMPLE:
            prev = n
            continue
        if start is not None:
            count = (prev - start) // SAMPLE + 1
            out.append(f"{start}-{prev} ({count})" if prev != start else f"{start}")
        start = prev = n
    return ", ".join(out)


def alerted(dir_, runs):
    """Sequence numbers of the sampled lines alerted on, with how often."""
    import json
    seen = Counter()
    for run in range(runs):
        with open(os.path.join(dir_, f"alerts-{run}.json")) as f:
            for line in f:
                if not line.endswith("\n"):
                    continue  # cut by a SIGKILL mid-write
                a = json.loads(line)
                if a["state"] != "firing":
                    continue
                first = SEQ.search(a["first_line"]["text"])
                last = SEQ.search(a["last_line"]["text"])
                if a["count"] != 1 or first.group(1) != last.group(1):
                    sys.exit(f"tail-soak: an alert for more than one sampled line: {line}")
                seen[int(first.group(1))] += 1
    return seen


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
    ap.add_argument("--kill-every", type=int, default=2,
                    help="every n-th stop is a SIGKILL (0: none)")
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
    restarts = rotations = kills = late = 0
    runs = 1
    tail = start(binary, dir_, 0)
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
            rotate(dir_, conf_state, mode, writer.lock, writer)
            rotations += 1
            cycle += 1
            next_rotate = now + args.rotate
        if now >= next_restart:
            kill = args.kill_every > 0 and (restarts + 1) % args.kill_every == 0
            tail.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            _, err = tail.communicate(timeout=60)
            with open(os.path.join(dir_, f"stderr-{runs - 1}.txt"), "w") as f:
                f.write(err)
            trace(f"stopped run {runs - 1} by {'SIGKILL' if kill else 'SIGTERM'} at seq {writer.seq}:\n{err}")
            if kill:
                kills += 1
            else:
                c = summary_counts(err)
                if c is None:
                    sys.exit(f"tail-soak: no summary from a stopped run:\n{err}")
                counted += c
                late += late_count(err)
            # Down for a moment, a rotation or two made meanwhile.
            time.sleep(random.uniform(0.2, 1.5))
            for _ in range(random.randint(0, args.down_rotations)):
                rotate(dir_, conf_state, ["create", "copytruncate"][cycle % 2], writer.lock, writer)
                rotations += 1
                cycle += 1
            if os.path.exists(os.path.join(dir_, "state.json")):
                # What the next run starts from, for a look after a failure.
                shutil.copy(os.path.join(dir_, "state.json"), os.path.join(dir_, f"state-{runs}.json"))
                listing = subprocess.run(["ls", "-li", "--time-style=full-iso", dir_],
                                         capture_output=True, text=True).stdout
                with open(os.path.join(dir_, f"files-{runs}.txt"), "w") as f:
                    f.write(listing)
                trace(f"starting run {runs}")
            tail = start(binary, dir_, runs)
            runs += 1
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
    late += late_count(err)
    written = writer.written
    total = sum(written.values())
    sampled = list(range(SAMPLE, writer.seq + 1, SAMPLE))
    seen = alerted(dir_, runs)
    seq_lost = [n for n in sampled if seen[n] == 0]
    seq_twice = sum(1 for n in sampled if seen[n] > 1)
    print(
        f"tail-soak: {args.seconds} s at {args.rate} lines/s: {total} lines written; "
        f"{rotations} logrotate runs (create+compress and copytruncate, alternating), "
        f"{restarts} restarts ({kills} by SIGKILL), some with rotations while stopped"
    )
    print(
        f"  by sequence: {len(sampled)} sampled lines (1 in {SAMPLE}), "
        f"lost {len(seq_lost)}, read twice {seq_twice}"
        + (f" (lost: {ranges(seq_lost)})" if seq_lost else "")
    )
    ok = not seq_lost
    if kills == 0:
        lost = sum(max(0, written[s] - counted[s]) for s in written)
        extra = sum(max(0, counted[s] - written[s]) for s in counted)
        print(f"  status totals: {sum(counted.values())} counted; lost {lost}, duplicated {extra}; {late} late for the rules")
        ok = ok and lost == 0 and extra == 0 and seq_twice == 0
    else:
        print("  status totals: not compared (a killed run prints no summary)")
    if ok:
        shutil.rmtree(dir_, ignore_errors=True)
    else:
        print(f"  kept for a look: {dir_}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
