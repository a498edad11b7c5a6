//! Property tests for the parsers: arbitrary bytes never panic, and records
//! rendered through each built-in grammar parse back to the same values.

use std::sync::Arc;

use logspike::detect;
use logspike::framing::LineReader;
use logspike::grammar::builtin::{self, Registry};
use logspike::grammar::{Grammar, Item, Role, Syntax, Unit};
use logspike::parse::time::days_from_civil;
use logspike::parse::{LineParser, Outcome};
use proptest::prelude::*;

fn exercise(parser: &mut LineParser, line: &[u8]) {
    if let Outcome::Record(r) = parser.parse(line) {
        // Every accessor on whatever was accepted.
        let _ = (r.status(), r.bytes(), r.request_time(), r.time());
        let req = r.request();
        let _ = req.path.map(|p| p.decode());
        let _ = req.query.map(|q| q.to_string_lossy());
        let _ = r.upstreams().count();
        for (_, v) in r.fields() {
            let _ = v.map(|v| v.decode());
        }
    }
}

const VALID: &[u8] = br#"10.0.0.1, 10.0.0.2 - bob [10/Oct/2000:13:55:36 -0700] "GET /a/b?c=d HTTP/1.1" 502 12 "http://x/\x22y" "ua \"q\"" "1.2.3.4" 0.250 10.0.1.1:80, 10.0.1.2:80 : unix:/s 502, 504 : 200 0.1, 0.2 : - 0.001, - : - -, 0.1 : 0.2"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for g in builtin::all() {
            let mut parser = LineParser::new(std::slice::from_ref(g));
            exercise(&mut parser, &bytes);
        }
        if let Some(d) = detect::detect(&bytes, builtin::all()) {
            let mut parser = LineParser::new(&d.grammars);
            for line in bytes.split(|&b| b == b'\n') {
                exercise(&mut parser, line);
            }
        }
    }

    #[test]
    fn mutated_valid_lines_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut line = VALID.to_vec();
        for (at, byte, op) in edits {
            let at = at % (line.len() + 1);
            match op {
                0 => line.insert(at, byte),
                1 if at < line.len() => { line.remove(at); }
                _ if at < line.len() => line[at] = byte,
                _ => {}
            }
        }
        for g in builtin::all() {
            let mut parser = LineParser::new(std::slice::from_ref(g));
            exercise(&mut parser, &line);
        }
    }

    #[test]
    fn framing_keeps_every_line(
        bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..600),
        limit in 1usize..64,
    ) {
        let mut reader = LineReader::with_limit(std::io::BufReader::with_capacity(7, &bytes[..]), limit);
        let mut count = 0;
        while let Some(_line) = reader.next_line().unwrap() {
            count += 1;
        }
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
        let expected = newlines + usize::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'));
        prop_assert_eq!(count, expected);
        prop_assert_eq!(reader.offset() as usize, bytes.len());
    }
}

/// Values to render into a line.
#[derive(Debug, Clone)]
struct Req {
    addr: String,
    user: Option<String>,
    /// Seconds since the epoch (UTC) and the offset to write it in.
    secs: i64,
    offset_min: i32,
    method: String,
    path: String,
    query: Option<String>,
    status: u16,
    bytes: Option<u64>,
    referer: Option<String>,
    agent: String,
    request_ms: u32,
    attempts: Vec<(String, Option<u16>, Option<u32>, bool)>,
}

fn text(chars: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let chars: Vec<char> = chars.chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), len)
        .prop_map(|v| v.into_iter().collect())
}

prop_compose! {
    fn attempt()(
        host in 1u8..250, port in prop_oneof![Just(80u16), Just(8080)],
        status in proptest::option::weighted(0.9, prop_oneof![Just(200u16), Just(502), Just(503), Just(504)]),
        ms in proptest::option::weighted(0.9, 0u32..60_000),
        new_group in proptest::bool::weighted(0.2),
        socket in proptest::bool::weighted(0.1),
    ) -> (String, Option<u16>, Option<u32>, bool) {
        let addr = if socket { "unix:/run/app.sock".to_string() } else { format!("10.0.1.{host}:{port}") };
        (addr, status, ms, new_group)
    }
}

