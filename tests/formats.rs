//! Never silently wrong: formats that nearly fit, fields that do not hold
//! their type, and values a format does not log. Every case asserts the
//! values the user would see, not only how many lines were parsed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logspike::grammar::builtin::Registry;
use logspike::grammar::Grammar;
use logspike::parse::{LineParser, Outcome};
use serde_json::Value as Json;

use crate::util::{logspike, report_json, root, run};

fn check_text(args: &[&str], files: &[&Path]) -> String {
    run(logspike().arg("check").args(args).args(files)).text()
}

fn parse_with(grammar: Arc<Grammar>, line: &str, check: impl FnOnce(&logspike::parse::Record)) {
    let mut parser = LineParser::new(&[grammar]);
    match parser.parse(line.as_bytes()) {
        Outcome::Record(r) => check(&r),
        Outcome::Rejected(reject) => {
            panic!("rejected: {}", parser.describe(&reject, line.as_bytes()))
        }
        _ => panic!("not a record"),
    }
}

const TRAEFIK: &str = r#"10.0.0.9 - alice [10/Oct/2024:13:55:36 +0200] "POST /api/orders?id=7 HTTP/2.0" 502 17 "https://shop.example.com/" "curl/8.5.0" 4711 "web-0@docker" "http://10.0.1.12:8080" 31ms"#;

#[test]
fn traefik_is_a_builtin_with_its_backend_as_the_upstream() {
    let g = Registry::new().find("traefik-common").unwrap();
    parse_with(g, TRAEFIK, |r| {
        assert!(r.is_exact());
        assert_eq!(r.remote_addr().unwrap().raw, b"10.0.0.9");
        assert_eq!(r.remote_user().unwrap().raw, b"alice");
        assert_eq!(r.status(), Some(502));
        assert_eq!(r.bytes(), Some(17));
        assert_eq!(r.user_agent().unwrap().raw, b"curl/8.5.0");
        assert_eq!(r.referer().unwrap().raw, b"https://shop.example.com/");
        assert_eq!(r.request_time(), Some(0.031));
        let ups: Vec<_> = r.upstreams().collect();
        assert_eq!(ups.len(), 1);
        assert_eq!(ups[0].addr, Some(&b"http://10.0.1.12:8080"[..]));
        // Traefik logs no upstream status: the backend's answer is the
        // response.
        assert_eq!(ups[0].status, Some(502));
        assert_eq!(r.field("traefik_router").unwrap().raw, b"web-0@docker");
        assert_eq!(r.field("traefik_request_count").unwrap().raw, b"4711");
    });

    // The bundled sample: detected, its burst found on the backend.
    let sample = root().join("sample-logs/formats/traefik-common.log");
    let json = report_json(&[], &[&sample]);
    assert_eq!(json["files"][0]["format"], "traefik-common");
    assert_eq!(json["summary"]["coverage"], 100.0);
    let incident = &json["incidents"][0];
    assert_eq!(incident["scope"]["dimension"], "upstream", "{incident}");
    assert_eq!(incident["scope"]["keys"][0], "http://10.0.1.12:8080");
    assert_eq!(json["upstreams"][0]["upstream"], "http://10.0.1.12:8080");
    assert_eq!(json["upstreams"][0]["errors_5xx"], 17);
    assert_eq!(json["upstreams"][0]["attempts"], 169);
}

#[test]
fn trailing_fields_are_extra_and_never_part_of_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, format!("{TRAEFIK}\n").repeat(3)).unwrap();
    // Named as nginx-combined, the Traefik fields are extra text: the
    // agent ends at its quote.
    let g = Registry::new().find("nginx-combined").unwrap();
    parse_with(g, TRAEFIK, |r| {
        assert!(r.has_trailing());
        assert_eq!(r.user_agent().unwrap().raw, b"curl/8.5.0");
        assert_eq!(
            r.extra().unwrap(),
            &br#" 4711 "web-0@docker" "http://10.0.1.12:8080" 31ms"#[..]
        );
    });
    let text = check_text(&["--format", "nginx-combined"], &[&log]);
    assert!(text.contains("parsed 3 (100.00%)"), "{text}");
    assert!(text.contains("3 parsed lines carry extra fields"), "{text}");
    // nginx-main would take `curl/8.5.0" 4711 "web-0@docker` as the agent
    // and the backend as X-Forwarded-For; it rejects the lines instead,
    // at the agent's closing quote.
    let text = check_text(&["--format", "nginx-main"], &[&log]);
    assert!(text.contains("parsed 0 (0.00%), rejected 3"), "{text}");
    let column = TRAEFIK.find(r#"" 4711"#).unwrap() + 1;
    assert!(
        text.contains(&format!(
            "access.log:1:{column}: field `http_user_agent` closes with a quote"
        )),
        "{text}"
    );
}

