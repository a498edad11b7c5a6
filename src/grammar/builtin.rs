//! The built-in grammars, embedded from `grammars/` at build time, and the
//! [`Registry`] that finds a grammar by name among them and the user's own.

use std::sync::{Arc, OnceLock};

use super::{apache, nginx, w3c, Grammar, GrammarError, Item, Role, Unit};

const NGINX: &str = include_str!("../../grammars/nginx.conf");
const APACHE: &str = include_str!("../../grammars/apache.conf");
const IIS: &str = include_str!("../../grammars/iis.fields");
const TRAEFIK: &str = include_str!("../../grammars/traefik.conf");

/// Reads a file of `# name: NAME` comments each followed by a `#Fields:`
/// line, the form of `grammars/iis.fields`.
pub fn parse_fields_file(text: &str, prefix: &str) -> Result<Vec<Grammar>, GrammarError> {
    let mut out = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("# name:") {
            name = Some(n.trim().to_string());
        } else if line.starts_with("#Fields:") {
            let n = name.take().ok_or_else(|| {
                GrammarError::new("iis.fields", "a #Fields line without a `# name:` line")
            })?;
            out.push(w3c::parse_fields_directive(&format!("{prefix}{n}"), line)?);
        }
    }
    Ok(out)
}

fn renamed(grammars: Vec<Grammar>, prefix: &str) -> Vec<Grammar> {
    grammars
        .into_iter()
        .map(|mut g| {
            g.name = format!("{prefix}{}", g.name);
            g
        })
        .collect()
}

/// Gives Traefik's own fields (written as nginx variables in
/// `grammars/traefik.conf`) their meaning: the backend URL is the upstream
/// and the duration is the request time in milliseconds.
fn traefik(grammars: Vec<Grammar>) -> Vec<Grammar> {
    let mut out = renamed(grammars, "traefik-");
    for g in &mut out {
        for item in &mut g.items {
            if let Item::Field(f) = item {
                match f.name.as_str() {
                    "traefik_server_url" => f.role = Role::UpstreamAddr,
                    "traefik_duration_ms" => {
                        f.role = Role::RequestTime;
                        f.unit = Some(Unit::Millis);
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn load() -> Result<Vec<Arc<Grammar>>, GrammarError> {
    let mut all = renamed(nginx::parse_conf(NGINX)?.grammars, "nginx-");
    all.extend(renamed(apache::parse_conf(APACHE)?.grammars, "apache-"));
    all.extend(parse_fields_file(IIS, "iis-")?);
    all.extend(traefik(nginx::parse_conf(TRAEFIK)?.grammars));
    // Detection breaks ties by this order: formats with more fields first,
    // so `main` wins over `combined` on lines that carry the extra field,
    // and Apache's `%v:%p` before nginx's `$host` when a port is there.
    let rank = |name: &str| {
        [
            "traefik-common",
            "nginx-upstreaminfo",
            "nginx-upstream",
            "nginx-main",
            "nginx-combined",
            "apache-vhost_combined",
            "nginx-vhost_combined",
            "apache-combinedio",
            "apache-combined",
            "apache-common",
            "apache-ssl_request",
        ]
        .iter()
        .position(|n| *n == name)
        .unwrap_or(usize::MAX)
    };
    all.sort_by_key(|g| rank(&g.name));
    Ok(all.into_iter().map(Arc::new).collect())
}

/// Every built-in grammar, in detection order.
pub fn all() -> &'static [Arc<Grammar>] {
    static ALL: OnceLock<Vec<Arc<Grammar>>> = OnceLock::new();
    // The embedded files are part of the build and covered by a unit test,
    // so failing here is a bug in logspike, not in its input.
    ALL.get_or_init(|| load().expect("built-in grammars compile"))
}

/// Grammars by name: the user's own (from `--nginx-conf`, `--apache-conf`,
/// `--log-format`) first, then the built-ins.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    user: Vec<Arc<Grammar>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn add(&mut self, grammar: Grammar) {
        self.user.push(Arc::new(grammar));
    }

    pub fn user_grammars(&self) -> &[Arc<Grammar>] {
        &self.user
    }

    /// Candidates for detection: the user's grammars, then the built-ins.
    pub fn candidates(&self) -> Vec<Arc<Grammar>> {
        self.user.iter().chain(all()).cloned().collect()
    }

    /// A `--format-for` rule, `PATTERN=NAME`: a glob over paths and the
    /// grammar they are read with.
    pub fn format_for(&self, spec: &str) -> Result<(glob::Pattern, Arc<Grammar>), String> {
        let (pattern, name) = spec
            .rsplit_once('=')
            .ok_or_else(|| format!("--format-for `{spec}`: give PATTERN=NAME"))?;
        let pattern = glob::Pattern::new(pattern)
            .map_err(|e| format!("--format-for `{spec}`: bad pattern: {e}"))?;
        let grammar = self.find(name).map_err(|e| e.to_string())?;
        Ok((pattern, grammar))
    }

    /// Finds a grammar by exact name, or by the part after `nginx-`,
    /// `apache-` or `iis-` when only one grammar has it (`upstreaminfo`).
    pub fn find(&self, name: &str) -> Result<Arc<Grammar>, GrammarError> {
        let candidates = self.candidates();
        if let Some(g) = candidates.iter().find(|g| g.name == name) {
            return Ok(g.clone());
        }
        let short: Vec<_> = candidates
            .iter()
            .filter(|g| g.name.split_once('-').is_some_and(|(_, s)| s == name))
            .collect();
        match short.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(GrammarError::new(
                name,
                format!(
                    "unknown format; known formats: {}",
                    candidates
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            many => Err(GrammarError::new(
                name,
                format!(
                    "ambiguous format name; say which: {}",
                    many.iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::Syntax;

    #[test]
    fn every_builtin_compiles_with_the_fields_it_promises() {
        let names: Vec<_> = all().iter().map(|g| g.name.as_str()).collect();
        for expected in [
            "nginx-combined",
            "nginx-main",
            "nginx-upstream",
            "nginx-upstreaminfo",
            "apache-common",
            "apache-combined",
            "apache-vhost_combined",
            "apache-combinedio",
            "iis-w3c",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let upstream = Registry::new().find("nginx-upstream").unwrap();
        let vars: Vec<_> = upstream.fields().map(|f| f.name.as_str()).collect();
        for v in [
            "request_time",
            "upstream_addr",
            "upstream_status",
            "upstream_response_time",
            "upstream_connect_time",
            "upstream_header_time",
        ] {
            assert!(vars.contains(&v), "{v}");
        }
        let iis = Registry::new().find("iis-w3c").unwrap();
        assert_eq!(iis.syntax, Syntax::W3c);
    }

    #[test]
    fn find_by_short_name_and_clear_errors() {
        let reg = Registry::new();
        assert_eq!(reg.find("upstreaminfo").unwrap().name, "nginx-upstreaminfo");
        let err = reg.find("combined").unwrap_err();
        assert!(err.message.contains("ambiguous"), "{err}");
        let err = reg.find("nope").unwrap_err();
        assert!(err.message.contains("nginx-combined"), "{err}");
    }

    #[test]
    fn user_grammars_come_first() {
        let mut reg = Registry::new();
        reg.add(Grammar::from_format("combined", "$status").unwrap());
        assert_eq!(reg.find("combined").unwrap().fields().count(), 1);
        assert_eq!(reg.candidates()[0].name, "combined");
    }
}
