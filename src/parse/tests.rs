//! One test per field type and per ugly case of the brief and the corpus
//! MANIFEST's edge-case list.

use super::*;
use crate::grammar::builtin::Registry;

fn grammar(name_or_format: &str) -> Arc<Grammar> {
    Registry::new()
        .find(name_or_format)
        .unwrap_or_else(|_| Arc::new(Grammar::from_format("t", name_or_format).unwrap()))
}

/// Runs `f` on the record `grammar` makes of `line`; panics on a rejection.
fn with<R>(name: &str, line: &[u8], f: impl FnOnce(&Record) -> R) -> R {
    let mut parser = LineParser::new(&[grammar(name)]);
    let outcome = parser.parse(line);
    match outcome {
        Outcome::Record(r) => f(&r),
        Outcome::Rejected(rej) => {
            let reason = LineParser::new(&[grammar(name)]).describe(&rej, line);
            panic!("rejected: {reason}: {}", String::from_utf8_lossy(line))
        }
        _ => panic!("not a record"),
    }
}

fn rejected(name: &str, line: &[u8]) -> String {
    let mut parser = LineParser::new(&[grammar(name)]);
    let reject = match parser.parse(line) {
        Outcome::Rejected(r) => r,
        _ => panic!("accepted: {}", String::from_utf8_lossy(line)),
    };
    parser.describe(&reject, line)
}

fn s(v: Option<Value>) -> Option<String> {
    v.map(|v| v.to_string_lossy())
}

fn b(v: Option<&[u8]>) -> Option<String> {
    v.map(|v| String::from_utf8_lossy(v).into_owned())
}

const COMBINED: &str = "nginx-combined";

type RequestCase<'a> = (
    &'a [u8],
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// (address, status, response time, group) of each upstream attempt.
type AttemptRow = (Option<String>, Option<u16>, Option<f64>, u16);

#[test]
fn combined_all_fields_typed() {
    let line = br#"172.17.0.1 - alice [01/Apr/2021:12:02:31 +0200] "POST /not-found?x=1&y HTTP/1.1" 404 153 "http://localhost/somewhere" "Mozilla/5.0 (X11)""#;
    with(COMBINED, line, |r| {
        assert_eq!(s(r.remote_addr()).as_deref(), Some("172.17.0.1"));
        assert_eq!(s(r.remote_user()).as_deref(), Some("alice"));
        assert_eq!(r.time().unwrap().to_rfc3339_utc(), "2021-04-01T10:02:31Z");
        assert_eq!(r.time().unwrap().offset_secs, 7200);
        let req = r.request();
        assert_eq!(b(req.method).as_deref(), Some("POST"));
        assert_eq!(s(req.path).as_deref(), Some("/not-found"));
        assert_eq!(s(req.query).as_deref(), Some("x=1&y"));
        assert_eq!(b(req.protocol).as_deref(), Some("HTTP/1.1"));
        assert_eq!(r.status(), Some(404));
        assert_eq!(r.bytes(), Some(153));
        assert_eq!(
            s(r.referer()).as_deref(),
            Some("http://localhost/somewhere")
        );
        assert_eq!(s(r.user_agent()).as_deref(), Some("Mozilla/5.0 (X11)"));
        assert!(r.is_exact());
        assert_eq!(r.upstreams().count(), 0);
        assert_eq!(r.request_time(), None);
    });
}

#[test]
fn dash_is_missing_never_zero() {
    let line = br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" - - "-" "-""#;
    with(COMBINED, line, |r| {
        assert_eq!(r.status(), None);
        assert_eq!(r.bytes(), None);
        assert_eq!(r.remote_user(), None);
        assert_eq!(r.referer(), None);
        assert_eq!(r.user_agent(), None);
    });
}

#[test]
fn tls_handshake_and_binary_requests_have_no_method() {
    for line in [
        &br#"1.2.3.4 - - [17/Oct/2023:05:57:56 +1100] "\x16\x03\x01" 400 226 "-" "-""#[..],
        br#"1.2.3.4 - - [17/Oct/2023:05:57:56 +1100] "\x16\x03\x01\x01 \x02" 400 226 "-" "-""#,
        b"1.2.3.4 - - [17/Oct/2023:05:57:56 +1100] \"Gh0st\xAD\x00\x00\x00\xE0\" 400 157 \"-\" \"-\"",
        br#"unix: - - [26/Feb/2019:15:39:42 +0100] "hello" 400 173 "-" "-""#,
        br#"1.2.3.4 - - [12/Apr/2018:09:48:40 +0200] "" 400 0 "-" "-""#,
        br#"1.2.3.4 - - [12/Apr/2018:09:48:40 +0200] "-" 408 0 "-" "-""#,
    ] {
        with(COMBINED, line, |r| {
            assert_eq!(r.request(), Request::default());
            assert_eq!(r.status().map(|s| s / 100), Some(4));
        });
    }
}

