//! The measuring harness behind `venue bench`.
//!
//! Workloads are generated from a seed before anything is timed, so every
//! book under test (ours, published peer crates, a naive floor) sees the
//! identical operation stream in the same process run. Ratios between them are
//! what BENCHMARKS.md reports; absolute numbers on a shared machine mean
//! little.

pub mod alloc;
pub mod engine;
pub mod measure;
pub mod peers;
pub mod report;
pub mod venue_book;
pub mod workload;
