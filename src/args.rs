//! The command line as clap reads it: every subcommand's arguments, with
//! the help text users see. `main.rs` turns them into the library's
//! configuration; the library never sees these types.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use logspike::{config, output};

#[derive(Parser)]
#[command(
    name = "logspike",
    version,
    about = "Fast analysis of Nginx, Apache and IIS access logs"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// When the 5xx errors happened, which upstreams and paths carried
    /// them, and how bad each incident was (the default command).
    Report(ReportArgs),
    /// Converts logs to typed, Hive-partitioned Parquet (one row per request).
    #[cfg(feature = "parquet")]
    Export(ExportArgs),
    /// Per file: the format used and why, lines parsed and rejected, time
    /// span, and the first rejected lines with the reason.
    Check(CheckArgs),
    /// Lists the known formats (built in, and from the configs given).
    Formats(FormatArgs),
    /// Follows live logs like `tail -F` and raises an alert when a 5xx
    /// burst starts and a recovery when it ends.
    #[command(args_override_self = true)]
    Tail(TailArgs),
    /// Prints the completion script of a shell: `logspike completions bash
    /// > /etc/bash_completion.d/logspike`, or for zsh into a directory of
    /// `$fpath` as `_logspike`, or for fish into
    /// `~/.config/fish/completions/logspike.fish`.
    Completions(CompletionsArgs),
    /// Prints the man page (roff): `logspike man > logspike.1`.
    Man,
}

/// Which requests to look at.
#[derive(Args, Clone)]
pub(crate) struct FilterArgs {
    /// Only requests to this host (the `Host` header or virtual host, any
    /// case).
    #[arg(long, value_name = "HOST")]
    pub(crate) host: Option<String>,
    /// Only requests that tried this upstream (`10.0.0.3:8080`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) upstream: Option<String>,
    /// Only requests with this status or class: `503`, `5xx`.
    #[arg(long, value_name = "STATUS", value_parser = logspike::analysis::StatusFilter::parse)]
    pub(crate) status: Option<logspike::analysis::StatusFilter>,
    /// Only requests whose path starts with this (`/api/`).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) path_prefix: Option<String>,
    /// Only requests for which this holds: `status >= 500 and path ^= /api/`,
    /// `upstream in (10.0.0.3:8080, 10.0.0.4:8080)`, `not method = GET`,
    /// `agent ~ bot`. Fields: host, path, query, method, protocol, upstream,
    /// client, user, agent, referer, status, upstream_status, bytes,
    /// request_time. See docs/filters.md.
    #[arg(long = "where", value_name = "EXPR", value_parser = logspike::analysis::Expr::parse)]
    pub(crate) expr: Option<logspike::analysis::Expr>,
}

impl FilterArgs {
    pub(crate) fn filter(&self) -> logspike::analysis::Filter {
        logspike::analysis::Filter {
            host: self.host.clone(),
            upstream: self.upstream.clone(),
            status: self.status,
            path_prefix: self.path_prefix.clone(),
            expr: self.expr.clone(),
        }
    }
}

