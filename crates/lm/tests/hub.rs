//! Hub downloads against a stand-in for the hub's file endpoints, served on loopback by the
//! test: `/{repo}/resolve/{revision}/{file}`, the weights through a redirect carrying
//! `X-Linked-Etag` (their SHA-256) as the hub does, byte ranges honoured. Good, cached,
//! interrupted, corrupted, missing, unknown, unreachable and sharded fetches of the tiny GPT-2
//! fixture.

mod hf_common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use loam_lm::hf::{Hub, HubId, load_gpt2};
use sha2::{Digest, Sha256};

/// Files above this size are served like LFS files: a redirect with their hash.
const LFS_MIN: usize = 100_000;

/// How the stand-in misbehaves.
#[derive(Clone, Default)]
struct Faults {
    /// GETs of this file (from the start) send half the body, then close the connection.
    drop_body: Option<String>,
    /// ... on this many requests (then serve properly).
    drops: usize,
    /// Ranges are ignored: every answer is the whole file.
    ignore_range: bool,
    /// This file's body has one byte flipped (its hash header stays the true one).
    corrupt: Option<String>,
}

/// One request the stand-in saw: the path and its `Range` header.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    range: Option<String>,
}

struct StandIn {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `files` (file name → bytes) of repository `repo` on a loopback port until the test
/// process ends.
fn serve(repo: &str, files: HashMap<String, Vec<u8>>, faults: Faults) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let repo = repo.to_string();
    std::thread::spawn(move || {
        let mut faults = faults;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = answer(stream, &repo, &files, &mut faults, &log);
        }
    });
    StandIn { endpoint, seen }
}

fn answer(
    mut stream: TcpStream,
    repo: &str,
    files: &HashMap<String, Vec<u8>>,
    faults: &mut Faults,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    log.lock().unwrap().push(Seen { path: path.clone(), range: range.clone() });
    let resolve = format!("/{repo}/resolve/main/");
    let (file, via_cdn) = if let Some(f) = path.strip_prefix(&resolve) {
        (f.to_string(), false)
    } else if let Some(f) = path.strip_prefix("/cdn/") {
        (f.to_string(), true)
    } else if path.contains("/resolve/") {
        // another repository: the hub answers 401, saying why
        return write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nX-Error-Code: RepositoryNotFound\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    } else {
        (String::new(), false)
    };
    let Some(body) = files.get(&file) else {
        return write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    if body.len() >= LFS_MIN && !via_cdn {
        return write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: /cdn/{file}\r\nX-Linked-Etag: \"{}\"\r\nX-Linked-Size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            sha256(body),
            body.len()
        );
    }
    let mut body = body.clone();
    if faults.corrupt.as_deref() == Some(file.as_str()) {
        let middle = body.len() / 2;
        body[middle] ^= 0xff;
    }
    let from: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .filter(|_| !faults.ignore_range)
        .unwrap_or(0);
    let etag = if body.len() < LFS_MIN { "W/\"0123456789abcdef0123456789abcdef01234567\"".to_string() } else { format!("\"{}\"", sha256(&files[&file])) };
    let rest = &body[from.min(body.len())..];
    if from > 0 {
        write!(
            stream,
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
            rest.len(),
            body.len() - 1,
            body.len()
        )?;
    } else {
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n", rest.len())?;
    }
    if from == 0 && faults.drops > 0 && faults.drop_body.as_deref() == Some(file.as_str()) {
        faults.drops -= 1;
        stream.write_all(&rest[..rest.len() / 2])?;
        stream.flush()?;
        return stream.shutdown(std::net::Shutdown::Both);
    }
    stream.write_all(rest)
}

/// The tiny GPT-2 fixture's files, as the hub would serve them.
fn tiny_gpt2(test: &str) -> Option<HashMap<String, Vec<u8>>> {
    let dir = hf_common::fixtures(test)?.join("tiny-gpt2");
    let mut files = HashMap::new();
    for name in ["config.json", "generation_config.json", "tokenizer.json", "model.safetensors"] {
        files.insert(name.to_string(), std::fs::read(dir.join(name)).unwrap());
    }
    Some(files)
}