prop_compose! {
    fn request()(
        a in 1u8..255, b in 0u8..255,
        user in proptest::option::weighted(0.2, text("abcxyz@.", 1..10)),
        secs in 0i64..4_000_000_000,
        offset_min in prop_oneof![Just(0), Just(60), Just(-420), Just(330), Just(-570)],
        method in prop_oneof![Just("GET"), Just("POST"), Just("PATCHp"), Just("DELETE")],
        path in text("abc/019-_.%~\"\\é ", 0..30),
        query in proptest::option::weighted(0.3, text("a=b&c%20d\"", 0..15)),
        status in 100u16..600,
        bytes in proptest::option::weighted(0.9, 0u64..10_000_000),
        referer in proptest::option::weighted(0.5, text("htps:/x.ym\"\\", 1..20)),
        agent in text("Mozila/5.0 (X11; Linux) \"\\", 1..40),
        request_ms in 0u32..100_000,
        attempts in proptest::collection::vec(attempt(), 0..4),
    ) -> Req {
        Req {
            addr: format!("{a}.{b}.0.1"), user, secs, offset_min, method: method.to_string(),
            // Spaces at the ends of a target cannot be told from the separators.
            path: format!("/{}", path.trim_end()), query, status, bytes, referer, agent, request_ms, attempts,
        }
    }
}

fn clf(secs: i64, offset_min: i32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = secs + offset_min as i64 * 60;
    let (y, m, d) = civil(local.div_euclid(86_400));
    let tod = local.rem_euclid(86_400);
    let sign = if offset_min < 0 { '-' } else { '+' };
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[m as usize - 1],
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        offset_min.abs() / 60,
        offset_min.abs() % 60
    )
}

/// The inverse of `days_from_civil`, by search: slow and obviously right.
fn civil(days: i64) -> (i64, u32, u32) {
    let mut y = 1970 + days.div_euclid(366) - 1;
    while days_from_civil(y + 1, 1, 1) <= days {
        y += 1;
    }
    let mut m = 1;
    while m < 12 && days_from_civil(y, m + 1, 1) <= days {
        m += 1;
    }
    (y, m, (days - days_from_civil(y, m, 1)) as u32 + 1)
}

/// Escapes a value as the server would inside quotes.
fn escape(syntax: Syntax, s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match (syntax, c) {
            (Syntax::Nginx, '"') => out.push_str("\\x22"),
            (Syntax::Nginx, '\\') => out.push_str("\\x5C"),
            (Syntax::Nginx, c) if !c.is_ascii() => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            }
            (_, '"') => out.push_str("\\\""),
            (_, '\\') => out.push_str("\\\\"),
            (_, c) => out.push(c),
        }
    }
    out
}

fn list<T>(
    attempts: &[(String, Option<u16>, Option<u32>, bool)],
    f: impl Fn(&(String, Option<u16>, Option<u32>, bool)) -> T,
) -> String
where
    T: std::fmt::Display,
{
    if attempts.is_empty() {
        return "-".into();
    }
    let mut out = String::new();
    for (i, a) in attempts.iter().enumerate() {
        if i > 0 {
            out.push_str(if a.3 { " : " } else { ", " });
        }
        out.push_str(&f(a).to_string());
    }
    out
}

/// Each field's text as the server would write it, in field order.
fn render_values(g: &Grammar, r: &Req) -> Vec<String> {
    let target = match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    g.fields()
        .map(|field| match field.role {
            Role::RemoteAddr => r.addr.clone(),
            Role::Ident => "-".into(),
            Role::RemoteUser => opt(&r.user),
            Role::Time => clf(r.secs, r.offset_min),
            Role::Request => escape(g.syntax, &format!("{} {target} HTTP/1.1", r.method)),
            Role::Status => r.status.to_string(),
            Role::BodyBytes | Role::BytesSent => match r.bytes {
                Some(b) => b.to_string(),
                None if g.syntax == Syntax::Apache => "-".into(),
                None => "0".into(),
            },
            Role::Referer => escape(g.syntax, &opt(&r.referer)),
            Role::UserAgent => escape(g.syntax, &r.agent),
            Role::RequestTime if field.unit == Some(Unit::Millis) => r.request_ms.to_string(),
            Role::RequestTime => format!("{}.{:03}", r.request_ms / 1000, r.request_ms % 1000),
            Role::UpstreamAddr => list(&r.attempts, |a| a.0.clone()),
            Role::UpstreamStatus => {
                list(&r.attempts, |a| a.1.map_or("-".into(), |s| s.to_string()))
            }
            Role::UpstreamResponseTime | Role::UpstreamConnectTime | Role::UpstreamHeaderTime => {
                list(&r.attempts, |a| {
                    a.2.map_or("-".into(), |ms| format!("{}.{:03}", ms / 1000, ms % 1000))
                })
            }
            Role::Host => "www.example.org".into(),
            Role::BytesReceived => "321".into(),
            Role::ServerPort => "443".into(),
            _ if field.name == "upstream_response_length" => list(&r.attempts, |_| 10),
            _ => "x".into(),
        })
        .collect()
}

