#!/usr/bin/env python3
"""Sustained load on `logspike tail`: a writer appends RATE lines a second for
SECONDS seconds (nginx `upstream` format, in batches every 10 ms, with a
503 burst on one upstream half way), while logspike follows the file.

Reports: lines written and counted (they must be equal), logspike's CPU use
(user + system time over wall time, from /proc), its peak resident memory,
the worst lag between written and counted lines (sampled from --metrics every
0.5 s), and how long after the burst the alert arrived.

    cargo build --release
    python3 benches/tail-load.py [--rate 50000] [--seconds 60] [--binary target/release/logspike]
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone


def metrics(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    lines = 0
    for line in text.splitlines():
        if line.startswith("logspike_lines_total{"):
            lines += int(float(line.rsplit(" ", 1)[1]))
    return lines


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=50_000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--binary", default="target/release/logspike")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tail-load-")
    log = os.path.join(work, "access.log")
    open(log, "w").close()
    proc = subprocess.Popen(
        [args.binary, "tail", log, "--format", "nginx-upstream", "--output", "json",
         "--metrics", "127.0.0.1:0", "--alert", "503 >= 100 in 10s by upstream"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = None
    stderr_lines = []
    while url is None:
        line = proc.stderr.readline()
        if not line:
            sys.exit("logspike exited:\n" + "".join(stderr_lines))
        stderr_lines.append(line)
        m = re.search(r"(http://\S+/metrics)", line)
        if m:
            url = m.group(1)
    while not any("following" in l for l in stderr_lines):
        stderr_lines.append(proc.stderr.readline())
    threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True).start()
    alerts = []
    threading.Thread(
        target=lambda: [alerts.append((time.monotonic(), json.loads(l))) for l in proc.stdout],
        daemon=True).start()

    template = ('10.{a}.{b}.{c} - - [{t}] "GET /api/items/{n} HTTP/1.1" {s} 512 "-" '
                '"load/1" 0.012 10.0.0.{u}:8080 {s} 0.011 0.001 0.010\n')
    batch = args.rate // 100
    written = 0
    lag_max = 0
    burst_at = None
    cpu0 = cpu_seconds(proc.pid)
    start = time.monotonic()
    next_sample = start + 0.5
    with open(log, "a") as f:
        for tick in range(args.seconds * 100):
            t = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
            parts = []
            for i in range(batch):
                n = written + i
                s = 200 if n % 5000 else 503
                parts.append(template.format(a=n >> 16 & 255, b=n >> 8 & 255, c=n & 255,
                                             t=t, n=n, s=s, u=n // 5000 % 4 if s == 503 else n % 4))
            if tick == args.seconds * 50:
                parts.extend(template.format(a=9, b=9, c=9, t=t, n=0, s=503, u=9)
                             for _ in range(300))
                burst_at = time.monotonic()
            f.write("".join(parts))
            f.flush()
            written += len(parts)
            now = time.monotonic()
            if now >= next_sample:
                next_sample += 0.5
                lag_max = max(lag_max, written - metrics(url))
            sleep = start + (tick + 1) / 100 - time.monotonic()
            if sleep > 0:
                time.sleep(sleep)
    elapsed = time.monotonic() - start
    # Let it catch up, then read its final counts.
    deadline = time.monotonic() + 30
    while metrics(url) < written and time.monotonic() < deadline:
        time.sleep(0.05)
    catch_up = time.monotonic() - start - elapsed
    cpu = cpu_seconds(proc.pid) - cpu0
    rss = peak_rss_mib(proc.pid)
    counted = metrics(url)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    summary = next((l.strip() for l in stderr_lines if "stopped;" in l), "(no summary)")
    fired = [a for a in alerts if a[1]["state"] == "firing" and a[1]["key"] == "10.0.0.9:8080"]

    print(f"written  {written} lines in {elapsed:.1f} s ({written / elapsed:,.0f} lines/s)")
    print(f"counted  {counted} ({'all' if counted == written else 'MISSING ' + str(written - counted)}); "
          f"caught up {catch_up:.2f} s after the writer stopped")
    print(f"cpu      {cpu:.1f} s over {elapsed:.1f} s = {100 * cpu / elapsed:.1f}% of one core")
    print(f"memory   peak RSS {rss:.1f} MiB")
    print(f"lag      worst {lag_max} lines behind the writer ({lag_max / args.rate:.2f} s of writing)")
    if fired and burst_at is not None:
        print(f"alert    {1000 * (fired[0][0] - burst_at):.0f} ms after the burst was written "
              f"({len(fired)} alert for the burst's upstream)")
    else:
        print("alert    none for the burst's upstream")
    print(f"summary  {summary}")
    return 0 if counted == written else 1


if __name__ == "__main__":
    sys.exit(main())
