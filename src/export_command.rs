//! `logspike export`: the command line to the library's export, rollups
//! and upload.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::args::ExportArgs;
use crate::{formats, path_normalizer, paths_or_server_logs, sources};

pub(crate) fn run_export(mut args: ExportArgs) -> Result<ExitCode> {
    use logspike::export::{self, ExportOptions, Mode};
    args.parquet = export::remote::local_path(&args.parquet);
    let (_, format) = formats(&args.formats)?;
    let paths = path_normalizer(&args.path_rule)?;
    let sources = sources(&paths_or_server_logs(&args.paths, &format, false)?)?;
    let mode = match (args.overwrite, args.append) {
        (true, _) => Mode::Overwrite,
        (_, true) => Mode::Append,
        _ => Mode::Create,
    };
    // Object storage: the export is written to a staging directory, then
    // uploaded (see export::remote).
    let remote = if export::remote::is_url(&args.parquet) {
        let url = args.parquet.to_string_lossy();
        let upload = export::remote::UploadOptions {
            timeout: args.upload_timeout,
            part_bytes: args.upload_part_mib as usize * (1 << 20),
        };
        Some(export::remote::Remote::open(&url, upload)?)
    } else {
        None
    };
    let staging = match &remote {
        Some(remote) => {
            let dir = tempfile::Builder::new()
                .prefix("logspike-export-")
                .tempdir()
                .context("creating the staging directory for the upload (TMPDIR)")?;
            remote.prepare(mode, dir.path())?;
            Some(dir)
        }
        None => None,
    };
    let dir = staging
        .as_ref()
        .map_or_else(|| args.parquet.clone(), |d| d.path().to_path_buf());
    export::prepare(&dir, if remote.is_some() { Mode::Append } else { mode })?;
    if mode == Mode::Append {
        let kinds = match (args.rollup, args.rows) {
            (Some(_), true) => &[export::manifest::Kind::Rows, export::manifest::Kind::Rollup][..],
            (Some(_), false) => &[export::manifest::Kind::Rollup],
            (None, _) => &[export::manifest::Kind::Rows],
        };
        let shown = args.parquet.to_string_lossy();
        for note in export::manifest::before_append(&dir, &shown, &sources, kinds)? {
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
    if let Some(size) = args.rollup {
        if size.as_secs() == 0 || size.subsec_nanos() != 0 {
            bail!("--rollup takes whole seconds: 1m, 5m, 1h");
        }
    }
    let options = ExportOptions {
        dir: dir.clone(),
        partition: args.partition.0,
        host: args
            .partition
            .1
            .then(|| export::server_dir(args.server_name.as_deref())),
        compression: args.compression,
        row_group_rows: args.row_group_size.max(1),
        mode,
        paths,
        format,
        filter: args.filter.filter(),
    };
    let size = args.rollup.map(|s| s.as_micros() as i64);
    if let (Some(size), false) = (size, args.rows) {
        let summary = export::rollup::export_rollup(&sources, &options, size)?;
        let manifests: Vec<_> = summary.manifest.iter().cloned().collect();
        let uploaded = upload(remote.as_ref(), &dir, &summary.written, &manifests)?;
        summary.write(&mut io::stdout().lock(), &args.parquet)?;
        if let Some(u) = uploaded {
            println!("{u}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Rows, and with `--rollup ... --rows` the rollups from the same scan.
    let rollup = size.map(|size| export::rollup::Rollup::new(&options, size));
    let summary = export::export(
        &sources,
        &options,
        rejects.as_mut().map(|w| w as &mut (dyn Write + Send)),
        rollup.as_ref(),
    )?;
    if let Some(mut w) = rejects {
        w.flush().context("writing the rejects file")?;
    }
    let rolled = match rollup {
        Some(r) => Some(r.finish(summary.files.clone(), &sources)?),
        None => None,
    };
    let mut written = summary.written.clone();
    let mut manifests: Vec<_> = summary.manifest.iter().cloned().collect();
    if let Some(r) = &rolled {
        written.extend(r.written.iter().cloned());
        manifests.extend(r.manifest.iter().cloned());
    }
    let uploaded = upload(remote.as_ref(), &dir, &written, &manifests)?;
    let mut out = io::stdout().lock();
    summary.write(&mut out, &args.parquet)?;
    if let Some(r) = &rolled {
        r.write_total(&mut out, &args.parquet)?;
    }
    if let Some(u) = uploaded {
        writeln!(out, "{u}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Uploads a staged export's files to object storage, the manifest last.
#[cfg(feature = "parquet")]
fn upload(
    remote: Option<&logspike::export::remote::Remote>,
    staging: &std::path::Path,
    written: &[std::path::PathBuf],
    manifests: &[std::path::PathBuf],
) -> Result<Option<logspike::export::remote::Uploaded>> {
    Ok(match remote {
        Some(remote) => Some(remote.upload(staging, written, manifests)?),
        None => None,
    })
}