/// The line: literals with the values between them.
fn assemble(g: &Grammar, values: &[String]) -> String {
    let mut line = String::new();
    let mut values = values.iter();
    for item in &g.items {
        match item {
            Item::Literal(l) => line.push_str(std::str::from_utf8(l).unwrap()),
            Item::Field(_) => line.push_str(values.next().unwrap()),
        }
    }
    line
}

fn render(g: &Grammar, r: &Req) -> String {
    assemble(g, &render_values(g, r))
}

/// The field at `slot` sits between quotes.
fn field_is_quoted(g: &Grammar, slot: usize) -> bool {
    let mut seen = 0;
    let mut previous: Option<&Item> = None;
    for item in &g.items {
        if let Item::Field(_) = item {
            if seen == slot {
                return matches!(previous, Some(Item::Literal(l)) if l.ends_with(b"\""));
            }
            seen += 1;
        }
        previous = Some(item);
    }
    false
}

/// The raw text of every field slot of a parsed line.
fn raw_slots(parser: &mut LineParser, line: &str) -> Option<Vec<Vec<u8>>> {
    match parser.parse(line.as_bytes()) {
        Outcome::Record(r) => Some(
            (0..r.layout().fields().len())
                .map(|slot| r.raw(slot).to_vec())
                .collect(),
        ),
        _ => None,
    }
}

