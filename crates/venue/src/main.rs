//! `venue`: the trading venue's one binary.
//!
//! `venue serve` runs the venue (`venue-server`); `venue config
//! example|check` write and check its configuration; the benchmarks
//! (`venue bench book|engine|fix|grpc|ws|marketdata`) and the journal
//! tools (`venue journal verify|dump`) measure and inspect it. Every subcommand is a thin shell
//! over a library crate, so that what the binary does can also be tested
//! in-process.

mod config_cmd;
mod crash_node;
mod fix_bench;
mod grpc_bench;
mod journal_cmd;
mod md_bench;
mod ws_bench;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use venue_bench::measure::{self, Options};
use venue_bench::report;
use venue_bench::workload::Workload;
use venue_server::serve::Overrides;

#[global_allocator]
static ALLOC: venue_bench::alloc::CountingAlloc = venue_bench::alloc::CountingAlloc;

/// A low-latency trading venue: order gateway, risk, matching, market data
/// and settlement in one binary.
#[derive(Parser)]
#[command(name = "venue", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the venue: engine, journal, listeners. With no --config, the
    /// built-in demo configuration (printed by `venue config example`).
    Serve(ServeArgs),
    /// Write or check a configuration file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Measure the venue's components on seeded, reproducible workloads.
    #[command(subcommand)]
    Bench(Bench),
    /// Check an audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Inspect a journal directory without changing it.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// End-of-day clearing from the post-trade database.
    #[command(subcommand)]
    Clearing(ClearingCmd),
    /// Compare the engine's ledger (rebuilt from snapshots and the journal
    /// at the database's last command) with the post-trade database's
    /// balances, to the unit; exit 1 listing every difference.
    Reconcile(PostTradeArgs),
    /// Internal: the process the crash test kills (see crash_node.rs).
    #[command(hide = true)]
    CrashNode(CrashArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The configuration file (TOML); without it the built-in demo runs.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Use this data directory instead of the configured one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listen for public HTTP here instead of the configured address.
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
    /// Listen for the admin API here instead of the configured address.
    #[arg(long)]
    admin: Option<std::net::SocketAddr>,
    /// Listen for FIX here instead of the configured address.
    #[arg(long)]
    fix: Option<std::net::SocketAddr>,
    /// Listen for gRPC here instead of the configured address.
    #[arg(long)]
    grpc: Option<std::net::SocketAddr>,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a fully commented configuration (the built-in demo one).
    Example,
    /// Check a configuration file; exit 1 naming the first bad field.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClearingCmd {
    /// Clear one UTC day: statements, net obligations, fee income and the
    /// trade report, as tables in the database and CSV files. Re-running a
    /// day gives identical results.
    Run {
        /// The business date (UTC), YYYY-MM-DD.
        #[arg(long)]
        date: String,
        #[command(flatten)]
        target: PostTradeArgs,
    },
}

/// Which venue's post-trade database (and data directory) to work on.
#[derive(Args)]
struct PostTradeArgs {
    /// The configuration file (its [posttrade] section); without it the
    /// built-in demo configuration.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Use this data directory instead of the configured one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check every line's hash and the chain; exit 1 naming the first line
    /// that was edited, inserted, removed or reordered.
    Verify {
        /// The audit log (`DATA/audit.jsonl`).
        file: PathBuf,
        /// Also require the log to end at this command (the journal's last
        /// sequence number): detects lines cut from the end.
        #[arg(long)]
        expect_last_seq: Option<u64>,
    },
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Check every record (length, CRC32C, sequence); exit 1 if a torn tail
    /// or corruption is found.
    Verify {
        /// The journal directory (`DATA/journal`).
        dir: PathBuf,
    },
    /// Print records as decoded commands.
    Dump {
        /// The journal directory (`DATA/journal`).
        dir: PathBuf,
        /// First sequence number to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Print at most this many records.
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(Args)]
struct CrashArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// always, never, or interval (1 ms).
    #[arg(long, default_value = "always")]
    durability: String,
    #[arg(long)]
    max_commands: Option<u64>,
    /// Compare snapshot+tail recovery with a full replay instead of running.
    #[arg(long)]
    verify: bool,
}

