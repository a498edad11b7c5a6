//! The `--state` file: where each followed file was left.
//!
//! JSON, written to a temporary file in the same directory, flushed to disk
//! and renamed over the old one, so a crash leaves either the old state or
//! the new one, never half of one.
//!
//! ```json
//! {"version": 1, "files": [{"path": "/var/log/nginx/access.log",
//!   "dev": 2049, "ino": 131074, "fingerprint_len": 1024,
//!   "fingerprint": "8c2f0e31d3a1b7c4", "offset": 1048576, "closed": false}]}
//! ```
//!
//! `offset` is the byte after the last line fully processed. `clock` (the
//! newest log second read) and `alerts` (each rule key's per-second counts
//! and whether it is firing) let a restart carry on a burst in progress
//! without announcing it again.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::{Fingerprint, Identity};
use super::rules::SavedKey;
use super::TailError;
use crate::analysis::spikes::live::SavedLive;

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The path the file was followed under.
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub fingerprint: Fingerprint,
    pub offset: u64,
    /// Read to its end and closed (a rotated file); otherwise it was open
    /// and may have grown since.
    pub closed: bool,
}

impl Entry {
    pub fn identity(&self) -> Identity {
        Identity {
            dev: self.dev,
            ino: self.ino,
        }
    }

    /// Whether `file` starts with the bytes this entry's file started with.
    pub fn fingerprint_matches(&self, file: &File) -> bool {
        self.fingerprint.matches_file(file).unwrap_or(false)
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    files: Vec<SavedEntry>,
    /// The rules' clock: the newest log second read.
    #[serde(default)]
    clock: Option<i64>,
    #[serde(default)]
    alerts: Vec<SavedKey>,
    /// The `spike` rule's open incidents and recent past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spike: Option<SavedLive>,
}

/// Everything a restart takes back.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct State {
    pub files: Vec<Entry>,
    pub clock: Option<i64>,
    pub alerts: Vec<SavedKey>,
    pub spike: Option<SavedLive>,
}

#[derive(Serialize, Deserialize)]
struct SavedEntry {
    path: PathBuf,
    dev: u64,
    ino: u64,
    fingerprint_len: u32,
    /// Hex: a u64 does not survive every JSON reader as a number.
    fingerprint: String,
    offset: u64,
    #[serde(default)]
    closed: bool,
}

/// Reads a state file; a missing file is an empty state.
pub fn load(path: &Path) -> Result<State, TailError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
        Err(source) => {
            return Err(TailError::ReadState {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse(&text).map_err(|message| TailError::BadState {
        path: path.display().to_string(),
        message,
    })
}

/// A state file's text as a state.
pub fn parse(text: &str) -> Result<State, String> {
    let saved: Saved = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if saved.version != VERSION {
        return Err(format!(
            "version {} (this logspike writes version {VERSION})",
            saved.version
        ));
    }
    let files = saved
        .files
        .into_iter()
        .map(|e| {
            let hash = u64::from_str_radix(&e.fingerprint, 16)
                .map_err(|_| format!("fingerprint `{}` is not hex", e.fingerprint))?;
            Ok(Entry {
                path: e.path,
                dev: e.dev,
                ino: e.ino,
                fingerprint: Fingerprint {
                    len: e.fingerprint_len,
                    hash,
                },
                offset: e.offset,
                closed: e.closed,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(State {
        files,
        clock: saved.clock,
        alerts: saved.alerts,
        spike: saved.spike,
    })
}

/// Writes the state atomically.
pub fn save(path: &Path, state: &State) -> io::Result<()> {
    let saved = Saved {
        version: VERSION,
        clock: state.clock,
        alerts: state.alerts.clone(),
        spike: state.spike.clone(),
        files: state
            .files
            .iter()
            .map(|e| SavedEntry {
                path: e.path.clone(),
                dev: e.dev,
                ino: e.ino,
                fingerprint_len: e.fingerprint.len,
                fingerprint: format!("{:016x}", e.fingerprint.hash),
                offset: e.offset,
                closed: e.closed,
            })
            .collect(),
    };
    let (mut file, pending) = crate::output::atomic::create(path)?;
    serde_json::to_writer_pretty(&mut file, &saved)?;
    file.write_all(b"\n")?;
    // On disk before it replaces the state it follows: a crash then
    // leaves the old state or the new one, never an empty file.
    file.sync_all()?;
    pending.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load(&path).unwrap(), State::default());
        let files = vec![Entry {
            path: "/var/log/a.log".into(),
            dev: 1,
            ino: u64::MAX,
            fingerprint: Fingerprint::of(b"hello\n"),
            offset: 6,
            closed: false,
        }];
        let state = State {
            files,
            clock: Some(1_800_000_000),
            alerts: vec![SavedKey {
                rule: "503 >= 5 in 30s".into(),
                key: String::new(),
                buckets: vec![(1_799_999_990, 6, 9)],
                firing: None,
            }],
            spike: None,
        };
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        std::fs::write(&path, "{").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("state.json"));
    }
}
