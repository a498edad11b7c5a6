//! The incident finder scored on generated sites with labelled incidents.
//!
//! A seeded generator writes the access log of a small site (six app
//! upstreams, three search nodes, a few API routes and 1,600 wiki pages
//! with a long tail) for each scenario: base 5xx rates from 0.05% to 5%,
//! traffic from 2 to 2,000 requests a second (some with a daily curve),
//! three log formats and several time zones, and incidents of every shape
//! the report must find: a 503 burst on one upstream, a 500 spike on two
//! routes after a deploy, 502s hidden by nginx's retries, 504s at a
//! timeout, a maintenance 503 answered by nginx itself, one failing page
//! among thousands, one failing virtual host, a 30-second burst, a
//! 20-minute slow burn, a burst in the first minute, and a traffic drop;
//! and quiet logs with only noise. `report` runs with default options on
//! each; the test prints recall, scope, bounds and false alarms per
//! scenario and asserts that every incident is found with its scope and
//! that nothing else is.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// splitmix64: small, seeded, good enough for traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda > 30.0 {
            // Normal approximation (Box-Muller).
            let (u, v) = (self.f64().max(1e-12), self.f64());
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            return (lambda + z * lambda.sqrt()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.f64();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}

const APPS: [&str; 6] = [
    "10.0.1.1:8080",
    "10.0.1.2:8080",
    "10.0.1.3:8080",
    "10.0.1.4:8080",
    "10.0.1.5:8080",
    "10.0.1.6:8080",
];
const SEARCH: [&str; 3] = ["10.0.2.1:9200", "10.0.2.2:9200", "10.0.2.3:9200"];
const HOSTS: [&str; 3] = ["www.example.com", "api.example.com", "shop.example.com"];
const WORDS: [&str; 40] = [
    "Apple", "Banana", "Cherry", "Delta", "Echo", "Fjord", "Glacier", "Harbor", "Island", "Jungle",
    "Kettle", "Lantern", "Meadow", "Nebula", "Orchard", "Prairie", "Quarry", "River", "Summit",
    "Tundra", "Upland", "Valley", "Willow", "Yonder", "Zephyr", "Amber", "Basalt", "Canyon",
    "Dune", "Ember", "Forest", "Grove", "Heath", "Inlet", "Juniper", "Knoll", "Lagoon", "Marsh",
    "Nook", "Oasis",
];

/// Routes with weights; `{}` is an id.
const ROUTES: [(&str, u32); 8] = [
    ("/", 10),
    ("/api/v1/users/{}", 15),
    ("/api/v1/cart", 8),
    ("/api/v1/checkout", 4),
    ("/static/app.js", 10),
    ("/login", 5),
    ("/search", 10),
    ("/api/v1/orders/{}", 8),
];
/// The wiki's share of traffic, in the routes' weight units.
const WIKI_WEIGHT: u32 = 30;
const WIKI_PAGES: usize = 1600;
const SEARCH_ROUTE: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    /// nginx `upstream`: combined plus request time and upstream fields.
    Upstream,
    /// nginx/Apache `combined`: no upstream fields.
    Combined,
    /// `$host` then combined.
    Vhost,
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// An app upstream answers 503 to this share of its requests.
    Upstream503 { upstream: usize, fail: f64 },
    /// Two routes answer 500 on every upstream.
    Deploy500 { routes: [usize; 2], fail: f64 },
    /// An app upstream refuses connections; nginx retries elsewhere.
    Refused502 { upstream: usize },
    /// A search node hangs until nginx's 60 s proxy timeout.
    Timeout504 { node: usize, fail: f64 },
    /// nginx answers 503 itself, for everything.
    Maintenance503,
    /// One wiki page (by popularity rank) answers 500.
    OnePage500 { rank: usize, fail: f64 },
    /// One virtual host answers 503.
    HostDown { host: usize, fail: f64 },
    /// An upstream fails with a raised probability, for long.
    SlowBurn { upstream: usize, fail: f64 },
    /// Only this share of the traffic arrives.
    Drop { keep: f64 },
    /// A scraper on one client network adds `rps` requests a second to
    /// `/search`; nginx's rate limit answers `fail` of them 503 itself.
    Bot { rps: f64, fail: f64 },
}

/// The scraper's network, agent and addresses.
const BOT_NET: &str = "203.0.113.0/24";
const BOT_AGENT: &str = "ScraperBot/2.1 (+https://bot.example/)";

