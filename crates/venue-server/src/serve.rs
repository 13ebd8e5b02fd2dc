//! Start-up, signals and the orderly shutdown.
//!
//! Start-up: recover (snapshot + journal tail), start the pipeline and the
//! consumer threads, create or update the configured accounts (demo funds
//! only on a fresh venue), bind every listener, then report ready and print
//! the endpoints. SIGHUP reloads the configuration file. SIGTERM or SIGINT:
//! not ready, stop accepting connections and let in-flight requests finish,
//! drain the rings, have the journal commit everything, check the ledger and
//! write a final snapshot, exit 0. A restart resumes from that snapshot
//! with nothing to replay.

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::router::Router;
use crate::venue::Venue;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use venue_engine::Command;
use venue_pipeline::{Pipeline, snapshot};

/// Origin tag of the timer's commands (below the request range).
const ORIGIN_TIMER: u64 = 2;

/// Transfer ids of demo funding: this bit set, then account and asset, so
/// they never collide with a funding system's ids below 2^63.
const DEMO_TRANSFER_BASE: u64 = 1 << 63;

/// Command-line settings that win over the file (tests and one-off runs).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Replaces `venue.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Replaces `http.listen`.
    pub http_listen: Option<SocketAddr>,
    /// Replaces `admin.listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Replaces `fix.listen`.
    pub fix_listen: Option<SocketAddr>,
    /// Replaces `grpc.listen`.
    pub grpc_listen: Option<SocketAddr>,
}

impl Overrides {
    /// Applies the overrides to resolved settings.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(dir) = &self.data_dir {
            if let Some(audit) = &mut settings.audit
                && let Ok(relative) = audit.path.strip_prefix(&settings.pipeline.data_dir)
            {
                audit.path = dir.join(relative);
            }
            if let Some(posttrade) = &mut settings.posttrade
                && let Ok(relative) = posttrade.clearing_dir.strip_prefix(&settings.pipeline.data_dir)
            {
                posttrade.clearing_dir = dir.join(relative);
            }
            settings.pipeline.data_dir = dir.clone();
        }
        if let Some(addr) = self.http_listen {
            settings.http_listen = addr;
        }
        if let Some(addr) = self.admin_listen {
            settings.admin_listen = addr;
        }
        if let (Some(addr), Some(fix)) = (self.fix_listen, &mut settings.fix) {
            fix.listen = addr;
        }
        if let (Some(addr), Some(grpc)) = (self.grpc_listen, &mut settings.grpc) {
            grpc.listen = addr;
        }
    }
}

fn init_logging(settings: &Settings) {
    let builder = tracing_subscriber::fmt().with_max_level(settings.log.level).with_writer(std::io::stderr);
    let _ = if settings.log.json { builder.json().try_init() } else { builder.try_init() };
}

/// Where a running venue listens (for benchmarks and tests that run it in
/// process on ephemeral ports).
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    /// Public HTTP.
    pub public: SocketAddr,
    /// Admin HTTP.
    pub admin: SocketAddr,
    /// FIX, if configured.
    pub fix: Option<SocketAddr>,
    /// gRPC, if configured.
    pub grpc: Option<SocketAddr>,
}

/// How an in-process caller controls a venue besides signals.
#[derive(Default)]
pub struct Control {
    /// Stops the venue (as SIGTERM) when it turns true.
    pub stop: Option<watch::Receiver<bool>>,
    /// Receives the endpoints once the venue is ready.
    pub ready: Option<std::sync::mpsc::Sender<Endpoints>>,
    /// Print no banner on stdout (the caller owns stdout).
    pub quiet: bool,
}

/// Runs the venue until SIGTERM or SIGINT. `config_path` is the file to
/// re-read on reload (`None` for the built-in demo, whose credentials are
/// then printed). Returns an error message if start-up fails or the final
/// shutdown finds something wrong.
pub fn serve(settings: Settings, config_path: Option<PathBuf>) -> Result<(), String> {
    serve_with(settings, config_path, Control::default())
}

