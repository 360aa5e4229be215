//! `loam-tensor`