#[derive(Subcommand)]
enum Bench {
    /// The order book alone against published peer books on the same streams;
    /// results go to BENCHMARKS.md.
    Book(BookArgs),
    /// The whole engine pipeline (rings, sequencer, risk, book, ledger,
    /// journal) against a bare ring pass; results go to BENCHMARKS.md.
    Engine(EngineArgs),
    /// FIX NewOrderSingle → ExecutionReport round trips over loopback at
    /// fixed offered rates, against a TCP echo of the same bytes; results
    /// go to BENCHMARKS.md.
    Fix(FixArgs),
    /// Order round trips over gRPC (unary calls and the streaming order
    /// session) at fixed offered rates, beside FIX in the same run; results
    /// go to BENCHMARKS.md.
    Grpc(FixArgs),
    /// Trade and depth streams fanned out to 100 and 1,000 WebSocket
    /// subscribers at fixed offered rates, against a plain TCP relay of the
    /// same bytes; results go to BENCHMARKS.md.
    Ws(WsArgs),
    /// What the market-data component costs per engine event (apply, JSON
    /// frames, conflation) on the engine benchmark's stream, against the
    /// engine applying the same commands; results go to BENCHMARKS.md.
    #[command(name = "marketdata")]
    MarketData(MarketDataArgs),
    /// Internal: the child process that callgrind counts.
    #[command(hide = true)]
    BookKernel(KernelArgs),
}

/// Flags every benchmark takes: how to report and whether to record.
#[derive(Args)]
struct ReportArgs {
    /// Print one JSON object with every figure instead of tables.
    #[arg(long)]
    json: bool,
    /// A seconds-long smoke run (small inputs; BENCHMARKS.md is not updated).
    #[arg(long)]
    quick: bool,
    /// Do not update BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
    /// Where the results section is written.
    #[arg(long, default_value = "BENCHMARKS.md")]
    benchmarks_md: PathBuf,
}

#[derive(Args)]
struct BookArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Skip instruction counts even if valgrind is installed.
    #[arg(long)]
    no_callgrind: bool,
    /// Seed of the generated streams.
    #[arg(long)]
    seed: Option<u64>,
    /// Measured operations per run.
    #[arg(long)]
    ops: Option<usize>,
    /// Throughput runs per book (the median is reported).
    #[arg(long)]
    runs: Option<usize>,
    /// Only this workload (exchange-core, insert-only, limit-cancel-marketable).
    #[arg(long, value_parser = parse_workload)]
    workload: Vec<Workload>,
}

#[derive(Args)]
struct EngineArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Measured commands per throughput run.
    #[arg(long)]
    ops: Option<usize>,
    /// Commands in the replay/restart journal.
    #[arg(long)]
    replay_commands: Option<usize>,
    /// Offered rate of the latency run (commands per second).
    #[arg(long)]
    rate: Option<u64>,
    /// Symbol counts to run (repeatable; default 1 and 100).
    #[arg(long)]
    symbols: Vec<usize>,
    /// The CPU the engine gets to itself (default: the last one, when there
    /// are at least two).
    #[arg(long, conflicts_with = "no_pin")]
    engine_core: Option<usize>,
    /// Pin nothing: every run as the unpinned one.
    #[arg(long)]
    no_pin: bool,
}

#[derive(Args)]
struct FixArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Offered rates in messages per second (repeatable; default 10000,
    /// 50000, 100000).
    #[arg(long)]
    rate: Vec<u64>,
    /// Client connections (FIX sessions).
    #[arg(long, default_value_t = 4)]
    sessions: usize,
    /// Measured seconds per rate.
    #[arg(long)]
    seconds: Option<f64>,
    /// Journal durability: always, interval or never.
    #[arg(long, default_value = "always")]
    durability: String,
}