/// As [`serve`], also stopped through `control` and reporting its
/// endpoints there.
pub fn serve_with(settings: Settings, config_path: Option<PathBuf>, control: Control) -> Result<(), String> {
    init_logging(&settings);
    let started = Instant::now();
    let data_dir = settings.pipeline.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("venue.data_dir {}: {e}", data_dir.display()))?;

    let mut pipeline_config = settings.pipeline.clone();
    let posttrade = settings.posttrade.as_ref().filter(|p| p.enabled);
    // Router, market data, then the audit log and the post-trade sink if
    // enabled (each with a stream and a command tap).
    let recorders = usize::from(settings.audit.is_some()) + usize::from(posttrade.is_some());
    pipeline_config.consumers = 2 + recorders;
    pipeline_config.taps = recorders;
    pipeline_config.tap_capacity = if recorders > 0 { pipeline_config.inbound_capacity } else { 0 };
    let engine_core = pipeline_config.engine_core;
    let (mut pipeline, mut streams, recovery) = Pipeline::start(pipeline_config, settings.engine.clone())
        .map_err(|e| format!("recovery failed: {e}"))?;
    if let Some(core) = engine_core {
        // Threads inherit their creator's CPU set: everything started from
        // here on (the runtime, gateways, recorders) stays off the engine's.
        venue_pipeline::affinity::keep_current_thread_off(core)
            .map_err(|e| format!("venue.engine_core {core}: {e}"))?;
    }
    tracing::info!(
        last_seq = recovery.last_seq,
        snapshot_seq = recovery.snapshot_seq,
        replayed = recovery.replayed,
        ms = started.elapsed().as_millis() as u64,
        "recovered"
    );
    let metrics = Arc::new(Metrics::default());
    let audit_thread = match &settings.audit {
        Some(audit) => {
            // On failure the pipeline is dropped, which stops its threads.
            let writer = crate::audit::open(audit, &settings.pipeline, &settings.engine, recovery.last_seq)?;
            let tap = pipeline.take_command_tap().expect("tap enabled above");
            let stream = streams.pop().expect("audit stream");
            let (durability, metrics) = (settings.pipeline.durability, metrics.clone());
            let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let thread = std::thread::Builder::new()
                .name("venue-audit".into())
                .spawn(move || crate::audit::run(writer, tap, stream, durability, metrics, failed))
                .map_err(|e| format!("cannot start the audit thread: {e}"))?;
            Some(thread)
        }
        None => None,
    };
    let posttrade_thread = match posttrade {
        Some(posttrade) => {
            let tap = pipeline.take_command_tap().expect("tap enabled above");
            let stream = streams.pop().expect("post-trade stream");
            let status = Arc::new(venue_posttrade::sink::SinkStatus::new());
            let _ = metrics.posttrade.set((status.clone(), posttrade.max_lag));
            let config = venue_posttrade::sink::SinkConfig::new(
                posttrade.url.expose(),
                settings.pipeline.clone(),
                settings.engine.clone(),
            );
            let last_seq = recovery.last_seq;
            let thread = std::thread::Builder::new()
                .name("venue-posttrade".into())
                .spawn(move || venue_posttrade::sink::run(tap, stream, &config, last_seq, status))
                .map_err(|e| format!("cannot start the post-trade thread: {e}"))?;
            Some(thread)
        }
        None => None,
    };
    let router = Router::new(pipeline.submitter(), metrics.clone());
    let router_thread = {
        let router = router.clone();
        let stream = streams.remove(0);
        std::thread::Builder::new()
            .name("venue-router".into())
            .spawn(move || router.run(stream))
            .map_err(|e| format!("cannot start the router thread: {e}"))?
    };
    // Market data starts from the recovered books, read on the engine
    // thread before any new command.
    let (initial_tx, initial_rx) = std::sync::mpsc::channel();
    pipeline
        .submitter()
        .query(Box::new(move |engine: &venue_engine::Engine| {
            let config = venue_marketdata::MarketDataConfig::default();
            let _ = initial_tx.send(venue_marketdata::MarketData::from_books(
                engine.books(),
                engine.seq(),
                engine.time(),
                config,
            ));
        }))
        .map_err(|e| format!("market data: {e}"))?;
    let initial = initial_rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "market data: the engine did not answer".to_owned())?;
    let market = crate::market::MarketFeed::new(initial);
    // The client order ids of the orders the engine recovered, read as the
    // books were: the registry keeps their texts however old.
    let (live_tx, live_rx) = std::sync::mpsc::channel();
    pipeline
        .submitter()
        .query(Box::new(move |engine: &venue_engine::Engine| {
            let live: std::collections::HashSet<u64> = engine
                .books()
                .iter()
                .flat_map(|book| book.live_orders().into_iter().map(|order| order.client_order_id.0))
                .collect();
            let _ = live_tx.send(live);
        }))
        .map_err(|e| format!("live orders: {e}"))?;
    let live_ids = live_rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "live orders: the engine did not answer".to_owned())?;
    let names = crate::names::ClientNames::open(&data_dir, &live_ids).map_err(|e| {
        format!("client order ids in {}: {e}", data_dir.join(crate::names::FILE_NAME).display())
    })?;
    let market_thread = {
        let (market, stream, metrics) = (market.clone(), streams.remove(0), metrics.clone());
        std::thread::Builder::new()
            .name("venue-market".into())
            .spawn(move || market.run(stream, metrics))
            .map_err(|e| format!("cannot start the market-data thread: {e}"))?
    };
    let tracer = crate::otlp::Tracer::start(settings.otlp.as_ref())?;
    let venue = Arc::new(Venue::new(
        router.clone(),
        metrics.clone(),
        pipeline.monitor(),
        settings.clone(),
        config_path.clone(),
        tracer,
        names,
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("venue-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let result = runtime.block_on(run(
        venue.clone(),
        market,
        &settings,
        recovery.last_seq == 0,
        config_path.is_none(),
        control,
    ));
    drop(runtime);

    metrics.ready.store(false, Ordering::Release);
    let engine = pipeline.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    let _ = router_thread.join();
    let _ = market_thread.join();
    if let Some(audit) = audit_thread {
        let _ = audit.join();
    }
    if let Some(sink) = posttrade_thread {
        match sink.join() {
            Ok(exit) if exit.complete() => {}
            Ok(exit) => tracing::warn!(
                persisted = exit.persisted,
                seen = exit.seen,
                "post-trade database behind at shutdown: the next start catches up from the journal"
            ),
            Err(_) => tracing::error!("the post-trade thread panicked"),
        }
    }
    result?;
    engine
        .check_ledger()
        .map_err(|e| format!("ledger check at shutdown failed, no final snapshot written: {e:?}"))?;
    let dir = settings.pipeline.snapshot_dir();
    let (path, bytes) = snapshot::write(&dir, &engine.export())
        .map_err(|e| format!("final snapshot in {}: {e}", dir.display()))?;
    let _ = snapshot::prune(&dir, settings.pipeline.keep_snapshots);
    tracing::info!(seq = engine.seq(), snapshot = %path.display(), bytes, "stopped cleanly");
    Ok(())
}