#[derive(Args)]
pub(crate) struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Args, Clone)]
pub(crate) struct TailArgs {
    /// Read options from this TOML file (keys: the long option names,
    /// `paths` for the files); the command line's options win, and SIGHUP
    /// reads it again. See docs/tail.md.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Files, globs (quoted, so the shell leaves them: 'logs/*.log') or
    /// directories to follow; `-` for standard input (a pipe, read until it
    /// closes). A path that does not exist yet is waited for. None: the
    /// access logs the installed server's config names.
    #[arg(value_name = "PATHS")]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) formats: FormatArgs,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Use this format for the paths matching a glob: `PATTERN=NAME`
    /// (repeatable; the first match wins, others use --format or detection).
    #[arg(long, value_name = "PATTERN=NAME")]
    pub(crate) format_for: Vec<String>,
    /// Read existing files from their start (default: from their end).
    #[arg(long)]
    pub(crate) from_start: bool,
    /// Remember positions in this file and resume from them.
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
    /// An alert rule (repeatable): `503 >= 50 in 30s`, `5xx >= 100 in 1m by path`,
    /// `5xx rate > 5% over 1m min 100 by upstream`, or `spike [over 1h]` (the
    /// report's incident finder on the recent past). Default: `503 >= 50 in 30s
    /// by upstream`, `502 >= 50 in 30s by path`, `5xx rate > 5% over 1m min 100`,
    /// `spike`.
    #[arg(long = "alert", value_name = "RULE")]
    pub(crate) alerts: Vec<String>,
    /// How long (in log time) a firing alert's window must keep to its rule
    /// before the recovery is raised.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = config::duration)]
    pub(crate) settle: Duration,
    /// `text` for people, `json` for one JSON object per alert.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub(crate) output: String,
    /// Run this shell command per alert, with the alert's JSON on its stdin.
    #[arg(long, value_name = "CMD")]
    pub(crate) exec: Option<String>,
    /// Send alerts to this Alertmanager (API v2; repeatable, for an HA
    /// pair): `http://127.0.0.1:9093`. Firing alerts are sent again every
    /// --alertmanager-resend until they resolve.
    #[arg(long, value_name = "URL", value_parser = logspike::tail::deliver::url)]
    pub(crate) alertmanager: Vec<String>,
    /// How often firing alerts are sent to Alertmanager again.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = config::duration)]
    pub(crate) alertmanager_resend: Duration,
    /// A label on every Alertmanager alert, `NAME=VALUE` (repeatable):
    /// `severity=critical`, `team=web`.
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = logspike::tail::deliver::label)]
    pub(crate) labels: Vec<(String, String)>,
    /// The link Alertmanager shows as the alerts' source.
    #[arg(long, value_name = "URL")]
    pub(crate) generator_url: Option<String>,
    /// POST each alert to this URL (repeatable): the JSON of --output json,
    /// or the shape --webhook-template names.
    #[arg(long, value_name = "URL", value_parser = logspike::tail::deliver::url)]
    pub(crate) webhook: Vec<String>,
    /// A file holding one header line for the webhooks, such as
    /// `Authorization: Bearer TOKEN` (kept off the command line).
    #[arg(long, value_name = "FILE")]
    pub(crate) webhook_header_file: Option<PathBuf>,
    /// `json` (the alert as --output json writes it) or `slack` (`{"text":
    /// ...}`, which Slack, Mattermost and Rocket.Chat take).
    #[arg(long, value_name = "NAME", default_value = "json", value_parser = logspike::tail::deliver::Template::parse)]
    pub(crate) webhook_template: logspike::tail::deliver::Template,
    /// Each Alertmanager or webhook request's time limit.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = config::duration)]
    pub(crate) http_timeout: Duration,
    /// Kill an --exec command still running after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = config::duration)]
    pub(crate) exec_timeout: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics (`127.0.0.1:9187`;
    /// port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    /// Poll files at this interval instead of waiting for file system events.
    #[arg(long, value_name = "DURATION", value_parser = config::duration_ms)]
    pub(crate) poll: Option<Duration>,
    /// Keep a rotated or deleted file open this long after it last grew, for
    /// a server that has not reopened its log yet.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = config::duration)]
    pub(crate) rotate_grace: Duration,
    /// Extra path normalization for `by path`, `REGEX=REPLACEMENT`.
    #[arg(long, value_name = "RULE")]
    pub(crate) path_rule: Vec<String>,
}

