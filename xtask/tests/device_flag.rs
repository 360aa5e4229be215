//! `--device cuda` where no GPU can be used: each command that takes the flag fails at once
//! with one clear line (no CUDA device, or a build without the `cuda` feature) and exit code 1,
//! before reading a model or writing a run folder.

use std::process::Command;

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.env("HF_ENDPOINT", "http://127.0.0.1:9");
    cmd
}

#[test]
fn asking_for_a_gpu_that_is_not_there_is_one_clear_line() {
    if loam_tensor::cuda_device_count() > 0 {
        println!("skipped: a CUDA device is present, so --device cuda works here");
        return;
    }
    let out_dir = std::env::temp_dir().join(format!("loam-device-flag-{}", std::process::id()));
    let out = out_dir.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["train", "--device", "cuda", "--iters", "1", "--out", out],
        &[
            "generate",
            "--device",
            "cuda:0",
            "--model",
            "no-such-model",
            "--prompt",
            "hi",
        ],
        &[
            "eval",
            "--device",
            "cuda",
            "--model",
            "no-such-model",
            "--corpus",
            "no-such-file",
        ],
        &["bench", "gpt2-train", "--device", "cuda"],
        &["bench", "gpt2-generate", "--device", "cuda"],
    ];
    for args in commands {
        let o = xtask().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("no CUDA device") || err.contains("built without the `cuda` feature"),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.trim().lines().filter(|l| l.contains("cuda")).count(),
            1,
            "{args:?}: {err}"
        );
    }
    assert!(!out_dir.exists(), "the refused run wrote {out}");
    let o = xtask()
        .args(["train", "--device", "tpu", "--iters", "1", "--out", out])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.contains("device `tpu`"),
        "{err}"
    );
}
