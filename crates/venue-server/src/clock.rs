//! The wall clock, as the gateways read it.
//!
//! The engine never reads a clock (its time arrives in each command); the
//! gateways do, for request timestamps and `recvWindow` checks, session
//! heartbeats, traces and schedules. One place for it, so that every reader
//! agrees on the epoch and on what a clock before 1970 reads (zero).

use std::time::{SystemTime, UNIX_EPOCH};

fn since_epoch() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Nanoseconds since the Unix epoch (the unit of engine timestamps).
pub fn now_ns() -> u64 {
    since_epoch().as_nanos() as u64
}

/// Milliseconds since the Unix epoch (the unit of REST and gRPC request
/// timestamps).
pub fn now_ms() -> u64 {
    since_epoch().as_millis() as u64
}

/// Whole seconds since the Unix epoch (the unit of calendar days).
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}