#[test]
fn a_layout_nothing_fits_is_rejected_and_said_while_other_files_run() {
    let dir = tempfile::tempdir().unwrap();
    let npm = dir.path().join("proxy-host-1_access.log");
    // Nginx Proxy Manager's layout: time, host, client, request time.
    std::fs::write(
        &npm,
        "[10/Oct/2024:13:55:36 +0000] shop.example.com 203.0.113.7 0.031 \"GET /cart HTTP/1.1\" 503 1234 \"-\" \"curl/8\"\n"
            .repeat(20),
    )
    .unwrap();
    let good = root().join("sample-logs/formats/nginx-combined.log");
    let json = report_json(&[], &[&npm, &good]);
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["format"], "");
    assert_eq!(files[0]["parsed"], 0);
    assert_eq!(files[0]["rejected"], 20);
    let why = files[0]["format_reason"].as_str().unwrap();
    assert!(why.starts_with("no known format fits (nearest "), "{why}");
    assert!(why.contains("column"), "{why}");
    assert_eq!(files[1]["format"], "nginx-combined");
    assert_eq!(files[1]["coverage"], 100.0);
    // No status of the unfitting file was counted as anything.
    assert_eq!(json["summary"]["requests"], files[1]["parsed"]);

    let text = check_text(&[], &[&npm]);
    assert!(text.contains("format      none"), "{text}");
    assert!(text.contains("no known format fits"), "{text}");
}

#[test]
fn a_named_format_that_does_not_fit_rejects_never_reinterprets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let line = r#"1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 12 "-" "ua" slow "edge -> core" "http://10.1.1.1:80" later"#;
    std::fs::write(&log, format!("{line}\n").repeat(4)).unwrap();
    let text = check_text(&["--format", "nginx-upstream"], &[&log]);
    assert!(text.contains("parsed 0 (0.00%), rejected 4"), "{text}");
    assert!(
        text.contains("field `request_time` has an invalid value `slow`"),
        "{text}"
    );
    // Detected, it is combined with extra fields: no upstream, no request
    // time taken from the words.
    let json = report_json(&[], &[&log]);
    assert_eq!(json["files"][0]["format"], "nginx-combined");
    assert_eq!(json["upstreams"].as_array().unwrap().len(), 0);
    assert_eq!(json["windows"][0]["request_time"]["p50"], Json::Null);
}

#[test]
fn a_field_that_does_not_hold_its_type_rejects_at_that_field() {
    let upstream = Registry::new().find("nginx-upstream").unwrap();
    let good = r#"10.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET /a HTTP/1.1" 502 12 "-" "ua" 0.250 10.0.1.1:80, 10.0.1.2:80 502, 200 0.100, 0.150 0.001, 0.001 0.100, 0.150"#;
    parse_with(upstream.clone(), good, |r| {
        let ups: Vec<_> = r.upstreams().collect();
        assert_eq!(ups.len(), 2);
        assert_eq!(ups[1].addr, Some(&b"10.0.1.2:80"[..]));
        assert_eq!(ups[1].status, Some(200));
        assert_eq!(r.request_time(), Some(0.25));
    });
    // Each field corrupted in turn: the line is rejected at that field,
    // never parsed with the value moved to another.
    for (from, to, field) in [
        (" 502 12 ", " 5o2 12 ", "status"),
        (" 502 12 ", " 502 1k ", "body_bytes_sent"),
        ("0.250", "0,250", "request_time"),
        ("10.0.1.1:80,", "edge>core,", "upstream_addr"),
        ("502, 200", "502, ok", "upstream_status"),
        (
            "0.100, 0.150 0.001",
            "0.100, fast 0.001",
            "upstream_response_time",
        ),
        ("10.0.0.1 -", "\"10.0.0.1\" -", "remote_addr"),
    ] {
        let bad = good.replacen(from, to, 1);
        let mut parser = LineParser::new(std::slice::from_ref(&upstream));
        let Outcome::Rejected(reject) = parser.parse(bad.as_bytes()) else {
            panic!("{field}: accepted {bad}");
        };
        let why = parser.describe(&reject, bad.as_bytes());
        assert!(why.contains(&format!("`{field}`")), "{field}: {why}");
    }
}

