//! The configuration file: what an operator writes, checked field by field
//! into what the venue runs.
//!
//! Parsing happens in two steps. [`RawConfig`] mirrors the TOML file
//! (`deny_unknown_fields`, so a misspelt key is an error rather than a
//! silently ignored setting). [`RawConfig::resolve`] then checks every value
//! and converts decimal strings onto grids; each failure is a
//! [`ConfigError`] naming the field (`instruments[1].tick_size`) and the
//! reason, so an operator can fix the file without reading code.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use venue_domain::{AccountId, InstrumentId, InstrumentSpec, Price, Qty, TradingStatus, parse_scaled};
use venue_engine::{AccountLimits, AssetId, AssetSpec, EngineConfig, FeeTier};
use venue_pipeline::{Durability, PipelineConfig};

pub use crate::tls::TlsFiles;

/// The built-in demo configuration, also printed by `venue config example`.
pub const DEMO: &str = include_str!("demo.toml");

/// A configuration field that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the field, e.g. `instruments[0].tick_size`; empty when the
    /// file itself is unreadable.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError { field: field.into(), reason: reason.into() }
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A secret as written in the file: where to read it from.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    env: Option<String>,
    file: Option<PathBuf>,
    value: Option<String>,
}

impl core::fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RawSecret(..)")
    }
}

/// A resolved secret. Its `Debug` never shows the value, so a secret cannot
/// leak through a log line that prints a configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for comparing credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is, so
    /// response timing does not reveal how much of a guess was right.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }
}

/// Compares `secret` with `candidate` in time independent of where they
/// first differ (credentials, signatures).
pub fn constant_time_eq(secret: &[u8], candidate: &[u8]) -> bool {
    let mut diff = secret.len() ^ candidate.len();
    for (at, &byte) in secret.iter().enumerate() {
        diff |= usize::from(byte ^ candidate.get(at).copied().unwrap_or(0));
    }
    diff == 0
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn resolve_secret(field: &str, raw: &RawSecret) -> Result<Secret, ConfigError> {
    let value = match (&raw.env, &raw.file, &raw.value) {
        (Some(name), None, None) => std::env::var(name)
            .map_err(|_| ConfigError::new(field, format!("environment variable {name} is not set")))?,
        (None, Some(path), None) => std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(field, format!("cannot read {}: {e}", path.display())))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
        (None, None, Some(value)) => value.clone(),
        _ => return Err(ConfigError::new(field, "give exactly one of env, file or value")),
    };
    if value.is_empty() {
        return Err(ConfigError::new(field, "secret is empty"));
    }
    Ok(Secret(value))
}

/// The file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawConfig {
    pub venue: RawVenue,
    pub http: RawListener,
    pub admin: RawAdmin,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub audit: RawAudit,
    pub assets: Vec<RawAsset>,
    pub instruments: Vec<RawInstrument>,
    pub fee_tiers: Vec<FeeTierRaw>,
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    #[serde(default)]
    pub fix: Option<RawFix>,
    #[serde(default)]
    pub grpc: Option<RawListener>,
    #[serde(default)]
    pub posttrade: Option<RawPostTrade>,
    #[serde(default)]
    pub otlp: Option<RawOtlp>,
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
    #[serde(default)]
    pub rest: RawRest,
}

/// `[[api_keys]]`: credentials for the REST API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawApiKey {
    pub key: String,
    pub secret: RawSecret,
    pub account: u32,
    #[serde(default = "default_permissions")]
    pub permissions: Vec<String>,
}

fn default_permissions() -> Vec<String> {
    vec!["read".into(), "trade".into()]
}

/// `[rest]`: limits of the REST API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawRest {
    #[serde(default = "default_weight")]
    pub request_weight_per_minute: u32,
    #[serde(default = "default_orders")]
    pub orders_per_10s: u32,
}

impl Default for RawRest {
    fn default() -> RawRest {
        RawRest { request_weight_per_minute: default_weight(), orders_per_10s: default_orders() }
    }
}

fn default_weight() -> u32 {
    6000
}
fn default_orders() -> u32 {
    100
}

/// One REST API key.
#[derive(Clone, Debug)]
pub struct ApiKeySettings {
    /// The key clients send in `X-MBX-APIKEY`.
    pub key: String,
    /// The HMAC secret.
    pub secret: Secret,
    /// The only account the key may touch.
    pub account: AccountId,
    /// May read account data (balances, orders).
    pub read: bool,
    /// May place and cancel orders.
    pub trade: bool,
}

/// REST API limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestLimits {
    /// Request weight per key (or IP, unsigned) per minute.
    pub request_weight_per_minute: u32,
    /// Orders per key per 10 seconds.
    pub orders_per_10s: u32,
}

