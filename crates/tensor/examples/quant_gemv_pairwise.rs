//! The quantized products of one GPT-2 124M decoding step, at batch 1 and 8, f32 activations
//! (the widening kernels; gemm from four rows) against int8 activations (the VNNI kernels),
//! interleaved in one process so that a loaded machine slows both alike: per round each mode
//! runs every product once, and the figure is the median of the per-round ratios. The GB/s
//! column is the weights' bytes over the int8-activation time. A last pair of lines puts q4
//! against int8 weights (both with int8 activations) the same way, at batch 1: the int8 kernel
//! is the yardstick a change of the q4 format or kernel is measured against.
//!
//! `cargo run --release -p loam-tensor --example quant_gemv_pairwise [-- ROUNDS]`

use std::time::Instant;

use loam_tensor::{QuantActivations, QuantFormat, QuantMatrix, Rng, Tensor, set_quant_activations, vnni_available};

/// GPT-2 124M's layers and the width of their products.
const LAYERS: usize = 12;
const D: usize = 768;
const VOCAB: usize = 50257;

/// The weights one decoding step reads: per layer qkv `[3d, d]`, the attention projection
/// `[d, d]`, the MLP `[4d, d]` and `[d, 4d]`; then the tied head `[vocab, d]`.
fn weights(format: QuantFormat, rng: &mut Rng) -> Result<Vec<QuantMatrix>, Box<dyn std::error::Error>> {
    let mut shapes = Vec::new();
    for _ in 0..LAYERS {
        shapes.extend([[3 * D, D], [D, D], [4 * D, D], [D, 4 * D]]);
    }
    shapes.push([VOCAB, D]);
    let mut out = Vec::new();
    for [n, k] in shapes {
        out.push(QuantMatrix::quantize(&Tensor::randn(&[n, k], 0.0, 0.02, rng), format)?);
    }
    Ok(out)
}

/// Seconds for one pass over `ws` (each product with the input of its width).
fn pass(ws: &[QuantMatrix], xs: &[Tensor; 2], mode: QuantActivations) -> Result<f64, Box<dyn std::error::Error>> {
    set_quant_activations(mode);
    let start = Instant::now();
    for w in ws {
        let x = if w.shape()[1] == D { &xs[0] } else { &xs[1] };
        std::hint::black_box(x.matmul_quant(w)?);
    }
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| format!("ROUNDS `{a}`: {e}"))?,
        None => 15,
    };
    println!(
        "quantized products of one GPT-2 124M token, {} threads, VNNI {}, {rounds} rounds",
        rayon::current_num_threads(),
        if vnni_available() { "yes" } else { "no (int8 activations take the portable loop)" }
    );
    println!(
        "{:<6} {:>5} {:>8} {:>12} {:>12} {:>9} {:>8}",
        "format", "batch", "MB", "f32 act ms", "int8 act ms", "speed-up", "GB/s"
    );
    let mut rng = Rng::new(5);
    let mut both = Vec::new();
    for format in [QuantFormat::Int8, QuantFormat::Q4] {
        let ws = weights(format, &mut rng)?;
        let mb = ws.iter().map(|w| w.bytes()).sum::<usize>() as f64 / 1e6;
        for batch in [1, 8] {
            let xs =
                [Tensor::randn(&[batch, D], 0.0, 1.0, &mut rng), Tensor::randn(&[batch, 4 * D], 0.0, 1.0, &mut rng)];
            pass(&ws, &xs, QuantActivations::F32)?;
            pass(&ws, &xs, QuantActivations::Int8)?;
            let (mut old, mut new, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let a = pass(&ws, &xs, QuantActivations::F32)?;
                let b = pass(&ws, &xs, QuantActivations::Int8)?;
                old.push(a);
                new.push(b);
                ratios.push(a / b);
            }
            let (a, b, name) = (median(old), median(new), format.name());
            let gbs = mb / 1e3 / b;
            println!(
                "{name:<6} {batch:>5} {mb:>8.1} {:>12.2} {:>12.2} {:>8.2}× {gbs:>8.1}",
                a * 1e3,
                b * 1e3,
                median(ratios)
            );
        }
        both.push((ws, mb));
    }
    // q4 against int8 weights, batch 1, int8 activations, alternating per round
    let xs = [Tensor::randn(&[1, D], 0.0, 1.0, &mut rng), Tensor::randn(&[1, 4 * D], 0.0, 1.0, &mut rng)];
    let (mut t8, mut t4, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let a = pass(&both[0].0, &xs, QuantActivations::Int8)?;
        let b = pass(&both[1].0, &xs, QuantActivations::Int8)?;
        t8.push(a);
        t4.push(b);
        ratios.push(a / b);
    }
    let (a, b) = (median(t8), median(t4));
    println!(
        "batch 1, int8 activations, alternating: int8 {:.2} ms ({:.1} GB/s), q4 {:.2} ms ({:.1} GB/s)",
        a * 1e3,
        both[0].1 / 1e3 / a,
        b * 1e3,
        both[1].1 / 1e3 / b
    );
    println!("q4 ÷ int8 speed: {:.2}×", median(ratios));
    set_quant_activations(QuantActivations::Int8);
    Ok(())
}
