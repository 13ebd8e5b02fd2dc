//! What the HTTP handlers and the signal handlers share: the router, the
//! counters, the configuration in force, and how to reload it.

use crate::config::{self, Secret, Settings};
use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::router::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use venue_domain::TradingStatus;
use venue_engine::{Command, EngineConfig};
use venue_pipeline::Monitor;

/// The running venue as its handlers see it.
pub struct Venue {
    /// Submits commands and awaits their answers.
    pub router: Arc<Router>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The pipeline's counters and snapshot trigger.
    pub monitor: Monitor,
    /// Assets and instruments (fixed for the life of the process).
    pub engine: EngineConfig,
    /// Capacity of the inbound ring (reported with its occupancy).
    pub inbound_capacity: usize,
    /// How long a request waits for its answer.
    pub request_timeout: Duration,
    /// Samples orders for OpenTelemetry traces (never, unless `[otlp]`).
    pub tracer: Arc<crate::otlp::Tracer>,
    /// Client order id texts, shared by every gateway and kept across
    /// restarts.
    pub names: Arc<crate::names::ClientNames>,
    admin_token: RwLock<Secret>,
    config_path: Option<PathBuf>,
    current: tokio::sync::Mutex<Settings>,
}

/// The lower-case name of a status, as the admin API and config spell it.
pub fn status_name(status: TradingStatus) -> &'static str {
    match status {
        TradingStatus::Open => "open",
        TradingStatus::Halted => "halted",
        TradingStatus::Closed => "closed",
    }
}

/// The parts of an engine configuration a restart must keep: everything
/// but the start-up status of instruments.
fn fixed_part(engine: &EngineConfig) -> EngineConfig {
    let mut fixed = engine.clone();
    for spec in &mut fixed.instruments {
        spec.status = TradingStatus::Open;
    }
    fixed
}

impl Venue {
    /// Shares the running parts with the handlers.
    pub fn new(
        router: Arc<Router>,
        metrics: Arc<Metrics>,
        monitor: Monitor,
        settings: Settings,
        config_path: Option<PathBuf>,
        tracer: Arc<crate::otlp::Tracer>,
        names: Arc<crate::names::ClientNames>,
    ) -> Venue {
        Venue {
            tracer,
            names,
            router,
            metrics,
            monitor,
            engine: settings.engine.clone(),
            inbound_capacity: settings.pipeline.inbound_capacity,
            request_timeout: Duration::from_secs(10),
            admin_token: RwLock::new(settings.admin_token.clone()),
            config_path,
            current: tokio::sync::Mutex::new(settings),
        }
    }

    /// Whether `candidate` is the admin token in force.
    pub fn admin_token_matches(&self, candidate: &[u8]) -> bool {
        self.admin_token.read().unwrap_or_else(std::sync::PoisonError::into_inner).matches(candidate)
    }

    /// Re-reads the configuration file and applies what can change while
    /// running: account tiers and limits, instrument status (where the file
    /// changed it), and the admin token. Changes to assets, instruments,
    /// fees or book settings need a restart and refuse the whole reload, so that a reload is
    /// never half-applied. Used by the admin API and SIGHUP.
    pub async fn reload(&self) -> Result<Value, ApiError> {
        let Some(path) = &self.config_path else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "NO_CONFIG_FILE",
                "running the built-in demo configuration: there is no file to reload",
            ));
        };
        let new = config::load(path)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "CONFIG_INVALID", e.to_string()))?;
        let mut current = self.current.lock().await;
        if fixed_part(&new.engine) != fixed_part(&current.engine) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "RESTART_REQUIRED",
                "assets, instruments, fee tiers, account capacity or book settings (max_orders_per_book, \
                 expected_orders_per_book, prefault_order_pool) changed: restart the venue to apply them \
                 (nothing was reloaded)",
            ));
        }
        let mut commands = Vec::new();
        for account in &new.accounts {
            let before = current.accounts.iter().find(|a| a.id == account.id);
            if before.is_none_or(|b| (b.tier, b.limits) != (account.tier, account.limits)) {
                commands.push(Command::SetAccount {
                    account: account.id,
                    tier: account.tier,
                    limits: account.limits,
                });
            }
        }
        for (new_spec, old_spec) in new.engine.instruments.iter().zip(&current.engine.instruments) {
            if new_spec.status != old_spec.status {
                commands.push(Command::SetStatus { instrument: new_spec.id, status: new_spec.status });
            }
        }
        let mut applied = Vec::new();
        for command in commands {
            let outputs = self.router.execute(command, self.request_timeout).await?;
            let refused = outputs.iter().find_map(|o| match o {
                venue_engine::Output::CommandRejected { reason } => Some(*reason),
                venue_engine::Output::Book(e) => match e.kind {
                    venue_matching::EventKind::Rejected { reason, .. } => Some(reason),
                    _ => None,
                },
                _ => None,
            });
            applied.push(match (command, refused) {
                (Command::SetAccount { account, tier, .. }, None) => {
                    json!({ "account": account.0, "tier": tier })
                }
                (Command::SetStatus { instrument, status }, None) => json!({
                    "symbol": self.engine.instruments[instrument.0 as usize].symbol,
                    "status": status_name(status),
                }),
                (_, Some(reason)) => json!({ "command": format!("{command:?}"), "refused": reason.as_str() }),
                _ => json!({ "command": format!("{command:?}") }),
            });
        }
        let mut restart_needed_for = Vec::new();
        if new.http_listen != current.http_listen {
            restart_needed_for.push("http.listen");
        }
        if new.admin_listen != current.admin_listen {
            restart_needed_for.push("admin.listen");
        }
        if new.pipeline.data_dir != current.pipeline.data_dir
            || new.pipeline.durability != current.pipeline.durability
        {
            restart_needed_for.push("venue");
        }
        if new.log != current.log {
            restart_needed_for.push("log");
        }
        if new.audit != current.audit {
            restart_needed_for.push("audit");
        }
        *self.admin_token.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            new.admin_token.clone();
        tracing::info!(changes = applied.len(), "configuration reloaded");
        *current = new;
        Ok(json!({ "applied": applied, "restart_needed_for": restart_needed_for }))
    }
}
