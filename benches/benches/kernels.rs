//! Criterion benchmarks of loam's CPU kernels, with throughput set from FLOPs (matrix
//! products, read as elements/s = FLOP/s) or bytes read and written (memory-bound ops).
//!
//! `cargo bench -p loam-benches --bench kernels`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loam_tensor::{KvBuffer, KvPrecision, Rng, Tensor};

/// Rows of the softmax, layer norm and add inputs.
const ROWS: usize = 4096;
/// Columns of the softmax, layer norm and add inputs.
const COLS: usize = 1024;
/// Rows (tokens) of the cross-entropy logits.
const TOKENS: usize = 512;
/// Vocabulary of the cross-entropy logits.
const VOCAB: usize = 8192;
/// Bytes of an f32.
const F32: u64 = 4;

/// Square matrix products, throughput in FLOPs (2·n³).
fn matmul(c: &mut Criterion) {
    let _inference = loam_tensor::no_grad();
    let mut rng = Rng::new(0);
    let mut group = c.benchmark_group("matmul");
    for n in [256usize, 1024] {
        let a = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        group.bench_function(format!("n={n}"), |bench| {
            bench.iter(|| black_box(a.matmul(&b)))
        });
    }
    group.finish();
}

/// Softmax, layer norm, add and cross-entropy, throughput in bytes read and written.
fn memory_bound(c: &mut Criterion) {
    let _inference = loam_tensor::no_grad();
    let mut rng = Rng::new(1);
    let elems = (ROWS * COLS) as u64;
    let x = Tensor::randn(&[ROWS, COLS], 0.0, 1.0, &mut rng);
    let y = Tensor::randn(&[ROWS, COLS], 0.0, 1.0, &mut rng);
    let w = Tensor::randn(&[COLS], 1.0, 0.1, &mut rng);
    let b = Tensor::randn(&[COLS], 0.0, 0.1, &mut rng);
    let logits = Tensor::randn(&[TOKENS, VOCAB], 0.0, 1.0, &mut rng);
    let targets: Vec<i64> = (0..TOKENS).map(|i| ((i * 7919) % VOCAB) as i64).collect();

    let mut group = c.benchmark_group("memory_bound");
    group.throughput(Throughput::Bytes(2 * elems * F32));
    group.bench_function("softmax", |bench| bench.iter(|| black_box(x.softmax(-1))));
    group.throughput(Throughput::Bytes((2 * elems + 2 * COLS as u64) * F32));
    group.bench_function("layer_norm", |bench| {
        bench.iter(|| black_box(x.layer_norm(Some(&w), Some(&b), 1e-5)))
    });
    group.throughput(Throughput::Bytes(3 * elems * F32));
    group.bench_function("add", |bench| bench.iter(|| black_box(x.add(&y))));
    group.throughput(Throughput::Bytes(
        (TOKENS * VOCAB) as u64 * F32 + TOKENS as u64 * 8 + F32,
    ));
    group.bench_function("cross_entropy", |bench| {
        bench.iter(|| black_box(logits.cross_entropy(&targets, Some(-100))))
    });
    group.finish();
}

/// One decoding step's attention over a GPT-2-shaped cache (32 sequences, 12 heads of 64) at
/// 80 and 512 positions, f32 against f16 keys and values; throughput in bytes of the cache read.
fn decode_attention(c: &mut Criterion) {
    let (b, h, d) = (32, 12, 64);
    let mut rng = Rng::new(3);
    let q = Tensor::randn(&[b, h, 1, d], 0.0, 1.0, &mut rng);
    let mut group = c.benchmark_group("decode_attention");
    for len in [80, 512] {
        let k = Tensor::randn(&[b, h, len, d], 0.0, 1.0, &mut rng);
        let v = Tensor::randn(&[b, h, len, d], 0.0, 1.0, &mut rng);
        for (precision, bytes) in [(KvPrecision::F32, 4), (KvPrecision::F16, 2)] {
            let cache = KvBuffer::with_room(&k, &v, len, precision).expect("a cache of these shapes");
            group.throughput(Throughput::Bytes((2 * b * h * len * d * bytes) as u64));
            group.bench_function(format!("{precision:?} len={len}"), |bench| {
                bench.iter(|| black_box(cache.attend(&q, None, true)))
            });
        }
    }
    group.finish();
}

criterion_group!(kernels, matmul, memory_bound, decode_attention);
criterion_main!(kernels);