#[derive(Args, Clone)]
pub(crate) struct FormatArgs {
    /// Use this format for every file (see `logspike formats`); without it,
    /// each file's format is detected.
    #[arg(long, value_name = "NAME")]
    pub(crate) format: Option<String>,
    /// A format given inline, in nginx (`$var`) or Apache (`%x`) syntax.
    #[arg(long, value_name = "FORMAT", conflicts_with = "format")]
    pub(crate) log_format: Option<String>,
    /// Read every `log_format` of this nginx configuration.
    #[arg(long, value_name = "FILE")]
    pub(crate) nginx_conf: Vec<PathBuf>,
    /// Read every `LogFormat` of this Apache configuration.
    #[arg(long, value_name = "FILE")]
    pub(crate) apache_conf: Vec<PathBuf>,
    /// Do not read the installed server's own config (`/etc/nginx`,
    /// `/etc/apache2`, `/etc/httpd`) for formats and the logs they name.
    #[arg(long)]
    pub(crate) no_server_config: bool,
    /// Look for the server config under this directory instead of `/`
    /// (a container's root, a copy of a server's `/etc`); absolute paths in
    /// the configs, `--nginx-conf` and `--apache-conf` too, are taken
    /// under it.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "LOGSPIKE_SERVER_ROOT"
    )]
    pub(crate) server_root: PathBuf,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Files, directories (their files, rotated sets oldest first) or `-`;
    /// none: the access logs the installed server's config names.
    #[arg(value_name = "PATHS")]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) formats: FormatArgs,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// `host`: a section per host (the busiest 20), each with its own
    /// timeline, incidents and tables, after a table of hosts. Text or
    /// JSON; reads the inputs twice (files, not `-`).
    #[arg(long, value_name = "DIMENSION", value_parser = ["host", "vhost"])]
    pub(crate) by: Option<String>,
    /// Window size: 10s, 1m, 5m, 1h, 1d... (default: chosen from the span).
    #[arg(long, value_name = "SIZE", value_parser = config::duration)]
    pub(crate) window: Option<Duration>,
    /// Only requests at or after this time: RFC 3339, `YYYY-MM-DD[
    /// HH:MM:SS]` (UTC), a span back from now (`2h`, `90m`, `1d`, `2 hours
    /// ago`), `today` or `yesterday` (midnight at --tz). The report says the
    /// range it used.
    #[arg(long, value_name = "TIME", value_parser = config::time_arg)]
    pub(crate) since: Option<config::TimeArg>,
    /// Only requests before this time (the same forms).
    #[arg(long, value_name = "TIME", value_parser = config::time_arg)]
    pub(crate) until: Option<config::TimeArg>,
    /// Extra path normalization, `REGEX=REPLACEMENT`, applied before the built-in rules.
    #[arg(long, value_name = "RULE")]
    pub(crate) path_rule: Vec<String>,
    /// `text` for people, `json` for programs (docs/report-json.md),
    /// `ndjson` for one JSON object per window and line (for `jq`), `csv`
    /// for one table (see --table), `html` for one self-contained page,
    /// `parquet` for the windows, incidents, upstreams and paths tables as
    /// Parquet files in the directory given with -o.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = output::Format::parse)]
    pub(crate) output: output::Format,
    /// Write the output to this file (written under a temporary name and
    /// renamed when complete) instead of standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The table `--output csv` writes.
    #[arg(long, value_name = "TABLE", default_value = "windows", value_parser = logspike::output::CSV_TABLES)]
    pub(crate) table: String,
    /// Rows in each top table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    /// Fewest 5xx an incident holds.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) min_5xx: u64,
    /// An incident's 5xx rate is at least this multiple of its series'
    /// baseline rate.
    #[arg(long, value_name = "X", default_value_t = 2.0, value_parser = config::positive)]
    pub(crate) min_lift: f64,
    /// Chance of a false alarm in a whole report of noise (lower: only
    /// stronger incidents).
    #[arg(long, value_name = "P", default_value_t = 0.01, value_parser = config::probability)]
    pub(crate) false_alarm: f64,
    /// Exit with status 1 when an incident was found.
    #[arg(long)]
    pub(crate) fail_on_incident: bool,
    /// Show times of the text report in this zone: `UTC`, an offset
    /// (`+01:00`, `-0530`), an IANA zone (`Europe/Berlin`, daylight saving
    /// included) or `local`. JSON and CSV are always UTC.
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = config::zone, allow_hyphen_values = true)]
    pub(crate) tz: config::Zone,
    /// Worker threads for large plain files (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
}

