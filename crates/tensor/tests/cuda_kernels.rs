//! Every CUDA C file under `src/cuda/kernels/` is registered with the backend and compiles
//! with NVRTC for sm_80 and sm_90 (PTX for `compute_80` / `compute_90`), and `ptxas` assembles
//! that PTX when one is found (`LOAM_PTXAS`, else `ptxas` on the `PATH`). Needs libnvrtc on the
//! library path; without it the test prints why and skips, unless `LOAM_REQUIRE_NVRTC=1`
//! (CI), where that is a failure.

#[cfg(feature = "cuda")]
mod nvrtc {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use loam_tensor::cuda::compile::{SOURCES, compile_ptx, nvrtc_available};

    /// The kernel files on disk: (stem, contents), sorted.
    fn kernel_files() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cuda/kernels");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("kernels folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cu"))
            .map(|p| {
                let stem = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .expect("utf-8 file name")
                    .to_string();
                (
                    stem,
                    std::fs::read_to_string(&p).expect("readable kernel file"),
                )
            })
            .collect();
        files.sort();
        files
    }

    fn ptxas() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("LOAM_PTXAS") {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("ptxas"))
            .find(|p| p.is_file())
    }

    #[test]
    fn every_kernel_file_is_registered() {
        let files = kernel_files();
        assert!(!files.is_empty());
        for (stem, text) in &files {
            let registered = SOURCES.iter().find(|(n, _)| n == stem);
            assert!(
                registered.is_some_and(|(_, s)| s == text),
                "kernels/{stem}.cu is not in cuda::compile::SOURCES"
            );
        }
        assert_eq!(
            files.len(),
            SOURCES.len(),
            "SOURCES names a module without a file"
        );
    }

    #[test]
    fn every_kernel_file_compiles_for_sm80_and_sm90() {
        if !nvrtc_available() {
            assert!(
                std::env::var("LOAM_REQUIRE_NVRTC").as_deref() != Ok("1"),
                "LOAM_REQUIRE_NVRTC=1 but libnvrtc cannot be loaded"
            );
            println!("skipped: libnvrtc cannot be loaded (put libnvrtc.so.13 on LD_LIBRARY_PATH)");
            return;
        }
        let ptxas = ptxas();
        if ptxas.is_none() {
            println!("ptxas not found (LOAM_PTXAS or PATH): PTX compiled but not assembled");
        }
        let tmp = std::env::temp_dir().join(format!("loam-ptx-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        for (stem, text) in kernel_files() {
            for sm in ["80", "90"] {
                let ptx = compile_ptx(&stem, &text, &format!("compute_{sm}"))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    ptx.contains(".entry"),
                    "{stem}.cu for sm_{sm}: no kernel entry in the PTX"
                );
                if let Some(ptxas) = &ptxas {
                    let file = tmp.join(format!("{stem}-{sm}.ptx"));
                    std::fs::write(&file, &ptx).expect("write ptx");
                    let out = Command::new(ptxas)
                        .args([
                            &format!("-arch=sm_{sm}"),
                            file.to_str().expect("utf-8 path"),
                            "-o",
                            "/dev/null",
                        ])
                        .output()
                        .expect("run ptxas");
                    assert!(
                        out.status.success(),
                        "ptxas sm_{sm} {stem}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                println!(
                    "{stem}.cu: sm_{sm} ok{}",
                    if ptxas.is_some() { " (ptxas)" } else { "" }
                );
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn every_kernel_file_compiles_for_sm80_and_sm90() {
    println!("skipped: built without the `cuda` feature (cargo test --features cuda)");
}