#[test]
fn request_line_oddities() {
    // (request line, method, path, query, protocol)
    let cases: &[RequestCase] = &[
        // HTTP/0.9: no protocol.
        (b"GET /ksc.html", Some("GET"), Some("/ksc.html"), None, None),
        (
            b"PATCHp /products/42 HTTP/1.1",
            Some("PATCHp"),
            Some("/products/42"),
            None,
            Some("HTTP/1.1"),
        ),
        (
            b"geti /x?a=b HTTP/2.0",
            Some("geti"),
            Some("/x"),
            Some("a=b"),
            Some("HTTP/2.0"),
        ),
        (
            b"GET /a[ ]b HTTP/1.1",
            Some("GET"),
            Some("/a[ ]b"),
            None,
            Some("HTTP/1.1"),
        ),
        (
            b"GET https://some.domain/some/path?q HTTP/1.1",
            Some("GET"),
            Some("/some/path"),
            Some("q"),
            Some("HTTP/1.1"),
        ),
        (
            b"CONNECT example.com:443 HTTP/1.1",
            Some("CONNECT"),
            Some("example.com:443"),
            None,
            Some("HTTP/1.1"),
        ),
        (
            b"GET /? HTTP/1.1",
            Some("GET"),
            Some("/"),
            Some(""),
            Some("HTTP/1.1"),
        ),
        (b"GET  HTTP/1.1", Some("GET"), None, None, Some("HTTP/1.1")),
    ];
    for (raw, method, path, query, protocol) in cases {
        let req = value::parse_request_line(raw, crate::grammar::Escape::Backslash);
        let text = String::from_utf8_lossy(raw);
        assert_eq!(b(req.method).as_deref(), *method, "{text}");
        assert_eq!(s(req.path).as_deref(), *path, "{text}");
        assert_eq!(s(req.query).as_deref(), *query, "{text}");
        assert_eq!(b(req.protocol).as_deref(), *protocol, "{text}");
    }
}

#[test]
fn escaped_quotes_and_hex_escapes_decode() {
    let line = br#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET /\" HTTP/1.1" 200 777 "referer \\ \"" "user agent \\ \"""#;
    with("apache-combined", line, |r| {
        assert_eq!(s(r.request().path).as_deref(), Some("/\""));
        assert_eq!(s(r.referer()).as_deref(), Some("referer \\ \""));
        assert_eq!(s(r.user_agent()).as_deref(), Some("user agent \\ \""));
    });
    // Non-UTF-8 bytes from `\xHH` survive decoding.
    let line = br#"1.2.3.4 - - [20/May/2015:21:05:01 +0000] "GET /a%20b HTTP/1.1" 200 1 "http://\xe4\xe5" "x\x22y""#;
    with(COMBINED, line, |r| {
        assert_eq!(r.referer().unwrap().decode().as_ref(), b"http://\xe4\xe5");
        assert_eq!(s(r.user_agent()).as_deref(), Some("x\"y"));
        assert_eq!(s(r.request().path).as_deref(), Some("/a%20b"));
    });
}

#[test]
fn invalid_utf8_and_nul_bytes_are_kept() {
    let line = b"1.2.3.4 - - [20/May/2015:21:05:01 +0000] \"GET /\xff\x00x HTTP/1.1\" 200 1 \"-\" \"\xc3\x28\"";
    with(COMBINED, line, |r| {
        assert_eq!(r.request().path.unwrap().raw, b"/\xff\x00x");
        assert_eq!(r.user_agent().unwrap().raw, b"\xc3\x28");
    });
}

#[test]
fn crlf_and_newline_endings() {
    let line =
        b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\r\n";
    with(COMBINED, line, |r| {
        assert_eq!(s(r.user_agent()).as_deref(), Some("ua"));
        assert!(r.is_exact());
    });
}