#[cfg(feature = "parquet")]
#[derive(Args)]
pub(crate) struct ExportArgs {
    /// Write Parquet files under this directory, or under an object
    /// storage prefix: `s3://BUCKET/PREFIX/` (credentials, region and
    /// `AWS_ENDPOINT_URL` from the environment or the AWS profile),
    /// `gs://`, `az://`.
    #[arg(long, value_name = "DIR|URL")]
    pub(crate) parquet: PathBuf,
    /// How long one request to object storage is retried (with backoff)
    /// before the export fails.
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = config::duration)]
    pub(crate) upload_timeout: Duration,
    /// Object storage: files larger than this many MiB go up in parts of
    /// this size, four at a time.
    #[arg(long, value_name = "MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(5..=5000))]
    pub(crate) upload_part_mib: u32,
    /// Files, directories (rotated sets oldest first) or `-`; none: the
    /// access logs the installed server's config names.
    #[arg(value_name = "PATHS")]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) formats: FormatArgs,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// `date` (date=YYYY-MM-DD/), `hour` (adds hour=HH/) or `none`;
    /// `server` first (`server`, `server,hour`) adds server=NAME/ above
    /// them, for a fleet exporting into one place (NAME: --server-name or
    /// this machine's host name).
    #[arg(long, value_name = "BY", default_value = "date", value_parser = logspike::export::parse_partitioning)]
    pub(crate) partition: (logspike::export::Partition, bool),
    /// The name in server=NAME/ (default: this machine's host name).
    #[arg(long, value_name = "NAME")]
    pub(crate) server_name: Option<String>,
    /// `zstd`, `snappy` or `none`.
    #[arg(long, value_name = "CODEC", default_value = "zstd", value_parser = logspike::output::parquet::Codec::parse)]
    pub(crate) compression: logspike::output::parquet::Codec,
    /// Rows per row group.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub(crate) row_group_size: usize,
    /// Replace an existing output directory.
    #[arg(long, conflicts_with = "append")]
    pub(crate) overwrite: bool,
    /// Add new files to an existing output directory (never rewriting any).
    #[arg(long)]
    pub(crate) append: bool,
    /// Write every rejected line to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) rejects: Option<PathBuf>,
    /// Extra path normalization for `path_normalized`, `REGEX=REPLACEMENT`.
    #[arg(long, value_name = "RULE")]
    pub(crate) path_rule: Vec<String>,
    /// Write sums per window of this size (`1m`, `5m`, `1h`) instead of one
    /// row per request: `requests/` and `attempts/` tables whose SUM over
    /// any rows is exact, latency as fixed buckets (docs/parquet.md).
    #[arg(long, value_name = "SIZE", value_parser = config::duration, conflicts_with = "rejects")]
    pub(crate) rollup: Option<Duration>,
    /// With --rollup: the per-request rows too, from the same reading
    /// (rows under date=..., rollups under requests/ and attempts/).
    #[arg(long, requires = "rollup")]
    pub(crate) rows: bool,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Files, directories (their files) or `-` for standard input; none:
    /// the access logs the installed server's config names.
    #[arg(value_name = "PATHS")]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) formats: FormatArgs,
    /// Write every rejected line to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) rejects: Option<PathBuf>,
    /// Exit with status 1 when a file parses less than this share (percent).
    #[arg(long, value_name = "PERCENT")]
    pub(crate) min_coverage: Option<f64>,
    /// How many rejected lines to show per file.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub(crate) show_rejects: usize,
    /// Worker threads for large plain files (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub(crate) threads: Option<usize>,
}

