//! The venue's web page (`/`) in headless Chromium (Debian's, driven by
//! Playwright's `playwright-core` from `tests/web/page_test.js`), against the
//! real `venue serve`: orders placed through the signed REST API appear on
//! the page's ladder, their trade on its tape, with candles, the depth chart
//! and the venue panel drawn; when the venue stops the page says it is
//! disconnected, and when the venue comes back on the same address the page
//! reconnects by itself and shows the recovered book. Screenshots are kept in
//! `target/web-artefacts/`.
//!
//! Needs `/usr/bin/chromium` and playwright-core in its cache directory:
//! `scripts/install-browser-test.sh` installs both (`.ci/run` runs it). The
//! test fails, never skips, when they are missing.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "run scripts/install-browser-test.sh (.ci/run does)";
/// How long the page may take for any one step.
const STEP: Duration = Duration::from_secs(30);

/// Where scripts/install-browser-test.sh put playwright-core.
fn playwright_modules() -> PathBuf {
    let cache = std::env::var_os("VENUE_PLAYWRIGHT_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/venue-playwright")
    });
    cache.join("node_modules")
}

/// `target/web-artefacts` (the binary is `target/<profile>/venue`).
fn artefact_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_BIN_EXE_venue")).ancestors().nth(2).expect("target directory");
    let dir = target.join("web-artefacts");
    std::fs::create_dir_all(&dir).expect("create target/web-artefacts");
    dir
}

/// The Node script, its stdin, and its output lines as they come.
struct Page {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Page {
    fn open(url: &str, artefacts: &Path) -> Page {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/page_test.js");
        let mut child = Command::new("node")
            .arg(script)
            .arg(url)
            .arg(artefacts)
            .env("NODE_PATH", playwright_modules())
            .env("VENUE_CHROMIUM", CHROMIUM)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("node does not run ({e}): install Node 20 or newer, then {INSTALL}"));
        let (tx, lines) = channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let stdin = child.stdin.take().expect("stdin");
        Page { child, stdin, lines, seen: Vec::new() }
    }

    /// Waits for the script to print `want`; fails with everything it said
    /// when it prints FAIL, exits, or takes longer than `STEP`.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line == want;
                    let failed = line.starts_with("FAIL");
                    self.seen.push(line);
                    if done {
                        return;
                    }
                    if failed {
                        self.fail(&format!("the page check failed before {want}"));
                    }
                }
                Err(_) => self.fail(&format!("no {want} from the page script within {STEP:?}")),
            }
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).expect("write to the page script");
    }

    fn fail(&mut self, why: &str) -> ! {
        // Let it finish its failure screenshot first.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        std::thread::sleep(Duration::from_millis(100));
        self.seen.extend(self.lines.try_iter());
        panic!(
            "{why}; screenshots in {}; the script said:\n{}",
            artefact_dir().display(),
            self.seen.join("\n")
        )
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `venue serve` restarted by hand on a fixed public address (the harness
/// binds ephemeral ports), killed on drop.
struct Restarted(Child);

impl Restarted {
    fn start(data: &Path, public: SocketAddr) -> Restarted {
        let child = Command::new(env!("CARGO_BIN_EXE_venue"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--http", &public.to_string(), "--admin", "127.0.0.1:0", "--fix", "127.0.0.1:0"])
            .args(["--grpc", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("venue restarts");
        let restarted = Restarted(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !(TcpStream::connect(public).is_ok()
            && request(public, "GET", "/health/ready", None, None).0 == 200)
        {
            assert!(Instant::now() < deadline, "the restarted venue was not ready within {START_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        restarted
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn order(venue: &Venue, who: (&str, &str), side: &str, qty: &str, price: &str, status: &str) -> Value {
    let (code, answer) = rest_signed(
        venue.public,
        "POST",
        "/api/v3/order",
        who,
        &[
            ("symbol", "BTCUSDT"),
            ("side", side),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", qty),
            ("price", price),
            ("newOrderRespType", "FULL"),
        ],
    );
    assert_eq!((code, answer["status"].as_str()), (200, Some(status)), "{side} {qty} @ {price}: {answer}");
    answer
}

#[test]
fn the_page_shows_orders_placed_through_the_api_live_and_survives_a_restart() {
    let started = Instant::now();
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: {INSTALL}");
    let modules = playwright_modules();
    assert!(
        modules.join("playwright-core/package.json").exists(),
        "playwright-core is missing from {}: {INSTALL}",
        modules.display()
    );
    let data = TempDir::new("web");
    let dir = data.0.join("venue");
    let venue = Venue::start(&dir, None);
    let public = venue.public;

    // The page and its files come from the binary itself.
    let (status, html) = venue.public("GET", "/");
    assert_eq!(status, 200, "{html}");
    for asset in ["/web/app.js", "/web/style.css", "/web/lightweight-charts.js"] {
        assert!(html.contains(&format!("\"{asset}\"")), "index.html does not load {asset}");
        let (status, body) = venue.public("GET", asset);
        assert!(status == 200 && body.len() > 1000, "{asset}: {status}");
    }
    assert!(!html.contains("src=\"http"), "the page must load nothing from elsewhere:\n{html}");
    let (status, body) = venue.public("GET", "/web/nothing.js");
    assert!(status == 404 && body.contains("-1000"), "{status} {body}");

    let artefacts = artefact_dir();
    let url = format!("http://{public}/?symbol=BTCUSDT");
    let mut page = Page::open(&url, &artefacts);
    page.expect("READY");

    // Bob offers at two prices, Alice bids below, then buys 0.1 from the best
    // offer: one trade at 30000.00, and three resting orders.
    order(&venue, BOB, "SELL", "0.5", "30000.00", "NEW");
    order(&venue, BOB, "SELL", "0.25", "30100.00", "NEW");
    order(&venue, ALICE, "BUY", "0.2", "29000.00", "NEW");
    let taker = order(&venue, ALICE, "BUY", "0.1", "30000.00", "FILLED");
    assert_eq!(taker["fills"][0]["price"], "30000.00", "{taker}");
    let book = json!({
        "asks": [["30000.00", "0.4000"], ["30100.00", "0.2500"]],
        "bids": [["29000.00", "0.2000"]],
    });
    let mut expected = book.clone();
    expected["trade"] = json!(["30000.00", "0.1000"]);
    expected["orders"] = json!(4);
    page.send(&expected.to_string());
    page.expect("CHECKED");

    // The venue stops: the page must say so, not go on showing stale data
    // as if it were live...
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
    page.send("STOPPED");
    page.expect("DOWN");

    // ...and reconnect by itself when it is back, with the recovered book
    // (market data starts afresh after a restart: no trades).
    let restarted = Restarted::start(&dir, public);
    let mut recovered = book;
    recovered["trade"] = Value::Null;
    page.send(&recovered.to_string());
    page.expect("PASS");
    drop(restarted);
    let status = page.child.wait().expect("the page script ends");
    assert!(status.success(), "page script: {status}\n{}", page.seen.join("\n"));
    for line in page.seen.iter().filter(|l| l.starts_with("SCREENSHOT")) {
        println!("{line}");
    }
    println!("web page test took {:.1} s", started.elapsed().as_secs_f64());
}