/// `[fix]`: the FIX 4.4 acceptor.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawFix {
    pub listen: String,
    #[serde(default)]
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub store_fsync: bool,
    #[serde(default)]
    pub sessions: Vec<RawFixSession>,
}

/// `[[fix.sessions]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawFixSession {
    pub sender_comp_id: String,
    pub target_comp_id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<RawSecret>,
    #[serde(default)]
    pub account: Option<u32>,
    #[serde(default = "default_hb_min")]
    pub heartbeat_min_secs: u32,
    #[serde(default = "default_hb_max")]
    pub heartbeat_max_secs: u32,
    #[serde(default)]
    pub reset_on_logon: bool,
    #[serde(default = "default_true")]
    pub cancel_on_disconnect: bool,
    #[serde(default = "default_application")]
    pub application: String,
}

fn default_hb_min() -> u32 {
    1
}
fn default_hb_max() -> u32 {
    300
}
fn default_true() -> bool {
    true
}
fn default_application() -> String {
    "venue".into()
}

/// One configured FIX session.
#[derive(Clone, Debug)]
pub struct FixSessionSettings {
    /// The venue's CompID (their TargetCompID).
    pub sender_comp_id: String,
    /// The client's CompID (their SenderCompID).
    pub target_comp_id: String,
    /// Username (553) required at logon, if set.
    pub username: Option<String>,
    /// Password (554) required at logon, if set.
    pub password: Option<Secret>,
    /// The account the session trades for (`None` only for `echo`).
    pub account: Option<AccountId>,
    /// Accepted HeartBtInt range.
    pub heartbeat_secs: (u32, u32),
    /// Reset sequence numbers at every logon.
    pub reset_on_logon: bool,
    /// Cancel the account's orders when the connection drops.
    pub cancel_on_disconnect: bool,
    /// Echo application (conformance testing) instead of the venue.
    pub echo: bool,
}

/// The FIX acceptor.
#[derive(Clone, Debug)]
pub struct FixSettings {
    /// Where it listens.
    pub listen: SocketAddr,
    /// TLS, if any.
    pub tls: Option<TlsFiles>,
    /// fsync the session stores (sequence numbers, sent messages) on every
    /// message. Orders are durable in the journal either way; this only
    /// protects FIX sequence numbers against a power cut, at an fsync per
    /// message (QuickFIX's FileStoreSync, off by default there too).
    pub store_fsync: bool,
    /// Its sessions.
    pub sessions: Vec<FixSessionSettings>,
}

/// `[venue]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawVenue {
    pub data_dir: PathBuf,
    #[serde(default = "default_durability")]
    pub durability: String,
    #[serde(default = "default_one")]
    pub fsync_interval_ms: u64,
    #[serde(default)]
    pub snapshot_every: u64,
    #[serde(default = "default_keep")]
    pub keep_snapshots: usize,
    #[serde(default = "default_max_accounts")]
    pub max_accounts: u32,
    #[serde(default)]
    pub fee_account: u32,
    #[serde(default = "default_inbound")]
    pub inbound_capacity: usize,
    #[serde(default = "default_outbound")]
    pub outbound_capacity: usize,
    #[serde(default = "default_tick")]
    pub tick_interval_ms: u64,
    #[serde(default)]
    pub engine_core: Option<usize>,
    #[serde(default = "default_max_orders_per_book")]
    pub max_orders_per_book: u32,
    #[serde(default = "default_expected_orders_per_book")]
    pub expected_orders_per_book: u32,
    #[serde(default = "default_true")]
    pub prefault_order_pool: bool,
}

fn default_max_orders_per_book() -> u32 {
    venue_matching::BookConfig::default().max_orders
}
fn default_expected_orders_per_book() -> u32 {
    venue_matching::BookConfig::default().presized_orders
}

fn default_durability() -> String {
    "always".into()
}
fn default_one() -> u64 {
    1
}
fn default_keep() -> usize {
    2
}
fn default_max_accounts() -> u32 {
    65_536
}
fn default_inbound() -> usize {
    1 << 16
}
fn default_outbound() -> usize {
    1 << 18
}
fn default_tick() -> u64 {
    1000
}

/// `[http]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawListener {
    pub listen: String,
    #[serde(default)]
    pub tls: Option<RawTls>,
}

/// A listener's `tls` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl RawTls {
    /// Checks that the files load and go together (so `venue config check`
    /// catches a bad certificate, not the first client).
    fn resolve(&self, section: &str) -> Result<TlsFiles, ConfigError> {
        let files =
            TlsFiles { cert: self.cert.clone(), key: self.key.clone(), client_ca: self.client_ca.clone() };
        crate::tls::server_config(section, &files).map_err(|e| match e.split_once(": ") {
            Some((field, reason)) if field.starts_with(section) => ConfigError::new(field, reason),
            _ => ConfigError::new(format!("{section}.tls"), e),
        })?;
        Ok(files)
    }
}

