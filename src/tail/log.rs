//! The tail's notes on stderr, one line each. Under systemd, where stderr
//! is the journal (`JOURNAL_STREAM` names it), each starts with its syslog
//! level (`<3>` error, `<4>` warning, `<6>` info), which journald keeps as
//! the entry's priority (`journalctl -p warning`), and a note of several
//! lines (a rejected line shown under its reason) stays one entry.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Info = 6,
}

/// Whether stderr is the journal's stream.
fn journal() -> bool {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    *JOURNAL.get_or_init(|| {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
            return false;
        };
        let Ok(meta) = std::fs::File::from(fd).metadata() else {
            return false;
        };
        stream.to_string_lossy() == format!("{}:{}", meta.dev(), meta.ino())
    })
}

/// The line as it is written: `logspike tail: message`, with the level
/// first and the lines joined for the journal.
pub fn line(level: Level, message: &str, journal: bool) -> String {
    if journal {
        format!(
            "<{}>logspike tail: {}",
            level as u8,
            message.replace('\n', " ⏎ ")
        )
    } else {
        format!("logspike tail: {message}")
    }
}

pub fn write(level: Level, message: &str) {
    eprintln!("{}", line(level, message, journal()));
}

/// `say!(Warning, "format", args...)`.
macro_rules! say {
    ($level:ident, $($arg:tt)*) => {
        $crate::tail::log::write($crate::tail::log::Level::$level, &format!($($arg)*))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_gets_levels_and_one_line() {
        assert_eq!(line(Level::Info, "a", false), "logspike tail: a");
        assert_eq!(
            line(Level::Warning, "a\n  | b", true),
            "<4>logspike tail: a ⏎   | b"
        );
        assert_eq!(line(Level::Error, "x", true), "<3>logspike tail: x");
    }
}
