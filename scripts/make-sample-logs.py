#!/usr/bin/env python3
"""Writes sample-logs/: small, deterministic, realistic logs in each built-in
format, with 5xx incidents and a few ugly lines, so that logspike's first
command has something worth showing. Standard library only.

    python3 scripts/make-sample-logs.py
"""
import gzip
import os
import random
from datetime import datetime, timedelta, timezone

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample-logs")
rng = random.Random(20261128)

PATHS = ["/", "/api/users/{id}", "/api/users/{id}/orders/{hex}", "/api/search?q={word}",
         "/static/app.{hex8}.js", "/static/logo.png", "/checkout", "/api/cart/{id}",
         "/login", "/health"]
WORDS = ["shoes", "red+dress", "laptop", "caf%C3%A9", "gift"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
          "curl/8.5.0", "Googlebot/2.1 (+http://www.google.com/bot.html)",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"]
UPSTREAMS = ["10.0.1.11:8080", "10.0.1.12:8080", "10.0.1.13:8080"]
TZ = timezone(timedelta(hours=1))


def path():
    p = rng.choice(PATHS)
    return (p.replace("{id}", str(rng.randint(1, 99999)))
             .replace("{hex}", "%032x" % rng.getrandbits(128))
             .replace("{hex8}", "%08x" % rng.getrandbits(32))
             .replace("{word}", rng.choice(WORDS)))


def client():
    return "%d.%d.%d.%d" % (rng.choice([81, 93, 145, 188, 203]), rng.randint(0, 255),
                            rng.randint(0, 255), rng.randint(1, 254))


def clf(t):
    return t.strftime("%d/%b/%Y:%H:%M:%S %z")


def status_for(t, incidents):
    for start, end, statuses, upstream in incidents:
        if start <= t < end and rng.random() < 0.75:
            return rng.choice(statuses), upstream
    r = rng.random()
    if r < 0.004:
        return rng.choice([500, 502, 503]), None
    if r < 0.05:
        return 404, None
    if r < 0.08:
        return 304, None
    if r < 0.09:
        return 301, None
    return 200, None


def nginx_upstream_lines(start, minutes, incidents, rate=1.2):
    lines = []
    t = start
    end = start + timedelta(minutes=minutes)
    while t < end:
        t += timedelta(seconds=rng.expovariate(rate))
        status, bad = status_for(t, incidents)
        rt = round(rng.lognormvariate(-3.0, 0.8), 3)
        ups = bad or rng.choice(UPSTREAMS)
        if status == 502 and rng.random() < 0.5:
            # A retry on the next upstream that also failed, or succeeded.
            second = UPSTREAMS[(UPSTREAMS.index(ups) + 1) % 3] if ups in UPSTREAMS else UPSTREAMS[0]
            final = rng.choice([502, 200])
            addr, ustat = "%s, %s" % (ups, second), "502, %d" % final
            urt = "%.3f, %.3f" % (rt / 2, rt / 2)
            uct, uht = "0.001, 0.001", "-, %.3f" % (rt / 2)
            status = final
        elif status == 504:
            addr, ustat, urt, uct, uht = ups, "504", "60.001", "0.001", "-"
            rt = 60.002
        elif status in (301, 304) or (status == 404 and rng.random() < 0.3):
            addr = ustat = urt = uct = uht = "-"
        else:
            addr, ustat, urt = ups, str(status), "%.3f" % rt
            uct, uht = "0.001", "%.3f" % (rt * 0.9)
        req = "%s %s HTTP/1.1" % (rng.choice(["GET"] * 8 + ["POST", "PUT"]), path())
        size = 0 if status in (204, 304) else rng.randint(150, 40000)
        lines.append('%s - - [%s] "%s" %d %d "%s" "%s" %.3f %s %s %s %s %s' % (
            client(), clf(t), req, status, size,
            rng.choice(["-", "https://shop.example.com/"]), rng.choice(AGENTS),
            rt, addr, ustat, urt, uct, uht))
    return lines


def ugly_nginx(t):
    return [
        '%s - - [%s] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 157 "-" "-" 0.001 - - - - -' % (client(), clf(t)),
        '%s - - [%s] "" 400 0 "-" "-" 0.000 - - - - -' % (client(), clf(t)),
        '%s - - [%s] "GET /search?q=%%3Cscript%%3E HTTP/1.1" 200 512 "-" "sqlmap/1.7" 0.004 10.0.1.11:8080 200 0.004 0.001 0.003' % (client(), clf(t)),
        '2026/11/28 10:41:07 [error] 1234#1234: *981 upstream prematurely closed connection while reading response header from upstream',
    ]


def write(path, lines, crlf=False, gz=False):
    full = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    nl = "\r\n" if crlf else "\n"
    data = (nl.join(lines) + nl).encode("utf-8")
    if gz:
        with open(full, "wb") as f:
            f.write(gzip.compress(data, mtime=0))
    else:
        with open(full, "wb") as f:
            f.write(data)


def main():
    day = datetime(2026, 11, 28, 8, 0, tzinfo=TZ)
    # nginx `upstream` format, rotated: .2.gz is the oldest hour, then .1, then the live file.
    burst = (day + timedelta(hours=2, minutes=17), day + timedelta(hours=2, minutes=21), [503], "10.0.1.12:8080")
    storm = (day + timedelta(minutes=40), day + timedelta(minutes=44), [502], "10.0.1.13:8080")
    timeouts = (day + timedelta(hours=1, minutes=30), day + timedelta(hours=1, minutes=33), [504], "10.0.1.11:8080")
    hours = []
    for h in range(3):
        lines = nginx_upstream_lines(day + timedelta(hours=h), 60, [burst, storm, timeouts])
        lines[len(lines) // 2:len(lines) // 2] = ugly_nginx(day + timedelta(hours=h, minutes=30))
        hours.append(lines)
    write("nginx/access.log.2.gz", hours[0], gz=True)
    write("nginx/access.log.1", hours[1])
    write("nginx/access.log", hours[2])

    # ingress-nginx upstreaminfo: a deploy at 11:05 makes /checkout return 500.
    lines = []
    t = day + timedelta(hours=3)
    for i in range(900):
        t += timedelta(seconds=rng.uniform(0.5, 4.5))
        deploy = day + timedelta(hours=3, minutes=25) <= t < day + timedelta(hours=3, minutes=29)
        p = "/checkout" if deploy and rng.random() < 0.5 else path()
        status = 500 if deploy and p == "/checkout" else status_for(t, [])[0]
        ups = rng.choice(["10.2.0.5:3000", "10.2.0.6:3000"])
        lines.append('%s - - [%s] "%s %s HTTP/2.0" %d %d "-" "%s" %d %.3f [shop-web-3000] [] %s %d %.3f %d %032x' % (
            client(), t.astimezone(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "POST" if p == "/checkout" else "GET", p, status, rng.randint(100, 9000),
            rng.choice(AGENTS), rng.randint(200, 900), rng.uniform(0.002, 0.4), ups,
            rng.randint(100, 9000), rng.uniform(0.002, 0.4), status, rng.getrandbits(128)))
    write("ingress-nginx/access.log", lines)

    # Apache combined with a 500 spike, and a vhost_combined file.
    lines = []
    t = day
    for i in range(1200):
        t += timedelta(seconds=rng.uniform(1, 8))
        spike = day + timedelta(hours=1, minutes=10) <= t < day + timedelta(hours=1, minutes=14)
        status = 500 if spike and rng.random() < 0.6 else status_for(t, [])[0]
        size = "-" if status == 304 else str(rng.randint(200, 30000))
        lines.append('%s - %s [%s] "GET %s HTTP/1.1" %d %s "%s" "%s"' % (
            client(), rng.choice(["-"] * 9 + ["alice@example.com"]), clf(t), path(), status, size,
            rng.choice(["-", "https://www.example.org/"]), rng.choice(AGENTS)))
    lines.insert(600, '%s - - [%s] "GET /caf\\xC3\\xA9/\\"quoted\\" HTTP/1.1" 404 209 "-" "odd \\"agent\\""' % (client(), clf(t)))
    lines.insert(700, '%s - - [%s] "-" 408 - "-" "-"' % (client(), clf(t)))
    write("apache/access_log", lines)
    lines = []
    t = day
    for i in range(300):
        t += timedelta(seconds=rng.uniform(5, 30))
        lines.append('%s:443 %s - - [%s] "GET %s HTTP/1.1" %d %d "-" "%s"' % (
            rng.choice(["www.example.org", "api.example.org"]), client(), clf(t), path(),
            status_for(t, [])[0], rng.randint(300, 9000), rng.choice(AGENTS)))
    write("apache/other_vhosts_access.log", lines)

    # One small file for each remaining built-in format, each with a short
    # 5xx episode, so every grammar has a real-looking sample.
    def simple(name, render, start, n=300):
        lines = []
        t = start
        episode = (start + timedelta(minutes=20), start + timedelta(minutes=23), [502, 503], None)
        for i in range(n):
            t += timedelta(seconds=rng.uniform(2, 8))
            status, _ = status_for(t, [episode])
            lines.append(render(t, status))
        write(name, lines)

    def req():
        return "%s %s HTTP/1.1" % (rng.choice(["GET"] * 6 + ["POST"]), path())

    simple("formats/nginx-combined.log", lambda t, st: '%s - - [%s] "%s" %d %d "%s" "%s"' % (
        client(), clf(t), req(), st, rng.randint(0, 20000), rng.choice(["-", "https://example.com/"]),
        rng.choice(AGENTS)), day)
    simple("formats/nginx-main.log", lambda t, st: '%s - - [%s] "%s" %d %d "-" "%s" "%s"' % (
        "10.0.0.%d" % rng.randint(2, 9), clf(t), req(), st, rng.randint(0, 20000), rng.choice(AGENTS),
        rng.choice(["-", client(), "%s, %s" % (client(), client())])), day)
    simple("formats/nginx-vhost_combined.log", lambda t, st: '%s %s - - [%s] "%s" %d %d "-" "%s"' % (
        rng.choice(["shop.example.com", "api.example.com"]), client(), clf(t), req(), st,
        rng.randint(0, 20000), rng.choice(AGENTS)), day)
    simple("formats/apache-common.log", lambda t, st: '%s - - [%s] "%s" %d %s' % (
        client(), clf(t), req(), st, "-" if st == 304 else str(rng.randint(100, 20000))), day)
    simple("formats/apache-combinedio.log", lambda t, st: '%s - - [%s] "%s" %d %s "-" "%s" %d %d' % (
        client(), clf(t), req(), st, "-" if st == 304 else str(rng.randint(100, 20000)),
        rng.choice(AGENTS), rng.randint(300, 900), rng.randint(400, 21000)), day)
    simple("formats/apache-ssl_request.log", lambda t, st: '[%s] %s TLSv1.3 TLS_AES_256_GCM_SHA384 "%s" %s' % (
        clf(t), client(), req(), rng.randint(100, 20000)), day)

    # IIS W3C with CRLF, a restart that writes a new header with other fields,
    # and an application pool crash returning 503s.
    header = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
              "#Date: 2026-11-28 07:00:00",
              "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"]
    lines = list(header)
    t = datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)
    for i in range(1000):
        t += timedelta(seconds=rng.uniform(1, 6))
        if i == 500:
            lines += ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
                      "#Date: " + t.strftime("%Y-%m-%d %H:%M:%S"),
                      "#Fields: date time s-sitename s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs-version cs(User-Agent) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken"]
        crash = datetime(2026, 11, 28, 7, 50, tzinfo=timezone.utc) <= t < datetime(2026, 11, 28, 7, 54, tzinfo=timezone.utc)
        status = 503 if crash and rng.random() < 0.7 else status_for(t, [])[0]
        p = path()
        stem, _, query = p.partition("?")
        ua = rng.choice(AGENTS).replace(" ", "+")
        common = [t.strftime("%Y-%m-%d"), t.strftime("%H:%M:%S")]
        if i < 500:
            vals = common + ["10.1.0.4", "GET", stem, query or "-", "443", "-", client(), ua, "-",
                             str(status), "0", "0", str(rng.randint(2, 900))]
        else:
            vals = common + ["W3SVC1", "10.1.0.4", "GET", stem, query or "-", "443", "-", client(),
                             "HTTP/1.1", ua, "-", "www.example.net", str(status), "0", "0",
                             str(rng.randint(200, 30000)), str(rng.randint(200, 900)), str(rng.randint(2, 900))]
        lines.append(" ".join(vals))
    write("iis/u_ex261128.log", lines, crlf=True)


if __name__ == "__main__":
    main()
