//! The `logspike` command: parses arguments and calls the library.
//!
//! Exit status: 0 when the run completed, 1 when `--min-coverage` was not
//! met, 2 for a usage error (unknown format, missing path, unwritable
//! output), reported before any work starts.

mod args;
#[cfg(feature = "parquet")]
mod export_command;

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use args::{CheckArgs, Cli, Command, FormatArgs, ReportArgs, TailArgs};

use logspike::analysis::{self, spikes::SpikeConfig, PathNormalizer};
use logspike::check;
use logspike::detect::{FormatChoice, FormatSources};
use logspike::grammar::builtin::{self, Registry};

use logspike::input;
use logspike::output::{self, atomic};
use logspike::report::ReportOptions;
use logspike::scan::ScanOptions;

/// Path normalization with the user's `--path-rule`s before the built-ins.
fn path_normalizer(rules: &[String]) -> Result<PathNormalizer> {
    PathNormalizer::from_texts(rules).map_err(anyhow::Error::msg)
}

/// Follows until a signal stops it; SIGHUP reads the command line and its
/// `--config` again and goes on from where it was (a configuration that
/// does not read leaves the running one as it is).
fn run_tail(first: TailArgs, argv: &[std::ffi::OsString]) -> Result<ExitCode> {
    use logspike::tail::log::{write as say, Level};
    use logspike::tail::{self, Ended};
    let mut session = tail::Session::new()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut args = first;
    let mut resume = None;
    let mut total = tail::Summary::default();
    loop {
        let options = tail_options(&args)?;
        match tail::run(options, resume.take(), &mut out, &mut session)? {
            Ended::Stopped(summary) => {
                total.add(&summary);
                break;
            }
            Ended::Reload(summary, state) => {
                total.add(&summary);
                resume = Some(state);
                let again = args::expand_config(argv.to_vec())
                    .map_err(anyhow::Error::msg)
                    .and_then(|argv| Cli::try_parse_from(argv).map_err(anyhow::Error::from));
                match again {
                    Ok(Cli {
                        command: Command::Tail(new),
                    }) => match tail_options(&new) {
                        Ok(_) => {
                            say(Level::Info, "SIGHUP: configuration read again; going on from where it was");
                            args = new;
                        }
                        Err(e) => say(
                            Level::Error,
                            &format!("SIGHUP: the new configuration is refused, the running one stays: {e:#}"),
                        ),
                    },
                    Ok(_) => {}
                    Err(e) => say(
                        Level::Error,
                        &format!("SIGHUP: the new configuration is refused, the running one stays: {e}"),
                    ),
                }
            }
        }
    }
    session.finish();
    say(Level::Info, &format!("stopped; {}", total.line()));
    Ok(ExitCode::SUCCESS)
}

fn tail_options(args: &TailArgs) -> Result<logspike::tail::TailOptions> {
    use logspike::tail::{self, TailOptions};
    let args = args.clone();
    let (registry, format) = formats(&args.formats)?;
    let format_for = (args.format_for.iter())
        .map(|spec| registry.format_for(spec))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let (rules, spike) = tail::rules::parse_all(&args.alerts).map_err(anyhow::Error::msg)?;
    let paths_normalizer = path_normalizer(&args.path_rule)?;
    let paths = paths_or_server_logs(&args.paths, &format, true)?;
    let options = TailOptions {
        paths,
        format,
        format_for,
        from_start: args.from_start,
        state: args.state,
        rules,
        spike,
        spike_config: SpikeConfig::default(),
        settle: args.settle.as_secs() as i64,
        json: args.output == "json",
        exec: args.exec.map(|c| (c, args.exec_timeout)),
        http: tail::deliver::HttpSinks {
            alertmanagers: args.alertmanager,
            labels: args.labels,
            generator_url: args.generator_url,
            resend: args.alertmanager_resend,
            webhooks: args.webhook,
            webhook_header: args
                .webhook_header_file
                .as_deref()
                .map(tail::deliver::header_from_file)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            webhook_template: args.webhook_template,
            timeout: args.http_timeout,
        },
        metrics: args.metrics,
        poll: args.poll,
        grace: args.rotate_grace,
        paths_normalizer,
        filter: args.filter.filter(),
        state_every: std::time::Duration::from_secs(1),
    };
    Ok(options)
}

