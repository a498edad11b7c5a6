//! The running server's own configuration, read as the server reads it.
//!
//! nginx starts at `/etc/nginx/nginx.conf`; Apache at
//! `/etc/apache2/apache2.conf` (Debian) or `/etc/httpd/conf/httpd.conf`
//! (Red Hat). `include` directives are followed with their globs, relative
//! paths start where the server starts them (nginx: the directory of
//! `nginx.conf`; Apache: `ServerRoot`), and Debian's `${APACHE_LOG_DIR}`
//! comes from `envvars` or a `Define`. Every `log_format`/`LogFormat` is
//! collected, and every `access_log PATH NAME`/`CustomLog PATH NAME` names
//! the format of a log file and of its rotated siblings.
//!
//! A file that cannot be read or parsed is a warning, never a stop: the
//! rest of the tree still counts. Tests and containers point `root` at a
//! directory that holds an `etc/` tree instead of `/`.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::{apache, builtin, nginx, ConfigFormats, Grammar, GrammarError, Syntax};

/// Includes nested deeper than this are not followed (a loop or a mistake).
const MAX_DEPTH: usize = 16;

/// A place in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A log file whose format a config names.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The directory the log is written to, resolved on this machine.
    dir: PathBuf,
    /// The log's file name; rotated siblings start with it.
    name: String,
    pub grammar: Arc<Grammar>,
    /// Where the format is defined; `None` for a server's predefined one.
    pub defined: Option<Origin>,
    /// The `access_log` or `CustomLog` directive.
    pub named_by: Origin,
}

impl Bound {
    /// The live log's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// `edge, from /etc/nginx/conf.d/logging.conf:3, named for this file by
    /// /etc/nginx/sites-enabled/site.conf:3`.
    pub fn describe(&self) -> String {
        let from = match &self.defined {
            Some(at) => format!("from {at}"),
            None => "the server's predefined format".to_string(),
        };
        format!(
            "{}, {from}, named for this file by {}",
            self.grammar.name, self.named_by
        )
    }
}

/// What the server configs found say about formats and logs.
#[derive(Debug, Default, Clone)]
pub struct ServerFormats {
    /// Every format defined, with where.
    pub grammars: Vec<(Arc<Grammar>, Origin)>,
    pub bound: Vec<Bound>,
    /// Problems met on the way, each naming its file (and line).
    pub warnings: Vec<String>,
    /// Config files read.
    pub files: Vec<PathBuf>,
}

impl ServerFormats {
    /// Reads the configs of the servers installed under `root` (`/` on a
    /// real server). Servers that are not installed are skipped quietly.
    /// The logs the configs name that exist on this machine, each with its
    /// rotated siblings (`access.log.1`, `access.log.2.gz`), oldest first;
    /// with `live`, only the files the server writes to.
    pub fn logs(&self, live: bool) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for b in &self.bound {
            let mut files: Vec<PathBuf> = if live {
                vec![b.path()]
            } else {
                std::fs::read_dir(&b.dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| is_rotation_of(&e.file_name().to_string_lossy(), &b.name))
                    .map(|e| e.path())
                    .collect()
            };
            files.retain(|p| p.is_file() && !out.contains(p));
            files.sort_by_cached_key(|p| crate::input::rotation_key(p));
            out.extend(files);
        }
        out
    }

    pub fn discover(root: &Path) -> ServerFormats {
        let mut out = ServerFormats::default();
        let nginx = root.join("etc/nginx/nginx.conf");
        if nginx.exists() {
            out.merge(ServerFormats::read(Syntax::Nginx, &nginx, root));
        }
        for conf in ["etc/apache2/apache2.conf", "etc/httpd/conf/httpd.conf"] {
            let conf = root.join(conf);
            if conf.exists() {
                out.merge(ServerFormats::read(Syntax::Apache, &conf, root));
            }
        }
        out
    }

    /// Reads one config file and everything it includes. Absolute paths
    /// in it are taken under `root`.
    pub fn read(syntax: Syntax, conf: &Path, root: &Path) -> ServerFormats {
        let base = match syntax {
            // Apache's default ServerRoot: the directory above `conf/` on
            // Red Hat, the config's own directory on Debian.
            Syntax::Apache if conf.parent().is_some_and(|p| p.ends_with("conf")) => {
                conf.parent().and_then(Path::parent).map(Path::to_path_buf)
            }
            _ => conf.parent().map(Path::to_path_buf),
        }
        .unwrap_or_default();
        let mut reader = Reader {
            syntax,
            root: root.to_path_buf(),
            base,
            seen: HashSet::new(),
            vars: apache_envvars(root),
            formats: Vec::new(),
            logs: Vec::new(),
            out: ServerFormats::default(),
        };
        reader.file(conf, 0, false);
        reader.bind();
        reader.out
    }

    pub fn merge(&mut self, other: ServerFormats) {
        self.grammars.extend(other.grammars);
        self.bound.extend(other.bound);
        self.warnings.extend(other.warnings);
        self.files.extend(other.files);
    }

    pub fn is_empty(&self) -> bool {
        self.grammars.is_empty() && self.bound.is_empty()
    }

    /// The format a config names for this log file, or for the file it
    /// was rotated from (`access.log.1`, `access.log.2.gz`,
    /// `access_log-20241010`).
    pub fn for_log(&self, path: &Path) -> Option<&Bound> {
        let name = path.file_name()?.to_str()?;
        let dir = path.parent().map(|d| {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            d.canonicalize().unwrap_or_else(|_| d.to_path_buf())
        })?;
        self.bound
            .iter()
            .find(|b| b.dir == dir && is_rotation_of(name, &b.name))
    }
}