#[derive(Args)]
struct WsArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Subscriber counts (repeatable; default 100 and 1000).
    #[arg(long)]
    subscribers: Vec<usize>,
    /// Offered delivered rates, messages per second over all subscribers
    /// (repeatable; default 100000 and 1000000).
    #[arg(long)]
    rate: Vec<u64>,
    /// Measured seconds per run.
    #[arg(long)]
    seconds: Option<f64>,
    /// Journal durability: never (default: the fan-out is measured, not the
    /// fsync), interval or always.
    #[arg(long, default_value = "never")]
    durability: String,
    /// Client threads the subscribers are spread over.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
}

#[derive(Args)]
struct MarketDataArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Seed of the generated streams.
    #[arg(long)]
    seed: Option<u64>,
    /// Measured commands per symbol count.
    #[arg(long)]
    ops: Option<usize>,
    /// Repetitions of every pass (the median is reported).
    #[arg(long)]
    reps: Option<usize>,
    /// Symbol counts to run (repeatable; default 1 and 100).
    #[arg(long)]
    symbols: Vec<usize>,
}

#[derive(Args)]
struct KernelArgs {
    #[arg(long, value_parser = parse_workload)]
    workload: Workload,
    #[arg(long)]
    book: String,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    warmup: usize,
    #[arg(long)]
    ops: usize,
}

