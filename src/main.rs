//! The `logspike` command: parses arguments and calls the library.
//!
//! Exit status: 0 when the run completed, 1 when `--min-coverage` was not
//! met, 2 for a usage error (unknown format, missing path, unwritable
//! output), reported before any work starts.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use logspike::analysis::{self, spikes::SpikeConfig, PathNormalizer, PathRule};
use logspike::check;
use logspike::detect::FormatChoice;
use logspike::grammar::builtin::{self, Registry};
use logspike::grammar::server::ServerFormats;
use logspike::grammar::{apache, nginx, Grammar, Syntax};
use logspike::input;
use logspike::output::atomic;
use logspike::report::ReportOptions;
use logspike::scan::ScanOptions;

#[derive(Parser)]
#[command(
    name = "logspike",
    version,
    about = "Fast analysis of Nginx, Apache and IIS access logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    Tail(TailArgs),
}

#[derive(Args)]
struct TailArgs {
    /// Files, globs (quoted, so the shell leaves them: 'logs/*.log') or
    /// directories to follow; `-` for standard input (a pipe, read until it
    /// closes). A path that does not exist yet is waited for.
    #[arg(required = true, value_name = "PATHS")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    formats: FormatArgs,
    /// Use this format for the paths matching a glob: `PATTERN=NAME`
    /// (repeatable; the first match wins, others use --format or detection).
    #[arg(long, value_name = "PATTERN=NAME")]
    format_for: Vec<String>,
    /// Read existing files from their start (default: from their end).
    #[arg(long)]
    from_start: bool,
    /// Remember positions in this file and resume from them.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// An alert rule (repeatable): `503 >= 50 in 30s`, `5xx >= 100 in 1m by path`,
    /// `5xx rate > 5% over 1m min 100 by upstream`, or `spike [over 1h]` (the
    /// report's incident finder on the recent past). Default: `503 >= 50 in 30s
    /// by upstream`, `502 >= 50 in 30s by path`, `5xx rate > 5% over 1m min 100`,
    /// `spike`.
    #[arg(long = "alert", value_name = "RULE")]
    alerts: Vec<String>,
    /// How long (in log time) a firing alert's window must keep to its rule
    /// before the recovery is raised.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    settle: i64,
    /// `text` for people, `json` for one JSON object per alert.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Run this shell command per alert, with the alert's JSON on its stdin.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// Kill an --exec command still running after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    exec_timeout: i64,
    /// Serve Prometheus metrics at http://ADDR/metrics (`127.0.0.1:9187`;
    /// port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Poll files at this interval instead of waiting for file system events.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    poll: Option<u64>,
    /// Keep a rotated or deleted file open this long after it last grew, for
    /// a server that has not reopened its log yet.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    rotate_grace: i64,
    /// Extra path normalization for `by path`, `REGEX=REPLACEMENT`.
    #[arg(long, value_name = "RULE")]
    path_rule: Vec<String>,
}

#[derive(Args)]
struct FormatArgs {
    /// Use this format for every file (see `logspike formats`); without it,
    /// each file's format is detected.
    #[arg(long, value_name = "NAME")]
    format: Option<String>,
    /// A format given inline, in nginx (`$var`) or Apache (`%x`) syntax.
    #[arg(long, value_name = "FORMAT", conflicts_with = "format")]
    log_format: Option<String>,
    /// Read every `log_format` of this nginx configuration.
    #[arg(long, value_name = "FILE")]
    nginx_conf: Vec<PathBuf>,
    /// Read every `LogFormat` of this Apache configuration.
    #[arg(long, value_name = "FILE")]
    apache_conf: Vec<PathBuf>,
    /// Do not read the installed server's own config (`/etc/nginx`,
    /// `/etc/apache2`, `/etc/httpd`) for formats and the logs they name.
    #[arg(long)]
    no_server_config: bool,
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
    server_root: PathBuf,
}