#[test]
fn clients_lists_hostnames_ipv6_and_users() {
    for (line, addr) in [
        (&br#"10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#[..], "10.0.0.2, 10.0.0.1, 127.0.0.1"),
        (br#"in24.inetnebr.com - - [01/Aug/1995:00:00:01 -0400] "GET / HTTP/1.0" 200 5 "-" "-""#, "in24.inetnebr.com"),
        (br#"2a02:cf40:: - remote_monitoring_user [24/Aug/2022:21:04:17 +0000] "POST /_bulk HTTP/1.1" 200 470 "-" "-""#, "2a02:cf40::"),
        (br#"::1 - username@example.com [07/Apr/2016:18:42:24 +0000] "GET / HTTP/1.1" 400 75 "" """#, "::1"),
    ] {
        with(COMBINED, line, |r| assert_eq!(s(r.remote_addr()).as_deref(), Some(addr)));
    }
    // A vhost before the client is not an address list.
    let vhost = br#"vhost1.domaine.fr 192.168.33.2 - - [26/Dec/2016:16:22:14 +0000] "GET / HTTP/1.1" 404 499 "-" "-""#;
    assert!(rejected(COMBINED, vhost).contains("remote_addr"));
    with("nginx-vhost_combined", vhost, |r| {
        assert_eq!(s(r.host()).as_deref(), Some("vhost1.domaine.fr"));
        assert_eq!(s(r.remote_addr()).as_deref(), Some("192.168.33.2"));
    });
}

const INGRESS: &str = "nginx-upstreaminfo";

fn ingress_line(upstreams: &str) -> Vec<u8> {
    format!(
        r#"192.168.64.14 - - [07/Feb/2020:12:02:42 +0000] "GET /v2/some HTTP/1.1" 502 61 "-" "curl" 348 0.201 [default-web2-8080] [] {upstreams} 835136ae24486dbb4156dcbe21f5d402"#
    )
    .into_bytes()
}

fn attempts(line: &[u8], grammar: &str) -> Vec<AttemptRow> {
    with(grammar, line, |r| {
        r.upstreams()
            .map(|a| (b(a.addr), a.status, a.response_time, a.group))
            .collect()
    })
}

#[test]
fn upstream_lists_zip_into_attempts() {
    let got = attempts(
        &ingress_line("172.17.0.6:8080, 172.17.0.7:8080 61, 100 0.100, 0.004 502, 200"),
        INGRESS,
    );
    assert_eq!(
        got,
        [
            (Some("172.17.0.6:8080".into()), Some(502), Some(0.1), 0),
            (Some("172.17.0.7:8080".into()), Some(200), Some(0.004), 0),
        ]
    );
    with(
        INGRESS,
        &ingress_line("a:1, b:2 61, 100 0.100, 0.004 502, 200"),
        |r| {
            assert_eq!(r.status(), Some(502));
            assert_eq!(r.request_time(), Some(0.201));
            assert_eq!(
                s(r.field("req_id")).as_deref(),
                Some("835136ae24486dbb4156dcbe21f5d402")
            );
            assert_eq!(
                s(r.field("proxy_upstream_name")).as_deref(),
                Some("default-web2-8080")
            );
        },
    );
}

#[test]
fn upstream_dashes_sockets_ipv6_and_groups() {
    // Partial lists with `-` entries.
    let got = attempts(
        &ingress_line("172.17.0.6:8080, 172.17.0.7:8080 - 0.100, - 200, -"),
        INGRESS,
    );
    assert_eq!(
        got,
        [
            (Some("172.17.0.6:8080".into()), Some(200), Some(0.1), 0),
            (Some("172.17.0.7:8080".into()), None, None, 0),
        ]
    );
    // The request never reached an upstream.
    assert!(attempts(&ingress_line("- - - -"), INGRESS).is_empty());
    let got = attempts(
        &ingress_line("unix:/var/run/php-fpm.sock 59 0.002 200"),
        INGRESS,
    );
    assert_eq!(got[0].0.as_deref(), Some("unix:/var/run/php-fpm.sock"));
    let got = attempts(
        &ingress_line("[2a02:cf40::7]:5000, [2a02:cf40::4e36]:5000 0, 0 0.000, 0.000 502, 502"),
        INGRESS,
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].0.as_deref(), Some("[2a02:cf40::4e36]:5000"));
    assert_eq!(got[1].1, Some(502));
    // Groups after an internal redirect: ` : ` between them.
    let line = br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-" 0.300 10.0.0.1:80, 10.0.0.2:80 : 10.0.0.9:80 502, 504 : 200 0.100, 0.100 : 0.100 0.001, 0.001 : 0.001 0.050, - : 0.020"#;
    let got = attempts(line, "nginx-upstream");
    assert_eq!(
        got,
        [
            (Some("10.0.0.1:80".into()), Some(502), Some(0.1), 0),
            (Some("10.0.0.2:80".into()), Some(504), Some(0.1), 0),
            (Some("10.0.0.9:80".into()), Some(200), Some(0.1), 1),
        ]
    );
    with("nginx-upstream", line, |r| {
        let a: Vec<_> = r.upstreams().collect();
        assert_eq!(a[0].connect_time(), Some(0.001));
        assert_eq!(a[0].header_time(), Some(0.05));
        assert_eq!(a[1].header_time(), None);
    });
}

#[test]
fn trailing_fields_are_accepted_and_flagged() {
    let line = br#"172.17.0.1 - - [29/May/2017:19:02:48 +0000] "GET /s HTTP/1.1" 404 612 "-" "Firefox" "-" "2.75""#;
    with(COMBINED, line, |r| {
        assert!(r.has_trailing());
        assert_eq!(r.fit(), 2);
        assert_eq!(r.status(), Some(404));
    });
    let glued =
        br#"172.17.0.1 - - [29/May/2017:19:02:48 +0000] "GET /s HTTP/1.1" 404 612 "-" "Firefox"x"#;
    assert!(rejected(COMBINED, glued).contains("after the last field"));
}

#[test]
fn rejections_say_where_and_why() {
    assert_eq!(
        rejected(
            COMBINED,
            b"2021/12/01 13:53:33 [error] 31#31: *46 \"/usr/x\" is not found"
        ),
        "an nginx error-log line, not an access-log line"
    );
    assert_eq!(
        rejected(
            COMBINED,
            b"[Thu Oct 13 09:12:01.123 2016] [auth_basic:error] [pid 1] AH01618"
        ),
        "an Apache error-log line, not an access-log line"
    );
    assert_eq!(
        rejected(COMBINED, b"just some words"),
        "field `remote_addr` never ends: no ` - ` after it"
    );
    let msg = rejected(
        COMBINED,
        br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 2x0 5 "-" "-""#,
    );
    assert_eq!(msg, "field `status` has an invalid value `2x0`");
    let msg = rejected(
        COMBINED,
        br#"1.2.3.4 - - [31/Feb/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-""#,
    );
    assert!(
        msg.starts_with("field `time_local` has an invalid value"),
        "{msg}"
    );
    let msg = rejected(COMBINED, b"1.2.3.4 - - (no bracket");
    assert!(msg.starts_with("field `remote_user` never ends"), "{msg}");
}

#[test]
fn too_long_lines_are_rejected_not_parsed() {
    let mut line = b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /".to_vec();
    line.resize(MAX_LINE + 10, b'a');
    let mut parser = LineParser::new(&[grammar(COMBINED)]);
    assert!(matches!(
        parser.parse(&line),
        Outcome::Rejected(Reject {
            kind: RejectKind::TooLong,
            ..
        })
    ));
}

#[test]
fn blank_lines_are_blank() {
    let mut parser = LineParser::new(&[grammar(COMBINED)]);
    for line in [&b""[..], b"\r\n", b"   \t"] {
        assert!(matches!(parser.parse(line), Outcome::Blank));
    }
}

#[test]
fn time_formats_and_duration_units() {
    with(
        "$time_iso8601 $status $request_time",
        b"2016-10-25T14:49:33+02:00 200 0.250",
        |r| {
            assert_eq!(r.time().unwrap().to_rfc3339_utc(), "2016-10-25T12:49:33Z");
            assert_eq!(r.request_time(), Some(0.25));
        },
    );
    with("$msec $status", b"1472203200.123 502", |r| {
        assert_eq!(r.time().unwrap().micros, 1_472_203_200_123_000);
    });
    with(
        r#"%h %{%Y-%m-%d %H:%M:%S %z}t %>s %D"#,
        b"1.2.3.4 2019-02-26 15:39:42 +0100 503 1500000",
        |r| {
            assert_eq!(r.time().unwrap().to_rfc3339_utc(), "2019-02-26T14:39:42Z");
            assert_eq!(r.request_time(), Some(1.5));
            assert_eq!(r.status(), Some(503));
        },
    );
    with(
        r#"%h %t %{ms}T %U%q %m"#,
        b"1.2.3.4 [10/Oct/2000:13:55:36 -0700] 250 /a/b?x=1 GET",
        |r| {
            assert_eq!(r.request_time(), Some(0.25));
            let req = r.request();
            assert_eq!(s(req.path).as_deref(), Some("/a/b"));
            assert_eq!(s(req.query).as_deref(), Some("x=1"));
            assert_eq!(b(req.method).as_deref(), Some("GET"));
        },
    );
}

#[test]
fn json_escaped_nginx_fields() {
    let g = crate::grammar::nginx::parse_log_format_with(
        "j",
        r#"{"status":"$status","ua":"$http_user_agent"}"#,
        crate::grammar::Escape::Json,
    )
    .unwrap();
    let mut parser = LineParser::new(&[Arc::new(g)]);
    let line = br#"{"status":"503","ua":"a \"quoted\" \u00e9 agent"}"#;
    let Outcome::Record(r) = parser.parse(line) else {
        panic!()
    };
    assert_eq!(r.status(), Some(503));
    assert_eq!(
        s(r.user_agent()).as_deref(),
        Some("a \"quoted\" \u{e9} agent")
    );
}

fn w3c_outcomes(text: &str) -> Vec<String> {
    let mut parser = LineParser::new(&[grammar("iis-w3c")]);
    text.split('\n')
        .map(|line| match parser.parse(line.as_bytes()) {
            Outcome::Record(r) => format!(
                "{} {} {} {}",
                r.status().map_or("-".into(), |s| s.to_string()),
                s(r.request().path).unwrap_or_default(),
                s(r.user_agent()).unwrap_or_default(),
                r.time().map(|t| t.to_rfc3339_utc()).unwrap_or_default()
            ),
            Outcome::Directive => "directive".into(),
            Outcome::Blank => "blank".into(),
            Outcome::Rejected(rej) => {
                format!("rejected: {}", parser.describe(&rej, line.as_bytes()))
            }
        })
        .collect()
}

#[test]
fn w3c_fields_switch_mid_file_and_plus_decodes() {
    let text = "#Software: Microsoft Internet Information Services 10.0\r\n\
        #Fields: date time cs-method cs-uri-stem sc-status cs(User-Agent)\r\n\
        2018-01-01 08:09:10 GET /a 200 Mozilla/5.0+(Windows)\r\n\
        #Fields: date time sc-status cs-uri-stem\r\n\
        2018-01-01 09:10:11 503 /b\r\n\
        2018-01-01 09:10:12 GET /c 404 curl\r\n\
        2018-01-01 09:10:13 GET /c 404\r\n\
        \r\n\
        2018-13-01 09:10:13 500 /d";
    assert_eq!(
        w3c_outcomes(text),
        [
            "directive",
            "directive",
            "200 /a Mozilla/5.0 (Windows) 2018-01-01T08:09:10Z",
            "directive",
            "503 /b  2018-01-01T09:10:11Z",
            // Six values: the earlier six-field layout of this file fits.
            "404 /c curl 2018-01-01T09:10:12Z",
            "rejected: 5 values where the last #Fields directive declares 4, and no earlier #Fields of this file has 5",
            "blank",
            "rejected: field `date` has an invalid value `2018-13-01`",
        ]
    );
}

#[test]
fn w3c_without_header_uses_builtin_layouts_by_count() {
    let text = "2018-01-01 08:09:10 127.0.0.1 GET / q=100 80 - 81.2.69.143 Mozilla/5.0+(X11) - 503 0 0 123\n\
                2018-01-01 08:09:10 127.0.0.1 GET / q=100";
    let out = w3c_outcomes(text);
    assert_eq!(out[0], "503 / Mozilla/5.0 (X11) 2018-01-01T08:09:10Z");
    assert!(
        out[1].starts_with("rejected: 6 values before any #Fields"),
        "{}",
        out[1]
    );
}

#[test]
fn w3c_quoted_values_and_time_taken() {
    let mut parser = LineParser::new(&[grammar("iis-w3c")]);
    assert!(matches!(
        parser.parse(b"#Fields: date time cs-uri-stem c-ip cs(User-Agent) sc-status time-taken"),
        Outcome::Directive
    ));
    let line = br#"2012-08-15 17:00:00.363 /p "70.95.0.0" "Mozilla/5.0 (Linux; ""x"")" 200 1500"#;
    let Outcome::Record(r) = parser.parse(line) else {
        panic!()
    };
    assert_eq!(s(r.remote_addr()).as_deref(), Some("70.95.0.0"));
    assert_eq!(r.request_time(), Some(1.5));
    assert_eq!(
        r.time().unwrap().to_rfc3339_utc(),
        "2012-08-15T17:00:00.363Z"
    );
}

/// Values servers really write that a strict check must still take: an
/// empty `X-Forwarded-For` header, a client on a unix socket, IPv6 with a
/// zone, an upstream group name when every server is down, `-` in lists,
/// and the `[]` of an empty ingress-nginx alternative upstream.
#[test]
fn strict_fields_take_what_servers_write() {
    with(
        "nginx-main",
        br#"10.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" """#,
        |r| assert_eq!(r.status(), Some(200)),
    );
    with(
        "nginx-combined",
        br#"fe80::1%eth0 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua""#,
        |r| assert_eq!(s(r.remote_addr()).as_deref(), Some("fe80::1%eth0")),
    );
    with(
        "nginx-upstream",
        br#"10.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 502 5 "-" "ua" 0.001 backend 502 - - -"#,
        |r| {
            let a: Vec<_> = r.upstreams().collect();
            assert_eq!(b(a[0].addr).as_deref(), Some("backend"));
            assert_eq!((a[0].status, a[0].response_time), (Some(502), None));
        },
    );
    with(
        "nginx-upstream",
        br#"10.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 504 5 "-" "ua" 60.001 10.0.1.1:80, unix:/run/app.sock : 10.0.1.2:80 504, - : 200 60.000, - : 0.001 -, - : 0.001 60.000, - : 0.001"#,
        |r| {
            let a: Vec<_> = r.upstreams().collect();
            assert_eq!(a.len(), 3);
            assert_eq!(b(a[1].addr).as_deref(), Some("unix:/run/app.sock"));
            assert_eq!(a[2].status, Some(200));
        },
    );
    with(
        "nginx-upstreaminfo",
        br#"192.168.64.1 - - [07/Feb/2020:11:48:51 +0000] "POST /products HTTP/1.1" 200 59 "-" "curl/7.54.0" 89 0.001 [default-web-8080] [] 172.17.0.5:8080 59 0.000 200 529a007902362a5f51385a5fa7049884"#,
        |r| assert_eq!(r.upstreams().count(), 1),
    );
    with(
        "traefik-common",
        br#"10.0.0.9 - - [10/Oct/2024:13:55:36 +0200] "GET / HTTP/2.0" 200 17 "-" "grpc-go/1.6" 12 "grpc@docker" "h2c://10.0.1.12:9000" 3ms"#,
        |r| {
            let a: Vec<_> = r.upstreams().collect();
            assert_eq!(b(a[0].addr).as_deref(), Some("h2c://10.0.1.12:9000"));
        },
    );
    with(
        "apache-combined",
        br#"10.0.0.1 - John Smith [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua""#,
        |r| assert_eq!(s(r.remote_user()).as_deref(), Some("John Smith")),
    );
    assert!(rejected(
        "apache-vhost_combined",
        br#"www.example.org:443 a a - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua""#
    )
    .contains("`%u`"));
    // And what they never write: a two-digit status, a word for a time.
    assert!(rejected(
        "nginx-combined",
        br#"10.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 20 5 "-" "ua""#
    )
    .contains("`status`"));
}

/// Every length across the word, block and memchr boundaries, the byte at
/// every place (and again after it), with bytes around it that a zero-byte
/// test could mistake for it (one more, one less, the high bit set).
#[test]
fn find_byte_finds_the_first_occurrence_at_any_length_and_place() {
    for len in 0..300usize {
        for byte in [b' ', b'"', 0u8, 0x80, 0xff] {
            let filler = [
                byte ^ 1,
                byte.wrapping_sub(1),
                byte ^ 0x80,
                byte.wrapping_add(1),
            ];
            let mut hay: Vec<u8> = (0..len).map(|i| filler[i % filler.len()]).collect();
            assert_eq!(find_byte(&hay, byte), None, "len {len} byte {byte}");
            for at in 0..len {
                let saved = hay[at];
                hay[at] = byte;
                assert_eq!(
                    find_byte(&hay, byte),
                    Some(at),
                    "len {len} at {at} byte {byte}"
                );
                if at + 1 < len {
                    let next = hay[at + 1];
                    hay[at + 1] = byte;
                    assert_eq!(find_byte(&hay, byte), Some(at), "twice: len {len} at {at}");
                    hay[at + 1] = next;
                }
                hay[at] = saved;
            }
        }
    }
}
