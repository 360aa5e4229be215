//! Models from the Hugging Face hub, by id (`gpt2`, `HuggingFaceTB/SmolLM2-135M-Instruct`,
//! `org/name@revision`), fetched file by file from `{endpoint}/{id}/resolve/{revision}/{file}`
//! into loam's cache. The endpoint is `$HF_ENDPOINT` (as for `transformers`), else
//! `https://huggingface.co`.
//!
//! Each file is written to `NAME.part` and renamed into place only once it is whole and, for
//! the weights (whose `X-Linked-Etag`/`ETag` is the SHA-256 of the content), once its hash
//! matches; a dropped connection resumes with a `Range` request. A model folder counts as
//! fetched only when its marker file is written, after every file: a second fetch then makes
//! no request at all.

use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{LmError, Result};
use crate::hf::{INDEX_FILE, WEIGHTS_FILE, cache_dir};

/// The hub's address when `$HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The files of a model besides its weights; all but `config.json` may be missing.
pub const MODEL_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
];

/// Short names `resolve_model` and `cargo xtask fetch-model` know, with their hub ids: the
/// small open chat models of the Llama family, and GPT-2.
pub const KNOWN_HUB_MODELS: &[(&str, &str)] = &[
    ("SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct"),
    ("SmolLM2-1.7B-Instruct", "HuggingFaceTB/SmolLM2-1.7B-Instruct"),
    ("Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
    ("Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct"),
    ("Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-1B-Instruct"),
    ("gpt2", "openai-community/gpt2"),
];

/// Written in a model's cache folder once every file is there.
const COMPLETE_MARKER: &str = ".loam-complete";

/// How long to wait for the hub to connect and to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries at one file, counting resumed ones.
const ATTEMPTS: usize = 3;

/// A model repository on the hub and the revision (branch, tag or commit) to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    /// `name` or `owner/name`.
    pub repo: String,
    /// `main` unless the id says `@revision`.
    pub revision: String,
}

fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && !s.contains("..")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl HubId {
    /// Parses `name`, `owner/name` or either with `@revision`; `None` when `id` cannot be one.
    /// A short name of [`KNOWN_HUB_MODELS`] (any case) stands for its full id.
    pub fn parse(id: &str) -> Option<HubId> {
        let (repo, revision) = match id.split_once('@') {
            Some((repo, rev)) => (repo, rev),
            None => (id, "main"),
        };
        let repo = KNOWN_HUB_MODELS.iter().find(|(short, _)| short.eq_ignore_ascii_case(repo)).map_or(repo, |(_, full)| full);
        let parts: Vec<&str> = repo.split('/').collect();
        let rev_ok = !revision.is_empty() && revision.split('/').all(plain_name);
        (parts.len() <= 2 && parts.iter().all(|p| plain_name(p)) && rev_ok)
            .then(|| HubId { repo: repo.to_string(), revision: revision.to_string() })
    }

    /// The folder name of this id in the cache: `owner--name/revision`.
    fn cache_path(&self) -> PathBuf {
        PathBuf::from(self.repo.replace('/', "--")).join(self.revision.replace('/', "--"))
    }
}

impl std::fmt::Display for HubId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.revision == "main" { write!(f, "{}", self.repo) } else { write!(f, "{}@{}", self.repo, self.revision) }
    }
}

/// `$HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`], without a trailing slash.
pub fn hub_endpoint() -> String {
    let env = std::env::var("HF_ENDPOINT").ok().filter(|v| !v.is_empty());
    env.as_deref().unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/').to_string()
}

/// A model folder for `model`: the folder itself when it exists (a local folder always wins),
/// else the cached copy of the hub id, fetched first when needed. `log` receives one line per
/// file fetched.
pub fn resolve_model(model: &str, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    match HubId::parse(model) {
        Some(id) => Hub::from_env().fetch(&id, log),
        None => Err(LmError::file(path, "no such model folder (and not a hub id such as `gpt2` or `owner/name`)")),
    }
}