async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| format!("{what} cannot listen on {addr}: {e}"))
}

async fn run(
    venue: Arc<Venue>,
    market: Arc<crate::market::MarketFeed>,
    settings: &Settings,
    fresh: bool,
    demo: bool,
    control: Control,
) -> Result<(), String> {
    set_up_accounts(&venue, settings, fresh).await?;
    let public = bind("http.listen", settings.http_listen).await?;
    let admin = bind("admin.listen", settings.admin_listen).await?;
    let public_addr = public.local_addr().map_err(|e| e.to_string())?;
    let admin_addr = admin.local_addr().map_err(|e| e.to_string())?;
    let fix_listener = match &settings.fix {
        Some(fix) => Some(bind("fix.listen", fix.listen).await?),
        None => None,
    };
    let fix_addr = fix_listener.as_ref().and_then(|l| l.local_addr().ok());
    let grpc_listener = match &settings.grpc {
        Some(grpc) => Some(bind("grpc.listen", grpc.listen).await?),
        None => None,
    };
    let grpc_addr = grpc_listener.as_ref().and_then(|l| l.local_addr().ok());

    let (stop_tx, stop_rx) = watch::channel(false);
    let until_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let rest =
        crate::rest::Rest::new(venue.clone(), settings.api_keys.clone(), settings.rest, market.clone());
    let hub = crate::ws::WsHub::new(rest.clone());
    tokio::spawn(hub.clone().run(market.updates.subscribe()));
    let public_server = spawn_server(
        public,
        settings.http_tls.as_ref(),
        "http",
        crate::http::public(venue.clone(), rest.clone(), hub.clone()),
        until_stop(stop_rx.clone()),
    )?;
    let admin_server = spawn_server(
        admin,
        settings.admin_tls.as_ref(),
        "admin",
        crate::http::admin(venue.clone()),
        until_stop(stop_rx.clone()),
    )?;
    let mut servers = vec![public_server, admin_server];
    if let (Some(grpc), Some(tcp)) = (&settings.grpc, grpc_listener) {
        let app = crate::grpc::routes(rest.clone(), market.clone(), stop_rx.clone())?;
        servers.push(spawn_server(tcp, grpc.tls.as_ref(), "grpc", app, until_stop(stop_rx.clone()))?);
    }
    let mut fix_tasks = Vec::new();
    if let (Some(fix), Some(tcp)) = (&settings.fix, fix_listener) {
        let instruments = Arc::new(settings.engine.instruments.clone());
        let (acceptor, tasks) = crate::fix::start(
            fix,
            &settings.pipeline.data_dir,
            &venue,
            instruments,
            market.clone(),
            stop_rx.clone(),
        )?;
        let tls = fix.tls.as_ref().map(|files| crate::tls::server_config("fix", files)).transpose()?;
        fix_tasks = tasks;
        tokio::spawn(acceptor.serve(tcp, tls, stop_rx.clone()));
    }
    if let Some(at) = settings.posttrade.as_ref().filter(|p| p.enabled).and_then(|p| p.clearing_at) {
        tokio::spawn(crate::posttrade::schedule(settings.clone(), at, stop_rx.clone()));
    }
    if let Some(period) = settings.tick_interval {
        let router = venue.router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = timer.tick() => {
                        // A full ring refuses the tick; the next one expires
                        // whatever was due, so nothing is lost.
                        let _ = router.submit(ORIGIN_TIMER, Command::Tick);
                    }
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
    }

    // Handlers first: a supervisor that signals the moment it reads the
    // banner must get an orderly stop, not the default action of SIGTERM.
    let signals = Signals::install();
    venue.metrics.ready.store(true, Ordering::Release);
    if !control.quiet {
        print_banner(settings, public_addr, admin_addr, fix_addr, grpc_addr, demo);
    }
    tracing::info!(%public_addr, %admin_addr, "ready");

    if let Some(ready) = control.ready {
        let _ =
            ready.send(Endpoints { public: public_addr, admin: admin_addr, fix: fix_addr, grpc: grpc_addr });
    }
    wait_for_stop(&venue, signals, control.stop).await;
    tracing::info!("stopping: no new connections, draining");
    venue.metrics.ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    // FIX sessions log their clients out (a Logout handshake) before the
    // rings drain.
    for task in fix_tasks {
        if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
            tracing::warn!("a FIX session did not finish its logout within 5 s");
        }
    }
    for server in servers {
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "listener ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "listener task failed"),
            Err(_) => tracing::warn!("listener did not finish in-flight requests within 10 s"),
        }
    }
    Ok(())
}

