//! Export to object storage: `--parquet s3://bucket/prefix/` (and `gs://`,
//! `az://`).
//!
//! The export runs as it does for a directory, into a private staging
//! directory, and its files are then uploaded under the prefix with the
//! same relative names: the Hive layout, `_logspike/` manifests and all.
//! An object appears only whole (a single PUT, or a multipart upload that
//! is completed last and aborted on failure), the run's manifest goes up
//! after every part, and names carry the run id, so exports from many
//! servers into one prefix never touch each other's files. Requests that
//! fail transiently are retried with backoff by the `object_store` client
//! until `timeout`; a failure then removes what this run had uploaded
//! (as far as the store still answers) and names the object.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};

use super::{ExportError, Mode};

/// Parts of a multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// How the files go up.
#[derive(Debug, Clone, Copy)]
pub struct UploadOptions {
    /// How long one request is retried (with backoff) before failing.
    pub timeout: Duration,
    /// Files up to this size go up in one request; larger ones in parts
    /// of this size (S3 takes 5 MiB at least).
    pub part_bytes: usize,
}

/// Whether `target` names object storage rather than a directory.
pub fn is_url(target: &Path) -> bool {
    target.to_str().is_some_and(|t| {
        [
            "s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://",
        ]
        .iter()
        .any(|s| t.starts_with(s))
    })
}

/// `file:///a/b` as the path `/a/b` (the directory form, which needs no
/// store); anything else as it is.
pub fn local_path(target: &Path) -> PathBuf {
    target
        .to_str()
        .filter(|t| t.starts_with("file://"))
        .and_then(|t| url::Url::parse(t).ok())
        .and_then(|u| u.to_file_path().ok())
        .unwrap_or_else(|| target.to_path_buf())
}

/// A bucket and prefix the export writes to.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    root: Key,
    /// The URL as given, without a trailing slash, for messages.
    url: String,
    runtime: tokio::runtime::Runtime,
    part: usize,
}

/// What an upload put where.
#[derive(Debug, Default)]
pub struct Uploaded {
    pub objects: usize,
    pub bytes: u64,
}

impl std::fmt::Display for Uploaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uploaded {} objects, {} bytes", self.objects, self.bytes)
    }
}