/// `name` is `base` or a rotated copy of it: `.N`, `-YYYYMMDD` (digits and
/// dashes) after it, compressed or not.
pub fn is_rotation_of(name: &str, base: &str) -> bool {
    let name = crate::input::without_compression(name);
    let Some(rest) = name.strip_prefix(base) else {
        return false;
    };
    match rest.as_bytes() {
        [] => true,
        [b'.' | b'-', tail @ ..] => {
            !tail.is_empty() && tail.iter().all(|c| c.is_ascii_digit() || *c == b'-')
        }
        _ => false,
    }
}

/// Debian's `/etc/apache2/envvars`: `export APACHE_LOG_DIR=/var/log/apache2$SUFFIX`.
fn apache_envvars(root: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(root.join("etc/apache2/envvars")) else {
        return vec![("APACHE_LOG_DIR".into(), "/var/log/apache2".into())];
    };
    let mut vars = Vec::new();
    for line in text.lines() {
        let Some((name, value)) = line
            .trim()
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
        else {
            continue;
        };
        let value = value
            .trim_matches(|c| c == '"' || c == '\'')
            .replace("$SUFFIX", "")
            .replace("${SUFFIX}", "");
        vars.push((name.trim().to_string(), value));
    }
    if !vars.iter().any(|(n, _)| n == "APACHE_LOG_DIR") {
        vars.push(("APACHE_LOG_DIR".into(), "/var/log/apache2".into()));
    }
    vars
}

struct Reader {
    syntax: Syntax,
    root: PathBuf,
    /// Where relative paths start.
    base: PathBuf,
    seen: HashSet<PathBuf>,
    /// Apache `${NAME}` values.
    vars: Vec<(String, String)>,
    formats: Vec<(Arc<Grammar>, Origin)>,
    logs: Vec<(super::LogDirective, PathBuf)>,
    out: ServerFormats,
}

impl Reader {
    fn warn(&mut self, at: &Path, line: Option<usize>, message: impl std::fmt::Display) {
        let place = match line {
            Some(line) => format!("{}:{line}", at.display()),
            None => at.display().to_string(),
        };
        self.out.warnings.push(format!("{place}: {message}"));
    }