/// Serves `app` on `tcp`, behind TLS if configured, until `stop`.
fn spawn_server(
    tcp: TcpListener,
    tls: Option<&crate::tls::TlsFiles>,
    section: &str,
    app: axum::Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, String> {
    Ok(match tls {
        None => {
            let app = app.into_make_service_with_connect_info::<crate::tls::Peer>();
            let listener = crate::tls::PlainListener(tcp);
            tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stop).into_future())
        }
        Some(files) => {
            let config = crate::tls::server_config(section, files)?;
            let listener =
                crate::tls::TlsListener::new(tcp, config).map_err(|e| format!("{section}.listen: {e}"))?;
            let app = app.into_make_service_with_connect_info::<crate::tls::Peer>();
            tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stop).into_future())
        }
    })
}

/// Resolves when `stop` turns true (never without one).
async fn stopped(stop: Option<watch::Receiver<bool>>) {
    match stop {
        Some(mut stop) => {
            let _ = stop.wait_for(|s| *s).await;
        }
        None => std::future::pending().await,
    }
}

/// The stop and reload signals, caught from the moment they are installed.
#[cfg(unix)]
struct Signals(Option<[tokio::signal::unix::Signal; 3]>);

#[cfg(unix)]
impl Signals {
    /// SIGTERM, SIGINT and SIGHUP; `None` (logged) if the OS refuses.
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        {
            (Ok(term), Ok(int), Ok(hup)) => Signals(Some([term, int, hup])),
            _ => {
                tracing::error!(
                    "cannot install signal handlers; stop with SIGKILL (recovery will replay the journal)"
                );
                Signals(None)
            }
        }
    }
}

#[cfg(unix)]
async fn wait_for_stop(venue: &Venue, signals: Signals, stop: Option<watch::Receiver<bool>>) {
    let Signals(Some([mut term, mut int, mut hup])) = signals else {
        stopped(stop).await;
        return;
    };
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => match venue.reload().await {
                Ok(report) => tracing::info!(%report, "SIGHUP: configuration reloaded"),
                Err(e) => tracing::error!(error = ?e, "SIGHUP: reload refused"),
            },
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Signals {
        Signals
    }
}

#[cfg(not(unix))]
async fn wait_for_stop(_venue: &Venue, _signals: Signals, stop: Option<watch::Receiver<bool>>) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = stopped(stop) => {}
    }
}

