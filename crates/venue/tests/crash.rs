//! The crash test: the engine runs as its own process (`venue crash-node`)
//! under load, is killed with SIGKILL at random moments, and is restarted on
//! the same data directory. After every restart, every command it had
//! acknowledged must still be there, and recovery (which checks the ledger
//! invariant) must succeed. At the end, snapshot + tail recovery must give
//! the same state as a full journal replay (`--verify`).
//!
//! `VENUE_CRASH_CYCLES` sets the number of kill cycles (default 20);
//! `VENUE_CRASH_SEED` replays a run (the seed is printed; run with
//! `--nocapture` to see it on success).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a node may take to recover and print its first line.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a bounded run (`--max-commands`, `--verify`) may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

fn seed() -> u64 {
    match std::env::var("VENUE_CRASH_SEED") {
        Ok(text) => text.trim().parse().expect("VENUE_CRASH_SEED must be a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
    }
}

fn cycles() -> u64 {
    match std::env::var("VENUE_CRASH_CYCLES") {
        Ok(text) => text.trim().parse().expect("VENUE_CRASH_CYCLES must be a number"),
        Err(_) => 20,
    }
}

/// A fresh data directory, removed by [`DataDir::remove`] (only on success,
/// so a failing run leaves its evidence behind).
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("venue-crash-{name}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the data directory");
        DataDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the node printed when it started.
#[derive(Clone, Copy, Debug)]
struct Recovered {
    last_seq: u64,
    truncated: u64,
}

fn field(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace().find_map(|word| word.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

fn parse_recovered(line: &str) -> Option<Recovered> {
    let rest = line.strip_prefix("recovered ")?;
    Some(Recovered { last_seq: field(rest, "last_seq")?, truncated: field(rest, "truncated")? })
}

/// One `venue crash-node` process with its output collected on threads.
struct Node {
    child: Child,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    /// Every complete stdout line received so far.
    seen: Vec<String>,
}

impl Node {
    fn spawn(args: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_venue"))
            .arg("crash-node")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn venue crash-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = channel();
        let stdout = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    // A line cut short by the kill is not a complete
                    // statement of the node: ignore it.
                    Ok(n) if n > 0 && line.ends_with('\n') => {
                        if tx.send(line.trim_end().to_owned()).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Node { child, lines, stdout: Some(stdout), stderr: Some(stderr), seen: Vec::new() }
    }

    /// Waits for the `recovered ...` line. `Err` carries a description of
    /// what happened instead.
    fn recovered(&mut self) -> Result<Recovered, String> {
        let deadline = Instant::now() + RECOVERY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with("recovered ") {
                        return parse_recovered(&line).ok_or_else(|| format!("unparsable line {line:?}"));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no `recovered` line within {RECOVERY_TIMEOUT:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the node closed stdout before printing `recovered`".to_owned());
                }
            }
        }
    }

    /// SIGKILL (on Unix), then reap; returns the exit status and the stderr.
    fn kill(mut self) -> (ExitStatus, Vec<String>, String) {
        let _ = self.child.kill();
        self.finish()
    }

    /// Waits at most `timeout` for the node to exit by itself; kills it
    /// after that. The flag says whether it exited in time.
    fn wait(mut self, timeout: Duration) -> (bool, ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + timeout;
        let mut in_time = true;
        while self.child.try_wait().expect("try_wait").is_none() {
            if Instant::now() >= deadline {
                in_time = false;
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let (status, lines, stderr) = self.finish();
        (in_time, status, lines, stderr)
    }

    fn finish(&mut self) -> (ExitStatus, Vec<String>, String) {
        let status = self.child.wait().expect("reap the node");
        if let Some(handle) = self.stdout.take() {
            handle.join().expect("stdout reader");
        }
        self.seen.extend(self.lines.try_iter());
        let stderr = self.stderr.take().map(|h| h.join().expect("stderr reader")).unwrap_or_default();
        (status, std::mem::take(&mut self.seen), stderr)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Never leave a node running behind a failed assertion.
        if self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The highest `ack N` among `lines`, and whether the acks never went down.
fn max_ack(lines: &[String]) -> (Option<u64>, bool) {
    let acks: Vec<u64> =
        lines.iter().filter_map(|l| l.strip_prefix("ack ")).map(|n| n.parse().expect("ack number")).collect();
    (acks.iter().copied().max(), acks.windows(2).all(|w| w[0] <= w[1]))
}

fn run_verify(dir: &Path, context: &str) -> String {
    let node = Node::spawn(&["--data", dir.to_str().expect("utf-8 path"), "--verify"]);
    let (in_time, status, lines, stderr) = node.wait(RUN_TIMEOUT);
    assert!(
        in_time && status.success(),
        "{context}: `venue crash-node --verify` failed ({status}, in time: {in_time}): snapshot+tail \
         recovery and full journal replay disagree or recovery failed\nstdout:\n{}\nstderr:\n{stderr}\ndata: {}",
        lines.join("\n"),
        dir.display()
    );
    lines.join("\n")
}

#[test]
fn kill_restart_keeps_every_acknowledged_command() {
    let seed = seed();
    let cycles = cycles();
    eprintln!("crash test: seed {seed} (VENUE_CRASH_SEED), {cycles} cycles (VENUE_CRASH_CYCLES)");
    let mut rng = Rng(seed);
    let data = DataDir::new("kill");
    let dir = data.path().to_str().expect("utf-8 path").to_owned();
    let started = Instant::now();
    let mut acked: u64 = 0;
    let mut last_recovered: u64 = 0;
    let mut cycles_with_acks = 0;
    for cycle in 0..cycles {
        let node_seed = rng.next_u64().to_string();
        let mut node = Node::spawn(&["--data", &dir, "--seed", &node_seed]);
        let context = format!("seed {seed}, cycle {cycle}/{cycles}, data {dir}");
        let recovered = match node.recovered() {
            Ok(recovered) => recovered,
            Err(why) => {
                let (status, lines, stderr) = node.kill();
                panic!(
                    "{context}: recovery failed: {why} ({status})\nstdout:\n{}\nstderr:\n{stderr}",
                    lines.join("\n")
                );
            }
        };
        if recovered.last_seq < acked || recovered.last_seq < last_recovered {
            let (_, _, stderr) = node.kill();
            panic!(
                "{context}: acknowledged commands lost: recovered last_seq={} but command {acked} was \
                 acknowledged and the previous recovery reached {last_recovered}\nstderr:\n{stderr}",
                recovered.last_seq
            );
        }
        last_recovered = recovered.last_seq;
        std::thread::sleep(Duration::from_millis(rng.range(30, 300)));
        if let Ok(Some(status)) = node.child.try_wait() {
            let (_, lines, stderr) = node.finish();
            panic!(
                "{context}: the node exited by itself ({status}) before the kill\nstdout:\n{}\nstderr:\n{stderr}",
                lines.join("\n")
            );
        }
        let (_, lines, stderr) = node.kill();
        let (max, monotonic) = max_ack(&lines);
        assert!(
            monotonic,
            "{context}: acks went backwards\nstdout:\n{}\nstderr:\n{stderr}",
            lines.join("\n")
        );
        if let Some(max) = max {
            assert!(
                max >= recovered.last_seq,
                "{context}: ack {max} is below the recovered sequence {}",
                recovered.last_seq
            );
            if max > acked {
                cycles_with_acks += 1;
            }
            acked = acked.max(max);
        }
    }
    // The last kill's acknowledgements must have survived too.
    let verify = run_verify(data.path(), &format!("seed {seed}, after {cycles} cycles"));
    let verified_seq = verify.lines().find_map(|l| field(l, "last_seq"));
    assert!(
        verified_seq.is_some_and(|s| s >= acked),
        "seed {seed}: after the last kill, recovery reached {verified_seq:?} but command {acked} was \
         acknowledged\n{verify}"
    );
    if cycles > 0 {
        assert!(
            cycles_with_acks > 0,
            "seed {seed}: no cycle acknowledged anything: the test checked nothing"
        );
    }

    // A clean, bounded run on the survivor.
    let node =
        Node::spawn(&["--data", &dir, "--seed", &rng.next_u64().to_string(), "--max-commands", "2000"]);
    let (in_time, status, lines, stderr) = node.wait(RUN_TIMEOUT);
    let stdout = lines.join("\n");
    assert!(
        in_time && status.success(),
        "seed {seed}: the bounded run failed ({status}, in time: {in_time})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let recovered = lines.iter().find_map(|l| parse_recovered(l));
    let stopped = lines.iter().find(|l| l.starts_with("stopped "));
    match (recovered, stopped) {
        (Some(recovered), Some(stopped)) => {
            assert!(
                recovered.last_seq >= acked,
                "seed {seed}: final run recovered {} < acknowledged {acked}",
                recovered.last_seq
            );
            assert!(stopped.contains("ledger=Ok(())"), "seed {seed}: ledger broken at stop: {stopped}");
            let stop_seq = field(stopped, "last_seq").expect("stopped last_seq");
            assert!(
                stop_seq >= recovered.last_seq + 2000,
                "seed {seed}: stopped at {stop_seq}, fewer than 2000 commands after {}",
                recovered.last_seq
            );
        }
        _ => panic!("seed {seed}: bounded run printed no `recovered` or `stopped` line\n{stdout}\n{stderr}"),
    }
    run_verify(data.path(), &format!("seed {seed}, after the bounded run"));
    eprintln!(
        "crash test: {cycles} cycles, {cycles_with_acks} with new acks, highest ack {acked}, {:?}",
        started.elapsed()
    );
    data.remove();
}

/// The records of one journal segment file, as far as their lengths say
/// (no CRC check): `(offset, end, seq)` each, up to a record header of
/// zeros (where the records end and the zeros the writer allocated ahead
/// begin); `None` without a whole header.
fn segment_records(bytes: &[u8]) -> Option<Vec<(usize, usize, u64)>> {
    const HEADER: usize = 32;
    const RECORD: usize = 28;
    if bytes.len() < HEADER {
        return None;
    }
    let mut records = Vec::new();
    let mut at = HEADER;
    while at + RECORD <= bytes.len() && bytes[at..at + RECORD].iter().any(|&b| b != 0) {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + RECORD + len;
        if end > bytes.len() {
            break;
        }
        let seq = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"));
        records.push((at, end, seq));
        at = end;
    }
    Some(records)
}

fn newest(dir: &Path, prefix: &str, suffix: &str) -> Option<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            (name.starts_with(prefix) && name.ends_with(suffix)).then(|| (name, entry.path()))
        })
        .collect();
    found.sort();
    found.pop()
}

/// What damaging the tail should make the next recovery report.
#[derive(Debug)]
struct Expected {
    what: String,
    last_seq: u64,
    truncated: u64,
}

/// Damages the end of the newest journal segment's records as a torn
/// write would: loses 1..=64 bytes of the last ones (cut off the file, or
/// back to zeros when the writer had allocated zeros ahead of them) or
/// flips one of their last 32 bytes. Returns `Err` (and changes nothing)
/// when the damage would leave the segment without a record or reach a
/// record a snapshot already covers (a crash cannot lose those: a snapshot
/// is only written once its commands are durable).
fn damage_tail(data: &Path, rng: &mut Rng, chop: bool) -> Result<Expected, String> {
    let (name, path) = newest(&data.join("journal"), "", ".journal").ok_or("no journal segment")?;
    let snapshot_seq = newest(&data.join("snapshots"), "snapshot-", ".snap")
        .and_then(|(name, _)| name["snapshot-".len()..name.len() - ".snap".len()].parse::<u64>().ok())
        .unwrap_or(0);
    let mut bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
    let len = bytes.len();
    let no_record = || format!("{name} ({len} bytes) would keep no record");
    let records = segment_records(&bytes).ok_or_else(no_record)?;
    // Where the records end: the file's end, or the zeros allocated ahead.
    let written = records.last().map_or(32, |&(_, end, _)| end);
    let zeros_ahead = written < len;
    let expected = if chop {
        let cut = rng.range(1, 64) as usize;
        let mut new_len = written.saturating_sub(cut);
        if zeros_ahead {
            // The lost bytes read as the zeros they replaced; those that
            // were zeros already change nothing, so the damage starts at
            // the first that was not (or nowhere).
            new_len = (new_len..written).find(|&i| bytes[i] != 0).unwrap_or(written);
        }
        let kept = segment_records(&bytes[..new_len]).ok_or_else(no_record)?;
        let &(_, end, seq) = kept.last().ok_or_else(no_record)?;
        // What recovery cuts: the torn bytes, and with them the zeros after
        // (what is left of the damaged record may read as zeros too: then
        // the records end cleanly where it began).
        let truncated = if zeros_ahead {
            bytes[new_len..written].fill(0);
            if bytes[end..written].iter().all(|&b| b == 0) { 0 } else { len - end }
        } else {
            bytes.truncate(new_len);
            if bytes[end..].iter().all(|&b| b == 0) { 0 } else { new_len - end }
        };
        Expected {
            what: format!("chopped {cut} of {written} bytes of records ({len} in all) off {name}"),
            last_seq: seq,
            truncated: truncated as u64,
        }
    } else {
        let at = written.saturating_sub(rng.range(1, 32) as usize);
        if at < 32 {
            return Err(no_record());
        }
        let flip = rng.range(1, 255) as u8;
        bytes[at] ^= flip;
        // The record holding the byte fails its CRC; so does everything
        // after it. A byte past the last whole record is torn garbage.
        match records.iter().position(|&(start, end, _)| start <= at && at < end) {
            Some(index) => {
                let (start, _, _) = records[index];
                let (_, _, seq) = *index.checked_sub(1).and_then(|i| records.get(i)).ok_or_else(no_record)?;
                Expected {
                    what: format!(
                        "flipped byte {at} of {len} (record at {start}) in {name} with {flip:#04x}"
                    ),
                    last_seq: seq,
                    truncated: (len - start) as u64,
                }
            }
            None => {
                let &(_, end, seq) = records.last().ok_or_else(no_record)?;
                Expected {
                    what: format!("flipped byte {at} of {len} (torn tail) in {name} with {flip:#04x}"),
                    last_seq: seq,
                    truncated: (len - end) as u64,
                }
            }
        }
    };
    if expected.last_seq < snapshot_seq {
        return Err(format!("{expected:?} would reach into snapshot {snapshot_seq}"));
    }
    std::fs::write(&path, &bytes).map_err(|e| format!("{name}: {e}"))?;
    Ok(expected)
}

#[test]
fn torn_tail_after_kill_recovers() {
    let seed = seed();
    eprintln!("torn-tail test: seed {seed} (VENUE_CRASH_SEED)");
    let mut rng = Rng(seed ^ 0x7042_7A11);
    let data = DataDir::new("torn");
    let dir = data.path().to_str().expect("utf-8 path").to_owned();
    let wanted = 6;
    let mut injected = 0;
    let mut chopped_mid_record = 0;
    let mut expected: Option<Expected> = None;
    let mut cycle = 0;
    while injected < wanted || expected.is_some() {
        assert!(cycle < 4 * wanted + 4, "seed {seed}: could not inject damage in {cycle} cycles");
        let node_seed = rng.next_u64().to_string();
        let mut node = Node::spawn(&["--data", &dir, "--seed", &node_seed]);
        let context = format!("seed {seed}, cycle {cycle}, data {dir}");
        let recovered = match node.recovered() {
            Ok(recovered) => recovered,
            Err(why) => {
                let (status, lines, stderr) = node.kill();
                panic!(
                    "{context}: recovery after {expected:?} failed: {why} ({status})\nstdout:\n{}\n\
                     stderr:\n{stderr}",
                    lines.join("\n")
                );
            }
        };
        if let Some(expected) = expected.take() {
            if recovered.last_seq != expected.last_seq || recovered.truncated != expected.truncated {
                let (_, _, stderr) = node.kill();
                panic!("{context}: after {expected:?}, recovery reported {recovered:?}\nstderr:\n{stderr}");
            }
            if expected.what.starts_with("chopped") && expected.truncated > 0 {
                chopped_mid_record += 1;
            }
        }
        if injected == wanted {
            node.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.range(30, 150)));
        let (_, _, stderr) = node.kill();
        match damage_tail(data.path(), &mut rng, injected % 2 == 0) {
            Ok(damage) => {
                eprintln!("{context}: {}", damage.what);
                expected = Some(damage);
                injected += 1;
            }
            Err(why) => eprintln!("{context}: no damage this cycle: {why}\n{stderr}"),
        }
        cycle += 1;
    }
    run_verify(data.path(), &format!("seed {seed}, after {injected} damaged tails"));
    eprintln!("torn-tail test: {injected} injections, {chopped_mid_record} chops mid-record, {cycle} cycles");
    data.remove();
}