#[derive(Clone, Debug)]
enum Scope {
    Site,
    Upstream(&'static str),
    Paths(Vec<String>),
    Host(&'static str),
}

struct Planted {
    shape: Shape,
    /// Seconds from the log's start.
    at: i64,
    seconds: i64,
    scope: Scope,
}

struct Scenario {
    name: &'static str,
    seed: u64,
    rps: f64,
    daily: bool,
    base: f64,
    seconds: i64,
    format: Format,
    /// Minutes east of UTC the log's timestamps are written in.
    offset: i32,
    planted: Vec<Planted>,
}

const START: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

fn clf(secs: i64, offset: i32) -> String {
    let local = chrono::DateTime::from_timestamp(secs + offset as i64 * 60, 0).unwrap();
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{} {sign}{:02}{:02}",
        local.format("%d/%b/%Y:%H:%M:%S"),
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// The site's route table: cumulative weights over routes then pages.
struct Site {
    cumulative: Vec<(f64, usize)>,
}

impl Site {
    fn new() -> Site {
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (i, (_, w)) in ROUTES.iter().enumerate() {
            total += *w as f64;
            cumulative.push((total, i));
        }
        let harmonic: f64 = (0..WIKI_PAGES).map(|r| 1.0 / (r as f64 + 10.0)).sum();
        for r in 0..WIKI_PAGES {
            total += WIKI_WEIGHT as f64 * (1.0 / (r as f64 + 10.0)) / harmonic;
            cumulative.push((total, ROUTES.len() + r));
        }
        for c in &mut cumulative {
            c.0 /= total;
        }
        Site { cumulative }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let x = rng.f64();
        let i = self.cumulative.partition_point(|c| c.0 < x);
        self.cumulative[i.min(self.cumulative.len() - 1)].1
    }
}

fn page(rank: usize) -> String {
    format!(
        "/wiki/{}_{}",
        WORDS[rank % WORDS.len()],
        WORDS[(rank / WORDS.len()) % WORDS.len()]
    )
}

fn route_path(route: usize, rng: &mut Rng) -> String {
    if route >= ROUTES.len() {
        return page(route - ROUTES.len());
    }
    ROUTES[route]
        .0
        .replace("{}", &(1 + rng.below(90_000)).to_string())
}

/// Writes the scenario's log into `out`; returns the number of lines.
fn generate(s: &Scenario, out: &mut String) -> u64 {
    let mut rng = Rng(s.seed);
    let site = Site::new();
    let mut lines = 0;
    for second in 0..s.seconds {
        let active: Vec<&Planted> = s
            .planted
            .iter()
            .filter(|p| (p.at..p.at + p.seconds).contains(&second))
            .collect();
        let mut rate = s.rps;
        if s.daily {
            // Quietest at 04:00 UTC, busiest at 16:00.
            let hour = ((START + second) % 86_400) as f64 / 3600.0;
            rate *= 1.0 + 0.7 * (std::f64::consts::TAU * (hour - 16.0) / 24.0).cos();
        }
        let mut bots = 0.0;
        for p in &active {
            match p.shape {
                Shape::Drop { keep } => rate *= keep,
                Shape::Bot { rps, .. } => bots += rps,
                _ => {}
            }
        }
        let count = rng.poisson(rate + bots);
        for _ in 0..count {
            lines += 1;
            let t = START + second;
            let bot = bots > 0.0 && rng.chance(bots / (rate + bots));
            let route = if bot {
                SEARCH_ROUTE
            } else {
                site.pick(&mut rng)
            };
            let path = route_path(route, &mut rng);
            let host = HOSTS[rng.below(HOSTS.len())];
            let search = route == SEARCH_ROUTE;
            let upstream = if search {
                SEARCH[rng.below(SEARCH.len())]
            } else {
                APPS[rng.below(APPS.len())]
            };
            // (addr, status, response time, connect time, header time)
            let mut attempts: Vec<(String, String, String, String, String)> = Vec::new();
            let ok = |addr: &str, rng: &mut Rng| {
                let t = 0.005 + rng.f64() * 0.2;
                (
                    addr.to_string(),
                    "200".to_string(),
                    format!("{t:.3}"),
                    "0.001".to_string(),
                    format!("{:.3}", t * 0.9),
                )
            };
            let mut status: u16 = if rng.chance(0.02) {
                404
            } else if rng.chance(0.03) {
                304
            } else {
                200
            };
            attempts.push(ok(upstream, &mut rng));
            attempts[0].1 = status.to_string();
            if rng.chance(s.base) {
                status = [500, 500, 502, 503, 504][rng.below(5)];
                attempts[0].1 = status.to_string();
            }
            for p in &active {
                match p.shape {
                    Shape::Upstream503 { upstream: u, fail }
                    | Shape::SlowBurn { upstream: u, fail }
                        if upstream == APPS[u] && rng.chance(fail) =>
                    {
                        status = if matches!(p.shape, Shape::SlowBurn { .. }) {
                            [500, 502][rng.below(2)]
                        } else {
                            503
                        };
                        attempts[0].1 = status.to_string();
                        attempts[0].2 = "0.002".to_string();
                    }
                    Shape::Deploy500 { routes, fail }
                        if routes.contains(&route) && rng.chance(fail) =>
                    {
                        status = 500;
                        attempts[0].1 = "500".to_string();
                    }
                    Shape::OnePage500 { rank, fail }
                        if route == ROUTES.len() + rank && rng.chance(fail) =>
                    {
                        status = 500;
                        attempts[0].1 = "500".to_string();
                    }
                    Shape::HostDown { host: h, fail } if host == HOSTS[h] && rng.chance(fail) => {
                        status = 503;
                        attempts[0].1 = "503".to_string();
                    }
                    Shape::Timeout504 { node, fail }
                        if upstream == SEARCH[node] && rng.chance(fail) =>
                    {
                        status = 504;
                        attempts[0] = (
                            upstream.to_string(),
                            "504".to_string(),
                            "60.001".to_string(),
                            "0.001".to_string(),
                            "-".to_string(),
                        );
                    }
                    Shape::Refused502 { upstream: u } if upstream == APPS[u] => {
                        attempts[0] = (
                            upstream.to_string(),
                            "502".to_string(),
                            "0.000".to_string(),
                            "-".to_string(),
                            "-".to_string(),
                        );
                        let other = APPS[(u + 1 + rng.below(APPS.len() - 1)) % APPS.len()];
                        let mut second = ok(other, &mut rng);
                        status = 200;
                        if rng.chance(0.05) {
                            status = 502;
                            second.1 = "502".to_string();
                        }
                        attempts.push(second);
                    }
                    Shape::Maintenance503 => {
                        status = 503;
                        attempts.clear();
                    }
                    Shape::Bot { fail, .. } if bot && rng.chance(fail) => {
                        status = 503;
                        attempts.clear();
                    }
                    _ => {}
                }
            }
            let client = if bot {
                format!("203.0.113.{}", 1 + rng.below(254))
            } else {
                format!(
                    "10.{}.{}.{}",
                    20 + rng.below(8),
                    rng.below(256),
                    rng.below(256)
                )
            };
            let bytes = if status >= 500 {
                180
            } else {
                200 + rng.below(30_000)
            };
            let ua = if bot {
                BOT_AGENT
            } else {
                [
                    "Mozilla/5.0 (X11; Linux x86_64)",
                    "curl/8.5.0",
                    "okhttp/4.12",
                ][rng.below(3)]
            };
            let when = clf(t, s.offset);
            match s.format {
                Format::Combined => {
                    let _ = writeln!(
                        out,
                        r#"{client} - - [{when}] "GET {path} HTTP/1.1" {status} {bytes} "-" "{ua}""#
                    );
                }
                Format::Vhost => {
                    let _ = writeln!(
                        out,
                        r#"{host} {client} - - [{when}] "GET {path} HTTP/1.1" {status} {bytes} "-" "{ua}""#
                    );
                }
                Format::Upstream => {
                    let join = |f: fn(&(String, String, String, String, String)) -> &String| {
                        if attempts.is_empty() {
                            "-".to_string()
                        } else {
                            attempts
                                .iter()
                                .map(|a| f(a).as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    };
                    let rt: f64 = attempts
                        .iter()
                        .filter_map(|a| a.2.parse::<f64>().ok())
                        .sum();
                    let _ = writeln!(
                        out,
                        r#"{client} - - [{when}] "GET {path} HTTP/1.1" {status} {bytes} "-" "{ua}" {:.3} {} {} {} {} {}"#,
                        rt + 0.001,
                        join(|a| &a.0),
                        join(|a| &a.1),
                        join(|a| &a.2),
                        join(|a| &a.3),
                        join(|a| &a.4),
                    );
                }
            }
        }
    }
    lines
}

fn planted(shape: Shape, at: i64, seconds: i64, scope: Scope) -> Planted {
    Planted {
        shape,
        at,
        seconds,
        scope,
    }
}

fn routes_scope(routes: [usize; 2]) -> Scope {
    Scope::Paths(routes.iter().map(|&r| ROUTES[r].0.to_string()).collect())
}

fn scenarios() -> Vec<Scenario> {
    use Shape::*;
    let (cart, checkout) = (2, 3);
    let h = 3600;
    vec![
        Scenario {
            name: "busy 18 min, four episodes",
            seed: 1,
            rps: 183.0,
            daily: false,
            base: 0.003,
            seconds: 1080,
            format: Format::Upstream,
            offset: 0,
            planted: vec![
                planted(
                    Upstream503 {
                        upstream: 2,
                        fail: 0.8,
                    },
                    120,
                    120,
                    Scope::Upstream(APPS[2]),
                ),
                planted(
                    Deploy500 {
                        routes: [cart, checkout],
                        fail: 0.08,
                    },
                    360,
                    180,
                    routes_scope([cart, checkout]),
                ),
                planted(
                    Refused502 { upstream: 4 },
                    660,
                    120,
                    Scope::Upstream(APPS[4]),
                ),
                planted(
                    Timeout504 { node: 1, fail: 0.9 },
                    900,
                    120,
                    Scope::Upstream(SEARCH[1]),
                ),
            ],
        },
        Scenario {
            name: "12 h at 6 req/s, daily curve",
            seed: 2,
            rps: 6.0,
            daily: true,
            base: 0.003,
            seconds: 12 * h,
            format: Format::Upstream,
            offset: 60,
            planted: vec![
                planted(
                    Upstream503 {
                        upstream: 1,
                        fail: 0.9,
                    },
                    2 * h,
                    120,
                    Scope::Upstream(APPS[1]),
                ),
                planted(
                    Deploy500 {
                        routes: [cart, checkout],
                        fail: 0.5,
                    },
                    5 * h,
                    300,
                    routes_scope([cart, checkout]),
                ),
                planted(
                    Refused502 { upstream: 3 },
                    8 * h,
                    300,
                    Scope::Upstream(APPS[3]),
                ),
                planted(
                    Timeout504 { node: 0, fail: 0.9 },
                    10 * h,
                    600,
                    Scope::Upstream(SEARCH[0]),
                ),
            ],
        },
        Scenario {
            name: "5% base, tenfold and a 20-min slow burn",
            seed: 3,
            rps: 40.0,
            daily: false,
            base: 0.05,
            seconds: 2 * h,
            format: Format::Upstream,
            offset: -300,
            planted: vec![
                planted(
                    Upstream503 {
                        upstream: 0,
                        fail: 0.6,
                    },
                    1800,
                    300,
                    Scope::Upstream(APPS[0]),
                ),
                planted(
                    SlowBurn {
                        upstream: 5,
                        fail: 0.3,
                    },
                    4200,
                    1200,
                    Scope::Upstream(APPS[5]),
                ),
            ],
        },
        Scenario {
            name: "0.05% base, one page of 1,600 and maintenance",
            seed: 4,
            rps: 100.0,
            daily: false,
            base: 0.0005,
            seconds: 45 * 60,
            format: Format::Upstream,
            offset: 0,
            planted: vec![
                planted(
                    OnePage500 { rank: 5, fail: 0.6 },
                    600,
                    600,
                    Scope::Paths(vec![page(5)]),
                ),
                planted(Maintenance503, 1800, 120, Scope::Site),
            ],
        },
        Scenario {
            name: "combined format, burst in the first minute",
            seed: 5,
            rps: 20.0,
            daily: false,
            base: 0.002,
            seconds: h,
            format: Format::Combined,
            offset: 330,
            planted: vec![planted(
                Upstream503 {
                    upstream: 1,
                    fail: 0.9,
                },
                20,
                90,
                Scope::Site,
            )],
        },
        Scenario {
            name: "traffic drop and a 30 s burst",
            seed: 6,
            rps: 50.0,
            daily: false,
            base: 0.004,
            seconds: 90 * 60,
            format: Format::Upstream,
            offset: 0,
            planted: vec![
                planted(
                    Bot {
                        rps: 10.0,
                        fail: 0.7,
                    },
                    1200,
                    240,
                    Scope::Paths(vec!["/search".to_string()]),
                ),
                planted(Drop { keep: 0.02 }, 3000, 600, Scope::Site),
                planted(
                    Upstream503 {
                        upstream: 3,
                        fail: 1.0,
                    },
                    4500,
                    30,
                    Scope::Upstream(APPS[3]),
                ),
            ],
        },
        Scenario {
            name: "three virtual hosts, one down",
            seed: 7,
            rps: 30.0,
            daily: false,
            base: 0.002,
            seconds: 2 * h,
            format: Format::Vhost,
            offset: 60,
            planted: vec![planted(
                HostDown { host: 2, fail: 0.7 },
                2400,
                240,
                Scope::Host(HOSTS[2]),
            )],
        },
        Scenario {
            name: "2,000 req/s, 30 s burst",
            seed: 8,
            rps: 2000.0,
            daily: false,
            base: 0.005,
            seconds: 120,
            format: Format::Upstream,
            offset: 0,
            planted: vec![planted(
                Upstream503 {
                    upstream: 4,
                    fail: 0.7,
                },
                60,
                30,
                Scope::Upstream(APPS[4]),
            )],
        },
        Scenario {
            name: "quiet day at 2 req/s",
            seed: 9,
            rps: 2.0,
            daily: true,
            base: 0.003,
            seconds: 24 * h,
            format: Format::Upstream,
            offset: 60,
            planted: vec![],
        },
        Scenario {
            name: "quiet, 300 req/s at 1%",
            seed: 10,
            rps: 300.0,
            daily: false,
            base: 0.01,
            seconds: 600,
            format: Format::Upstream,
            offset: 0,
            planted: vec![],
        },
        Scenario {
            name: "quiet, 20 req/s at 5%",
            seed: 11,
            rps: 20.0,
            daily: false,
            base: 0.05,
            seconds: 3 * h,
            format: Format::Combined,
            offset: -480,
            planted: vec![],
        },
        Scenario {
            name: "quiet, 50 req/s at 0.05%",
            seed: 12,
            rps: 50.0,
            daily: true,
            base: 0.0005,
            seconds: h,
            format: Format::Upstream,
            offset: 0,
            planted: vec![],
        },
    ]
}

fn time(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}

/// Words the diagnosis must hold, each, for a shape in a format, after
/// what the fields can show (none of the upstream's when the format has
/// none).
fn expected_diagnosis(shape: &Shape, format: Format) -> Option<&'static [&'static str]> {
    if matches!(shape, Shape::Drop { .. }) {
        return Some(&["Requests fell to"]);
    }
    if format != Format::Upstream {
        return Some(&["no upstream fields were logged"]);
    }
    Some(match shape {
        // `503 answered by upstream ...`, or `503 (80% of them) answered
        // ...` when other codes are among the errors.
        Shape::Upstream503 { .. } => &["503 ", "answered by upstream"],
        Shape::Refused502 { .. } => &["no connect time: connections refused or reset"],
        Shape::Timeout504 { .. } => &["read timeout of about 60 s"],
        Shape::Maintenance503 => &["answered by the proxy itself"],
        Shape::Bot { .. } => &["answered by the proxy itself"],
        Shape::Deploy500 { .. } | Shape::OnePage500 { .. } => &["an application fault"],
        _ => return None,
    })
}

/// How one scenario went.
#[derive(Default)]
struct Score {
    planted: usize,
    found: usize,
    scoped: usize,
    /// Found with a diagnosis that names the right kind.
    diagnosed: usize,
    /// The culprit first in its dimension's attribution.
    attributed: usize,
    false_alarms: usize,
    /// Largest distance of a found incident's start or end from the truth.
    worst_bound: i64,
    notes: Vec<String>,
}

impl Score {
    fn absorb(&mut self, sc: &Score) {
        self.planted += sc.planted;
        self.found += sc.found;
        self.scoped += sc.scoped;
        self.diagnosed += sc.diagnosed;
        self.attributed += sc.attributed;
        self.false_alarms += sc.false_alarms;
        self.worst_bound = self.worst_bound.max(sc.worst_bound);
    }

    fn line(&self) -> String {
        let n = self.planted;
        format!(
            "recall {}/{n}, scope {}/{n}, diagnosis {}/{n}, culprit first {}/{n}, false alarms {}, worst bound {} s",
            self.found, self.scoped, self.diagnosed, self.attributed, self.false_alarms, self.worst_bound
        )
    }
}

fn score(s: &Scenario, json: &Value) -> Score {
    let incidents = json["incidents"].as_array().unwrap();
    let mut used = vec![false; incidents.len()];
    let mut out = Score {
        planted: s.planted.len(),
        ..Score::default()
    };
    for p in &s.planted {
        let (a, b) = (START + p.at, START + p.at + p.seconds);
        let drop = matches!(p.shape, Shape::Drop { .. });
        let hits: Vec<usize> = (0..incidents.len())
            .filter(|&i| {
                let inc = &incidents[i];
                (inc["kind"] == "traffic_drop") == drop
                    && time(&inc["start"]) <= b + 30
                    && time(&inc["end"]) >= a - 30
            })
            .collect();
        let Some(&first) = hits.first() else {
            out.notes.push(format!("missed {:?} at {}s", p.shape, p.at));
            continue;
        };
        for &h in &hits {
            used[h] = true;
        }
        if hits.len() > 1 {
            out.notes
                .push(format!("{:?} split into {} incidents", p.shape, hits.len()));
        }
        out.found += 1;
        let inc = &incidents[first];
        let bound = (time(&inc["start"]) - a)
            .abs()
            .max((time(&inc["end"]) - b).abs());
        out.worst_bound = out.worst_bound.max(bound);
        let dim = inc["scope"]["dimension"].as_str().unwrap();
        let keys: Vec<&str> = inc["scope"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let right = match &p.scope {
            Scope::Site => dim == "site",
            Scope::Upstream(u) => dim == "upstream" && keys.first() == Some(u),
            Scope::Host(h) => dim == "host" && keys == [*h],
            Scope::Paths(paths) => {
                dim == "path"
                    && !keys.is_empty()
                    && keys.iter().all(|k| paths.iter().any(|p| p == k))
            }
        };
        let diagnosis = inc["diagnosis"].as_str().unwrap_or_default();
        // A scraper's network is named in the diagnosis, whatever else.
        let named = !matches!(p.shape, Shape::Bot { .. })
            || diagnosis.contains(&format!("client network {BOT_NET}"));
        match expected_diagnosis(&p.shape, s.format) {
            Some(words) if !words.iter().all(|w| diagnosis.contains(w)) || !named => {
                out.notes.push(format!(
                    "{:?}: diagnosis {diagnosis:?} (wanted {words:?} and the culprit)",
                    p.shape
                ))
            }
            _ => out.diagnosed += 1,
        }
        // The culprit leads the attribution of its own dimension (a
        // scraper's: its network and its agent).
        let bot = matches!(p.shape, Shape::Bot { .. });
        let leads_in = |dim: &str, key: &str| {
            inc["attribution"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["dimension"] == dim)
                .is_some_and(|a| a["key"] == key)
        };
        let culprit = match &p.scope {
            _ if bot => None,
            Scope::Upstream(u) => Some(("upstream", u.to_string())),
            Scope::Host(h) => Some(("host", h.to_string())),
            Scope::Paths(paths) if paths.len() == 1 => Some(("path", paths[0].clone())),
            _ => None,
        };
        let leads = if bot {
            leads_in("client", BOT_NET) && leads_in("user_agent", BOT_AGENT)
        } else {
            culprit.as_ref().is_none_or(|(dim, key)| leads_in(dim, key))
        };
        if leads {
            out.attributed += 1;
        } else {
            out.notes.push(format!(
                "{:?}: attribution {} (wanted {culprit:?} first)",
                p.shape, inc["attribution"]
            ));
        }
        if right {
            out.scoped += 1;
        } else {
            out.notes.push(format!(
                "{:?}: scope {} (wanted {:?})",
                p.shape, inc["scope"]["label"], p.scope
            ));
        }
    }
    for (i, inc) in incidents.iter().enumerate() {
        if !used[i] {
            out.false_alarms += 1;
            out.notes.push(format!(
                "false alarm: {} {} .. {} ({} 5xx)",
                inc["scope"]["label"], inc["start"], inc["end"], inc["total_5xx"]
            ));
        }
    }
    out
}

fn run_report(path: &Path) -> Value {
    crate::util::report_json(&[], &[path])
}

#[test]
fn every_labelled_incident_is_found_with_its_scope_and_noise_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let all = scenarios();
    let scores: Vec<(usize, u64, Score)> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<(usize, &Scenario)>> = (0..2)
            .map(|w| all.iter().enumerate().filter(|(i, _)| i % 2 == w).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let dir = dir.path();
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, s)| {
                            let mut text = String::new();
                            let lines = generate(s, &mut text);
                            let path = dir.join(format!("scenario-{i}.log"));
                            std::fs::write(&path, text).unwrap();
                            let json = run_report(&path);
                            // LOGSPIKE_KEEP_SCENARIOS=DIR keeps the logs to look at.
                            match std::env::var_os("LOGSPIKE_KEEP_SCENARIOS") {
                                Some(keep) => {
                                    std::fs::rename(
                                        &path,
                                        Path::new(&keep).join(path.file_name().unwrap()),
                                    )
                                    .unwrap();
                                }
                                None => std::fs::remove_file(&path).unwrap(),
                            }
                            (i, lines, score(s, &json))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut v: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        v.sort_by_key(|x| x.0);
        v
    });
    let mut totals = Score::default();
    println!("scenarios: planted found scoped false-alarms worst-bound(s) lines  name");
    for (i, lines, sc) in &scores {
        println!(
            "scenarios: {:>7} {:>5} {:>6} {:>12} {:>15} {:>6}  {}",
            sc.planted, sc.found, sc.scoped, sc.false_alarms, sc.worst_bound, lines, all[*i].name
        );
        for n in &sc.notes {
            println!("scenarios:   {n}");
        }
        totals.absorb(sc);
    }
    println!("scenarios: {}", totals.line());
    assert_eq!(
        totals.found, totals.planted,
        "every labelled incident found"
    );
    assert_eq!(totals.scoped, totals.planted, "each with its scope");
    assert_eq!(
        totals.diagnosed, totals.planted,
        "each diagnosed as its kind"
    );
    assert_eq!(
        totals.attributed, totals.planted,
        "the culprit first in its dimension"
    );
    assert_eq!(totals.false_alarms, 0, "no false alarm");
    assert!(
        totals.worst_bound <= 60,
        "bounds within a minute of the truth"
    );
}

/// Traffic share of a route (by the site's weights).
fn share(route: usize) -> f64 {
    let total: u32 = ROUTES.iter().map(|r| r.1).sum::<u32>() + WIKI_WEIGHT;
    if route < ROUTES.len() {
        ROUTES[route].1 as f64 / total as f64
    } else {
        let harmonic: f64 = (0..WIKI_PAGES).map(|r| 1.0 / (r as f64 + 10.0)).sum();
        WIKI_WEIGHT as f64 / total as f64 * (1.0 / ((route - ROUTES.len()) as f64 + 10.0))
            / harmonic
    }
}

/// A random scenario: every knob drawn, incidents sized so that each holds
/// enough errors to be an incident at all (at least 40 expected, at least
/// four times its series' base rate), and scopes as the format can show
/// them (no upstream fields: an upstream's failure is the site's, a search
/// node's is the path `/search`'s).
fn random_scenario(seed: u64) -> Scenario {
    use Shape::*;
    let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let rps = 2f64 * 1000f64.powf(rng.f64());
    let base = 0.0005 * 100f64.powf(rng.f64());
    let seconds = ((400_000.0 / rps) as i64).clamp(900, 24 * 3600);
    let format = [
        Format::Upstream,
        Format::Upstream,
        Format::Combined,
        Format::Vhost,
    ][rng.below(4)];
    let offset = [-480, -300, 0, 0, 60, 330, 540][rng.below(7)];
    let daily = rng.chance(0.3);
    let app_share = 1.0 - share(SEARCH_ROUTE);
    let mut planted = Vec::new();
    let mut at = (rng.f64() * 600.0) as i64;
    // One scenario in five is quiet.
    let count = if rng.chance(0.2) { 0 } else { 1 + rng.below(3) };
    for _ in 0..count {
        // At most a third of the log: an incident needs normal time around
        // it to stand out from.
        let secs = ((30.0 * 40f64.powf(rng.f64())) as i64).min(seconds / 3);
        if at + secs + 300 > seconds {
            break;
        }
        // Requests a second the incident's series sees, at the quietest.
        let floor = if daily { 0.3 } else { 1.0 };
        let shape_pick = rng.below(8);
        let (shape, traffic, scope) = match (shape_pick, format) {
            (0, _) | (1, Format::Combined) => {
                let u = rng.below(APPS.len());
                let scope = if format == Format::Upstream {
                    Scope::Upstream(APPS[u])
                } else {
                    Scope::Site
                };
                (
                    Upstream503 {
                        upstream: u,
                        fail: 0.0,
                    },
                    rps * app_share / 6.0,
                    scope,
                )
            }
            (1, _) => {
                let u = rng.below(APPS.len());
                let scope = if format == Format::Upstream {
                    Scope::Upstream(APPS[u])
                } else {
                    Scope::Site
                };
                (
                    SlowBurn {
                        upstream: u,
                        fail: 0.0,
                    },
                    rps * app_share / 6.0,
                    scope,
                )
            }
            (2, _) => {
                let routes = [2, 3];
                (
                    Deploy500 { routes, fail: 0.0 },
                    rps * (share(2) + share(3)),
                    routes_scope(routes),
                )
            }
            (3, Format::Upstream) => {
                let u = rng.below(APPS.len());
                (Refused502 { upstream: u }, 0.0, Scope::Upstream(APPS[u]))
            }
            (4, _) => {
                let n = rng.below(SEARCH.len());
                let scope = if format == Format::Upstream {
                    Scope::Upstream(SEARCH[n])
                } else {
                    Scope::Paths(vec!["/search".to_string()])
                };
                (
                    Timeout504 { node: n, fail: 0.0 },
                    rps * share(SEARCH_ROUTE) / 3.0,
                    scope,
                )
            }
            (5, _) => {
                let rank = rng.below(20);
                (
                    OnePage500 { rank, fail: 0.0 },
                    rps * share(ROUTES.len() + rank),
                    Scope::Paths(vec![page(rank)]),
                )
            }
            (6, Format::Vhost) => {
                let h = rng.below(HOSTS.len());
                (
                    HostDown { host: h, fail: 0.0 },
                    rps / 3.0,
                    Scope::Host(HOSTS[h]),
                )
            }
            (6, _) => (Maintenance503, rps, Scope::Site),
            _ => (Drop { keep: 0.02 }, 0.0, Scope::Site),
        };
        // The series that must see it: the culprit's own, or the site's
        // when the format has no field for the culprit.
        let seen = match (scope.clone(), shape) {
            (Scope::Site, _) => rps,
            // A search node's timeouts on the path all three nodes serve.
            (Scope::Paths(_), Timeout504 { .. }) => traffic * SEARCH.len() as f64,
            _ => traffic,
        };
        // The failing share: enough for 40 errors, and for the series
        // that sees it to reach four times its base rate.
        let fail = ((40.0 / (traffic * floor * secs as f64))
            .max(3.0 * base * seen / traffic.max(1e-9))
            * (1.0 + rng.f64()))
        .min(1.0);
        let shape = match shape {
            Upstream503 { upstream, .. } => Upstream503 { upstream, fail },
            SlowBurn { upstream, .. } => SlowBurn { upstream, fail },
            Deploy500 { routes, .. } => Deploy500 { routes, fail },
            Timeout504 { node, .. } => Timeout504 { node, fail },
            OnePage500 { rank, .. } => OnePage500 { rank, fail },
            HostDown { host, .. } => HostDown { host, fail },
            other => other,
        };
        let feasible = match shape {
            Refused502 { .. } => rps * app_share / 6.0 * floor * secs as f64 >= 40.0,
            // A drop must miss a few hundred requests to be told from noise.
            Drop { .. } => rps * floor * secs as f64 >= 400.0 && secs >= 120,
            Maintenance503 => true,
            _ => traffic * floor * secs as f64 * fail >= 40.0 && fail <= 0.95,
        };
        if feasible {
            planted.push(planted_at(shape, at, secs, scope));
        }
        at += secs + 600 + (rng.f64() * 1800.0) as i64;
    }
    Scenario {
        name: "random",
        seed,
        rps,
        daily,
        base,
        seconds,
        format,
        offset,
        planted,
    }
}

fn planted_at(shape: Shape, at: i64, seconds: i64, scope: Scope) -> Planted {
    planted(shape, at, seconds, scope)
}

/// `LOGSPIKE_SWEEP=N cargo test --release --test tests sweep -- --nocapture`
/// scores N random scenarios (not run otherwise: it takes minutes);
/// `LOGSPIKE_SWEEP_FROM=K` starts at seed K, and LOGSPIKE_KEEP_SCENARIOS=DIR
/// keeps their logs there.
#[test]
fn sweep_of_random_scenarios() {
    let Some(n) = std::env::var("LOGSPIKE_SWEEP")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        println!("skipping the random sweep: set LOGSPIKE_SWEEP=N to run N scenarios");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut totals = Score::default();
    let from: u64 = std::env::var("LOGSPIKE_SWEEP_FROM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for seed in from..from + n {
        let s = random_scenario(seed);
        let mut text = String::new();
        let lines = generate(&s, &mut text);
        let path = match std::env::var_os("LOGSPIKE_KEEP_SCENARIOS") {
            Some(keep) => Path::new(&keep).join(format!("sweep-{seed}.log")),
            None => dir.path().join("sweep.log"),
        };
        std::fs::write(&path, text).unwrap();
        let sc = score(&s, &run_report(&path));
        println!(
            "sweep: seed {seed:>3}: {:?} {:.0} req/s base {:.2}% {} s daily {} lines {lines}: found {}/{} scoped {} false {} bound {}",
            s.format, s.rps, s.base * 100.0, s.seconds, s.daily, sc.found, sc.planted, sc.scoped, sc.false_alarms, sc.worst_bound
        );
        for note in &sc.notes {
            println!("sweep:   {note}");
        }
        totals.absorb(&sc);
    }
    println!("sweep: {n} scenarios: {}", totals.line());
}

/// `logspike tail - --alert spike --output json` over `text` on standard
/// input (it stops when the input ends); its alerts.
fn run_tail_spike(text: &str, state: Option<&Path>) -> Vec<Value> {
    let mut cmd = Command::cargo_bin("logspike").unwrap();
    cmd.args(["tail", "-", "--alert", "spike", "--output", "json"]);
    if let Some(state) = state {
        cmd.arg("--state").arg(state);
    }
    let out = cmd.write_stdin(text.as_bytes().to_vec()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Whether a spike alert's scope (`upstream X`, `paths /a, /b`,
/// `site-wide`) is the planted one.
fn scope_is(label: &str, scope: &Scope) -> bool {
    match scope {
        Scope::Site => label == "site-wide",
        Scope::Upstream(u) => label == format!("upstream {u}"),
        Scope::Host(h) => label == format!("host {h}"),
        Scope::Paths(paths) => label
            .strip_prefix("paths ")
            .or_else(|| label.strip_prefix("path "))
            .is_some_and(|keys| keys.split(", ").all(|k| paths.iter().any(|p| p == k))),
    }
}

/// One firing alert per planted incident (a traffic drop is no spike: a
/// drop is known only once traffic is back), with its scope as last seen;
/// any other firing is a false alarm.
fn tail_score(s: &Scenario, alerts: &[Value]) -> Score {
    let firing: Vec<&Value> = alerts.iter().filter(|a| a["state"] == "firing").collect();
    let mut used = vec![false; firing.len()];
    let mut out = Score::default();
    for p in s
        .planted
        .iter()
        .filter(|p| !matches!(p.shape, Shape::Drop { .. }))
    {
        out.planted += 1;
        let (a, b) = (START + p.at, START + p.at + p.seconds);
        let hits: Vec<usize> = (0..firing.len())
            .filter(|&i| {
                time(&firing[i]["window_start"]) <= b + 60
                    && time(&firing[i]["window_end"]) >= a - 60
            })
            .collect();
        let Some(&first) = hits.first() else {
            out.notes.push(format!("missed {:?} at {}s", p.shape, p.at));
            continue;
        };
        hits.iter().for_each(|&h| used[h] = true);
        if hits.len() > 1 {
            out.notes
                .push(format!("{:?} raised {} alerts", p.shape, hits.len()));
            continue;
        }
        out.found += 1;
        let key = &firing[first]["key"];
        let last = alerts
            .iter()
            .rfind(|x| x["key"] == *key)
            .unwrap_or(firing[first]);
        let label = last["scope"].as_str().unwrap_or_default();
        if scope_is(label, &p.scope) {
            out.scoped += 1;
        } else {
            out.notes.push(format!(
                "{:?}: scope {label} (wanted {:?})",
                p.shape, p.scope
            ));
        }
        // Raised while it was going on, not long after.
        let delay = time(&firing[first]["window_end"]) - a;
        out.worst_bound = out.worst_bound.max(delay);
    }
    for (i, f) in firing.iter().enumerate() {
        if !used[i] {
            out.false_alarms += 1;
            out.notes.push(format!("false alarm: {f}"));
        }
    }
    out
}

/// The tail's `spike` rule on replays of some of the fixed scenarios: one
/// alert per incident with its scope, raised while it goes on, none on
/// noise.
#[test]
fn tail_spike_rule_raises_each_incident_once_and_nothing_on_noise() {
    let mut all = scenarios();
    // Busy with four episodes; a burst in the first minute; 2,000 req/s;
    // quiet at 300 req/s and 1%. The 2,000 req/s log runs on for a
    // minute after its burst, so that the replay sees the burst end.
    let picked = [0usize, 4, 7, 9];
    all[7].seconds += 60;
    let scores: Vec<(usize, Score)> = std::thread::scope(|scope| {
        let handles: Vec<_> = picked
            .iter()
            .map(|&i| {
                let s = &all[i];
                scope.spawn(move || {
                    let mut text = String::new();
                    generate(s, &mut text);
                    if let Some(keep) = std::env::var_os("LOGSPIKE_KEEP_SCENARIOS") {
                        std::fs::write(Path::new(&keep).join(format!("tail-{i}.log")), &text)
                            .unwrap();
                    }
                    (i, tail_score(s, &run_tail_spike(&text, None)))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut totals = Score::default();
    for (i, sc) in &scores {
        println!(
            "scenarios: tail spike: {}/{} raised, {} scoped, {} false, latest {} s after the start: {}",
            sc.found, sc.planted, sc.scoped, sc.false_alarms, sc.worst_bound, all[*i].name
        );
        for n in &sc.notes {
            println!("scenarios:   {n}");
        }
        totals.absorb(sc);
    }
    assert_eq!(totals.found, totals.planted, "one alert per incident");
    assert_eq!(totals.scoped, totals.planted, "each with its scope");
    assert_eq!(totals.false_alarms, 0, "nothing on noise");
    assert!(totals.worst_bound <= 60, "raised within a minute");
}

/// A restart in the middle of an incident, with `--state`: the second run
/// does not raise it again, and ends it once, after it really ended.
#[test]
fn tail_spike_survives_a_restart_mid_incident() {
    let s = Scenario {
        name: "restart",
        seed: 21,
        rps: 40.0,
        daily: false,
        base: 0.003,
        seconds: 2400,
        format: Format::Upstream,
        offset: 0,
        planted: vec![planted(
            Shape::Upstream503 {
                upstream: 2,
                fail: 0.8,
            },
            1500,
            300,
            Scope::Upstream(APPS[2]),
        )],
    };
    let mut text = String::new();
    generate(&s, &mut text);
    // Cut two minutes into the incident.
    let cut = text.find(&clf(START + 1620, 0)).unwrap();
    let cut = text[..cut].rfind('\n').unwrap() + 1;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let first = run_tail_spike(&text[..cut], Some(&state));
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["spike"]["open"].as_array().unwrap().len(), 1);
    let second = run_tail_spike(&text[cut..], Some(&state));
    let states = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|a| format!("{} {}", a["state"].as_str().unwrap(), a["key"]))
            .collect()
    };
    let key = format!("\"upstream {}\"", APPS[2]);
    assert_eq!(states(&first), [format!("firing {key}")], "{first:?}");
    assert_eq!(states(&second), [format!("resolved {key}")], "{second:?}");
    // Ended when the burst did, not when the first run stopped.
    let end = time(&second[0]["window_end"]);
    assert!(
        (end - (START + 1800)).abs() <= 30,
        "ended at {} s",
        end - START
    );
    assert!(second[0]["count"].as_u64().unwrap() > 800, "{}", second[0]);
}
