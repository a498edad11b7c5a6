//! The `logspike` command: parses arguments and calls the library.
//!
//! Exit status: 0 when the run completed, 1 when `--min-coverage` was not
//! met, 2 for a usage error (unknown format, missing path, unwritable
//! output), reported before any work starts.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use logspike::check::{self, CheckOptions, FormatChoice};
use logspike::grammar::builtin::{self, Registry};
use logspike::grammar::{apache, nginx, ConfigFormats, Grammar, GrammarError};
use logspike::input;

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
    /// Per file: the format used and why, lines parsed and rejected, time
    /// span, and the first rejected lines with the reason.
    Check(CheckArgs),
    /// Lists the known formats (built in, and from the configs given).
    Formats(FormatArgs),
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
    type ParseConf = fn(&str) -> Result<ConfigFormats, GrammarError>;
    let configs = args
        .nginx_conf
        .iter()
        .map(|p| (p, nginx::parse_conf as ParseConf))
        .chain(
            args.apache_conf
                .iter()
                .map(|p| (p, apache::parse_conf as ParseConf)),
        );
    for (path, parse_conf) in configs {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let conf = parse_conf(&text).with_context(|| format!("in {}", path.display()))?;
        for w in &conf.warnings {
            eprintln!("logspike: {}:{}: {}", path.display(), w.line, w.message);
        }
        conf.grammars.into_iter().for_each(|g| registry.add(g));
    }
    let choice = if let Some(inline) = &args.log_format {
        let grammar = Grammar::from_format("inline", inline)?;
        registry.add(grammar);
        FormatChoice::Fixed(registry.find("inline")?)
    } else if let Some(name) = &args.format {
        FormatChoice::Fixed(registry.find(name)?)
    } else {
        FormatChoice::Detect(registry.candidates())
    };
    Ok((registry, choice))
}

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let (_, format) = formats(&args.formats)?;
    let sources = input::expand(&args.paths)?;
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
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("starting worker threads")?;
    }
    let mut options = CheckOptions::new(format);
    options.max_samples = args.show_rejects;
    options.rejects = rejects_file.as_mut().map(|w| w as &mut dyn Write);
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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => run_check(args),
        Command::Formats(args) => run_formats(args),
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