#[derive(Args)]
struct ReportArgs {
    /// Files, directories (their files, rotated sets oldest first) or `-`.
    #[arg(required = true, value_name = "PATHS")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    formats: FormatArgs,
    /// Window size: 10s, 1m, 5m, 1h, 1d... (default: chosen from the span).
    #[arg(long, value_name = "SIZE", value_parser = parse_duration)]
    window: Option<i64>,
    /// Only requests at or after this time (RFC 3339, or `YYYY-MM-DD[ HH:MM:SS]` in UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<i64>,
    /// Only requests before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<i64>,
    /// Extra path normalization, `REGEX=REPLACEMENT`, applied before the built-in rules.
    #[arg(long, value_name = "RULE")]
    path_rule: Vec<String>,
    /// `text` for people, `json` for programs (docs/report-json.md), `csv`
    /// for one table (see --table), `html` for one self-contained page,
    /// `parquet` for the windows, incidents, upstreams and paths tables as
    /// Parquet files in the directory given with -o.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json", "csv", "html", "parquet"])]
    output: String,
    /// Write the output to this file (written under a temporary name and
    /// renamed when complete) instead of standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// The table `--output csv` writes.
    #[arg(long, value_name = "TABLE", default_value = "windows", value_parser = logspike::output::CSV_TABLES)]
    table: String,
    /// Rows in each top table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Fewest 5xx an incident holds.
    #[arg(long, value_name = "N", default_value_t = 10)]
    min_5xx: u64,
    /// An incident's 5xx rate is at least this multiple of its series'
    /// baseline rate.
    #[arg(long, value_name = "X", default_value_t = 2.0, value_parser = positive)]
    min_lift: f64,
    /// Chance of a false alarm in a whole report of noise (lower: only
    /// stronger incidents).
    #[arg(long, value_name = "P", default_value_t = 0.01, value_parser = probability)]
    false_alarm: f64,
    /// Exit with status 1 when an incident was found.
    #[arg(long)]
    fail_on_incident: bool,
    /// Show times of the text report at this offset: `UTC`, `+01:00`, `-0530`.
    /// JSON and CSV are always UTC.
    #[arg(long, value_name = "OFFSET", default_value = "UTC", value_parser = parse_offset)]
    tz: i32,
    /// Worker threads for large plain files (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[cfg(feature = "parquet")]
#[derive(Args)]
struct ExportArgs {
    /// Write Parquet files under this directory.
    #[arg(long, value_name = "DIR")]
    parquet: PathBuf,
    /// Files, directories (rotated sets oldest first) or `-`.
    #[arg(required = true, value_name = "PATHS")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    formats: FormatArgs,
    /// `date` (date=YYYY-MM-DD/), `hour` (adds hour=HH/) or `none`.
    #[arg(long, value_name = "BY", default_value = "date", value_parser = ["date", "hour", "none"])]
    partition: String,
    /// `zstd`, `snappy` or `none`.
    #[arg(long, value_name = "CODEC", default_value = "zstd", value_parser = ["zstd", "snappy", "none"])]
    compression: String,
    /// Rows per row group.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    row_group_size: usize,
    /// Replace an existing output directory.
    #[arg(long, conflicts_with = "append")]
    overwrite: bool,
    /// Add new files to an existing output directory (never rewriting any).
    #[arg(long)]
    append: bool,
    /// Write every rejected line to this file.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Extra path normalization for `path_normalized`, `REGEX=REPLACEMENT`.
    #[arg(long, value_name = "RULE")]
    path_rule: Vec<String>,
}

/// Path normalization with the user's `--path-rule`s before the built-ins.
fn path_normalizer(rules: &[String]) -> Result<PathNormalizer> {
    let rules = rules
        .iter()
        .map(|r| PathRule::parse(r).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    Ok(PathNormalizer::new(rules))
}

#[cfg(feature = "parquet")]
fn run_export(args: ExportArgs) -> Result<ExitCode> {
    use logspike::export::{self, ExportOptions, Mode, Partition};
    let (_, format) = formats(&args.formats)?;
    let paths = path_normalizer(&args.path_rule)?;
    let sources = sources(&args.paths)?;
    let mode = match (args.overwrite, args.append) {
        (true, _) => Mode::Overwrite,
        (_, true) => Mode::Append,
        _ => Mode::Create,
    };
    export::prepare(&args.parquet, mode)?;
    if mode == Mode::Append {
        for note in export::manifest::before_append(&args.parquet, &sources)? {
            eprintln!("logspike: {note}");
        }
    }
    let mut rejects = match &args.rejects {
        Some(path) => Some(io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating rejects file {}", path.display()))?,
        )),
        None => None,
    };
    let options = ExportOptions {
        dir: args.parquet.clone(),
        partition: match args.partition.as_str() {
            "hour" => Partition::Hour,
            "none" => Partition::None,
            _ => Partition::Date,
        },
        compression: match args.compression.as_str() {
            "snappy" => parquet::basic::Compression::SNAPPY,
            "none" => parquet::basic::Compression::UNCOMPRESSED,
            _ => parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::default()),
        },
        row_group_rows: args.row_group_size.max(1),
        mode,
        paths,
        format,
    };
    let summary = export::export(
        &sources,
        &options,
        rejects.as_mut().map(|w| w as &mut (dyn Write + Send)),
    )?;
    if let Some(mut w) = rejects {
        w.flush().context("writing the rejects file")?;
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for f in &summary.files {
        writeln!(
            out,
            "{}: {} lines, {} rows, {} rejected{}",
            f.name,
            f.lines,
            f.parsed,
            f.rejected,
            f.error
                .as_ref()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "wrote {} rows to {} Parquet files under {}",
        summary.rows,
        summary.written.len(),
        args.parquet.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn run_tail(args: TailArgs) -> Result<ExitCode> {
    use logspike::tail::{self, rules::Rule, TailOptions};
    use std::time::Duration;
    let (registry, format) = formats(&args.formats)?;
    let mut format_for = Vec::new();
    for spec in &args.format_for {
        let (pattern, name) = spec
            .rsplit_once('=')
            .with_context(|| format!("--format-for `{spec}`: give PATTERN=NAME"))?;
        let pattern = glob::Pattern::new(pattern)
            .with_context(|| format!("--format-for `{spec}`: bad pattern"))?;
        format_for.push((pattern, registry.find(name)?));
    }
    let texts: Vec<String> = if args.alerts.is_empty() {
        tail::rules::DEFAULT_RULES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        args.alerts.clone()
    };
    let mut rules = Vec::new();
    let mut spike = None;
    for t in &texts {
        match tail::rules::SpikeRule::parse(t) {
            Some(s) => spike = Some(s.map_err(anyhow::Error::msg)?),
            None => rules.push(Rule::parse(t).map_err(anyhow::Error::msg)?),
        }
    }
    let paths_normalizer = path_normalizer(&args.path_rule)?;
    let options = TailOptions {
        paths: args.paths,
        format,
        format_for,
        from_start: args.from_start,
        state: args.state,
        rules,
        spike,
        spike_config: SpikeConfig::default(),
        settle: args.settle / 1_000_000,
        json: args.output == "json",
        exec: args
            .exec
            .map(|c| (c, Duration::from_micros(args.exec_timeout as u64))),
        metrics: args.metrics,
        poll: args.poll.map(Duration::from_millis),
        grace: Duration::from_micros(args.rotate_grace as u64),
        paths_normalizer,
        state_every: Duration::from_secs(1),
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let summary = tail::run(options, &mut out, stop).map_err(anyhow::Error::msg)?;
    eprintln!("logspike tail: stopped; {}", summary.line());
    Ok(ExitCode::SUCCESS)
}

/// `250ms`, `1s` -> milliseconds.
fn parse_duration_ms(text: &str) -> std::result::Result<u64, String> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{text}` is not a duration like 250ms or 1s"));
    }
    parse_duration(text).map(|us| (us / 1000) as u64)
}

/// `90s`, `5m`, `1h`, `1d` -> microseconds.
fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    logspike::text::parse_duration(text).map(|s| s * 1_000_000)
}

/// `UTC`, `Z`, `+01:00`, `-0530` -> seconds east of UTC.
fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x < 1.0 => Ok(x),
        _ => Err(format!("`{text}` is not a probability between 0 and 1")),
    }
}

fn parse_offset(text: &str) -> std::result::Result<i32, String> {
    if matches!(text, "UTC" | "utc" | "Z" | "z") {
        return Ok(0);
    }
    let bad = || format!("`{text}` is not an offset: use UTC, +01:00 or -0530");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (
        digits[..2].parse().map_err(|_| bad())?,
        digits[2..].parse().map_err(|_| bad())?,
    );
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// RFC 3339, or `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DD` in UTC -> microseconds.
fn parse_time(text: &str) -> std::result::Result<i64, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    for pattern in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_micros());
    }
    Err(format!(
        "`{text}` is not a time: use RFC 3339 or YYYY-MM-DD HH:MM:SS (UTC)"
    ))
}

#[derive(Args)]
struct CheckArgs {
    /// Files, directories (their files) or `-` for standard input.
    #[arg(required = true, value_name = "PATHS")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    formats: FormatArgs,
    /// Write every rejected line to this file.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Exit with status 1 when a file parses less than this share (percent).
    #[arg(long, value_name = "PERCENT")]
    min_coverage: Option<f64>,
    /// How many rejected lines to show per file.
    #[arg(long, value_name = "N", default_value_t = 5)]
    show_rejects: usize,
    /// Worker threads for large plain files (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    threads: Option<usize>,
}

/// Builds the registry from the config files and picks how formats are chosen.
fn formats(args: &FormatArgs) -> Result<(Registry, FormatChoice)> {
    let mut registry = Registry::new();
    let mut server = ServerFormats::default();
    let named = args
        .nginx_conf
        .iter()
        .map(|p| (p, Syntax::Nginx))
        .chain(args.apache_conf.iter().map(|p| (p, Syntax::Apache)));
    for (path, syntax) in named {
        // A config named on the command line must read: say why not.
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        match syntax {
            Syntax::Apache => apache::parse_conf(&text).map(drop),
            _ => nginx::parse_conf(&text).map(drop),
        }
        .with_context(|| format!("in {}", path.display()))?;
        server.merge(ServerFormats::read(syntax, path, &args.server_root));
    }
    let explicit = args.format.is_some() || args.log_format.is_some();
    if !args.no_server_config && !explicit {
        server.merge(ServerFormats::discover(&args.server_root));
    }
    for w in &server.warnings {
        eprintln!("logspike: {w}");
    }
    for (g, _) in &server.grammars {
        registry.add(Grammar::clone(g));
    }
    let choice = if let Some(inline) = &args.log_format {
        let grammar = Grammar::from_format("inline", inline)?;
        registry.add(grammar);
        FormatChoice::Fixed(registry.find("inline")?)
    } else if let Some(name) = &args.format {
        FormatChoice::Fixed(registry.find(name)?)
    } else if server.bound.is_empty() {
        FormatChoice::Detect(registry.candidates())
    } else {
        FormatChoice::Server {
            candidates: registry.candidates(),
            server: std::sync::Arc::new(server),
        }
    };
    Ok((registry, choice))
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let (_, format) = formats(&args.formats)?;
    let sources = sources(&args.paths)?;
    let mut rejects_file = match &args.rejects {
        Some(path) => Some(io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating rejects file {}", path.display()))?,
        )),
        None => None,
    };
    if let Some(min) = args.min_coverage {
        if !(0.0..=100.0).contains(&min) {
            bail!("--min-coverage takes a percentage from 0 to 100, not {min}");
        }
    }
    use_threads(args.threads)?;
    let mut options = ScanOptions::new(format);
    options.max_samples = args.show_rejects;
    options.rejects = rejects_file.as_mut().map(|w| w as &mut (dyn Write + Send));
    let results: Vec<_> = sources
        .iter()
        .map(|s| check::check_source(s, &mut options))
        .collect();
    drop(options);
    if let Some(mut w) = rejects_file {
        w.flush().context("writing the rejects file")?;
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    logspike::output::write_check(&mut out, &results)?;
    out.flush()?;
    let below = args
        .min_coverage
        .is_some_and(|min| results.iter().any(|r| r.coverage() < min));
    Ok(if below {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A temporary file beside `path`, renamed to it when the output is
/// complete so that a reader never sees half a file. Made before any work,
/// so an output that cannot be written stops the run at once.
fn output_file(path: &Path) -> Result<(std::fs::File, atomic::Pending)> {
    if path.is_dir() {
        bail!("{} is a directory", path.display());
    }
    atomic::create(path).with_context(|| {
        format!(
            "cannot write {}: creating a file in its directory",
            path.display()
        )
    })
}

/// A progress bar on stderr for long runs, only when stderr is a terminal.
fn progress_bar(sources: &[input::Source]) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let total: u64 = sources
        .iter()
        .filter_map(|s| match s {
            input::Source::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            input::Source::Stdin => None,
        })
        .sum();
    // Small inputs finish before a bar would be worth drawing.
    if !io::stderr().is_terminal() || total < 64 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

/// More workers than this many per core only add switching: `--threads
/// 10000` once took 43 s on a 4.5 MB file.
const THREADS_PER_CORE: usize = 4;

/// The inputs named, with a word on stderr for what was left out below
/// the directories given.
fn sources(paths: &[std::path::PathBuf]) -> Result<Vec<input::Source>> {
    let expanded = input::expand(paths)?;
    for skipped in &expanded.skipped {
        eprintln!("logspike: skipped {skipped}");
    }
    Ok(expanded.sources)
}

fn use_threads(threads: Option<usize>) -> Result<()> {
    if let Some(asked) = threads {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let most = cores * THREADS_PER_CORE;
        let threads = asked.min(most);
        if threads < asked {
            eprintln!(
                "logspike: --threads {asked} capped at {threads} ({THREADS_PER_CORE} per core on {cores} cores)"
            );
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("starting worker threads")?;
    }
    Ok(())
}

fn run_report(args: ReportArgs) -> Result<ExitCode> {
    let (_, format) = formats(&args.formats)?;
    let paths = path_normalizer(&args.path_rule)?;
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if since >= until {
            bail!("--since must be before --until");
        }
    }
    let sources = sources(&args.paths)?;
    if args.output == "parquet" && !cfg!(feature = "parquet") {
        bail!("this logspike was built without Parquet support (the `parquet` feature)");
    }
    if args.output == "parquet" && args.out.is_none() {
        bail!("--output parquet writes a directory of tables: give it with -o DIR");
    }
    let target = match args.output.as_str() {
        "parquet" => None,
        _ => args.out.as_deref().map(output_file).transpose()?,
    };
    use_threads(args.threads)?;
    let options = ReportOptions {
        analysis: analysis::Config {
            window: args.window,
            since: args.since,
            until: args.until,
            paths,
            ..analysis::Config::default()
        },
        spikes: SpikeConfig {
            min_lift: args.min_lift,
            false_alarm: args.false_alarm,
            min_errors: args.min_5xx,
            ..SpikeConfig::default()
        },
        top: args.top,
        ..ReportOptions::default()
    };
    let mut check = ScanOptions::new(format);
    check.progress = progress_bar(&sources);
    let report = logspike::report::build(&sources, &mut check, &options);
    #[cfg(feature = "parquet")]
    if args.output == "parquet" {
        let dir = args.out.as_deref().unwrap_or(Path::new("."));
        let written = logspike::output::parquet::write_report_tables(
            &report,
            dir,
            parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::default()),
        )?;
        for path in written {
            println!("wrote {}", path.display());
        }
        return Ok(if args.fail_on_incident && !report.incidents.is_empty() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let render = |out: &mut dyn Write| -> io::Result<()> {
        match args.output.as_str() {
            "json" => {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)
            }
            "csv" => logspike::output::write_csv(out, &report, &args.table),
            "html" => logspike::output::html::write_html(out, &report),
            _ => {
                let style = logspike::output::Style {
                    // Colour is for a terminal, never for a file.
                    color: args.out.is_none() && logspike::output::Style::for_stdout(0).color,
                    offset: args.tz,
                };
                logspike::output::write_report(out, &report, style)
            }
        }
    };
    match (target, &args.out) {
        (Some((file, pending)), Some(path)) => {
            let mut out = io::BufWriter::new(file);
            render(&mut out).with_context(|| format!("writing {}", path.display()))?;
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            drop(out);
            pending
                .commit()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        _ => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(if args.fail_on_incident && !report.incidents.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_formats(args: FormatArgs) -> Result<ExitCode> {
    let (registry, _) = formats(&args)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for g in registry.user_grammars().iter().chain(builtin::all()) {
        writeln!(
            out,
            "{:<24} {:<7} {}",
            g.name,
            g.syntax.to_string(),
            g.source
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // `report` is the default command: `logspike access.log` means
    // `logspike report access.log`.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let known = [
        "report",
        "export",
        "check",
        "tail",
        "formats",
        "help",
        "-h",
        "--help",
        "-V",
        "--version",
    ];
    if argv.get(1).is_some_and(|a| !known.iter().any(|k| a == *k)) {
        argv.insert(1, "report".into());
    }
    let cli = Cli::parse_from(argv);
    let result = match cli.command {
        Command::Report(args) => run_report(args),
        #[cfg(feature = "parquet")]
        Command::Export(args) => run_export(args),
        Command::Check(args) => run_check(args),
        Command::Formats(args) => run_formats(args),
        Command::Tail(args) => run_tail(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // `logspike check ... | head` closes stdout early: not an error.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("logspike: {e:#}");
            ExitCode::from(2)
        }
    }
}