/// What a file request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The file is in place.
    Done,
    /// The hub has no such file (404).
    Missing,
}

/// A connection to one hub endpoint and a cache folder.
pub struct Hub {
    endpoint: String,
    cache: PathBuf,
    progress: bool,
    agent: ureq::Agent,
}

impl Hub {
    /// The hub at `$HF_ENDPOINT` (or huggingface.co) and loam's cache (`<cache>/hub`), with a
    /// progress bar when standard error is a terminal.
    pub fn from_env() -> Hub {
        Hub::new(&hub_endpoint(), &cache_dir().join("hub"))
    }

    /// The hub at `endpoint` (`https://host[:port][/prefix]`), caching under `cache`.
    pub fn new(endpoint: &str, cache: &Path) -> Hub {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(CONNECT_TIMEOUT * 3))
            .timeout_recv_body(Some(CONNECT_TIMEOUT * 3))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache: cache.to_path_buf(),
            progress: std::io::stderr().is_terminal(),
            agent,
        }
    }

    /// Shows (or hides) a progress bar on standard error while downloading.
    pub fn with_progress(mut self, on: bool) -> Hub {
        self.progress = on;
        self
    }

    /// The cache folder of `id` (which may not exist yet).
    pub fn model_dir(&self, id: &HubId) -> PathBuf {
        self.cache.join(id.cache_path())
    }

    /// The folder of `id`, fetched into the cache unless a complete copy is there already:
    /// the model files, and `model.safetensors` or the shard index and every shard it lists.
    pub fn fetch(&self, id: &HubId, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
        let dir = self.model_dir(id);
        if dir.join(COMPLETE_MARKER).is_file() {
            return Ok(dir);
        }
        for file in MODEL_FILES {
            if self.fetch_file(id, file, &dir, log)? == Fetched::Missing && *file == "config.json" {
                return Err(self.missing(id, file));
            }
        }
        if let Fetched::Missing = self.fetch_file(id, WEIGHTS_FILE, &dir, log)? {
            if let Fetched::Missing = self.fetch_file(id, INDEX_FILE, &dir, log)? {
                return Err(LmError::Config(format!(
                    "{id}: the hub at {} has neither {WEIGHTS_FILE} nor {INDEX_FILE} (loam reads safetensors weights)",
                    self.endpoint
                )));
            }
            for shard in shard_names(&dir.join(INDEX_FILE))? {
                if let Fetched::Missing = self.fetch_file(id, &shard, &dir, log)? {
                    return Err(self.missing(id, &shard));
                }
            }
        }
        fs::write(dir.join(COMPLETE_MARKER), format!("{id}\n")).map_err(|e| LmError::file(&dir, format!("cannot write: {e}")))?;
        Ok(dir)
    }

    fn missing(&self, id: &HubId, file: &str) -> LmError {
        LmError::Config(format!("{id}: `{file}` is not on the hub at {} (404)", self.endpoint))
    }

    /// The one-line error for a hub that cannot be reached.
    fn unreachable(&self, id: &HubId, e: impl std::fmt::Display) -> LmError {
        LmError::Config(format!(
            "cannot fetch `{id}`: the Hugging Face hub at {} cannot be reached ({e}), and the model is not in loam's cache at {}; \
             connect, set HF_ENDPOINT to a mirror, or pass a local model folder",
            self.endpoint,
            self.model_dir(id).display()
        ))
    }

    /// Fetches one file of `id` into `dir` (kept when already there: files only ever appear
    /// whole), retrying a dropped connection from where it stopped.
    pub fn fetch_file(&self, id: &HubId, file: &str, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<Fetched> {
        let dest = dir.join(file);
        if dest.is_file() {
            return Ok(Fetched::Done);
        }
        let part = dest.with_file_name(format!("{}.part", dest.file_name().and_then(|n| n.to_str()).unwrap_or(file)));
        let url = format!("{}/{}/resolve/{}/{file}", self.endpoint, id.repo, id.revision);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            match self.download(id, &url, &part, log)? {
                Attempt::Missing => return Ok(Fetched::Missing),
                Attempt::Complete => {
                    fs::rename(&part, &dest).map_err(|e| LmError::file(&dest, format!("cannot move into place: {e}")))?;
                    return Ok(Fetched::Done);
                }
                Attempt::Interrupted(e) => {
                    log(&format!("{id}: {file}: connection lost ({e}); resuming (try {} of {ATTEMPTS})", attempt + 2));
                    last = e;
                }
            }
        }
        let _ = fs::remove_file(&part);
        Err(LmError::Config(format!("{id}: `{file}` from {}: the download kept failing ({last})", self.endpoint)))
    }

    /// One request for `url`, appending to `part` when it already holds a start of the file.
    fn download(&self, id: &HubId, url: &str, part: &Path, log: &mut dyn FnMut(&str)) -> Result<Attempt> {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let (mut response, expected) = self.get(id, url, have)?;
        let status = response.status().as_u16();
        let file = url.rsplit('/').next().unwrap_or(url);
        match status {
            404 => return Ok(Attempt::Missing),
            401 | 403 => {
                let code = response.headers().get("x-error-code").and_then(|v| v.to_str().ok()).unwrap_or("");
                let why = if code == "RepositoryNotFound" {
                    "there is no such model (or it is private): check the id"
                } else {
                    "the model is gated or private (log in on the hub and accept its terms)"
                };
                return Err(LmError::Config(format!("{id}: the hub at {} refuses `{file}` ({status}): {why}", self.endpoint)));
            }
            200 | 206 => {}
            416 => {
                let _ = fs::remove_file(part);
                return Ok(Attempt::Interrupted("the hub refused to resume; restarting".into()));
            }
            _ => return Err(LmError::Config(format!("{id}: GET {url}: the hub answered {status}"))),
        }
        if let Some(parent) = part.parent() {
            fs::create_dir_all(parent).map_err(|e| LmError::file(parent, format!("cannot create: {e}")))?;
        }
        let resumed = status == 206 && have > 0;
        let mut hasher = Sha256::new();
        let mut out = if resumed {
            hash_file(part, &mut hasher)?;
            fs::OpenOptions::new().append(true).open(part)
        } else {
            fs::File::create(part)
        }
        .map_err(|e| LmError::file(part, format!("cannot write: {e}")))?;
        let start = if resumed { have } else { 0 };
        let total = response.body().content_length().map(|n| n + start);
        let bar = self.bar(total, start, &format!("{id} {file}"));
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut written = start;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    bar.abandon();
                    return Ok(Attempt::Interrupted(e.to_string()));
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| LmError::file(part, format!("cannot write: {e}")))?;
            written += n as u64;
            bar.set_position(written);
        }
        bar.finish_and_clear();
        out.sync_all().map_err(|e| LmError::file(part, format!("cannot write: {e}")))?;
        if let Some(total) = total.filter(|&t| t != written) {
            return Ok(Attempt::Interrupted(format!("got {written} of {total} bytes")));
        }
        let found = hex(&hasher.finalize());
        if let Some(expected) = expected.filter(|e| e != &found) {
            let _ = fs::remove_file(part);
            return Err(LmError::Config(format!(
                "{id}: `{file}` from {} is corrupt: its sha256 is {found}, the hub says {expected}; nothing was kept",
                self.endpoint
            )));
        }
        log(&format!("{id}: {file} ({written} bytes)"));
        Ok(Attempt::Complete)
    }

    /// GETs `url` from byte `from` on, following up to five redirects; also returns the
    /// SHA-256 the hub gives for the file (`X-Linked-Etag` of a redirect, else the `ETag`),
    /// when it is one.
    fn get(&self, id: &HubId, url: &str, from: u64) -> Result<(ureq::http::Response<ureq::Body>, Option<String>)> {
        let mut url = url.to_string();
        let mut expected = None;
        for _ in 0..6 {
            let mut request = self.agent.get(&url);
            if from > 0 {
                request = request.header("Range", format!("bytes={from}-"));
            }
            let response = request.call().map_err(|e| self.unreachable(id, e))?;
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            if expected.is_none() {
                expected = header("x-linked-etag").or_else(|| header("etag")).and_then(|e| sha256_etag(&e));
            }
            if !response.status().is_redirection() {
                return Ok((response, expected));
            }
            let location = header("location")
                .ok_or_else(|| LmError::Config(format!("{id}: GET {url}: a redirect without a Location")))?;
            url = if location.starts_with('/') { format!("{}{location}", origin(&self.endpoint)) } else { location };
        }
        Err(LmError::Config(format!("{id}: GET {url}: too many redirects")))
    }

    fn bar(&self, total: Option<u64>, start: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(total, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} [{eta}]").expect("valid template"),
        );
        bar.set_message(what.to_string());
        bar.set_position(start);
        bar
    }
}

