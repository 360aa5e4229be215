//! Criterion benchmarks of loam kernels live in `benches/benches/`.