impl Remote {
    /// Connects to the store `url` names; credentials, region and endpoint
    /// come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, ... or the profile in `~/.aws`; `GOOGLE_*`,
    /// `AZURE_*`).
    pub fn open(url: &str, upload: UploadOptions) -> Result<Remote, ExportError> {
        // reqwest's TLS takes the process's default provider; ring is the
        // one already linked.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let parsed = url::Url::parse(url).map_err(|e| ExportError::Remote {
            url: url.to_string(),
            error: format!("not a URL: {e}"),
        })?;
        let failed = |error: object_store::Error| ExportError::Remote {
            url: url.to_string(),
            error: error.to_string(),
        };
        let retry = object_store::RetryConfig {
            retry_timeout: upload.timeout,
            ..Default::default()
        };
        let store: Arc<dyn ObjectStore> = match parsed.scheme() {
            "s3" | "s3a" => {
                let mut builder = object_store::aws::AmazonS3Builder::new();
                for (key, value) in aws_profile() {
                    if let Ok(key) = key.parse() {
                        builder = builder.with_config(key, value);
                    }
                }
                for (key, value) in std::env::vars() {
                    if key.starts_with("AWS_") {
                        if let Ok(key) = key.to_ascii_lowercase().parse() {
                            builder = builder.with_config(key, value);
                        }
                    }
                }
                // A plain-HTTP endpoint (a local MinIO) was asked for by
                // name; refusing it would only make people set a variable.
                let plain = builder
                    .get_config_value(&object_store::aws::AmazonS3ConfigKey::Endpoint)
                    .is_some_and(|e| e.starts_with("http://"));
                Arc::new(
                    builder
                        .with_url(url)
                        .with_allow_http(plain)
                        .with_retry(retry)
                        .build()
                        .map_err(failed)?,
                )
            }
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url)
                    .with_retry(retry)
                    .build()
                    .map_err(failed)?,
            ),
            _ => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .with_retry(retry)
                    .build()
                    .map_err(failed)?,
            ),
        };
        let root = Key::from(parsed.path().trim_matches('/'));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ExportError::Remote {
                url: url.to_string(),
                error: format!("starting the I/O runtime: {e}"),
            })?;
        Ok(Remote {
            store,
            root,
            url: url.trim_end_matches('/').to_string(),
            runtime,
            part: upload.part_bytes,
        })
    }

    /// The URL of `key`.
    fn url_of(&self, key: &Key) -> String {
        let rest = key
            .as_ref()
            .strip_prefix(self.root.as_ref())
            .unwrap_or(key.as_ref());
        format!("{}/{}", self.url, rest.trim_start_matches('/'))
    }

    fn error(&self, key: Option<&Key>, error: impl std::fmt::Display) -> ExportError {
        ExportError::Remote {
            url: key.map_or_else(|| self.url.clone(), |k| self.url_of(k)),
            error: error.to_string(),
        }
    }

    /// Every object under the prefix.
    fn list(&self) -> Result<Vec<Key>, ExportError> {
        let listed: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&self.root)).try_collect())
            .map_err(|e| self.error(None, e))?;
        Ok(listed
            .into_iter()
            .map(|m: object_store::ObjectMeta| m.location)
            .collect())
    }

    /// Copies every object under the prefix into `dir`, under its
    /// relative name (to read rollups back); returns how many.
    pub fn download(&self, dir: &Path) -> Result<usize, ExportError> {
        let keys = self.list()?;
        for key in &keys {
            let relative = key
                .prefix_match(&self.root)
                .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>())
                .unwrap_or_default();
            // A part that would climb out of `dir` is no name of ours.
            if relative.is_empty() || relative.iter().any(|p| p == ".." || p == ".") {
                continue;
            }
            let path = relative
                .iter()
                .fold(dir.to_path_buf(), |p, part| p.join(part));
            let bytes = self
                .runtime
                .block_on(async { self.store.get(key).await?.bytes().await })
                .map_err(|e| self.error(Some(key), e))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(super::io_err(parent))?;
            }
            std::fs::write(&path, &bytes).map_err(super::io_err(&path))?;
        }
        Ok(keys.len())
    }

    /// Does for the prefix what [`super::prepare`] does for a directory:
    /// refuses one with objects (`Create`), empties it (`Overwrite`), or
    /// (`Append`) brings its run manifests into `staging`, so that inputs
    /// a finished run exported are refused as they are locally. Nothing is
    /// ever removed on `Append`: a part without a manifest may be another
    /// server's export in progress.
    pub fn prepare(&self, mode: Mode, staging: &Path) -> Result<(), ExportError> {
        let existing = self.list()?;
        match mode {
            Mode::Create if !existing.is_empty() => {
                Err(ExportError::Exists(format!("{}/", self.url)))
            }
            Mode::Create => Ok(()),
            Mode::Overwrite => {
                for key in &existing {
                    self.runtime
                        .block_on(self.store.delete(key))
                        .map_err(|e| self.error(Some(key), e))?;
                }
                Ok(())
            }
            Mode::Append => {
                let manifests = self.root.clone().join(super::manifest::DIR);
                for key in existing.iter().filter(|k| {
                    k.prefix_match(&manifests).is_some_and(|mut rest| {
                        rest.next()
                            .is_some_and(|name| name.as_ref().ends_with(".json"))
                            && rest.next().is_none()
                    })
                }) {
                    let bytes = self
                        .runtime
                        .block_on(async { self.store.get(key).await?.bytes().await })
                        .map_err(|e| self.error(Some(key), e))?;
                    let name = key.filename().unwrap_or("run.json");
                    let dir = staging.join(super::manifest::DIR);
                    std::fs::create_dir_all(&dir).map_err(super::io_err(&dir))?;
                    let path = dir.join(name);
                    std::fs::write(&path, &bytes).map_err(super::io_err(&path))?;
                }
                Ok(())
            }
        }
    }

    /// Uploads `files` (paths under `staging`) and then the run's
    /// `manifests` to the same relative names under the prefix. On a
    /// failure, what this run uploaded is removed where the store allows.
    pub fn upload(
        &self,
        staging: &Path,
        files: &[PathBuf],
        manifests: &[PathBuf],
    ) -> Result<Uploaded, ExportError> {
        let mut done = Vec::new();
        let mut uploaded = Uploaded::default();
        for path in files.iter().chain(manifests) {
            match self.upload_one(staging, path) {
                Ok((key, bytes)) => {
                    done.push(key);
                    uploaded.objects += 1;
                    uploaded.bytes += bytes;
                }
                Err(error) => {
                    let left: Vec<String> = done
                        .iter()
                        .filter(|k| self.runtime.block_on(self.store.delete(k)).is_err())
                        .map(|k| self.url_of(k))
                        .collect();
                    let ExportError::Remote { url, error } = error else {
                        return Err(error);
                    };
                    let after = if done.is_empty() {
                        String::new()
                    } else if left.is_empty() {
                        format!(
                            "; removed what this run had uploaded ({} objects)",
                            done.len()
                        )
                    } else {
                        format!(
                            "; {} objects this run uploaded could not be removed (no manifest names them): {}",
                            left.len(),
                            left.join(", ")
                        )
                    };
                    return Err(ExportError::Remote {
                        url,
                        error: format!("{error}{after}"),
                    });
                }
            }
        }
        Ok(uploaded)
    }

    fn upload_one(&self, staging: &Path, path: &Path) -> Result<(Key, u64), ExportError> {
        let relative = path.strip_prefix(staging).unwrap_or(path);
        let key = relative.components().fold(self.root.clone(), |key, c| {
            key.join(c.as_os_str().to_string_lossy().as_ref())
        });
        let size = std::fs::metadata(path).map_err(super::io_err(path))?.len();
        if size <= self.part as u64 {
            let bytes = std::fs::read(path).map_err(super::io_err(path))?;
            let put = |mode| {
                let options = PutOptions {
                    mode,
                    ..Default::default()
                };
                self.runtime.block_on(self.store.put_opts(
                    &key,
                    PutPayload::from(bytes.clone()),
                    options,
                ))
            };
            // Never over another object; a store that cannot put
            // conditionally still gets a name no other run uses.
            match put(PutMode::Create) {
                Err(object_store::Error::NotImplemented { .. }) => put(PutMode::Overwrite),
                other => other,
            }
            .map_err(|e| self.error(Some(&key), e))?;
        } else {
            self.runtime
                .block_on(async {
                    use std::io::Read;
                    let upload = self.store.put_multipart(&key).await?;
                    let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part);
                    let mut file =
                        std::fs::File::open(path).map_err(|e| object_store::Error::Generic {
                            store: "staging",
                            source: Box::new(e),
                        })?;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = match file.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) => {
                                let _ = writer.abort().await;
                                return Err(object_store::Error::Generic {
                                    store: "staging",
                                    source: Box::new(e),
                                });
                            }
                        };
                        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                            let _ = writer.abort().await;
                            return Err(e);
                        }
                        writer.write(&buf[..n]);
                    }
                    writer.finish().await
                })
                .map_err(|e| self.error(Some(&key), e))?;
        }
        Ok((key, size))
    }
}

