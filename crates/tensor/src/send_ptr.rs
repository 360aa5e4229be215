//! The raw output pointer that the parts of a parallel kernel write through.

/// A `*mut f32` that may cross to the fork helper and to rayon's workers. Whoever makes one
/// promises that the buffer outlives every part that writes through it and that no two parts
/// write the same element.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);

// SAFETY: a plain address; the maker's promise above (disjoint writes, a buffer that outlives
// the parts) is what makes sharing it sound.
unsafe impl Send for SendPtr {}
// SAFETY: as for Send.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that a closure captures the whole `Send` wrapper, not its
    /// field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }

    /// The element `at` places past the start (no bounds check: the caller's offsets are).
    pub(crate) fn at(self, at: usize) -> *mut f32 {
        self.0.wrapping_add(at)
    }
}
