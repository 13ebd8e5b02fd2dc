//! FIX order entry with an unmodified third-party FIX engine: the QuickFIX
//! Python binding (installed by `scripts/install-quickfix.sh`, which
//! `.ci/run` calls) as initiator against the real `venue serve`. The script
//! `tests/fix/quickfix_client.py` trades between two sessions and checks
//! every report; QuickFIX validates each message against its own FIX44.xml.
//! Here the balances that trading must have produced are checked through
//! the admin API.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

fn dictionary() -> PathBuf {
    let cache = std::env::var_os("VENUE_QUICKFIX_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/venue-quickfix")
    });
    let xml = cache.join("FIX44.xml");
    assert!(
        xml.exists()
            && Command::new("python3").args(["-c", "import quickfix"]).status().is_ok_and(|s| s.success()),
        "QuickFIX is not installed: run scripts/install-quickfix.sh (CI does)"
    );
    xml
}

#[test]
fn quickfix_initiator_trades_cancels_replaces_and_resends() {
    let xml = dictionary();
    let data = TempDir::new("quickfix");
    let venue = Venue::start(&data.0.join("venue"), None);
    let port = venue.fix.expect("FIX listener in the banner").port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fix/quickfix_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(data.0.join("client"))
        .arg(&xml)
        .arg(format!("http://{}", venue.public))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("quickfix: all checks passed"),
        "QuickFIX client failed:\n{stdout}\n{stderr}\nvenue log:\n{}",
        venue.stderr.try_iter().collect::<Vec<_>>().concat()
    );

    // ALICE bought 0.6 BTC at 30000 as taker (5 bps fee on 18000 USDT = 9);
    // BOB sold it as maker (2 bps = 3.6). Everything else was cancelled.
    // Cancel-on-disconnect releases ALICE's last resting order once the
    // client has gone: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let alice = loop {
        let (_, alice) = venue.admin("GET", "/admin/v1/accounts/1", None);
        if alice["open_orders"] == 0 || std::time::Instant::now() > deadline {
            break alice;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (_, bob) = venue.admin("GET", "/admin/v1/accounts/2", None);
    assert_eq!(balance(&alice, "BTC"), ("100.60000000".into(), "0.00000000".into()), "{alice}");
    assert_eq!(balance(&alice, "USDT"), ("9981991.00000000".into(), "0.00000000".into()), "{alice}");
    assert_eq!(balance(&bob, "BTC"), ("99.40000000".into(), "0.00000000".into()), "{bob}");
    assert_eq!(balance(&bob, "USDT"), ("10017996.40000000".into(), "0.00000000".into()), "{bob}");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}
