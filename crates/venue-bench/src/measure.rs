//! Measuring runs: throughput, per-operation latency, allocations and
//! instruction counts, for every book on the identical stream.
//!
//! Throughput and latency are separate passes: timing each operation costs
//! two clock reads (tens of nanoseconds, reported as `timer_overhead_ns`),
//! which would distort throughput. Books are interleaved within each run so
//! that machine noise hits them alike, and the median run is reported.

use crate::alloc;
use crate::peers;
use crate::venue_book::VenueBook;
use crate::workload::{BenchBook, Op, Stream, Workload, generate};
use hdrhistogram::Histogram;
use std::time::Instant;

/// How much to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seed of every generated stream.
    pub seed: u64,
    /// Unmeasured operations that fill the book first.
    pub warmup: usize,
    /// Measured operations per run.
    pub ops: usize,
    /// Throughput runs per book (median reported).
    pub runs: usize,
    /// Measured operations under callgrind (0: skip instruction counts).
    pub callgrind_ops: usize,
    /// Workloads to run.
    pub workloads: Vec<Workload>,
}

impl Options {
    /// The configuration whose results BENCHMARKS.md records.
    pub fn full() -> Options {
        Options {
            seed: 42,
            warmup: 100_000,
            ops: 1_000_000,
            runs: 5,
            callgrind_ops: 200_000,
            workloads: Workload::ALL.to_vec(),
        }
    }

    /// A seconds-long smoke run (CI checks that the harness works).
    pub fn quick() -> Options {
        Options { warmup: 5_000, ops: 20_000, runs: 1, callgrind_ops: 0, ..Options::full() }
    }
}

/// Latency percentiles of one operation, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest observed.
    pub max: u64,
}

impl Percentiles {
    /// Reads the percentiles off a histogram of nanoseconds.
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        Percentiles {
            p50: histogram.value_at_quantile(0.50),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            p9999: histogram.value_at_quantile(0.9999),
            max: histogram.max(),
        }
    }
}

/// Everything measured for one book on one workload.
#[derive(Clone, Debug)]
pub struct BookResult {
    /// Book name.
    pub name: String,
    /// Median throughput over the runs, operations per second.
    pub ops_per_sec: f64,
    /// Every run's throughput.
    pub runs_ops_per_sec: Vec<f64>,
    /// Per-operation latency (timer overhead included).
    pub latency_ns: Percentiles,
    /// Allocations per measured operation; `None` if not counting.
    pub allocs_per_op: Option<f64>,
    /// Instructions per measured operation under callgrind.
    pub instructions_per_op: Option<f64>,
    /// Total traded quantity: equal for books that agree on matching.
    pub checksum: u64,
}

/// One workload's results.
#[derive(Clone, Debug)]
pub struct WorkloadResult {
    /// Which workload.
    pub workload: Workload,
    /// Measured operations per run.
    pub ops: usize,
    /// Unmeasured warm-up operations.
    pub warmup: usize,
    /// Measured operation mix `[gtc, ioc, market, cancel, move]`.
    pub mix: [u64; 5],
    /// Live orders in `venue`'s book after the stream.
    pub resting_after: usize,
    /// Price levels on both sides after the stream.
    pub levels_after: usize,
    /// Median cost of the two clock reads around each timed operation.
    pub timer_overhead_ns: u64,
    /// `venue` first, then the peers.
    pub books: Vec<BookResult>,
}

impl WorkloadResult {
    /// `venue`'s throughput over the fastest published peer crate's.
    pub fn ratio_to_fastest_peer(&self) -> Option<(f64, &str)> {
        let ours = self.books.first()?;
        let fastest = self.books[1..]
            .iter()
            .filter(|b| b.name != crate::peers::NAIVE_NAME)
            .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec))?;
        Some((ours.ops_per_sec / fastest.ops_per_sec, &fastest.name))
    }

    /// `venue`'s throughput over the naive BTreeMap floor's.
    pub fn ratio_to_naive(&self) -> Option<f64> {
        let ours = self.books.first()?;
        let naive = self.books.iter().find(|b| b.name == crate::peers::NAIVE_NAME)?;
        Some(ours.ops_per_sec / naive.ops_per_sec)
    }
}

/// The books under test for `stream`, ours first, each given the same
/// capacity.
pub fn books(stream: &Stream) -> Vec<Box<dyn BenchBook>> {
    let capacity = capacity_for(stream);
    let mut all: Vec<Box<dyn BenchBook>> =
        vec![Box::new(VenueBook::new(capacity as u32, stream.peak_live as u32))];
    all.extend(peers::all_peers_with_capacity(capacity));
    all
}

/// A fresh book by report name (for the callgrind child process).
pub fn book_named(name: &str, stream: &Stream) -> Option<Box<dyn BenchBook>> {
    books(stream).into_iter().find(|b| b.name() == name)
}

/// The warm-up loop: identical to [`callgrind_segment`] but a different
/// function, so that callgrind's toggle does not count it.
#[inline(never)]
pub fn warm_segment(book: &mut dyn BenchBook, ops: &[Op]) {
    for op in ops {
        book.apply(std::hint::black_box(op));
    }
}