fn parse_workload(name: &str) -> Result<Workload, String> {
    Workload::from_name(name).ok_or_else(|| {
        let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
        format!("unknown workload {name:?}; expected one of {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => config_cmd::serve(
            args.config,
            Overrides {
                data_dir: args.data_dir,
                http_listen: args.http,
                admin_listen: args.admin,
                fix_listen: args.fix,
                grpc_listen: args.grpc,
            },
        ),
        Command::Config(ConfigCmd::Example) => config_cmd::example(),
        Command::Config(ConfigCmd::Check { file }) => config_cmd::check(&file),
        Command::Audit(AuditCmd::Verify { file, expect_last_seq }) => {
            match venue_server::audit::verify(&file, expect_last_seq) {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Clearing(ClearingCmd::Run { date, target }) => {
            config_cmd::posttrade(&target.config, target.data_dir, |settings| {
                let date = venue_server::posttrade::parse_date(&date)?;
                venue_server::posttrade::clearing_run(settings, date)
            })
        }
        Command::Reconcile(target) => {
            config_cmd::posttrade(&target.config, target.data_dir, venue_server::posttrade::reconcile)
        }
        Command::Bench(Bench::Book(args)) => bench_book(args),
        Command::Bench(Bench::Engine(args)) => bench_engine(args),
        Command::Bench(Bench::Fix(args)) => bench_fix(args),
        Command::Bench(Bench::Grpc(args)) => bench_grpc(args),
        Command::Bench(Bench::Ws(args)) => bench_ws(args),
        Command::Bench(Bench::MarketData(args)) => bench_marketdata(args),
        Command::Journal(JournalCmd::Verify { dir }) => journal_cmd::verify(&dir),
        Command::Journal(JournalCmd::Dump { dir, from, limit }) => journal_cmd::dump(&dir, from, limit),
        Command::CrashNode(args) => {
            if args.verify {
                return crash_node::verify(&args.data);
            }
            let durability = match args.durability.as_str() {
                "always" => venue_pipeline::Durability::Always,
                "never" => venue_pipeline::Durability::Never,
                "interval" => venue_pipeline::Durability::Interval(std::time::Duration::from_millis(1)),
                other => {
                    eprintln!("venue: unknown durability {other:?}");
                    return ExitCode::FAILURE;
                }
            };
            crash_node::run(&args.data, args.seed, durability, args.max_commands)
        }
        Command::Bench(Bench::BookKernel(args)) => {
            match measure::callgrind_kernel(args.workload, &args.book, args.seed, args.warmup, args.ops) {
                Ok(checksum) => {
                    println!("{checksum}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("venue: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn valgrind_available() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn bench_book(args: BookArgs) -> ExitCode {
    let mut options = if args.report.quick { Options::quick() } else { Options::full() };
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    if let Some(ops) = args.ops {
        options.ops = ops;
    }
    if let Some(runs) = args.runs {
        options.runs = runs;
    }
    if !args.workload.is_empty() {
        options.workloads = args.workload.clone();
    }
    let callgrind = !args.report.quick && !args.no_callgrind && valgrind_available();
    if !callgrind {
        options.callgrind_ops = 0;
    }
    let exe = std::env::current_exe().ok();
    let exe = exe.as_deref().filter(|_| callgrind);

    let mut results = Vec::new();
    for &workload in &options.workloads {
        if !args.report.json {
            eprintln!("venue bench book: running {} ...", workload.name());
        }
        results.push(measure::run_workload(workload, &options, exe));
    }

    let tables = report::to_markdown(&results);
    let targets = report::targets(&results);
    let mut target_text = String::from("Targets (from the matching-engine issue):\n\n");
    for (line, met) in &targets {
        target_text.push_str(&format!("- {} {line}\n", if *met { "✅" } else { "❌" }));
    }
    if args.report.json {
        println!("{}", report::to_json(&options, &results));
    } else {
        println!("{tables}\n{target_text}");
    }
    if !args.report.quick && !args.report.no_write {
        let section = format!(
            "## `venue bench book`\n\nReproduce: `cargo run --release -p venue -- bench book` (add `--json` for one JSON \
             object). Seed {seed}, median of {runs} throughput runs, instruction counts from \
             `valgrind --tool=callgrind` over {cg} measured operations{no_cg}. Machine: {cpu}, {cores} cores \
             (shared; compare ratios, not absolute numbers).\n\n{tables}\n{target_text}\n",
            seed = options.seed,
            runs = options.runs,
            cg = options.callgrind_ops,
            no_cg = if callgrind { "" } else { " (skipped in this run)" },
            cpu = cpu_model(),
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        if let Err(error) = report::write_benchmarks_md(&args.report.benchmarks_md, &section) {
            eprintln!("venue: cannot write {}: {error}", args.report.benchmarks_md.display());
            return ExitCode::FAILURE;
        }
        if !args.report.json {
            eprintln!("venue bench book: results written to {}", args.report.benchmarks_md.display());
        }
    }
    ExitCode::SUCCESS
}

fn bench_grpc(args: FixArgs) -> ExitCode {
    let options = fix_options(&args, &[1_000, 5_000, 20_000]);
    let json = args.report.json;
    let results = match grpc_bench::run(&options, &mut |step| {
        if !json {
            eprintln!("venue bench grpc: {step} ...");
        }
    }) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("venue bench grpc: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table = grpc_bench::to_markdown(&results, &options);
    if json {
        println!("{}", fix_bench::to_json(&results, &options));
    } else {
        println!("{table}");
    }
    if !args.report.quick && !args.report.no_write {
        let section = format!(
            "## `venue bench grpc`\n\nReproduce: `cargo run --release -p venue -- bench grpc` (add `--json` for one \
             JSON object). The venue runs in process on its demo configuration (journal, audit log); each client \
             is one account sending IOC orders that are accepted and cancelled, open loop at the offered rate, \
             over FIX, then unary gRPC calls (each signed), then one bidirectional gRPC order session per \
             client. Machine: {cpu}, {cores} cores (shared; compare ratios, not absolute numbers).\n\n{table}\n",
            cpu = cpu_model(),
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        if let Err(e) = report::write_section(&args.report.benchmarks_md, "grpc", &section) {
            eprintln!("venue: cannot update {}: {e}", args.report.benchmarks_md.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn bench_ws(args: WsArgs) -> ExitCode {
    let quick = args.report.quick;
    let options = ws_bench::WsBenchOptions {
        subscribers: match (&args.subscribers, quick) {
            (given, _) if !given.is_empty() => given.iter().map(|&n| n.max(1)).collect(),
            (_, true) => vec![20],
            (_, false) => vec![100, 1_000],
        },
        rates: match (&args.rate, quick) {
            (given, _) if !given.is_empty() => given.iter().map(|&r| r.max(1)).collect(),
            (_, true) => vec![20_000],
            (_, false) => vec![100_000, 1_000_000],
        },
        seconds: args.seconds.unwrap_or(if quick { 1.0 } else { 5.0 }),
        durability: args.durability.clone(),
        client_threads: args.client_threads.max(1),
    };
    let json = args.report.json;
    let results = match ws_bench::run(&options, &mut |step| {
        if !json {
            eprintln!("venue bench ws: {step} ...");
        }
    }) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("venue bench ws: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table = ws_bench::to_markdown(&results, &options);
    let mut target_text = String::new();
    let targets = ws_bench::targets(&results);
    if !targets.is_empty() {
        target_text.push_str("Targets (from the WebSocket issue):\n\n");
        for (line, met) in &targets {
            target_text.push_str(&format!("- {} {line}\n", if *met { "✅" } else { "❌" }));
        }
    }
    if json {
        println!("{}", ws_bench::to_json(&results, &options));
    } else {
        println!("{table}\n{target_text}");
    }
    if !quick && !args.report.no_write {
        let section = format!(
            "## `venue bench ws`\n\nReproduce: `cargo run --release -p venue -- bench ws` (add `--json` for one \
             JSON object). The venue runs in process on its demo configuration; a FIX client trades one lot per \
             cycle (a resting sell, then a buy that takes it), open loop, so that every subscriber gets three \
             messages per cycle (depth diff, trade, depth diff). The baseline (relay) is one thread subscribed \
             once to the venue that copies the bytes it reads to N plain TCP connections, timed from the same \
             events. Machine: {cpu}, {cores} cores (shared; compare ratios, not absolute numbers).\n\n{table}\n\
             {target_text}\n",
            cpu = cpu_model(),
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        if let Err(e) = report::write_section(&args.report.benchmarks_md, "ws", &section) {
            eprintln!("venue: cannot update {}: {e}", args.report.benchmarks_md.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn bench_marketdata(args: MarketDataArgs) -> ExitCode {
    let quick = args.report.quick;
    let mut options =
        if quick { md_bench::MdBenchOptions::quick() } else { md_bench::MdBenchOptions::full() };
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    if let Some(ops) = args.ops {
        options.ops = ops.max(1);
    }
    if let Some(reps) = args.reps {
        options.reps = reps.max(1);
    }
    if !args.symbols.is_empty() {
        options.symbols = args.symbols.clone();
    }
    let json = args.report.json;
    let results = md_bench::run(&options, &mut |step| {
        if !json {
            eprintln!("venue bench marketdata: {step} ...");
        }
    });
    let tables = md_bench::to_markdown(&results);
    if json {
        println!("{}", md_bench::to_json(&results, &options));
    } else {
        println!("{tables}");
    }
    if !quick && !args.report.no_write {
        let section = format!(
            "## `venue bench marketdata`\n\nReproduce: `cargo run --release -p venue -- bench marketdata` (add \
             `--json` for one JSON object). Run on {date}. The exchange-core stream of `venue bench engine` \
             (seed {seed}, {accounts} accounts, {warmup} warm-up commands per symbol, then {ops} measured \
             commands), its engine outputs captured once and replayed through the market-data component \
             (`venue-marketdata`), median of {reps} repetitions of every pass, beside the engine applying the \
             same commands in the same run; synthetic sequencer time, {step} ns per command. Machine: {cpu}, \
             {cores} cores (shared; compare ratios, not absolute numbers).\n\n{tables}\n",
            date = today_utc(),
            seed = options.seed,
            accounts = options.accounts,
            warmup = venue_bench::engine::WARMUP_PER_SYMBOL,
            ops = options.ops,
            reps = options.reps,
            step = md_bench::TIME_STEP_NS,
            cpu = cpu_model(),
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        if let Err(e) = report::write_section(&args.report.benchmarks_md, "marketdata", &section) {
            eprintln!("venue: cannot update {}: {e}", args.report.benchmarks_md.display());
            return ExitCode::FAILURE;
        }
        if !json {
            eprintln!("venue bench marketdata: results written to {}", args.report.benchmarks_md.display());
        }
    }
    ExitCode::SUCCESS
}

/// Today's date (UTC) as YYYY-MM-DD, for a results section's date line.
fn today_utc() -> String {
    let secs = venue_server::clock::now_secs();
    let (year, month, day) = venue_domain::calendar::civil_from_days((secs / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The benchmark options of a gateway benchmark's flags.
fn fix_options(args: &FixArgs, default_rates: &[u64]) -> fix_bench::FixBenchOptions {
    fix_bench::FixBenchOptions {
        rates: if !args.rate.is_empty() {
            args.rate.clone()
        } else if args.report.quick {
            vec![default_rates[0]]
        } else {
            default_rates.to_vec()
        },
        sessions: args.sessions.max(1),
        seconds: args.seconds.unwrap_or(if args.report.quick { 1.0 } else { 5.0 }),
        durability: args.durability.clone(),
    }
}

fn bench_fix(args: FixArgs) -> ExitCode {
    let options = fix_options(&args, &[10_000, 50_000, 100_000]);
    let json = args.report.json;
    let results = match fix_bench::run(&options, &mut |step| {
        if !json {
            eprintln!("venue bench fix: {step} ...");
        }
    }) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("venue bench fix: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table = fix_bench::to_markdown(&results, &options);
    let target = match fix_bench::target(&results) {
        Some((ratio, met)) => format!(
            "Target (from the FIX issue): {} venue p99 ≤ 2× echo p99 at 50K msg/s: {ratio:.2}×\n",
            if met { "✅" } else { "❌" }
        ),
        None => String::new(),
    };
    if json {
        println!("{}", fix_bench::to_json(&results, &options));
    } else {
        println!("{table}\n{target}");
    }
    if !args.report.quick && !args.report.no_write {
        let section = format!(
            "## `venue bench fix`\n\nReproduce: `cargo run --release -p venue -- bench fix` (add `--json` for one \
             JSON object; `--durability never` to leave fsync out). The venue runs in process on its demo \
             configuration (journal, audit log); each client is a FIX session sending IOC NewOrderSingles that \
             are accepted and cancelled, open loop at the offered rate. Machine: {cpu}, {cores} cores (shared; \
             compare ratios, not absolute numbers).\n\n{table}\n{target}\n",
            cpu = cpu_model(),
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        if let Err(e) = report::write_section(&args.report.benchmarks_md, "fix", &section) {
            eprintln!("venue: cannot update {}: {e}", args.report.benchmarks_md.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn bench_engine(args: EngineArgs) -> ExitCode {
    use venue_bench::engine::{EngineOptions, run};
    let mut options = if args.report.quick { EngineOptions::quick() } else { EngineOptions::full() };
    if let Some(ops) = args.ops {
        options.ops = ops;
        options.latency_ops = ops;
    }
    if let Some(replay) = args.replay_commands {
        options.replay_commands = replay;
    }
    if let Some(rate) = args.rate {
        options.rate = rate;
    }
    if !args.symbols.is_empty() {
        options.symbols = args.symbols.clone();
    }
    if args.no_pin {
        options.engine_core = None;
    } else if let Some(core) = args.engine_core {
        if let Some(reason) = venue_pipeline::affinity::unusable(core) {
            eprintln!("venue bench engine: --engine-core {core}: CPU {core} {reason}");
            return ExitCode::from(2);
        }
        options.engine_core = Some(core);
    }
    let json = args.report.json;
    let report = run(&options, &mut |step| {
        if !json {
            eprintln!("venue bench engine: {step} ...");
        }
    });
    let tables = report.to_markdown();
    let mut target_text = String::from("Targets (from the engine issue):\n\n");
    for (line, met) in report.targets() {
        target_text.push_str(&format!("- {} {line}\n", if met { "✅" } else { "❌" }));
    }
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{tables}\n{target_text}");
    }
    if !args.report.quick && !args.report.no_write {
        let section = format!(
            "## `venue bench engine`\n\nReproduce: `cargo run --release -p venue -- bench engine` (add `--json` \
             for one JSON object). Seed {seed}, {ops} measured commands per throughput run, 1,000 accounts, \
             journal in the system temp directory. Machine: {cpu}, {cores} cores (shared; compare ratios, not \
             absolute numbers).\n\n{tables}\n{target_text}\n",
            seed = options.seed,
            ops = options.ops,
            cpu = cpu_model(),
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        if let Err(error) = report::write_section(&args.report.benchmarks_md, "engine", &section) {
            eprintln!("venue: cannot write {}: {error}", args.report.benchmarks_md.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
