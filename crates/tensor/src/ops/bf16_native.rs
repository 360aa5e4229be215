//! The switch for the native AVX512-BF16 kernel of products with bfloat16 weights (see
//! `bf16_gemm`): off by default, on with [`native_bf16`] or `LOAM_BF16_NATIVE=1`.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the native kernel is asked for ([`native_bf16`], or `LOAM_BF16_NATIVE=1`).
static NATIVE: AtomicBool = AtomicBool::new(false);
/// Reads `LOAM_BF16_NATIVE` once, before the first use of [`NATIVE`].
static NATIVE_FROM_ENV: Once = Once::new();

fn init_from_env() {
    NATIVE_FROM_ENV.call_once(|| {
        let on = std::env::var("LOAM_BF16_NATIVE").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
        NATIVE.store(on, Ordering::Relaxed);
    });
}

/// Asks for the native AVX512-BF16 kernel in products with bfloat16 weights (`true`), which
/// then round the activations to bf16 too, or for the default widen-then-f32 path (`false`),
/// for the whole process; overrides `LOAM_BF16_NATIVE`. The native kernel runs only where the
/// CPU has AVX512-BF16 and the portable path is not forced (`force_portable`).
pub fn native_bf16(on: bool) {
    init_from_env();
    NATIVE.store(on, Ordering::Relaxed);
}

/// Whether the native kernel is asked for (the CPU may still lack it).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn asked() -> bool {
    init_from_env();
    NATIVE.load(Ordering::Relaxed)
}