/// `[admin]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawAdmin {
    pub listen: String,
    pub token: RawSecret,
    #[serde(default)]
    pub tls: Option<RawTls>,
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> RawLog {
        RawLog { format: "json".into(), level: "info".into() }
    }
}

/// `[audit]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawAudit {
    pub enabled: bool,
    pub path: PathBuf,
    pub mask_accounts: String,
}

impl Default for RawAudit {
    fn default() -> RawAudit {
        RawAudit { enabled: true, path: "audit.jsonl".into(), mask_accounts: "partial".into() }
    }
}

/// `[otlp]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawOtlp {
    pub endpoint: String,
    #[serde(default = "default_sample_one_in")]
    pub sample_one_in: u64,
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_sample_one_in() -> u64 {
    100
}

fn default_service_name() -> String {
    "venue".into()
}

/// `[posttrade]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawPostTrade {
    #[serde(default)]
    pub enabled: bool,
    pub url: RawSecret,
    #[serde(default = "default_max_lag")]
    pub max_lag: u64,
    #[serde(default = "default_clearing_dir")]
    pub clearing_dir: PathBuf,
    #[serde(default)]
    pub clearing_at: Option<String>,
}

fn default_max_lag() -> u64 {
    100_000
}

fn default_clearing_dir() -> PathBuf {
    "clearing".into()
}

/// `[[assets]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawAsset {
    pub name: String,
    pub decimals: u8,
}

/// `[[instruments]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawInstrument {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub price_decimals: u8,
    pub qty_decimals: u8,
    pub tick_size: String,
    pub lot_size: String,
    pub min_qty: String,
    pub max_qty: String,
    pub min_price: String,
    pub max_price: String,
    #[serde(default)]
    pub price_band_bps: u32,
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_status() -> String {
    "open".into()
}

/// `[[fee_tiers]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FeeTierRaw {
    pub maker_bps: u16,
    pub taker_bps: u16,
}

/// `[[accounts]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawAccount {
    pub id: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tier: u16,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub deposits: BTreeMap<String, String>,
}

/// An account's `limits`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawLimits {
    #[serde(default)]
    pub max_order_qty: i64,
    #[serde(default)]
    pub max_notional: i64,
    #[serde(default)]
    pub max_open_orders: u32,
    #[serde(default)]
    pub price_band_bps: u32,
}

/// Where the log goes and how much of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// One JSON object per line (for collectors) rather than text.
    pub json: bool,
    /// Most verbose level written.
    pub level: tracing::Level,
}

/// The audit log's place and masking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    /// The file (already joined to the data directory).
    pub path: PathBuf,
    /// How account ids are masked: `none`, `partial` or `full`.
    pub mask_accounts: String,
}

/// An account the configuration creates or updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSettings {
    /// Its id.
    pub id: AccountId,
    /// A label for people (not used by the engine).
    pub name: String,
    /// Fee tier.
    pub tier: u16,
    /// Risk limits.
    pub limits: AccountLimits,
    /// Demo funds, credited once on a fresh venue.
    pub deposits: Vec<(AssetId, i64)>,
}

/// Everything `venue serve` runs with, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The engine's threads, journal and snapshots.
    pub pipeline: PipelineConfig,
    /// Assets, instruments, fees.
    pub engine: EngineConfig,
    /// Period of the GTD expiry timer (`None`: off).
    pub tick_interval: Option<Duration>,
    /// Public HTTP listener.
    pub http_listen: SocketAddr,
    /// TLS of the public listener (`None`: plain TCP).
    pub http_tls: Option<TlsFiles>,
    /// TLS of the admin listener, with mutual TLS if it names a client CA.
    pub admin_tls: Option<TlsFiles>,
    /// Admin HTTP listener.
    pub admin_listen: SocketAddr,
    /// Admin bearer token.
    pub admin_token: Secret,
    /// Logging.
    pub log: LogSettings,
    /// Audit log (`None`: disabled).
    pub audit: Option<AuditSettings>,
    /// Accounts to create or update.
    pub accounts: Vec<AccountSettings>,
    /// The FIX acceptor (`None`: no FIX).
    pub fix: Option<FixSettings>,
    /// REST API keys (gRPC uses the same keys).
    pub api_keys: Vec<ApiKeySettings>,
    /// REST API limits (gRPC is held to the same).
    pub rest: RestLimits,
    /// The gRPC listener (`None`: no gRPC).
    pub grpc: Option<GrpcSettings>,
    /// The post-trade database (`None`: no section).
    pub posttrade: Option<PostTradeSettings>,
    /// OpenTelemetry export of sampled order traces (`None`: off).
    pub otlp: Option<crate::otlp::OtlpSettings>,
}

