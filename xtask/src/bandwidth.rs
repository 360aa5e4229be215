//! The machine's memory bandwidth, measured with plain loops over a buffer far larger than the
//! caches: a read (a sum) and a copy, on rayon's threads. Decoding one sequence reads every
//! weight once per token, so these figures bound its tokens per second.

use std::time::Instant;

use rayon::prelude::*;

/// f32 values in the buffer (256 MB).
const VALUES: usize = 64 << 20;
/// Timed passes; the fastest counts (the others met more interference).
const PASSES: usize = 5;

/// Read and copy bandwidth in GB/s (bytes read, and bytes read plus written, per second).
pub fn measure() -> (f64, f64) {
    let src: Vec<f32> = (0..VALUES).map(|i| (i % 1024) as f32).collect();
    let mut dst = vec![0.0f32; VALUES];
    let chunk = VALUES / rayon::current_num_threads().max(1);
    let mut read = 0.0f64;
    let mut copy = 0.0f64;
    for _ in 0..PASSES {
        let start = Instant::now();
        let sum: f32 = src
            .par_chunks(chunk)
            .map(|c| {
                let mut acc = [0.0f32; 16];
                for v in c.chunks_exact(16) {
                    for i in 0..16 {
                        acc[i] += v[i];
                    }
                }
                acc.iter().sum::<f32>()
            })
            .sum();
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        read = read.max((VALUES * 4) as f64 / secs / 1e9);
        let start = Instant::now();
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(&dst);
        copy = copy.max((VALUES * 8) as f64 / secs / 1e9);
    }
    (read, copy)
}