/// The paths given, or when none, the access logs the server config
/// names (said on stderr); `live`: only the files being written.
fn paths_or_server_logs(
    paths: &[std::path::PathBuf],
    format: &FormatChoice,
    live: bool,
) -> Result<Vec<std::path::PathBuf>> {
    if !paths.is_empty() {
        return Ok(paths.to_vec());
    }
    let logs = format.server_logs(live);
    if logs.is_empty() {
        bail!(
            "no log given, and no server config on this machine names one (looked in /etc/nginx, /etc/apache2, /etc/httpd under --server-root): give files or directories (logspike --help)"
        );
    }
    eprintln!(
        "logspike: reading the access logs the server config names: {}",
        logspike::text::some_paths(&logs, 4)
    );
    Ok(logs)
}

/// Builds the registry from the config files and picks how formats are
/// chosen; the server configs' warnings go to stderr.
fn formats(args: &FormatArgs) -> Result<(Registry, FormatChoice)> {
    let formats = FormatSources {
        format: args.format.clone(),
        log_format: args.log_format.clone(),
        nginx_conf: args.nginx_conf.clone(),
        apache_conf: args.apache_conf.clone(),
        server_config: !args.no_server_config,
        server_root: args.server_root.clone(),
    }
    .resolve()?;
    for w in &formats.warnings {
        eprintln!("logspike: {w}");
    }
    Ok((formats.registry, formats.choice))
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let (_, format) = formats(&args.formats)?;
    let sources = sources(&paths_or_server_logs(&args.paths, &format, false)?)?;
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
    options.read_ahead(&sources);
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
/// Writes with `render` to the file `target` (committed under its name
/// only once whole) or to stdout.
fn write_output(
    target: Option<(std::fs::File, atomic::Pending)>,
    path: Option<&Path>,
    render: impl Fn(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    match (target, path) {
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
    Ok(())
}

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
    if let Some(note) = logspike::scan::use_threads(threads).context("starting worker threads")? {
        eprintln!("logspike: {note}");
    }
    Ok(())
}

fn run_report(args: ReportArgs) -> Result<ExitCode> {
    let (_, format) = formats(&args.formats)?;
    let paths = path_normalizer(&args.path_rule)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let since = args.since.map(|t| t.resolve(now, &args.tz));
    let until = args.until.map(|t| t.resolve(now, &args.tz));
    if let (Some(since), Some(until)) = (since, until) {
        if since >= until {
            bail!("--since must be before --until");
        }
    }
    // Directories `export --rollup` wrote are read as rollups, not logs;
    // rollups in object storage are copied to a temporary directory first.
    #[cfg(feature = "parquet")]
    let mut downloads: Option<tempfile::TempDir> = None;
    #[cfg(feature = "parquet")]
    let rollups: Vec<(std::path::PathBuf, String)> = {
        use logspike::export::remote;
        let mut out = Vec::new();
        for (i, path) in args.paths.iter().enumerate() {
            if remote::is_url(path) {
                let url = path.to_string_lossy().into_owned();
                let upload = remote::UploadOptions {
                    timeout: std::time::Duration::from_secs(180),
                    part_bytes: 16 << 20,
                };
                let downloads = match &mut downloads {
                    Some(d) => d,
                    None => downloads.insert(
                        tempfile::Builder::new()
                            .prefix("logspike-rollups-")
                            .tempdir()
                            .context("creating a directory for the rollups to read (TMPDIR)")?,
                    ),
                };
                let dir = downloads.path().join(i.to_string());
                remote::Remote::open(&url, upload)?.download(&dir)?;
                if !logspike::report::rollups::is_rollup(&dir) {
                    bail!("{url} holds no rollups (requests/ and attempts/ of export --rollup); logs are read from files");
                }
                out.push((dir, url));
            } else if logspike::report::rollups::is_rollup(path) {
                out.push((path.clone(), path.display().to_string()));
            }
        }
        out
    };
    #[cfg(not(feature = "parquet"))]
    let rollups: Vec<(std::path::PathBuf, String)> = Vec::new();
    if !rollups.is_empty() {
        if rollups.len() != args.paths.len() {
            bail!("give either logs or rollup directories (export --rollup), not both");
        }
        if !args.filter.filter().is_empty() || args.by.is_some() {
            bail!("rollups are sums: filters and --by apply to logs only (a rollup's rows can be filtered in SQL, docs/parquet.md)");
        }
    }
    let sources = if rollups.is_empty() {
        sources(&paths_or_server_logs(&args.paths, &format, false)?)?
    } else {
        Vec::new()
    };
    if args.output == output::Format::Parquet && !cfg!(feature = "parquet") {
        bail!("this logspike was built without Parquet support (the `parquet` feature)");
    }
    if args.output == output::Format::Parquet && args.out.is_none() {
        bail!("--output parquet writes a directory of tables: give it with -o DIR");
    }
    if args.by.is_some() {
        if !matches!(args.output, output::Format::Text | output::Format::Json) {
            bail!("--by host writes text or json; for one host in another format, use --host NAME");
        }
        if sources
            .iter()
            .any(|s| matches!(s, logspike::input::Source::Stdin))
        {
            bail!("--by host reads its inputs twice, and standard input only once: save it to a file first");
        }
    }
    let target = match args.output {
        output::Format::Parquet => None,
        _ => args.out.as_deref().map(output_file).transpose()?,
    };
    use_threads(args.threads)?;
    let mut options = ReportOptions {
        analysis: analysis::Config {
            since,
            until,
            paths,
            filter: args.filter.filter(),
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
    options.set_window(args.window.map(|w| w.as_micros() as i64), args.tz.clone());
    let mut check = ScanOptions::new(format);
    check.progress = output::progress_bar(&sources);
    if args.by.is_some() {
        let by = logspike::report::build_by_host(
            &sources,
            &mut check,
            &options,
            logspike::report::MAX_SECTIONS,
        );
        let mut style = output::Style::for_stdout(args.tz.clone());
        style.color &= args.out.is_none();
        let render = |out: &mut dyn Write| output::write_by_host(out, &by, args.output, &style);
        write_output(target, args.out.as_deref(), render)?;
        let any = by.sections.iter().any(|s| !s.report.incidents.is_empty())
            || !by.overview.incidents.is_empty();
        return Ok(if args.fail_on_incident && any {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    #[cfg(feature = "parquet")]
    let report = if rollups.is_empty() {
        logspike::report::build(&sources, &mut check, &options)
    } else {
        logspike::report::rollups::build(&rollups, &options).map_err(anyhow::Error::msg)?
    };
    #[cfg(not(feature = "parquet"))]
    let report = logspike::report::build(&sources, &mut check, &options);
    #[cfg(feature = "parquet")]
    if args.output == output::Format::Parquet {
        let dir = args.out.as_deref().unwrap_or(Path::new("."));
        let written = logspike::output::parquet::write_report_tables(
            &report,
            dir,
            output::parquet::Codec::Zstd,
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
    let mut style = output::Style::for_stdout(args.tz.clone());
    // Colour is for a terminal, never for a file.
    style.color &= args.out.is_none();
    let render =
        |out: &mut dyn Write| output::write(out, &report, args.output, &args.table, &style);
    write_output(target, args.out.as_deref(), render)?;
    Ok(if args.fail_on_incident && !report.incidents.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_formats(args: FormatArgs) -> Result<ExitCode> {
    let (registry, _) = formats(&args)?;
    let stdout = io::stdout();
    let grammars = registry.user_grammars().iter().chain(builtin::all());
    output::write_formats(&mut stdout.lock(), grammars.map(|g| &**g))?;
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
        "completions",
        "man",
        "help",
        "-h",
        "--help",
        "-V",
        "--version",
    ];
    // `logspike` alone reports on the logs the server config names.
    if argv.get(1).is_none_or(|a| !known.iter().any(|k| a == *k)) {
        argv.insert(1, "report".into());
    }
    if !cfg!(feature = "parquet") && argv.get(1).is_some_and(|a| a == "export") {
        eprintln!("logspike: this logspike was built without Parquet support (the `parquet` feature), so without `export`");
        return ExitCode::from(2);
    }
    let original = argv.clone();
    let argv = match args::expand_config(argv) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("logspike: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    let result = match cli.command {
        Command::Report(args) => run_report(args),
        #[cfg(feature = "parquet")]
        Command::Export(args) => export_command::run_export(args),
        Command::Check(args) => run_check(args),
        Command::Formats(args) => run_formats(args),
        Command::Tail(args) => run_tail(args, &original),
        Command::Completions(args) => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            // Made in memory: the generator panics on a failed write (a
            // closed pipe), and logspike never panics.
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cli, "logspike", &mut script);
            io::stdout()
                .write_all(&script)
                .map(|()| ExitCode::SUCCESS)
                .map_err(anyhow::Error::from)
        }
        Command::Man => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
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
