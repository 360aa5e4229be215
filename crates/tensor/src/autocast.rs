//! The bf16 autocast scope: while a guard is alive, matrix products (and attention) on CUDA
//! tensors compute in bf16 with f32 accumulation; master weights, activations in memory and
//! optimizer state stay f32. No effect on the CPU.

use std::cell::Cell;

thread_local! {
    static AUTOCAST: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops on this thread are in an [`autocast_bf16`] scope.
pub fn autocast_enabled() -> bool {
    AUTOCAST.with(|a| a.get())
}

/// While alive, GPU matrix products on this thread run on bf16 tensor cores. Restores the
/// previous state when dropped.
#[must_use = "the scope ends when the guard is dropped"]
pub struct AutocastGuard {
    previous: bool,
}

/// Starts a bf16 autocast scope: `let _bf16 = autocast_bf16();`. A product records the mode
/// it ran in, so its backward uses the same mode even after the scope ends.
pub fn autocast_bf16() -> AutocastGuard {
    AutocastGuard { previous: AUTOCAST.with(|a| a.replace(true)) }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.previous));
    }
}