/// `[posttrade]`: the post-trade database and end-of-day clearing.
#[derive(Clone, Debug)]
pub struct PostTradeSettings {
    /// Whether the sink runs inside `venue serve` (clearing and
    /// reconciliation commands use the URL either way).
    pub enabled: bool,
    /// The PostgreSQL connection string (`host=… user=… dbname=…` or
    /// `postgresql://…`); a secret since it may hold a password.
    pub url: Secret,
    /// Commands the database may trail the engine by before health says
    /// the sink is behind.
    pub max_lag: u64,
    /// Where clearing writes its CSV files (joined to the data directory).
    pub clearing_dir: PathBuf,
    /// Daily clearing of the previous UTC day at this UTC time (hour,
    /// minute), if set.
    pub clearing_at: Option<(u8, u8)>,
}

/// `[grpc]`: where the gRPC gateway listens.
#[derive(Clone, Debug)]
pub struct GrpcSettings {
    /// Where it listens.
    pub listen: SocketAddr,
    /// TLS (ALPN h2), with mutual TLS if it names a client CA.
    pub tls: Option<TlsFiles>,
}

fn comp_id(field: &str, text: &str) -> Result<String, ConfigError> {
    if text.is_empty() || text.len() > 64 || !text.bytes().all(|b| b.is_ascii_graphic() && b != b'=') {
        return Err(ConfigError::new(
            field,
            format!("{text:?} must be 1 to 64 printable characters without '='"),
        ));
    }
    Ok(text.to_owned())
}

fn resolve_fix(
    raw: &RawFix,
    accounts: &[AccountSettings],
    taken: &[SocketAddr],
) -> Result<FixSettings, ConfigError> {
    let listen = listen("fix.listen", &raw.listen)?;
    if listen.port() != 0 && taken.contains(&listen) {
        return Err(ConfigError::new("fix.listen", "must differ from http.listen and admin.listen"));
    }
    let mut sessions: Vec<FixSessionSettings> = Vec::new();
    for (at, s) in raw.sessions.iter().enumerate() {
        let field = |name: &str| format!("fix.sessions[{at}].{name}");
        let sender_comp_id = comp_id(&field("sender_comp_id"), &s.sender_comp_id)?;
        let target_comp_id = comp_id(&field("target_comp_id"), &s.target_comp_id)?;
        if sessions.iter().any(|o| o.sender_comp_id == sender_comp_id && o.target_comp_id == target_comp_id) {
            return Err(ConfigError::new(field("target_comp_id"), "this CompID pair is configured twice"));
        }
        let echo = match s.application.as_str() {
            "venue" => false,
            "echo" => true,
            other => {
                return Err(ConfigError::new(
                    field("application"),
                    format!("{other:?} is not one of venue, echo"),
                ));
            }
        };
        let account = match (s.account, echo) {
            (Some(id), _) => {
                if !accounts.iter().any(|a| a.id.0 == id) {
                    return Err(ConfigError::new(
                        field("account"),
                        format!("account {id} is not in [[accounts]]"),
                    ));
                }
                Some(AccountId(id))
            }
            (None, true) => None,
            (None, false) => {
                return Err(ConfigError::new(field("account"), "required for application = \"venue\""));
            }
        };
        if s.heartbeat_min_secs == 0 || s.heartbeat_min_secs > s.heartbeat_max_secs {
            return Err(ConfigError::new(
                field("heartbeat_min_secs"),
                "must be at least 1 and not above heartbeat_max_secs",
            ));
        }
        let password = s.password.as_ref().map(|p| resolve_secret(&field("password"), p)).transpose()?;
        sessions.push(FixSessionSettings {
            sender_comp_id,
            target_comp_id,
            username: s.username.clone(),
            password,
            account,
            heartbeat_secs: (s.heartbeat_min_secs, s.heartbeat_max_secs),
            reset_on_logon: s.reset_on_logon,
            cancel_on_disconnect: s.cancel_on_disconnect,
            echo,
        });
    }
    let tls = raw.tls.as_ref().map(|t| t.resolve("fix")).transpose()?;
    Ok(FixSettings { listen, tls, store_fsync: raw.store_fsync, sessions })
}

/// Parses and checks a configuration file's text.
pub fn parse(text: &str) -> Result<Settings, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().to_owned();
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        ConfigError::new("", format!("{message}{at}"))
    })?;
    raw.resolve()
}

/// Reads, parses and checks a configuration file.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    parse(&text)
}

/// The built-in demo configuration, resolved.
pub fn demo() -> Settings {
    parse(DEMO).expect("the built-in demo configuration is valid")
}

fn listen(field: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|_| ConfigError::new(field, format!("{text:?} is not an address like 127.0.0.1:8080")))
}

fn decimal(field: &str, text: &str, decimals: u8) -> Result<i64, ConfigError> {
    parse_scaled(text, decimals).map_err(|reject| {
        let hint = if reject == venue_domain::Reject::OffGrid {
            format!(" (at most {decimals} decimals)")
        } else {
            String::new()
        };
        ConfigError::new(field, format!("{text:?}: {reject}{hint}"))
    })
}