/// The measured loop. Not inlined, so that callgrind can count exactly its
/// instructions (`--toggle-collect=*callgrind_segment*`).
/// It returns the number of operations applied only so that the linker
/// cannot fold it into the identical [`warm_segment`].
#[inline(never)]
pub fn callgrind_segment(book: &mut dyn BenchBook, ops: &[Op]) -> usize {
    let mut applied = 0;
    for op in ops {
        book.apply(std::hint::black_box(op));
        applied += 1;
    }
    std::hint::black_box(applied)
}

fn capacity_for(stream: &Stream) -> usize {
    stream.ops.len().max(1 << 16)
}

fn timer_overhead_ns() -> u64 {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).expect("valid bounds");
    for _ in 0..100_000 {
        let start = Instant::now();
        let elapsed = start.elapsed().as_nanos() as u64;
        histogram.saturating_record(elapsed.max(1));
    }
    histogram.value_at_quantile(0.5)
}

/// Runs one workload through every book.
pub fn run_workload(workload: Workload, options: &Options, exe: Option<&std::path::Path>) -> WorkloadResult {
    let stream = generate(workload, options.seed, options.warmup, options.ops);
    let (warm, measured) = stream.ops.split_at(stream.warmup);
    let names: Vec<&'static str> = books(&stream).iter().map(|b| b.name()).collect();
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut allocs: Vec<Option<f64>> = vec![None; names.len()];
    let mut checksums = vec![0u64; names.len()];
    let counting = alloc::counting();

    for _ in 0..options.runs.max(1) {
        for (index, mut book) in books(&stream).into_iter().enumerate() {
            warm_segment(book.as_mut(), warm);
            let allocs_before = alloc::allocations();
            let start = Instant::now();
            callgrind_segment(book.as_mut(), measured);
            let seconds = start.elapsed().as_secs_f64();
            let allocated = alloc::allocations() - allocs_before;
            runs[index].push(measured.len() as f64 / seconds);
            allocs[index] = counting.then(|| allocated as f64 / measured.len() as f64);
            checksums[index] = book.checksum();
        }
    }

    let mut latencies = Vec::new();
    for mut book in books(&stream) {
        warm_segment(book.as_mut(), warm);
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
        for op in measured {
            let start = Instant::now();
            book.apply(std::hint::black_box(op));
            histogram.saturating_record((start.elapsed().as_nanos() as u64).max(1));
        }
        latencies.push(Percentiles::of(&histogram));
    }

    let mut ours = VenueBook::new(capacity_for(&stream) as u32, stream.peak_live as u32);
    for op in &stream.ops {
        ours.apply(op);
    }
    let levels_after = ours.book().depth(venue_matching::Side::Buy, usize::MAX).count()
        + ours.book().depth(venue_matching::Side::Sell, usize::MAX).count();

    let books = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let mut sorted = runs[index].clone();
            sorted.sort_by(f64::total_cmp);
            let instructions_per_op = exe.filter(|_| options.callgrind_ops > 0).and_then(|exe| {
                callgrind_instructions(
                    exe,
                    workload,
                    name,
                    options.seed,
                    options.warmup,
                    options.callgrind_ops,
                )
            });
            BookResult {
                name: (*name).to_owned(),
                ops_per_sec: sorted[sorted.len() / 2],
                runs_ops_per_sec: runs[index].clone(),
                latency_ns: latencies[index],
                allocs_per_op: allocs[index],
                instructions_per_op,
                checksum: checksums[index],
            }
        })
        .collect();

    WorkloadResult {
        workload,
        ops: measured.len(),
        warmup: stream.warmup,
        mix: stream.mix,
        resting_after: ours.book().len(),
        levels_after,
        timer_overhead_ns: timer_overhead_ns(),
        books,
    }
}

/// The child side of an instruction count: generate the stream, warm the
/// book up, then run the measured part inside [`callgrind_segment`].
pub fn callgrind_kernel(
    workload: Workload,
    book: &str,
    seed: u64,
    warmup: usize,
    ops: usize,
) -> Result<u64, String> {
    let stream = generate(workload, seed, warmup, ops);
    let mut book = book_named(book, &stream).ok_or_else(|| format!("unknown book {book:?}"))?;
    let (warm, measured) = stream.ops.split_at(stream.warmup);
    warm_segment(book.as_mut(), warm);
    callgrind_segment(book.as_mut(), measured);
    Ok(book.checksum())
}

/// Instructions per operation of `book` on `workload`, counted by
/// `valgrind --tool=callgrind` in a child process running only the measured
/// segment. `None` if valgrind is not installed or the run failed.
pub fn callgrind_instructions(
    exe: &std::path::Path,
    workload: Workload,
    book: &str,
    seed: u64,
    warmup: usize,
    ops: usize,
) -> Option<f64> {
    let out = std::env::temp_dir().join(format!("venue-callgrind-{}-{}.out", std::process::id(), book.len()));
    let status = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*callgrind_segment*")
        .arg(exe)
        .args(["bench", "book-kernel", "--workload", workload.name(), "--book", book])
        .args(["--seed", &seed.to_string(), "--warmup", &warmup.to_string(), "--ops", &ops.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let text = std::fs::read_to_string(&out).ok();
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        return None;
    }
    let total: u64 = text?
        .lines()
        .find_map(|line| line.strip_prefix("summary:").or_else(|| line.strip_prefix("totals:")))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(total as f64 / ops as f64)
}
