//! Every file logspike writes (reports, Parquet parts and tables, export
//! manifests, the tail's state) is written under a temporary name in its
//! own directory and renamed into place once complete, so a reader never
//! sees half a file. The temporary file is removed when dropped unless it
//! was committed: no error path (a full disk, a bad input, a signal
//! unwinding) leaves one behind. Its name, `.NAME.XXXXXX.tmp`, says what
//! it was to become, so a clean-up after a killed run can find it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A file on its way to `path`.
pub struct Pending {
    temp: tempfile::TempPath,
    path: PathBuf,
}

/// Starts the file for `path`: the open file under its temporary name, and
/// what puts it in place.
pub fn create(path: &Path) -> io::Result<(File, Pending)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (file, temp) = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?
        .into_parts();
    Ok((
        file,
        Pending {
            temp,
            path: path.to_path_buf(),
        },
    ))
}

impl Pending {
    /// Where it is written meanwhile.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Where it goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it into place, as an ordinary file (a temporary file is
    /// private to its owner).
    pub fn commit(self) -> io::Result<PathBuf> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.temp, std::fs::Permissions::from_mode(0o644))?;
        }
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn committed_or_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let (mut file, pending) = create(&path).unwrap();
        file.write_all(b"half").unwrap();
        assert!(!path.exists(), "not in place before the commit");
        let temp = pending.temp_path().to_path_buf();
        let name = temp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".out.json.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(pending.commit().unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), b"half");
        assert!(!temp.exists());

        let (mut file, pending) = create(&dir.path().join("dropped")).unwrap();
        file.write_all(b"x").unwrap();
        let temp = pending.temp_path().to_path_buf();
        drop(pending);
        assert!(!temp.exists(), "an uncommitted file is removed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
