//! `loam-nn`: transformer building blocks (attention, feed-forward, masks), named parameters
//! and optimizers, built on [`loam_tensor`].
//!
//! The layers land with the nn issue; this crate holds only its place in the layering today.
