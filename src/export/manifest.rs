//! Run manifests: which run wrote which Parquet files, from which inputs.
//!
//! Every export that completes writes `_logspike/run-<id>.json` under the
//! output directory (engines skip names starting with `_`), last, and
//! atomically: the run's part files are named `part-<id>-NNNNN.parquet`,
//! so a part file whose run has no manifest is the remnant of a run that
//! was killed. Before `--append` adds anything, such remnants (and
//! temporary files) are removed, and an input that a finished run already
//! exported (the same file: device, inode and first bytes) is refused,
//! since exporting it again would count its rows twice.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::io::Write;

use super::{io_err, ExportError};
use crate::input::{Fingerprint, Source};
use crate::output::atomic;

pub(crate) const DIR: &str = "_logspike";
const VERSION: u32 = 1;

/// One input as a manifest knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub fingerprint_len: u32,
    /// The FNV-1a hash of its first bytes, in hex.
    pub fingerprint: String,
}

impl Input {
    /// A regular file's identity; `None` for standard input or a file
    /// that cannot be read.
    pub fn of(source: &Source) -> Option<Input> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let Source::Path(path) = source else {
            return None;
        };
        let file = std::fs::File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        let mut head = Vec::with_capacity(crate::input::FINGERPRINT_BYTES);
        file.take(crate::input::FINGERPRINT_BYTES as u64)
            .read_to_end(&mut head)
            .ok()?;
        let f = Fingerprint::of(&head);
        Some(Input {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            fingerprint_len: f.len,
            fingerprint: format!("{:016x}", f.hash),
        })
    }

    fn same_file(&self, other: &Input) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
            && self.fingerprint_len == other.fingerprint_len
            && self.fingerprint == other.fingerprint
    }
}

/// What a run wrote: one row per request, or rollups. An input exported
/// as one may still be exported as the other into the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Rows,
    Rollup,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub run: String,
    /// Manifests written before rollups existed have none: rows.
    #[serde(default)]
    pub kind: Kind,
    /// When the run finished, RFC 3339 UTC.
    pub finished: String,
    pub rows: u64,
    /// Part files, relative to the output directory.
    pub files: Vec<PathBuf>,
    pub inputs: Vec<Input>,
}

/// The manifests of the finished runs under `dir`.
fn manifests(dir: &Path) -> Vec<(PathBuf, Manifest)> {
    let Ok(entries) = std::fs::read_dir(dir.join(DIR)) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Manifest)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let m = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            Some((p, m))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The run id in a part file's name: `part-<run>-<seq>.parquet`.
fn run_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    Some(rest.rsplit_once('-')?.0)
}

/// Before `--append`: removes what killed runs left (part files of runs
/// without a manifest, temporary files) and refuses inputs a finished run
/// of one of `kinds` exported already. Returns what it did, to say.
/// `shown` is the directory as the user named it (a URL when `dir` stages
/// an upload), for the messages.
pub fn before_append(
    dir: &Path,
    shown: &str,
    sources: &[Source],
    kinds: &[Kind],
) -> Result<Vec<String>, ExportError> {
    let finished = manifests(dir);
    let mut notes = Vec::new();
    // Remnants of interrupted runs.
    let mut stack = vec![dir.to_path_buf()];
    let mut removed = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != DIR {
                    stack.push(path);
                }
                continue;
            }
            let orphan = if name.starts_with(".part-") && name.ends_with(".tmp") {
                true
            } else {
                run_of(&name).is_some_and(|run| !finished.iter().any(|(_, m)| m.run == run))
            };
            if orphan {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        notes.push(format!(
            "removed {removed} files an interrupted export left in {} (no run manifest names them)",
            shown
        ));
    }
    // Inputs exported already.
    for source in sources {
        let Some(now) = Input::of(source) else {
            continue;
        };
        for (path, m) in finished.iter().filter(|(_, m)| kinds.contains(&m.kind)) {
            if let Some(then) = m.inputs.iter().find(|i| i.same_file(&now)) {
                let grown = if now.size > then.size {
                    format!(
                        "; it has grown since ({} to {} bytes), and exporting only its new lines is not supported",
                        then.size, now.size
                    )
                } else {
                    String::new()
                };
                return Err(ExportError::Exported(format!(
                    "{} was exported already by run {} ({}, {} rows){grown}; exporting it again would count its rows twice. Remove that run's files (listed in {}) first, or export into a new directory",
                    source.display(),
                    m.run,
                    m.finished,
                    m.rows,
                    Path::new(shown)
                        .join(path.strip_prefix(dir).unwrap_or(path))
                        .display()
                )));
            }
        }
    }
    Ok(notes)
}

/// Records a finished run: written last, under a temporary name renamed
/// when complete, so a manifest always describes a whole run.
pub fn write(
    dir: &Path,
    kind: Kind,
    run: &str,
    rows: u64,
    written: &[PathBuf],
    inputs: Vec<Input>,
) -> Result<PathBuf, ExportError> {
    let at = dir.join(DIR);
    std::fs::create_dir_all(&at).map_err(io_err(&at))?;
    let manifest = Manifest {
        version: VERSION,
        run: run.to_string(),
        kind,
        finished: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        rows,
        files: written
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(p).to_path_buf())
            .collect(),
        inputs,
    };
    let path = at.join(format!("run-{run}.json"));
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    let (mut file, pending) = atomic::create(&path).map_err(io_err(&path))?;
    file.write_all(&text).map_err(io_err(&path))?;
    pending.commit().map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_give_their_run() {
        assert_eq!(
            run_of("part-18ed6fd3e8871a81-348-00000.parquet"),
            Some("18ed6fd3e8871a81-348")
        );
        assert_eq!(run_of("other.parquet"), None);
        assert_eq!(run_of("part-x.json"), None);
    }
}