fn check_round_trip(g: &Arc<Grammar>, req: &Req) -> Result<(), TestCaseError> {
    let line = render(g, req);
    let mut parser = LineParser::new(std::slice::from_ref(g));
    let Outcome::Record(rec) = parser.parse(line.as_bytes()) else {
        return Err(TestCaseError::fail(format!("{} rejected {line}", g.name)));
    };
    prop_assert!(
        rec.is_exact() || req.user.as_deref().is_some_and(|u| u.contains(' ')),
        "{line}"
    );
    prop_assert_eq!(
        rec.time().map(|t| (t.micros, t.offset_secs)),
        Some((req.secs * 1_000_000, req.offset_min * 60))
    );
    prop_assert_eq!(rec.status(), Some(req.status));
    let parsed = rec.request();
    prop_assert_eq!(parsed.method, Some(req.method.as_bytes()));
    prop_assert_eq!(
        parsed.path.map(|p| p.to_string_lossy()),
        Some(req.path.clone()),
        "{}",
        line
    );
    prop_assert_eq!(parsed.query.map(|q| q.to_string_lossy()), req.query.clone());
    let expected_bytes = req.bytes.or(if g.syntax == Syntax::Nginx {
        Some(0)
    } else {
        None
    });
    prop_assert_eq!(rec.bytes(), expected_bytes);
    prop_assert_eq!(
        rec.remote_addr().map(|v| v.to_string_lossy()),
        Some(req.addr.clone())
    );
    if g.fields().any(|f| f.role == Role::UserAgent) {
        prop_assert_eq!(
            rec.user_agent().map(|v| v.to_string_lossy()),
            Some(req.agent.clone())
        );
        prop_assert_eq!(
            rec.referer().map(|v| v.to_string_lossy()),
            req.referer.clone()
        );
    }
    if g.fields().any(|f| f.role == Role::RequestTime) {
        prop_assert_eq!(rec.request_time(), Some(req.request_ms as f64 / 1000.0));
    }
    if g.fields().any(|f| f.role == Role::UpstreamAddr) {
        let got: Vec<_> = rec
            .upstreams()
            .map(|a| {
                (
                    a.addr.map(|b| String::from_utf8_lossy(b).into_owned()),
                    a.status,
                    a.response_time,
                )
            })
            .collect();
        let mut want: Vec<_> = req
            .attempts
            .iter()
            .map(|a| (Some(a.0.clone()), a.1, a.2.map(|ms| ms as f64 / 1000.0)))
            .collect();
        if !g.fields().any(|f| f.role == Role::UpstreamStatus) {
            // Traefik: no upstream status or time; the one backend's
            // answer is the response.
            for (i, w) in want.iter_mut().enumerate() {
                w.1 = (i == 0).then_some(req.status);
                w.2 = None;
            }
        }
        prop_assert_eq!(got, want, "{}", line);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rendered_records_parse_back(req in request()) {
        let reg = Registry::new();
        for name in [
            "nginx-combined", "nginx-main", "nginx-upstream", "nginx-upstreaminfo",
            "nginx-vhost_combined", "apache-common", "apache-combined",
            "apache-vhost_combined", "apache-combinedio", "traefik-common",
        ] {
            check_round_trip(&reg.find(name).unwrap(), &req)?;
        }
    }

    /// One field replaced by text of another shape: the line is rejected,
    /// or it parses with every other field exactly as it was. A value that
    /// does not hold its type must never shift into its neighbours.
    #[test]
    fn a_corrupted_field_never_moves_another(
        req in request(),
        pick in any::<usize>(),
        grammar in 0usize..10,
        bad in text("abzXY019.:-/,_ %", 1..12),
        quoted_escape in any::<bool>(),
    ) {
        let reg = Registry::new();
        let name = [
            "nginx-combined", "nginx-main", "nginx-upstream", "nginx-upstreaminfo",
            "nginx-vhost_combined", "apache-common", "apache-combined",
            "apache-vhost_combined", "apache-combinedio", "traefik-common",
        ][grammar];
        let g = reg.find(name).unwrap();
        let mut values = render_values(&g, &req);
        let slot = pick % values.len();
        let original = assemble(&g, &values);
        let mut parser = LineParser::new(std::slice::from_ref(&g));
        let Some(before) = raw_slots(&mut parser, &original) else {
            return Err(TestCaseError::fail(format!("{name} rejected {original}")));
        };
        // A wrong value, not an extra field: no bare quote inside quotes,
        // no space in a bare field (where it would be a field of its own,
        // and the line another valid line).
        let quoted = field_is_quoted(&g, slot);
        let bad = if quoted { bad } else { bad.replace(' ', "") };
        prop_assume!(!bad.is_empty());
        values[slot] = if quoted_escape { format!("{bad}\\\"") } else { bad };
        let corrupted = assemble(&g, &values);
        if let Some(after) = raw_slots(&mut parser, &corrupted) {
            for (i, (a, b)) in before.iter().zip(&after).enumerate() {
                if i != slot {
                    prop_assert_eq!(
                        String::from_utf8_lossy(a), String::from_utf8_lossy(b),
                        "{}: corrupting field {} moved field {}:\n{}\n{}",
                        name, slot, i, original, corrupted
                    );
                }
            }
        }
    }

    #[test]
    fn rendered_w3c_records_parse_back(req in request()) {
        let g = Registry::new().find("iis-w3c_full").unwrap();
        let secs = req.secs;
        let (y, m, d) = civil(secs.div_euclid(86_400));
        let tod = secs.rem_euclid(86_400);
        let plus = |s: &str| s.replace(' ', "+");
        let stem = plus(&req.path.replace(['"', '\\'], ""));
        // IIS writes `-` for an empty value, never nothing.
        let agent = Some(req.agent.replace('"', "")).filter(|a| !a.is_empty());
        let values: Vec<String> = g.fields().map(|f| match f.name.as_str() {
            "date" => format!("{y:04}-{m:02}-{d:02}"),
            "time" => format!("{:02}:{:02}:{:02}", tod / 3600, tod / 60 % 60, tod % 60),
            "cs-method" => req.method.clone(),
            "cs-uri-stem" => stem.clone(),
            "cs-uri-query" => req.query.as_deref().map(|q| plus(&q.replace('"', ""))).filter(|q| !q.is_empty()).unwrap_or("-".into()),
            "sc-status" => req.status.to_string(),
            "sc-bytes" => req.bytes.map_or("-".into(), |b| b.to_string()),
            "cs(User-Agent)" => agent.as_deref().map_or("-".into(), plus),
            "time-taken" => req.request_ms.to_string(),
            "c-ip" => req.addr.clone(),
            _ => "-".into(),
        }).collect();
        let line = values.join(" ");
        let mut parser = LineParser::new(std::slice::from_ref(&g));
        let Outcome::Record(rec) = parser.parse(line.as_bytes()) else {
            return Err(TestCaseError::fail(format!("rejected {line}")));
        };
        prop_assert_eq!(rec.time().map(|t| t.micros), Some(secs * 1_000_000));
        prop_assert_eq!(rec.status(), Some(req.status));
        prop_assert_eq!(rec.bytes(), req.bytes);
        prop_assert_eq!(rec.request().path.map(|p| p.to_string_lossy()), Some(stem));
        prop_assert_eq!(rec.request_time(), Some(req.request_ms as f64 / 1000.0));
        prop_assert_eq!(rec.user_agent().map(|v| v.to_string_lossy()), agent);
    }
}