/// How one request for a file ended.
enum Attempt {
    /// The file is whole (and its hash checked) in the `.part` file.
    Complete,
    /// The hub has no such file.
    Missing,
    /// The connection broke; what was received stays in the `.part` file.
    Interrupted(String),
}

/// The shards `index` lists, each once, in order.
fn shard_names(index: &Path) -> Result<Vec<String>> {
    let value: serde_json::Value = crate::hf::config::read_json(index)?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| LmError::file(index, "not a shard index: no `weight_map`"))?;
    let mut shards: Vec<String> = Vec::new();
    for shard in map.values() {
        let name = shard.as_str().filter(|s| plain_name(s)).ok_or_else(|| {
            LmError::file(index, format!("shard name {shard} is not a plain file name in this folder"))
        })?;
        if !shards.iter().any(|s| s == name) {
            shards.push(name.to_string());
        }
    }
    Ok(shards)
}

/// The SHA-256 an ETag holds (quotes and `W/` removed), when it is 64 hex digits: the hub's
/// ETag of a small file is its git hash instead, which is not checked.
fn sha256_etag(etag: &str) -> Option<String> {
    let e = etag.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    (e.len() == 64 && e.chars().all(|c| c.is_ascii_hexdigit())).then_some(e)
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<()> {
    let mut f = fs::File::open(path).map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf).map_err(|e| LmError::file(path, format!("cannot read: {e}")))? {
            0 => return Ok(()),
            n => hasher.update(&buf[..n]),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_paths_do_not() {
        assert_eq!(HubId::parse("gpt2"), Some(HubId { repo: "openai-community/gpt2".into(), revision: "main".into() }));
        assert_eq!(HubId::parse("smollm2-135m-instruct").unwrap().repo, "HuggingFaceTB/SmolLM2-135M-Instruct");
        assert_eq!(HubId::parse("distilgpt2").unwrap().repo, "distilgpt2");
        let id = HubId::parse("HuggingFaceTB/SmolLM2-135M-Instruct@v1.0").unwrap();
        assert_eq!((id.repo.as_str(), id.revision.as_str()), ("HuggingFaceTB/SmolLM2-135M-Instruct", "v1.0"));
        for bad in ["./runs/best", "/abs/dir", "a/b/c", "../x", "a@", "a/..", ""] {
            assert_eq!(HubId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn etags_and_origins() {
        let sha = "a".repeat(64);
        assert_eq!(sha256_etag(&format!("\"{sha}\"")), Some(sha.clone()));
        assert_eq!(sha256_etag("W/\"0123abcd\""), None);
        assert_eq!(origin("http://127.0.0.1:8080/mirror"), "http://127.0.0.1:8080");
        assert_eq!(origin("https://huggingface.co"), "https://huggingface.co");
    }
}