fn fresh_cache(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn id() -> HubId {
    HubId::parse("test-org/tiny-gpt2").unwrap()
}

/// No file in `dir` is a leftover download.
fn no_partial_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |it| it.flatten().all(|e| !e.file_name().to_string_lossy().ends_with(".part")))
}

#[test]
fn a_good_fetch_loads_and_the_second_uses_the_cache() {
    let Some(files) = tiny_gpt2("hub good fetch") else { return };
    let hub_side = serve("test-org/tiny-gpt2", files.clone(), Faults::default());
    let cache = fresh_cache("good");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let dir = hub.fetch(&id(), &mut |_| {}).unwrap();
    assert_eq!(dir, hub.model_dir(&id()));
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    assert!(!dir.join("tokenizer_config.json").exists(), "a 404 for an optional file leaves nothing");
    assert!(no_partial_files(&dir));
    let gpt2 = load_gpt2(&dir).unwrap();
    assert_eq!(gpt2.model.config.vocab_size, 512);
    let seen = hub_side.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.path == "/cdn/model.safetensors"), "the weights came through the redirect: {seen:?}");

    hub_side.seen.lock().unwrap().clear();
    let again = hub.fetch(&id(), &mut |_| {}).unwrap();
    assert_eq!(again, dir);
    let seen = hub_side.seen.lock().unwrap().clone();
    assert!(seen.is_empty(), "a complete cached copy makes no request: {seen:?}");
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_dropped_connection_resumes_with_a_range_request() {
    let Some(files) = tiny_gpt2("hub dropped connection") else { return };
    let faults = Faults { drop_body: Some("model.safetensors".into()), drops: 1, ..Faults::default() };
    let hub_side = serve("test-org/tiny-gpt2", files.clone(), faults);
    let cache = fresh_cache("dropped");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let mut lines = Vec::new();
    let dir = hub.fetch(&id(), &mut |l| lines.push(l.to_string())).unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), files["model.safetensors"]);
    let seen = hub_side.seen.lock().unwrap().clone();
    let half = files["model.safetensors"].len() / 2;
    assert!(
        seen.iter().any(|s| s.range.as_deref() == Some(&format!("bytes={half}-"))),
        "the second request asks for the rest: {seen:?}"
    );
    assert!(lines.iter().any(|l| l.contains("resuming")), "{lines:?}");
    load_gpt2(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_dropped_connection_restarts_where_ranges_are_not_served() {
    let Some(files) = tiny_gpt2("hub restarted download") else { return };
    let faults = Faults { drop_body: Some("model.safetensors".into()), drops: 1, ignore_range: true, ..Faults::default() };
    let hub_side = serve("test-org/tiny-gpt2", files.clone(), faults);
    let cache = fresh_cache("restarted");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let dir = hub.fetch(&id(), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), files["model.safetensors"]);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_connection_that_keeps_dropping_is_an_error_and_leaves_no_file() {
    let Some(files) = tiny_gpt2("hub failing connection") else { return };
    // a stand-in that ignores ranges: every try restarts and breaks again
    let faults = Faults { drop_body: Some("tokenizer.json".into()), drops: usize::MAX, ignore_range: true, ..Faults::default() };
    let hub_side = serve("test-org/tiny-gpt2", files, faults);
    let cache = fresh_cache("failing");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let dir = hub.model_dir(&id());
    let err = hub.fetch(&id(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json") && err.contains("kept failing"), "{err}");
    assert!(!dir.join("tokenizer.json").exists());
    assert!(no_partial_files(&dir));
    assert!(hub.fetch(&id(), &mut |_| {}).is_err(), "an incomplete folder is not taken for a cached model");
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_corrupted_body_is_a_checksum_error_and_nothing_is_cached() {
    let Some(files) = tiny_gpt2("hub corrupted body") else { return };
    let faults = Faults { corrupt: Some("model.safetensors".into()), ..Faults::default() };
    let hub_side = serve("test-org/tiny-gpt2", files.clone(), faults);
    let cache = fresh_cache("corrupt");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let err = hub.fetch(&id(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("sha256") && err.contains(&sha256(&files["model.safetensors"])), "{err}");
    let dir = hub.model_dir(&id());
    assert!(!dir.join("model.safetensors").exists());
    assert!(no_partial_files(&dir));
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_missing_required_file_is_a_404_error() {
    let Some(mut files) = tiny_gpt2("hub 404") else { return };
    files.remove("config.json");
    let hub_side = serve("test-org/tiny-gpt2", files.clone(), Faults::default());
    let cache = fresh_cache("404");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let err = hub.fetch(&id(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("404") && err.contains("test-org/tiny-gpt2"), "{err}");

    let Some(mut files) = tiny_gpt2("hub 404") else { return };
    files.remove("model.safetensors");
    let hub_side = serve("test-org/tiny-gpt2", files, Faults::default());
    let err = Hub::new(&hub_side.endpoint, &cache).with_progress(false).fetch(&id(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("model.safetensors.index.json"), "{err}");
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn an_unknown_repository_says_so() {
    let Some(files) = tiny_gpt2("hub unknown repository") else { return };
    let hub_side = serve("test-org/tiny-gpt2", files, Faults::default());
    let cache = fresh_cache("unknown");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let typo = HubId::parse("test-org/tiny-gtp2").unwrap();
    let err = hub.fetch(&typo, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("test-org/tiny-gtp2") && err.contains("401") && err.contains("no such model"), "{err}");
    assert!(!hub.model_dir(&typo).exists());
}

#[test]
fn an_unreachable_hub_names_the_id_the_endpoint_and_the_cache() {
    // a port that was just free: nothing listens there
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let cache = fresh_cache("offline");
    let hub = Hub::new(&endpoint, &cache).with_progress(false);
    let err = hub.fetch(&id(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("test-org/tiny-gpt2"), "{err}");
    assert!(err.contains(&endpoint), "{err}");
    assert!(err.contains(&hub.model_dir(&id()).display().to_string()), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(!hub.model_dir(&id()).exists(), "a failed fetch leaves no folder in the cache");
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_sharded_model_is_fetched_shard_by_shard() {
    let Some(mut files) = tiny_gpt2("hub sharded") else { return };
    let fixtures = hf_common::fixtures("hub sharded").unwrap();
    let params = load_gpt2(&fixtures.join("tiny-gpt2")).unwrap().store.params();
    let work = fresh_cache("shards-src");
    std::fs::create_dir_all(&work).unwrap();
    let (a, b) = params.split_at(params.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (i, part) in [a, b].iter().enumerate() {
        let name = format!("model-0000{}-of-00002.safetensors", i + 1);
        loam_nn::safetensors_io::save(&work.join(&name), part, None).unwrap();
        for (tensor, _) in part.iter() {
            weight_map.insert(tensor.clone(), name.clone().into());
        }
        files.insert(name.clone(), std::fs::read(work.join(&name)).unwrap());
    }
    files.remove("model.safetensors");
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    files.insert("model.safetensors.index.json".into(), index.to_string().into_bytes());
    let hub_side = serve("test-org/tiny-gpt2", files.clone(), Faults::default());
    let cache = fresh_cache("sharded");
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let dir = hub.fetch(&id(), &mut |_| {}).unwrap();
    for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
        assert_eq!(std::fs::read(dir.join(shard)).unwrap(), files[shard], "{shard}");
    }
    let sharded = load_gpt2(&dir).unwrap();
    let whole = load_gpt2(&fixtures.join("tiny-gpt2")).unwrap();
    let x = [1usize, 2, 3];
    let ctx = &mut loam_nn::Ctx::eval();
    assert_eq!(sharded.model.forward(&x, 1, 3, None, ctx).unwrap().to_vec(), whole.model.forward(&x, 1, 3, None, ctx).unwrap().to_vec());
    let _ = std::fs::remove_dir_all(&cache);

    // a shard the index lists but the hub lacks
    files.remove("model-00002-of-00002.safetensors");
    let hub_side = serve("test-org/tiny-gpt2", files, Faults::default());
    let hub = Hub::new(&hub_side.endpoint, &cache).with_progress(false);
    let err = hub.fetch(&id(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("model-00002-of-00002.safetensors") && err.contains("404"), "{err}");
    assert!(hub.fetch(&id(), &mut |_| {}).is_err(), "the folder is not taken for complete");
    let _ = std::fs::remove_dir_all(&work);
}
