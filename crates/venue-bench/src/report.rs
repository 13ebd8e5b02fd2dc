//! Turning results into the three forms people read: a table on the
//! terminal, one JSON object (`--json`), and the section of BENCHMARKS.md.

use crate::measure::{Options, WorkloadResult};
use serde_json::{Value, json};

/// Targets from the matching-engine issue, checked in every report.
pub const TARGET_OPS_PER_SEC: f64 = 10_000_000.0;
/// Our throughput over the fastest peer, at least.
pub const TARGET_PEER_RATIO: f64 = 5.0;
/// Average instructions per operation, at most.
pub const TARGET_INSTRUCTIONS: f64 = 300.0;

fn mix_json(mix: [u64; 5]) -> Value {
    json!({"gtc": mix[0], "ioc": mix[1], "market": mix[2], "cancel": mix[3], "move": mix[4]})
}

/// One JSON object with every figure.
pub fn to_json(options: &Options, results: &[WorkloadResult]) -> Value {
    let workloads: Vec<Value> = results
        .iter()
        .map(|r| {
            let books: Vec<Value> = r
                .books
                .iter()
                .map(|b| {
                    json!({
                        "book": b.name,
                        "ops_per_sec": b.ops_per_sec.round(),
                        "runs_ops_per_sec": b.runs_ops_per_sec.iter().map(|v| v.round()).collect::<Vec<_>>(),
                        "latency_ns": {
                            "p50": b.latency_ns.p50, "p99": b.latency_ns.p99, "p99_9": b.latency_ns.p999,
                            "p99_99": b.latency_ns.p9999, "max": b.latency_ns.max,
                        },
                        "allocs_per_op": b.allocs_per_op,
                        "instructions_per_op": b.instructions_per_op.map(f64::round),
                        "traded_qty_checksum": b.checksum,
                    })
                })
                .collect();
            let ratio = r.ratio_to_fastest_peer();
            json!({
                "workload": r.workload.name(),
                "measured_ops": r.ops,
                "warmup_ops": r.warmup,
                "mix": mix_json(r.mix),
                "resting_orders_after": r.resting_after,
                "price_levels_after": r.levels_after,
                "timer_overhead_ns": r.timer_overhead_ns,
                "ratio_to_fastest_peer": ratio.map(|(x, _)| (x * 100.0).round() / 100.0),
                "ratio_to_naive_btree": r.ratio_to_naive().map(|x| (x * 100.0).round() / 100.0),
                "fastest_peer": ratio.map(|(_, name)| name),
                "books": books,
            })
        })
        .collect();
    json!({
        "bench": "book",
        "seed": options.seed,
        "runs": options.runs,
        "targets": {
            "exchange_core_ops_per_sec": TARGET_OPS_PER_SEC,
            "ratio_to_fastest_peer": TARGET_PEER_RATIO,
            "allocs_per_op": 0,
            "instructions_per_op": TARGET_INSTRUCTIONS,
        },
        "workloads": workloads,
    })
}

fn fmt_rate(ops_per_sec: f64) -> String {
    if ops_per_sec >= 1e6 {
        format!("{:.2} M", ops_per_sec / 1e6)
    } else {
        format!("{:.0} k", ops_per_sec / 1e3)
    }
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

/// A Markdown table per workload; also what the terminal shows.
pub fn to_markdown(results: &[WorkloadResult]) -> String {
    let mut text = String::new();
    for r in results {
        let mix = r.mix;
        text.push_str(&format!(
            "### {}\n\n{} measured operations after {} warm-up (GTC {}, IOC {}, market {}, cancel {}, move {}); \
             {} resting orders on {} price levels at the end; timer overhead {} ns per timed operation \
             (included in the latency columns).\n\n",
            r.workload.name(),
            r.ops,
            r.warmup,
            mix[0],
            mix[1],
            mix[2],
            mix[3],
            mix[4],
            r.resting_after,
            r.levels_after,
            r.timer_overhead_ns,
        ));
        text.push_str("| book | ops/s | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max ns | allocs/op | instr/op | traded qty |\n");
        text.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for b in &r.books {
            let l = b.latency_ns;
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                b.name,
                fmt_rate(b.ops_per_sec),
                l.p50,
                l.p99,
                l.p999,
                l.p9999,
                l.max,
                fmt_opt(b.allocs_per_op, 3),
                fmt_opt(b.instructions_per_op, 0),
                b.checksum
            ));
        }
        if let Some((ratio, peer)) = r.ratio_to_fastest_peer() {
            text.push_str(&format!("\n`venue` / fastest published peer crate ({peer}): **{ratio:.2}×**"));
        }
        if let Some(ratio) = r.ratio_to_naive() {
            text.push_str(&format!("; `venue` / naive BTreeMap floor: **{ratio:.2}×**"));
        }
        text.push_str("\n\n");
    }
    text
}

/// Whether each target holds, one line each, for the report's end.
pub fn targets(results: &[WorkloadResult]) -> Vec<(String, bool)> {
    let mut lines = Vec::new();
    if let Some(r) = results.iter().find(|r| r.workload == crate::workload::Workload::ExchangeCore) {
        let ours = &r.books[0];
        lines.push((
            format!("exchange-core ≥ 10M ops/s in one thread: {} ops/s", fmt_rate(ours.ops_per_sec)),
            ours.ops_per_sec >= TARGET_OPS_PER_SEC,
        ));
    }
    for r in results {
        let ours = &r.books[0];
        if let Some((ratio, peer)) = r.ratio_to_fastest_peer() {
            lines.push((
                format!("{}: ≥ 5× fastest peer ({peer}): {ratio:.2}×", r.workload.name()),
                ratio >= TARGET_PEER_RATIO,
            ));
        }
        if let Some(allocs) = ours.allocs_per_op {
            lines.push((format!("{}: 0 allocations/op: {allocs:.4}", r.workload.name()), allocs == 0.0));
        }
        if let Some(instructions) = ours.instructions_per_op {
            lines.push((
                format!("{}: ≤ 300 instructions/op: {instructions:.0}", r.workload.name()),
                instructions <= TARGET_INSTRUCTIONS,
            ));
        }
    }
    lines
}

/// Replaces the `venue bench book` section of BENCHMARKS.md (between its
/// markers), creating the file or the section if needed.
pub fn write_benchmarks_md(path: &std::path::Path, section: &str) -> std::io::Result<()> {
    write_section(path, "book", section)
}

/// Replaces the section between `<!-- bench:{name}:start -->` and its end
/// marker in BENCHMARKS.md, creating the file or the section if needed: each
/// `venue bench` subcommand owns one section and leaves the rest alone.
pub fn write_section(path: &std::path::Path, name: &str, section: &str) -> std::io::Result<()> {
    let (start_marker, end_marker) =
        (format!("<!-- bench:{name}:start -->"), format!("<!-- bench:{name}:end -->"));
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let block = format!("{start_marker}\n{section}{end_marker}");
    let updated = match (existing.find(&start_marker), existing.find(&end_marker)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}{}", &existing[..start], block, &existing[end + end_marker.len()..])
        }
        _ => format!("{}\n\n{}\n", existing.trim_end(), block),
    };
    std::fs::write(path, updated)
}
