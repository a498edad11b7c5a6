//! Which files `tail` follows and which directories it watches: paths as
//! given, globs and directories expanded again every half second (so a file
//! that appears later is picked up), and an inotify watch per directory,
//! renewed when the directory is deleted and made again.

use std::path::{Path, PathBuf};

use crate::tail::log::say;

fn is_glob(path: &Path) -> bool {
    path.to_string_lossy().contains(['*', '?', '['])
}

/// The directory to watch for a path or glob: its parent, or for a glob
/// the part before the first pattern character.
pub(super) fn watch_dir(path: &Path) -> PathBuf {
    let mut dir = PathBuf::new();
    for part in path.parent().map(|p| p.components()).into_iter().flatten() {
        if is_glob(Path::new(part.as_os_str())) {
            break;
        }
        dir.push(part);
    }
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// The paths to follow now: given paths as they are, globs expanded, a
/// directory as all its files.
pub(super) fn expand(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        if p.is_dir() {
            if let Ok(entries) = std::fs::read_dir(p) {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && !crate::input::compressed_name(p))
                    .collect();
                files.sort();
                out.extend(files);
            }
        } else if is_glob(p) {
            if let Ok(paths) = glob::glob(&p.to_string_lossy()) {
                out.extend(
                    paths
                        .filter_map(|p| p.ok())
                        .filter(|p| p.is_file() && !crate::input::compressed_name(p)),
                );
            }
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Directories watched, by identity: one deleted and made again needs a
/// new watch. Failures are reported once.
#[derive(Default)]
pub(super) struct WatchedDirs {
    watching: Vec<(PathBuf, (u64, u64))>,
    failed: Vec<PathBuf>,
}

fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

/// Watches the directories not watched yet (or made again since); the
/// poll interval covers them meanwhile.
pub(super) fn watch_dirs(
    watcher: &mut notify::RecommendedWatcher,
    dirs: &[PathBuf],
    state: &mut WatchedDirs,
) {
    use notify::Watcher;
    state.watching.retain(|(d, id)| {
        let same = dir_identity(d) == Some(*id);
        if !same {
            let _ = watcher.unwatch(d);
        }
        same
    });
    for d in dirs {
        if state.watching.iter().any(|(w, _)| w == d) {
            continue;
        }
        let Some(id) = dir_identity(d) else { continue };
        match watcher.watch(d, notify::RecursiveMode::NonRecursive) {
            Ok(()) => state.watching.push((d.clone(), id)),
            Err(e) => {
                if !state.failed.contains(d) {
                    say!(Warning, "cannot watch {}: {e}; polling it", d.display());
                    state.failed.push(d.clone());
                }
            }
        }
    }
}