/// Creates or updates the configured accounts (every start, so the file
/// stays the truth for tiers and limits) and, on a fresh venue, credits the
/// demo deposits. Waits for each answer so that "ready" means funded.
async fn set_up_accounts(venue: &Venue, settings: &Settings, fresh: bool) -> Result<(), String> {
    let timeout = Duration::from_secs(30);
    let mut commands = Vec::new();
    for account in &settings.accounts {
        commands.push(Command::SetAccount {
            account: account.id,
            tier: account.tier,
            limits: account.limits,
        });
        if fresh {
            for &(asset, amount) in &account.deposits {
                let transfer_id = DEMO_TRANSFER_BASE | (u64::from(account.id.0) << 16) | u64::from(asset.0);
                commands.push(Command::Deposit { transfer_id, account: account.id, asset, amount });
            }
        }
    }
    for command in commands {
        let outputs = venue
            .router
            .execute(command, timeout)
            .await
            .map_err(|e| format!("start-up {command:?}: {e:?}"))?;
        if let Some(venue_engine::Output::CommandRejected { reason }) = outputs.first() {
            return Err(format!("start-up {command:?} refused: {reason}"));
        }
    }
    Ok(())
}

fn print_banner(
    settings: &Settings,
    public: SocketAddr,
    admin: SocketAddr,
    fix: Option<SocketAddr>,
    grpc: Option<SocketAddr>,
    demo: bool,
) {
    let mut text = String::new();
    text.push_str(&format!("venue {} ready\n", env!("CARGO_PKG_VERSION")));
    text.push_str(&format!("  data directory  {}\n", settings.pipeline.data_dir.display()));
    let scheme = |tls: &Option<crate::tls::TlsFiles>| if tls.is_some() { "https" } else { "http" };
    let mtls = match &settings.admin_tls {
        Some(files) if files.client_ca.is_some() => ", client certificate required",
        _ => "",
    };
    text.push_str(&format!(
        "  public HTTP     {}://{public}  (/ live market page, /api/v3 REST, /openapi.json, /ws and /stream WebSocket, GET /health/live, /health/ready, /metrics)\n",
        scheme(&settings.http_tls)
    ));
    text.push_str(&format!(
        "  admin HTTP      {}://{admin}  (/admin/v1/..., Authorization: Bearer <token>{mtls})\n",
        scheme(&settings.admin_tls)
    ));
    if let (Some(fix_settings), Some(addr)) = (&settings.fix, fix) {
        let tls = if fix_settings.tls.is_some() { " over TLS" } else { "" };
        text.push_str(&format!(
            "  FIX 4.4         {addr}{tls}  ({} sessions)\n",
            fix_settings.sessions.len()
        ));
    }
    if let (Some(grpc_settings), Some(addr)) = (&settings.grpc, grpc) {
        let tls = if grpc_settings.tls.is_some() { " over TLS" } else { "" };
        text.push_str(&format!(
            "  gRPC            {addr}{tls}  (venue.v1 OrderEntry, Account, MarketData, Admin; health; reflection)\n"
        ));
    }
    if let Some(audit) = &settings.audit {
        text.push_str(&format!("  audit log       {}\n", audit.path.display()));
    }
    let symbols: Vec<&str> = settings.engine.instruments.iter().map(|i| i.symbol.as_str()).collect();
    text.push_str(&format!("  instruments     {}\n", symbols.join(", ")));
    if demo {
        text.push_str("built-in demo configuration (for trying the venue, never for production):\n");
        text.push_str(&format!("  admin token     {}\n", settings.admin_token.expose()));
        for account in &settings.accounts {
            text.push_str(&format!("  account {:<7} {}\n", account.id.0, account.name));
        }
        for key in &settings.api_keys {
            text.push_str(&format!(
                "  API key         account {}: key={} secret={} (REST X-MBX-APIKEY, gRPC x-api-key)\n",
                key.account.0,
                key.key,
                key.secret.expose()
            ));
        }
        for session in settings.fix.iter().flat_map(|f| &f.sessions) {
            let password = session.password.as_ref().map_or("none", |p| p.expose());
            let role = match session.account {
                Some(account) => format!("account {}", account.0),
                None => "echo application".to_owned(),
            };
            text.push_str(&format!(
                "  FIX session     SenderCompID={} TargetCompID={} Password={password} ({role})\n",
                session.target_comp_id, session.sender_comp_id
            ));
        }
    }
    print!("{text}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}