/// Settings of the AWS profile (`AWS_PROFILE`, else `default`) from the
/// shared credentials and config files, as `object_store` keys; the
/// environment's own variables override them.
fn aws_profile() -> Vec<(String, String)> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let file = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(name))
    };
    let mut out = Vec::new();
    // In the config file a profile's section is `[profile NAME]`, except
    // `[default]`; in the credentials file it is `[NAME]`.
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    for (path, section) in [
        (file("AWS_CONFIG_FILE", "config"), config_section),
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), profile),
    ] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(ini_section(&text, &section));
        }
    }
    out.into_iter()
        .filter_map(|(k, v)| {
            let key = match k.as_str() {
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => k,
                "region" => "aws_region".to_string(),
                "endpoint_url" => "aws_endpoint".to_string(),
                _ => return None,
            };
            Some((key, v))
        })
        .collect()
}

/// The `key = value` lines of one `[section]` of an INI text.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_paths() {
        assert_eq!(
            local_path(Path::new("file:///tmp/a%20b/")),
            Path::new("/tmp/a b/")
        );
        assert_eq!(local_path(Path::new("out/x")), Path::new("out/x"));
    }

    #[test]
    fn urls_and_directories() {
        assert!(is_url(Path::new("s3://bucket/logs/")));
        assert!(is_url(Path::new("gs://bucket")));
        assert!(!is_url(Path::new("out/s3://x")));
        assert!(!is_url(Path::new("/tmp/parquet")));
    }

    #[test]
    fn a_profile_section_and_no_other() {
        let text = "[default]\naws_access_key_id = A\n\n[profile ci]\n# note\nregion=eu-west-1\nendpoint_url = http://127.0.0.1:9000\n[other]\nregion = x\n";
        assert_eq!(
            ini_section(text, "profile ci"),
            vec![
                ("region".to_string(), "eu-west-1".to_string()),
                (
                    "endpoint_url".to_string(),
                    "http://127.0.0.1:9000".to_string()
                )
            ]
        );
        assert_eq!(
            ini_section(text, "default"),
            vec![("aws_access_key_id".to_string(), "A".to_string())]
        );
    }
}