/// `logspike tail --config FILE`: the file's settings become options put
/// before those of the command line, so that a flag given there wins (a
/// repeatable one adds to the file's). A key is a `tail` option's long
/// name (`alert`, `alertmanager`, `format-for` or `format_for`), `paths`
/// the files to follow; a value is a string, a number, `true` for a flag,
/// or an array for a repeatable option.
pub(crate) fn expand_config(
    argv: Vec<std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>, String> {
    use std::ffi::OsString;
    if argv.get(1).is_none_or(|a| a != "tail") {
        return Ok(argv);
    }
    let mut path: Option<OsString> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i].to_string_lossy();
        if a == "--config" {
            path = argv.get(i + 1).cloned();
            i += 1;
        } else if let Some(p) = a.strip_prefix("--config=") {
            path = Some(p.into());
        } else if a == "--" {
            break;
        }
        i += 1;
    }
    let Some(path) = path else {
        return Ok(argv);
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--config {shown}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("--config {shown}: {e}"))?;
    let tail = <Cli as clap::CommandFactory>::command();
    let tail = tail
        .find_subcommand("tail")
        .ok_or("no tail command")?
        .clone();
    let mut options = Vec::new();
    let mut paths = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let scalar = |v: &toml::Value| -> Result<String, String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(x) => Ok(x.to_string()),
                _ => Err(format!(
                    "--config {shown}: `{key}` takes a string or a number (or an array of them)"
                )),
            }
        };
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        if name == "paths" {
            for v in values {
                paths.push(OsString::from(scalar(v)?));
            }
            continue;
        }
        let arg = tail
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()))
            .filter(|_| name != "config")
            .ok_or_else(|| {
                format!("--config {shown}: `{key}` is not an option of logspike tail (see logspike tail --help)")
            })?;
        let flag = !arg.get_action().takes_values();
        for v in values {
            match (flag, v) {
                (true, toml::Value::Boolean(true)) => {
                    options.push(OsString::from(format!("--{name}")))
                }
                (true, toml::Value::Boolean(false)) => {}
                (true, _) => {
                    return Err(format!(
                        "--config {shown}: `{key}` is a flag: true or false"
                    ))
                }
                (false, v) => options.push(OsString::from(format!("--{name}={}", scalar(v)?))),
            }
        }
    }
    let mut out: Vec<OsString> = argv[..2].to_vec();
    out.extend(options);
    out.extend(argv[2..].iter().cloned());
    // Paths last: after `--` a path may start with a dash.
    if !paths.is_empty() {
        if !out.iter().any(|a| a == "--") {
            out.push("--".into());
        }
        out.extend(paths);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(toml: &str, after: &[&str]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, toml).unwrap();
        let mut argv: Vec<std::ffi::OsString> = vec![
            "logspike".into(),
            "tail".into(),
            "--config".into(),
            file.clone().into(),
        ];
        argv.extend(after.iter().map(Into::into));
        expand_config(argv).map(|v| {
            v.into_iter()
                .map(|a| a.to_string_lossy().replace(&*file.to_string_lossy(), "C"))
                .collect()
        })
    }

    #[test]
    fn a_config_file_becomes_options_before_the_command_line() {
        let got = expand(
            "paths = [\"a.log\", \"-b.log\"]\nalert = [\"503 >= 5 in 10s\", \"spike\"]\nfrom_start = true\nno_server_config = false\nmetrics = \"127.0.0.1:0\"\nexec-timeout = 3\nwhere = \"status >= 500\"\n",
            &["--output", "text"],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "logspike",
                "tail",
                "--alert=503 >= 5 in 10s",
                "--alert=spike",
                "--exec-timeout=3",
                "--from-start",
                "--metrics=127.0.0.1:0",
                "--where=status >= 500",
                "--config",
                "C",
                "--output",
                "text",
                "--",
                "a.log",
                "-b.log",
            ]
        );
        // Parsed by the real command: the command line's --output wins
        // over a file's.
        let argv = expand("output = \"json\"\nparse = 1\n", &[]);
        assert!(argv
            .unwrap_err()
            .contains("`parse` is not an option of logspike tail"));
        let argv = expand("output = \"json\"\n", &["--output", "text"]).unwrap();
        let Cli {
            command: Command::Tail(args),
        } = Cli::try_parse_from(argv).unwrap()
        else {
            panic!("not tail")
        };
        assert_eq!(args.output, "text");
        assert!(expand("from_start = \"yes\"\n", &[])
            .unwrap_err()
            .contains("is a flag"));
        assert!(expand("alert = [[1]]\n", &[])
            .unwrap_err()
            .contains("takes a string or a number"));
        assert!(expand("not toml", &[]).unwrap_err().contains("--config"));
        // Other commands, and tail without --config, are left alone.
        let plain: Vec<std::ffi::OsString> =
            vec!["logspike".into(), "report".into(), "--config".into()];
        assert_eq!(expand_config(plain.clone()).unwrap(), plain);
    }
}