#[test]
fn a_format_without_bytes_reports_unknown_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("u_ex241010.log");
    std::fs::write(
        &log,
        "#Software: Microsoft Internet Information Services 10.0\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port c-ip cs(User-Agent) sc-status time-taken\n\
         2024-10-10 08:00:01 10.0.0.1 GET /a - 443 203.0.113.5 curl/8 200 15\n\
         2024-10-10 08:00:02 10.0.0.1 GET /b - 443 203.0.113.5 curl/8 503 1500\n",
    )
    .unwrap();
    let json = report_json(&[], &[&log]);
    assert_eq!(json["summary"]["requests"], 2);
    assert_eq!(json["summary"]["errors_5xx"], 1);
    assert_eq!(json["summary"]["bytes"], Json::Null);
    assert_eq!(json["windows"][0]["bytes"], Json::Null);
    let lacking: Vec<_> = json["summary"]["not_logged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(lacking, ["bytes", "upstream"]);
    assert!(json["windows"][1]["request_time"]["p50"].as_f64().unwrap() > 1.4);

    let out = logspike()
        .args(["report", "--output", "csv"])
        .arg(&log)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    let header: Vec<_> = csv.lines().next().unwrap().split(',').collect();
    let bytes = header.iter().position(|h| *h == "bytes").unwrap();
    let first: Vec<_> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first[bytes], "", "{csv}");

    let out = logspike().arg("report").arg(&log).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not in these logs: bytes, upstream"),
        "{text}"
    );

    // A format with a size keeps summing it, `-` of Apache's %b as zero.
    let json = report_json(
        &[],
        &[&root().join("sample-logs/formats/apache-common.log")],
    );
    assert!(json["summary"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(json["summary"]["not_logged"].as_array().unwrap().len(), 2);
}

#[test]
fn nginx_json_logs_go_through_the_same_grammar_path() {
    let dir = root().join("tests/data/nginx-json");
    let conf = dir.join("nginx.conf");
    let log = dir.join("access.log");
    let json = report_json(&["--nginx-conf", conf.to_str().unwrap()], &[&log]);
    assert_eq!(json["files"][0]["format"], "json_combined");
    assert_eq!(json["summary"]["coverage"], 100.0);
    assert_eq!(json["summary"]["requests"], 500);
    assert_eq!(json["summary"]["errors_5xx"], 10);
    assert_eq!(json["upstreams"][0]["upstream"], "10.0.2.23:8080");
    assert_eq!(json["incidents"][0]["scope"]["dimension"], "upstream");

    let text = std::fs::read_to_string(&conf).unwrap();
    let formats = logspike::grammar::nginx::parse_conf(&text).unwrap();
    let g = Arc::new(formats.grammars.into_iter().next().unwrap());
    let first = std::fs::read_to_string(&log).unwrap();
    let first = first.lines().next().unwrap();
    parse_with(g.clone(), first, |r| {
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.bytes(), Some(3211));
        assert_eq!(r.request_time(), Some(0.172));
        assert_eq!(r.request().path.unwrap().raw, b"/search");
        // `\"` and `\\` in JSON strings decode to the agent's own text.
        assert_eq!(
            r.user_agent().unwrap().decode().as_ref(),
            br#"Bot "quoted" \ agent"#
        );
        assert_eq!(r.time().unwrap().offset_secs, 3600);
    });
    let line = r#"{"time":"2025-11-28T16:00:00+01:00","remote_addr":"198.51.100.1","request":"GET / HTTP/1.1","status":504,"body_bytes_sent":0,"request_time":5.002,"upstream_addr":"10.0.2.23:8080, 10.0.2.21:8080","upstream_status":"504, 200","upstream_response_time":"5.001, 0.001","http_referer":"","http_user_agent":"curl/8"}"#;
    parse_with(g.clone(), line, |r| {
        let ups: Vec<_> = r.upstreams().collect();
        assert_eq!(ups.len(), 2);
        assert_eq!((ups[0].status, ups[1].status), (Some(504), Some(200)));
        assert_eq!(ups[1].addr, Some(&b"10.0.2.21:8080"[..]));
    });
    // A number where the format has a string, or a key renamed, is no fit.
    for bad in [
        line.replace(r#""status":504"#, r#""status":"504""#),
        line.replace(r#""request_time""#, r#""rt""#),
    ] {
        let mut parser = LineParser::new(std::slice::from_ref(&g));
        assert!(
            matches!(parser.parse(bad.as_bytes()), Outcome::Rejected(_)),
            "{bad}"
        );
    }
}

fn put(root: &Path, path: &str, text: &str) -> PathBuf {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(&full, text).unwrap();
    full
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// An nginx tree as distributions lay it out: formats in `conf.d`, the
/// site's `access_log` in `sites-enabled`, a broken file among them.
fn nginx_tree(root: &Path) {
    put(
        root,
        "etc/nginx/nginx.conf",
        "user www-data;\nevents {}\nhttp {\n    include mime.types;\n    include /etc/nginx/conf.d/*.conf;\n    include /etc/nginx/sites-enabled/*;\n    access_log /var/log/nginx/access.log;\n}\n",
    );
    put(
        root,
        "etc/nginx/mime.types",
        "types {\n    text/html html;\n}\n",
    );
    put(
        root,
        "etc/nginx/conf.d/logging.conf",
        "# our formats\nlog_format edge '$remote_addr $host [$time_local] \"$request\" '\n                '$status $body_bytes_sent rt=$request_time ua=\"$http_user_agent\"';\n",
    );
    put(
        root,
        "etc/nginx/conf.d/broken.conf",
        "log_format half '$status\n",
    );
    put(
        root,
        "etc/nginx/sites-enabled/shop",
        "server {\n    listen 80;\n    access_log /var/log/nginx/shop.log edge;\n    access_log /var/log/nginx/$host.log edge;\n}\n",
    );
}

const EDGE: &str = r#"203.0.113.9 shop.example.com [10/Oct/2024:13:55:36 +0200] "GET /cart HTTP/1.1" 503 512 rt=1.250 ua="curl/8.5.0""#;

#[test]
fn the_nginx_config_names_each_files_format_with_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    nginx_tree(root);
    let ok = EDGE.replace(" 503 512 rt=1.250", " 200 2048 rt=0.010");
    let shop = put(root, "var/log/nginx/shop.log", &format!("{EDGE}\n{ok}\n"));
    put(root, "var/log/nginx/shop.log.1", &format!("{ok}\n{ok}\n"));
    let gz = root.join("var/log/nginx/shop.log.2.gz");
    std::fs::write(&gz, gzip(&format!("{EDGE}\n"))).unwrap();
    let combined = put(
        root,
        "var/log/nginx/access.log",
        "10.0.0.1 - - [10/Oct/2024:13:55:36 +0200] \"GET / HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n",
    );
    let root_arg = root.to_str().unwrap();

    let out = logspike()
        .args(["check", "--server-root", root_arg])
        .arg(root.join("var/log/nginx"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let logging = root.join("etc/nginx/conf.d/logging.conf");
    let site = root.join("etc/nginx/sites-enabled/shop");
    let why = format!(
        "edge, from {}:2, named for this file by {}:3",
        logging.display(),
        site.display()
    );
    // The log and both of its rotated siblings, the compressed one too.
    assert_eq!(text.matches(&why).count(), 3, "{text}");
    assert!(
        text.contains("parsed 5 (100.00%)") || text.contains("total: 4 files, 6 lines, parsed 6"),
        "{text}"
    );
    let nginx_conf = root.join("etc/nginx/nginx.conf");
    assert!(
        text.contains(&format!(
            "nginx-combined, the server's predefined format, named for this file by {}:7",
            nginx_conf.display()
        )),
        "{text}"
    );
    // The broken file is a warning; the rest of the tree still counts.
    assert!(
        stderr.contains("broken.conf: line 1: a quoted string is never closed; not read"),
        "{stderr}"
    );

    // The values come from the right fields.
    let json = report_json(&["--server-root", root_arg], &[&shop]);
    assert_eq!(json["files"][0]["format"], "edge");
    assert_eq!(json["summary"]["requests"], 2);
    assert_eq!(json["summary"]["errors_5xx"], 1);
    assert_eq!(json["summary"]["bytes"], 2560);
    assert_eq!(json["hosts"][0]["key"], "shop.example.com");
    assert_eq!(
        json["summary"]["not_logged"],
        serde_json::json!(["upstream"])
    );
    let server = logspike::grammar::server::ServerFormats::discover(root);
    let bound = server.for_log(&shop).unwrap();
    parse_with(bound.grammar.clone(), EDGE, |r| {
        assert_eq!(r.remote_addr().unwrap().raw, b"203.0.113.9");
        assert_eq!(r.host().unwrap().raw, b"shop.example.com");
        assert_eq!((r.status(), r.bytes()), (Some(503), Some(512)));
        assert_eq!(r.request_time(), Some(1.25));
        assert_eq!(r.user_agent().unwrap().raw, b"curl/8.5.0");
    });
    assert!(server.for_log(&gz).is_some());
    assert!(server
        .for_log(&root.join("var/log/nginx/shop.log.bak"))
        .is_none());

    // A file the config does not name is detected among the built-ins
    // and the config's formats.
    let elsewhere = dir.path().join("copy.log");
    std::fs::write(&elsewhere, format!("{EDGE}\n").repeat(3)).unwrap();
    let text = check_text(&["--server-root", root_arg], &[&elsewhere]);
    assert!(text.contains("format      edge"), "{text}");
    assert!(text.contains("edge parsed 3 of 3 sampled lines"), "{text}");

    // Turned off, the same log fits nothing known.
    let text = check_text(&["--server-root", root_arg, "--no-server-config"], &[&shop]);
    assert!(text.contains("no known format fits"), "{text}");
    // A config named on the command line follows its includes too, and
    // its formats can be named.
    let text = check_text(
        &[
            "--no-server-config",
            "--server-root",
            root_arg,
            "--format",
            "edge",
            "--nginx-conf",
            nginx_conf.to_str().unwrap(),
        ],
        &[&shop],
    );
    assert!(text.contains("parsed 2 (100.00%)"), "{text}");
    let _ = combined;
}

#[test]
fn the_apache_config_of_debian_and_red_hat_with_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Debian: envvars, conf-enabled, sites-enabled, a missing Include.
    put(root, "etc/apache2/envvars", "export APACHE_RUN_DIR=/var/run/apache2$SUFFIX\nexport APACHE_LOG_DIR=/var/log/apache2$SUFFIX\n");
    put(
        root,
        "etc/apache2/apache2.conf",
        "DefaultRuntimeDir ${APACHE_RUN_DIR}\nInclude ports.conf\nLogFormat \"%v:%p %h %l %u %t \\\"%r\\\" %>s %O \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" vhost_combined\nIncludeOptional conf-enabled/*.conf\nIncludeOptional sites-enabled/*.conf\n",
    );
    put(
        root,
        "etc/apache2/conf-enabled/timing.conf",
        "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O %D \\\"%{User-Agent}i\\\"\" timed\n",
    );
    put(
        root,
        "etc/apache2/sites-enabled/000-default.conf",
        "<VirtualHost *:80>\n    CustomLog ${APACHE_LOG_DIR}/access.log timed\n</VirtualHost>\n",
    );
    let debian = put(
        root,
        "var/log/apache2/access.log",
        "198.51.100.4 - - [10/Oct/2024:13:55:36 +0200] \"GET /x HTTP/1.1\" 503 512 1500000 \"curl/8\"\n",
    );
    // Red Hat: ServerRoot, a relative log path through the `logs` link.
    put(
        root,
        "etc/httpd/conf/httpd.conf",
        "ServerRoot \"/etc/httpd\"\nLogFormat \"%h %t \\\"%r\\\" %>s %b %{ms}T\" short\nCustomLog \"logs/access_log\" short\nIncludeOptional conf.d/*.conf\n",
    );
    std::fs::create_dir_all(root.join("var/log/httpd")).unwrap();
    std::os::unix::fs::symlink("../../var/log/httpd", root.join("etc/httpd/logs")).unwrap();
    let redhat = put(
        root,
        "var/log/httpd/access_log-20241010",
        "198.51.100.5 [10/Oct/2024:13:55:36 +0200] \"GET /y HTTP/1.1\" 502 - 250\n",
    );
    let root_arg = root.to_str().unwrap();
    let out = logspike()
        .args(["report", "--output", "json", "--server-root", root_arg])
        .arg(&debian)
        .arg(&redhat)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("`ports.conf`"), "{stderr}");
    let json: Json = serde_json::from_slice(&out.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["format"], "timed");
    assert!(
        files[0]["format_reason"]
            .as_str()
            .unwrap()
            .contains("000-default.conf:2"),
        "{}",
        files[0]["format_reason"]
    );
    assert_eq!(files[1]["format"], "short");
    assert_eq!(json["summary"]["parsed"], 2);
    assert_eq!(json["summary"]["errors_5xx"], 2);
    assert_eq!(json["summary"]["bytes"], 512);
    assert_eq!(json["status"]["502"], 1);
    assert_eq!(json["status"]["503"], 1);
    let times: Vec<f64> = json["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["request_time"]["p50"].as_f64())
        .collect();
    assert_eq!(times.len(), 1, "both lines share a window");
    // 1.5 s (%D, microseconds) and 0.25 s (%{ms}T): the median of two.
    assert!(times[0] > 0.2 && times[0] < 1.6, "{times:?}");
}