    fn file(&mut self, path: &Path, depth: usize, optional: bool) {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !self.seen.insert(key) {
            return;
        }
        // A FIFO or a device would block or never end: configs are files.
        if path.metadata().is_ok_and(|m| !m.is_file()) {
            return self.warn(path, None, "not a regular file; not read");
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return self.warn(path, None, format!("cannot be read: {e}")),
        };
        let parsed: Result<ConfigFormats, GrammarError> = match self.syntax {
            Syntax::Apache => apache::parse_conf(&text),
            _ => nginx::parse_conf(&text),
        };
        let conf = match parsed {
            Ok(conf) => conf,
            Err(e) if e.name.ends_with(".conf") => {
                return self.warn(path, None, format!("{}; not read", e.message))
            }
            Err(e) => return self.warn(path, None, format!("{e}; not read")),
        };
        self.out.files.push(path.to_path_buf());
        for w in &conf.warnings {
            self.warn(path, Some(w.line), &w.message);
        }
        if let Some(server_root) = &conf.server_root {
            self.base = self.resolve(server_root);
        }
        for (name, value) in conf.defines {
            self.vars.push((name, value));
        }
        for (grammar, line) in conf.grammars.into_iter().zip(conf.lines) {
            let at = Origin {
                file: path.to_path_buf(),
                line,
            };
            self.formats.push((Arc::new(grammar), at));
        }
        for log in conf.logs {
            self.logs.push((log, path.to_path_buf()));
        }
        for (line, pattern) in conf.includes {
            if depth >= MAX_DEPTH {
                self.warn(
                    path,
                    Some(line),
                    format!("`{pattern}` is nested too deep; not followed"),
                );
                continue;
            }
            let full = self.resolve(&self.expand(&pattern));
            let text = full.to_string_lossy().into_owned();
            if text.contains(['*', '?', '[']) {
                let mut matches: Vec<PathBuf> = match glob::glob(&text) {
                    Ok(paths) => paths.filter_map(Result::ok).collect(),
                    Err(e) => {
                        self.warn(path, Some(line), format!("`{pattern}`: {e}"));
                        continue;
                    }
                };
                // Both servers read glob matches in name order.
                matches.sort();
                for m in matches.into_iter().filter(|m| m.is_file()) {
                    self.file(&m, depth + 1, false);
                }
            } else if full.is_dir() {
                // Apache includes every file of a directory.
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&full)
                    .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                entries.sort();
                for e in entries.into_iter().filter(|e| e.is_file()) {
                    self.file(&e, depth + 1, false);
                }
            } else if full.exists() {
                self.file(&full, depth + 1, false);
            } else {
                self.warn(
                    path,
                    Some(line),
                    format!(
                        "`{pattern}` ({}) does not exist; not followed",
                        full.display()
                    ),
                );
            }
        }
    }

    /// `${NAME}` (Apache) from `envvars` and `Define`.
    fn expand(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in self.vars.iter().rev() {
            out = out.replace(&format!("${{{name}}}"), value);
        }
        out
    }

    /// An absolute path is taken under the root; a relative one from the
    /// server's base directory.
    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            let relative: PathBuf = p
                .components()
                .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
                .collect();
            self.root.join(relative)
        } else {
            self.base.join(p)
        }
    }

    /// Matches every log directive to its format.
    fn bind(&mut self) {
        let prefix = match self.syntax {
            Syntax::Apache => "apache-",
            _ => "nginx-",
        };
        let logs = std::mem::take(&mut self.logs);
        for (log, file) in logs {
            let named_by = Origin {
                file: file.clone(),
                line: log.line,
            };
            let path = self.expand(&log.path);
            if path.contains('$') || path.starts_with("syslog:") {
                // `access_log /var/log/nginx/$host.log`: no one file.
                continue;
            }
            let wanted = log.format.clone().unwrap_or_else(|| "combined".into());
            let (grammar, defined) = if self.syntax == Syntax::Apache && wanted.contains('%') {
                match apache::parse_log_format(&format!("CustomLog {path}"), &wanted) {
                    Ok(g) => (Arc::new(g), Some(named_by.clone())),
                    Err(e) => {
                        self.warn(&file, Some(log.line), e);
                        continue;
                    }
                }
            } else if let Some((g, at)) = self.formats.iter().find(|(g, _)| g.name == wanted) {
                (g.clone(), Some(at.clone()))
            } else if let Some(g) = builtin::all()
                .iter()
                .find(|g| g.name == format!("{prefix}{wanted}"))
            {
                (g.clone(), None)
            } else {
                self.warn(
                    &file,
                    Some(log.line),
                    format!("the log {path} names format `{wanted}`, which no config read defines"),
                );
                continue;
            };
            let full = self.resolve(&path);
            let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
                continue;
            };
            self.out.bound.push(Bound {
                dir: dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
                name: name.to_string_lossy().into_owned(),
                grammar,
                defined,
                named_by,
            });
        }
        self.out.grammars = std::mem::take(&mut self.formats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_siblings_belong_to_their_log() {
        for name in [
            "access.log",
            "access.log.1",
            "access.log.2.gz",
            "access.log-20241010",
            "access.log-20241010.zst",
        ] {
            assert!(is_rotation_of(name, "access.log"), "{name}");
        }
        for name in ["access.log.bak", "access.logs", "other.log", "access.log."] {
            assert!(!is_rotation_of(name, "access.log"), "{name}");
        }
    }
}

#[cfg(test)]
mod fifo_tests {
    use super::*;

    /// An include that names a FIFO would block the read for ever: it is
    /// a warning, and the rest of the tree still counts.
    #[test]
    fn an_included_fifo_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/nginx")).unwrap();
        std::fs::write(
            root.join("etc/nginx/nginx.conf"),
            "include /etc/nginx/pipe.conf;\nlog_format edge '$status';\naccess_log /var/log/nginx/a.log edge;\n",
        )
        .unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(root.join("etc/nginx/pipe.conf"))
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipping: mkfifo is not available");
            return;
        }
        let found = ServerFormats::discover(root);
        assert_eq!(found.grammars.len(), 1);
        assert_eq!(found.bound.len(), 1);
        assert!(
            found
                .warnings
                .iter()
                .any(|w| w.contains("pipe.conf: not a regular file")),
            "{:?}",
            found.warnings
        );
    }
}