/// `value` (already in `10^-decimals` units) as a whole number of
/// `increment`s, strictly positive.
fn in_increments(
    field: &str,
    text: &str,
    value: i64,
    increment: i64,
    what: &str,
) -> Result<i64, ConfigError> {
    if value <= 0 {
        return Err(ConfigError::new(field, format!("{text:?} must be positive")));
    }
    if value % increment != 0 {
        return Err(ConfigError::new(field, format!("{text:?} is not a whole number of {what}")));
    }
    Ok(value / increment)
}

fn status(field: &str, text: &str) -> Result<TradingStatus, ConfigError> {
    match text {
        "open" => Ok(TradingStatus::Open),
        "halted" => Ok(TradingStatus::Halted),
        "closed" => Ok(TradingStatus::Closed),
        _ => Err(ConfigError::new(field, format!("{text:?} is not one of open, halted, closed"))),
    }
}

impl RawConfig {
    /// Checks every field and converts it to what the venue runs.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let v = &self.venue;
        let durability = match v.durability.as_str() {
            "always" => Durability::Always,
            "never" => Durability::Never,
            "interval" if v.fsync_interval_ms > 0 => {
                Durability::Interval(Duration::from_millis(v.fsync_interval_ms))
            }
            "interval" => return Err(ConfigError::new("venue.fsync_interval_ms", "must be positive")),
            other => {
                return Err(ConfigError::new(
                    "venue.durability",
                    format!("{other:?} is not one of always, interval, never"),
                ));
            }
        };
        if v.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("venue.data_dir", "must not be empty"));
        }
        for (field, value) in
            [("venue.inbound_capacity", v.inbound_capacity), ("venue.outbound_capacity", v.outbound_capacity)]
        {
            if !(1024..=1 << 26).contains(&value) {
                return Err(ConfigError::new(field, "must be between 1024 and 67108864"));
            }
        }
        if v.keep_snapshots == 0 {
            return Err(ConfigError::new("venue.keep_snapshots", "must be at least 1"));
        }
        if v.max_accounts == 0 {
            return Err(ConfigError::new("venue.max_accounts", "must be positive"));
        }
        if v.fee_account >= v.max_accounts {
            return Err(ConfigError::new("venue.fee_account", "must be below venue.max_accounts"));
        }
        // The order pool is reserved for the whole capacity up front (112
        // bytes an order, per instrument), so the bound keeps a typo from
        // reserving terabytes.
        if !(1..=10_000_000).contains(&v.max_orders_per_book) {
            return Err(ConfigError::new("venue.max_orders_per_book", "must be between 1 and 10000000"));
        }
        // Above the capacity it is simply capped (the book never holds more).
        if v.expected_orders_per_book == 0 {
            return Err(ConfigError::new("venue.expected_orders_per_book", "must be positive"));
        }
        if let Some(core) = v.engine_core
            && let Some(reason) = venue_pipeline::affinity::unusable(core)
        {
            return Err(ConfigError::new("venue.engine_core", format!("CPU {core} {reason}")));
        }
        let mut pipeline = PipelineConfig::new(&v.data_dir);
        pipeline.durability = durability;
        pipeline.engine_core = v.engine_core;
        pipeline.snapshot_every = v.snapshot_every;
        pipeline.keep_snapshots = v.keep_snapshots;
        pipeline.inbound_capacity = v.inbound_capacity;
        pipeline.journal_capacity = v.inbound_capacity;
        pipeline.outbound_capacity = v.outbound_capacity;

        let assets = self.resolve_assets()?;
        let instruments = self.resolve_instruments(&assets)?;
        if self.fee_tiers.is_empty() {
            return Err(ConfigError::new("fee_tiers", "at least one tier is needed (tier 0 is the default)"));
        }
        let mut fee_tiers = Vec::new();
        for (at, tier) in self.fee_tiers.iter().enumerate() {
            for (name, bps) in [("maker_bps", tier.maker_bps), ("taker_bps", tier.taker_bps)] {
                if bps > 10_000 {
                    return Err(ConfigError::new(format!("fee_tiers[{at}].{name}"), "at most 10000 (100%)"));
                }
            }
            fee_tiers.push(FeeTier { maker_bps: tier.maker_bps, taker_bps: tier.taker_bps });
        }
        let engine = EngineConfig {
            assets,
            instruments,
            fee_tiers,
            fee_account: AccountId(v.fee_account),
            max_accounts: v.max_accounts,
            book: venue_matching::BookConfig {
                max_orders: v.max_orders_per_book,
                presized_orders: v.expected_orders_per_book,
                prefault: v.prefault_order_pool,
            },
        };
        // Anything the field checks above missed (they should not). This
        // trial engine is dropped at once: it need not fault its pools in.
        let mut trial = engine.clone();
        trial.book.prefault = false;
        venue_engine::Engine::new(trial).map_err(|e| ConfigError::new("instruments", e.to_string()))?;
        let accounts = self.resolve_accounts(&engine)?;

        let log = LogSettings {
            json: match self.log.format.as_str() {
                "json" => true,
                "text" => false,
                other => {
                    return Err(ConfigError::new(
                        "log.format",
                        format!("{other:?} is not one of json, text"),
                    ));
                }
            },
            level: self.log.level.parse().map_err(|_| {
                ConfigError::new(
                    "log.level",
                    format!("{:?} is not one of error, warn, info, debug, trace", self.log.level),
                )
            })?,
        };
        let audit = if self.audit.enabled {
            if !matches!(self.audit.mask_accounts.as_str(), "none" | "partial" | "full") {
                return Err(ConfigError::new(
                    "audit.mask_accounts",
                    format!("{:?} is not one of none, partial, full", self.audit.mask_accounts),
                ));
            }
            if self.audit.path.as_os_str().is_empty() {
                return Err(ConfigError::new("audit.path", "must not be empty"));
            }
            Some(AuditSettings {
                path: v.data_dir.join(&self.audit.path),
                mask_accounts: self.audit.mask_accounts.clone(),
            })
        } else {
            None
        };
        let http_listen = listen("http.listen", &self.http.listen)?;
        let admin_listen = listen("admin.listen", &self.admin.listen)?;
        if http_listen == admin_listen && http_listen.port() != 0 {
            return Err(ConfigError::new("admin.listen", "must differ from http.listen"));
        }
        let fix =
            self.fix.as_ref().map(|f| resolve_fix(f, &accounts, &[http_listen, admin_listen])).transpose()?;
        let grpc = match &self.grpc {
            None => None,
            Some(raw) => {
                let listen = listen("grpc.listen", &raw.listen)?;
                let fix_listen = fix.as_ref().map(|f| f.listen);
                if listen.port() != 0
                    && ([http_listen, admin_listen].contains(&listen) || fix_listen == Some(listen))
                {
                    return Err(ConfigError::new(
                        "grpc.listen",
                        "must differ from http.listen, admin.listen and fix.listen",
                    ));
                }
                Some(GrpcSettings { listen, tls: raw.tls.as_ref().map(|t| t.resolve("grpc")).transpose()? })
            }
        };
        let posttrade = match &self.posttrade {
            None => None,
            Some(raw) => {
                let clearing_at = match &raw.clearing_at {
                    None => None,
                    Some(text) => Some(
                        text.split_once(':')
                            .and_then(|(h, m)| Some((h.parse::<u8>().ok()?, m.parse::<u8>().ok()?)))
                            .filter(|&(h, m)| h < 24 && m < 60 && text.len() == 5)
                            .ok_or_else(|| {
                                ConfigError::new(
                                    "posttrade.clearing_at",
                                    format!("{text:?} is not a UTC time HH:MM"),
                                )
                            })?,
                    ),
                };
                if raw.max_lag == 0 {
                    return Err(ConfigError::new("posttrade.max_lag", "must be positive"));
                }
                Some(PostTradeSettings {
                    enabled: raw.enabled,
                    url: resolve_secret("posttrade.url", &raw.url)?,
                    max_lag: raw.max_lag,
                    clearing_dir: v.data_dir.join(&raw.clearing_dir),
                    clearing_at,
                })
            }
        };
        let otlp = match &self.otlp {
            None => None,
            Some(raw) => {
                if !raw.endpoint.starts_with("http://") {
                    return Err(ConfigError::new(
                        "otlp.endpoint",
                        format!("{:?} must be an http:// OTLP/HTTP traces URL", raw.endpoint),
                    ));
                }
                if raw.sample_one_in == 0 {
                    return Err(ConfigError::new("otlp.sample_one_in", "must be at least 1"));
                }
                Some(crate::otlp::OtlpSettings {
                    endpoint: raw.endpoint.clone(),
                    sample_one_in: raw.sample_one_in,
                    service_name: raw.service_name.clone(),
                })
            }
        };
        let mut api_keys: Vec<ApiKeySettings> = Vec::new();
        for (at, raw) in self.api_keys.iter().enumerate() {
            let field = |name: &str| format!("api_keys[{at}].{name}");
            if raw.key.len() < 16 || !raw.key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::new(field("key"), "must be at least 16 letters and digits"));
            }
            if api_keys.iter().any(|k| k.key == raw.key) {
                return Err(ConfigError::new(field("key"), "is listed twice"));
            }
            if !accounts.iter().any(|a| a.id.0 == raw.account) {
                return Err(ConfigError::new(
                    field("account"),
                    format!("account {} is not in [[accounts]]", raw.account),
                ));
            }
            let (mut read, mut trade) = (false, false);
            for permission in &raw.permissions {
                match permission.as_str() {
                    "read" => read = true,
                    "trade" => trade = true,
                    other => {
                        return Err(ConfigError::new(
                            field("permissions"),
                            format!("{other:?} is not one of read, trade"),
                        ));
                    }
                }
            }
            let secret = resolve_secret(&field("secret"), &raw.secret)?;
            api_keys.push(ApiKeySettings {
                key: raw.key.clone(),
                secret,
                account: AccountId(raw.account),
                read,
                trade,
            });
        }
        for (name, value) in [
            ("rest.request_weight_per_minute", self.rest.request_weight_per_minute),
            ("rest.orders_per_10s", self.rest.orders_per_10s),
        ] {
            if value == 0 {
                return Err(ConfigError::new(name, "must be positive"));
            }
        }
        let rest = RestLimits {
            request_weight_per_minute: self.rest.request_weight_per_minute,
            orders_per_10s: self.rest.orders_per_10s,
        };
        Ok(Settings {
            fix,
            grpc,
            posttrade,
            otlp,
            api_keys,
            rest,
            pipeline,
            engine,
            tick_interval: (v.tick_interval_ms > 0).then(|| Duration::from_millis(v.tick_interval_ms)),
            http_listen,
            http_tls: self.http.tls.as_ref().map(|t| t.resolve("http")).transpose()?,
            admin_tls: self.admin.tls.as_ref().map(|t| t.resolve("admin")).transpose()?,
            admin_listen,
            admin_token: resolve_secret("admin.token", &self.admin.token)?,
            log,
            audit,
            accounts,
        })
    }

    fn resolve_assets(&self) -> Result<Vec<AssetSpec>, ConfigError> {
        if self.assets.is_empty() {
            return Err(ConfigError::new("assets", "at least one asset is needed"));
        }
        let mut assets: Vec<AssetSpec> = Vec::new();
        for (at, asset) in self.assets.iter().enumerate() {
            let field = |name: &str| format!("assets[{at}].{name}");
            if asset.name.is_empty() || !asset.name.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::new(
                    field("name"),
                    format!("{:?} must be letters and digits", asset.name),
                ));
            }
            if assets.iter().any(|a| a.name == asset.name) {
                return Err(ConfigError::new(field("name"), format!("{:?} is listed twice", asset.name)));
            }
            if asset.decimals > 18 {
                return Err(ConfigError::new(field("decimals"), "at most 18"));
            }
            assets.push(AssetSpec { name: asset.name.clone(), decimals: asset.decimals });
        }
        Ok(assets)
    }

    fn resolve_instruments(&self, assets: &[AssetSpec]) -> Result<Vec<InstrumentSpec>, ConfigError> {
        if self.instruments.is_empty() {
            return Err(ConfigError::new("instruments", "at least one instrument is needed"));
        }
        let mut specs: Vec<InstrumentSpec> = Vec::new();
        for (at, raw) in self.instruments.iter().enumerate() {
            let field = |name: &str| format!("instruments[{at}].{name}");
            if raw.symbol.is_empty() || !raw.symbol.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    field("symbol"),
                    format!("{:?} must be printable, without spaces", raw.symbol),
                ));
            }
            if specs.iter().any(|s| s.symbol == raw.symbol) {
                return Err(ConfigError::new(field("symbol"), format!("{:?} is listed twice", raw.symbol)));
            }
            for (name, asset) in [("base", &raw.base), ("quote", &raw.quote)] {
                if !assets.iter().any(|a| &a.name == asset) {
                    return Err(ConfigError::new(
                        field(name),
                        format!("asset {asset:?} is not in [[assets]]"),
                    ));
                }
            }
            if raw.base == raw.quote {
                return Err(ConfigError::new(field("quote"), "must differ from base"));
            }
            for (name, decimals) in
                [("price_decimals", raw.price_decimals), ("qty_decimals", raw.qty_decimals)]
            {
                if decimals > 18 {
                    return Err(ConfigError::new(field(name), "at most 18"));
                }
            }
            let (pd, qd) = (raw.price_decimals, raw.qty_decimals);
            let tick = decimal(&field("tick_size"), &raw.tick_size, pd)?;
            if tick <= 0 {
                return Err(ConfigError::new(field("tick_size"), "must be positive"));
            }
            let lot = decimal(&field("lot_size"), &raw.lot_size, qd)?;
            if lot <= 0 {
                return Err(ConfigError::new(field("lot_size"), "must be positive"));
            }
            let lots = |name: &str, text: &str| {
                let f = field(name);
                in_increments(&f, text, decimal(&f, text, qd)?, lot, "lots")
            };
            let ticks = |name: &str, text: &str| {
                let f = field(name);
                in_increments(&f, text, decimal(&f, text, pd)?, tick, "ticks")
            };
            let (min_qty, max_qty) = (lots("min_qty", &raw.min_qty)?, lots("max_qty", &raw.max_qty)?);
            if min_qty > max_qty {
                return Err(ConfigError::new(field("max_qty"), "must not be below min_qty"));
            }
            let (min_price, max_price) =
                (ticks("min_price", &raw.min_price)?, ticks("max_price", &raw.max_price)?);
            if min_price > max_price {
                return Err(ConfigError::new(field("max_price"), "must not be below min_price"));
            }
            if raw.price_band_bps > 10_000 {
                return Err(ConfigError::new(field("price_band_bps"), "at most 10000"));
            }
            let spec = InstrumentSpec {
                id: InstrumentId(at as u32),
                symbol: raw.symbol.clone(),
                base_asset: raw.base.clone(),
                quote_asset: raw.quote.clone(),
                price_decimals: pd,
                tick_size: tick,
                qty_decimals: qd,
                lot_size: lot,
                min_qty: Qty(min_qty),
                max_qty: Qty(max_qty),
                min_price: Price(min_price),
                max_price: Price(max_price),
                price_band_bps: raw.price_band_bps,
                status: status(&field("status"), &raw.status)?,
            };
            if let Err(e) = spec.validate() {
                let reason = match e {
                    venue_domain::SpecError::NotionalOverflow => {
                        "max_price x max_qty (in ticks x lots) does not fit in 64-bit integers; lower one"
                            .to_owned()
                    }
                    other => format!("{other:?}"),
                };
                return Err(ConfigError::new(field("max_price"), reason));
            }
            let one = EngineConfig {
                assets: assets.to_vec(),
                instruments: vec![InstrumentSpec { id: InstrumentId(0), ..spec.clone() }],
                fee_tiers: vec![FeeTier::default()],
                fee_account: AccountId(0),
                max_accounts: 1,
                book: venue_matching::BookConfig::default(),
            };
            if let Err(e) = venue_engine::Engine::new(one) {
                let reason = match e {
                    venue_engine::ConfigError::AssetTooCoarse { .. } => {
                        "the quote asset needs at least price_decimals + qty_decimals decimals and the base \
                         asset at least qty_decimals, so that amounts are exact"
                            .to_owned()
                    }
                    venue_engine::ConfigError::NotionalOverflow { .. } => {
                        "max_price x max_qty does not fit in the quote asset's 64-bit integers; lower one"
                            .to_owned()
                    }
                    other => other.to_string(),
                };
                return Err(ConfigError::new(field("max_price"), reason));
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    fn resolve_accounts(&self, engine: &EngineConfig) -> Result<Vec<AccountSettings>, ConfigError> {
        let mut accounts: Vec<AccountSettings> = Vec::new();
        for (at, raw) in self.accounts.iter().enumerate() {
            let field = |name: &str| format!("accounts[{at}].{name}");
            if raw.id >= engine.max_accounts {
                return Err(ConfigError::new(field("id"), "must be below venue.max_accounts"));
            }
            if raw.id == engine.fee_account.0 {
                return Err(ConfigError::new(field("id"), "is the fee account, which cannot trade"));
            }
            if accounts.iter().any(|a| a.id.0 == raw.id) {
                return Err(ConfigError::new(field("id"), format!("account {} is listed twice", raw.id)));
            }
            if usize::from(raw.tier) >= engine.fee_tiers.len() {
                return Err(ConfigError::new(field("tier"), format!("there is no fee tier {}", raw.tier)));
            }
            let l = &raw.limits;
            for (name, value) in [("max_order_qty", l.max_order_qty), ("max_notional", l.max_notional)] {
                if value < 0 {
                    return Err(ConfigError::new(
                        format!("{}.{name}", field("limits")),
                        "must not be negative",
                    ));
                }
            }
            let mut deposits = Vec::new();
            for (asset, amount) in &raw.deposits {
                let f = format!("{}.{asset}", field("deposits"));
                let id =
                    engine.asset(asset).ok_or_else(|| ConfigError::new(&f, "no such asset in [[assets]]"))?;
                let units = decimal(&f, amount, engine.assets[id.0 as usize].decimals)?;
                if units <= 0 {
                    return Err(ConfigError::new(f, "must be positive"));
                }
                deposits.push((id, units));
            }
            accounts.push(AccountSettings {
                id: AccountId(raw.id),
                name: raw.name.clone(),
                tier: raw.tier,
                limits: AccountLimits {
                    max_order_qty: l.max_order_qty,
                    max_notional: l.max_notional,
                    max_open_orders: l.max_open_orders,
                    price_band_bps: l.price_band_bps,
                },
                deposits,
            });
        }
        Ok(accounts)
    }
}
