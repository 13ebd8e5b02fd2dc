//! `venue serve`: what turns the engine into a product an operator runs.
//!
//! One process: the pipeline's threads (engine, journal, snapshots), a
//! router thread that answers requests from the engine's durable outputs,
//! an audit thread, and a small tokio runtime for the listeners. The engine
//! thread never touches the runtime: gateways talk to it only through the
//! pipeline's bounded rings (`../shared/DESIGN.md`, "Data flow").
//!
//! - [`config`]: the configuration file, checked field by field, and the
//!   built-in demo configuration (also the commented example).
//! - [`router`]: request/answer over the rings, by origin tag.
//! - [`metrics`]: Prometheus text for `/metrics`.
//! - [`audit`]: the audit thread (hash-chained log of every command).
//! - [`http`]: the public (health, metrics) and admin listeners.
//! - [`serve`]: start-up, signals, and the orderly shutdown.
//! - [`tls`]: rustls for the listeners, mutual TLS for admin.
//! - [`fix`]: the FIX 4.4 acceptor and order entry.
//! - [`market`]: the market-data thread (one component for every transport).
//! - [`rest`]: the Binance-shaped REST API.
//! - [`ws`]: the Binance-shaped WebSocket market streams.
//! - [`web`]: the live web page at `/` (book, depth, trades, candles, stats).

pub mod audit;
pub mod clock;
pub mod config;
pub mod fix;
pub mod grpc;
pub mod history;
pub mod http;
pub mod market;
pub mod metrics;
pub mod names;
pub mod otlp;
mod outlet;
pub mod posttrade;
pub mod rest;
pub mod router;
pub mod serve;
pub mod tls;
pub mod venue;
pub mod web;
pub mod ws;

pub use config::{ConfigError, Settings};
pub use serve::{Control, Endpoints, Overrides, serve, serve_with};
