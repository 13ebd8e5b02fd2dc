//! A FIX client's orders across a crash of the venue: after `kill -9` and a
//! restart on the same data directory, every report, status answer and
//! cancel reject for an order placed before the crash carries the client's
//! own ClOrdID, from whichever gateway the order came; REST shows FIX's
//! ClOrdIDs too; a cancel that comes after its order ended, before or after
//! the crash, is refused as too late (CxlRejReason 0) with the order's
//! final status; and AvgPx counts the fills from before the crash. Also
//! how a budget order ends and how a replaced order is named everywhere.

mod common;

use common::*;

const PASSWORD: &str = "demo-fix-password";

fn logon(addr: std::net::SocketAddr, comp: &'static str) -> FixClient {
    let mut client = FixClient::connect(addr, comp);
    client.send("A", |e| {
        e.uint(98, 0).uint(108, 30).bool(141, true).str(554, PASSWORD);
    });
    let answer = client.recv();
    assert_eq!(answer.get(35), Some("A"), "{}", answer.text());
    client
}

fn transact_time() -> String {
    String::from_utf8(venue_fix::time::format_utc_timestamp_millis(now_ns()).to_vec()).expect("ascii")
}

fn buy(client: &mut FixClient, cl: &str, qty: &str, price: &str) -> FixMsg {
    let now = transact_time();
    client.send("D", |e| {
        e.str(11, cl)
            .str(38, qty)
            .char(40, b'2')
            .str(44, price)
            .char(54, b'1')
            .str(55, "BTC-USDT")
            .char(59, b'1')
            .str(60, &now);
    });
    let report = client.recv();
    assert_eq!((report.get(11), report.get(150)), (Some(cl), Some("0")), "{cl}: {}", report.text());
    report
}

/// A cancel/replace of a buy limit order to `qty` at `price`; its answer.
fn replace(client: &mut FixClient, cl: &str, orig: &str, qty: &str, price: &str) -> FixMsg {
    let now = transact_time();
    client.send("G", |e| {
        e.str(11, cl)
            .str(41, orig)
            .str(38, qty)
            .char(40, b'2')
            .str(44, price)
            .char(54, b'1')
            .str(55, "BTC-USDT")
            .str(60, &now);
    });
    client.recv()
}

fn cancel(client: &mut FixClient, cl: &str, orig: &str) -> FixMsg {
    let now = transact_time();
    client.send("F", |e| {
        e.str(11, cl).str(41, orig).char(54, b'1').str(55, "BTC-USDT").str(60, &now);
    });
    client.recv()
}

/// An order placed over REST on BTCUSDT, which must be accepted.
fn rest_order(venue: &Venue, who: (&str, &str), params: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec![("symbol", "BTCUSDT")];
    all.extend_from_slice(params);
    let (status, answer) = rest_signed(venue.public, "POST", "/api/v3/order", who, &all);
    assert_eq!(status, 200, "{params:?}: {answer}");
    answer
}

/// BOB sells over REST; ALICE's FIX session sees the fill.
fn bob_sells(venue: &Venue, qty: &str, price: &str) {
    let params =
        [("side", "SELL"), ("type", "LIMIT"), ("timeInForce", "IOC"), ("quantity", qty), ("price", price)];
    let answer = rest_order(venue, BOB, &params);
    assert_eq!(answer["status"], "FILLED", "BOB's sell: {answer}");
}

fn open_ids(venue: &Venue) -> Vec<String> {
    let (status, open) = rest_signed(venue.public, "GET", "/api/v3/openOrders", ALICE, &[]);
    assert_eq!(status, 200, "{open}");
    let mut ids: Vec<String> = open
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| o["clientOrderId"].as_str().expect("text").to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn client_order_ids_survive_a_crash_and_late_cancels_are_too_late() {
    let data = TempDir::new("fix-restart");
    let venue = Venue::start(&data.0, None);
    let mut alice = logon(venue.fix.expect("FIX"), "ALICE");
    buy(&mut alice, "pre-1", "1", "19000");
    let pre2 = buy(&mut alice, "pre-2", "2", "20000");
    let pre2_id = pre2.get(37).expect("OrderID").to_owned();
    bob_sells(&venue, "0.5", "20000");
    let fill = alice.recv();
    assert_eq!(
        (fill.get(11), fill.get(150), fill.get(14)),
        (Some("pre-2"), Some("F"), Some("0.5000")),
        "{}",
        fill.text()
    );
    let params = [
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "1"),
        ("price", "18000"),
        ("newClientOrderId", "rest-1"),
    ];
    rest_order(&venue, ALICE, &params);
    // A stop-market buy with a budget, placed over REST: FIX does not know
    // its budget, and must not report the quantity that bounds it.
    let params = [
        ("side", "BUY"),
        ("type", "STOP_LOSS"),
        ("stopPrice", "90000"),
        ("quoteOrderQty", "1000"),
        ("newClientOrderId", "rest-stop"),
    ];
    rest_order(&venue, ALICE, &params);
    let accepted = alice.recv();
    assert_eq!((accepted.get(11), accepted.get(150)), (Some("rest-1"), Some("0")), "{}", accepted.text());
    let accepted = alice.recv();
    assert_eq!(
        (accepted.get(11), accepted.get(150), accepted.get(40), accepted.get(38), accepted.get(152)),
        (Some("rest-stop"), Some("0"), Some("3"), None, None),
        "{}",
        accepted.text()
    );
    assert_eq!(open_ids(&venue), ["pre-1", "pre-2", "rest-1", "rest-stop"], "REST shows FIX's ClOrdIDs");

    // An order that ends before the crash.
    buy(&mut alice, "pre-3", "1", "18500");
    let report = cancel(&mut alice, "cx-0", "pre-3");
    assert_eq!((report.get(150), report.get(11)), (Some("4"), Some("cx-0")), "{}", report.text());

    // A crash: no cancel-on-disconnect, no final snapshot.
    venue.signal("KILL");
    let _ = venue.wait_exit();
    drop(alice);

    let venue = Venue::start(&data.0, None);
    assert_eq!(open_ids(&venue), ["pre-1", "pre-2", "rest-1", "rest-stop"], "REST after the restart");
    let mut alice = logon(venue.fix.expect("FIX"), "ALICE");

    // After the restart the budget is read from the book.
    alice.send("H", |e| {
        e.str(11, "rest-stop").char(54, b'1').str(55, "BTC-USDT");
    });
    let status = alice.recv();
    assert_eq!(
        (status.get(150), status.get(11), status.get(39), status.get(38), status.get(152)),
        (Some("I"), Some("rest-stop"), Some("0"), None, Some("1000.000000")),
        "{}",
        status.text()
    );

    // The status of the partly filled order, by its ClOrdID.
    alice.send("H", |e| {
        e.str(11, "pre-2").char(54, b'1').str(55, "BTC-USDT");
    });
    let status = alice.recv();
    assert_eq!(
        (status.get(150), status.get(11), status.get(37), status.get(39), status.get(14), status.get(151)),
        (Some("I"), Some("pre-2"), Some(pre2_id.as_str()), Some("1"), Some("0.5000"), Some("1.5000")),
        "{}",
        status.text()
    );

    // Cancels of orders from before the crash, placed over FIX and REST.
    for (cl, orig) in [("cx-1", "pre-1"), ("cx-2", "rest-1")] {
        let report = cancel(&mut alice, cl, orig);
        assert_eq!(
            (report.get(35), report.get(150), report.get(39), report.get(11), report.get(41)),
            (Some("8"), Some("4"), Some("4"), Some(cl), Some(orig)),
            "{}",
            report.text()
        );
    }

    // pre-2 moves up a price and the rest of it fills there: its
    // cumulative quantity and average price count the fill before the
    // crash (its price read back from the session's stored reports).
    let replaced = replace(&mut alice, "pre-2b", "pre-2", "2", "20100");
    assert_eq!(
        (replaced.get(150), replaced.get(6)),
        (Some("5"), Some("20000.000000")),
        "{}",
        replaced.text()
    );
    bob_sells(&venue, "1.5", "20100");
    let fill = alice.recv();
    assert_eq!(
        (fill.get(11), fill.get(150), fill.get(39), fill.get(14), fill.get(151), fill.get(6)),
        (Some("pre-2b"), Some("F"), Some("2"), Some("2.0000"), Some("0.0000"), Some("20075.000000")),
        "{}",
        fill.text()
    );

    // Too late: a cancel of a cancelled order, of a filled one, and of
    // one that ended before the crash.
    for (cl, orig, final_status) in [("cx-3", "pre-1", "4"), ("cx-4", "pre-2", "2"), ("cx-6", "pre-3", "4")] {
        let reject = cancel(&mut alice, cl, orig);
        assert_eq!(
            (
                reject.get(35),
                reject.get(102),
                reject.get(39),
                reject.get(11),
                reject.get(41),
                reject.get(434)
            ),
            (Some("9"), Some("0"), Some(final_status), Some(cl), Some(orig), Some("1")),
            "{}",
            reject.text()
        );
        assert_ne!(reject.get(37), Some("NONE"), "the ended order's id: {}", reject.text());
    }
    // A cancel of an order that never was is still unknown.
    let reject = cancel(&mut alice, "cx-5", "never-sent");
    assert_eq!(
        (reject.get(35), reject.get(102), reject.get(39)),
        (Some("9"), Some("1"), Some("8")),
        "{}",
        reject.text()
    );
    // The status of an ended order is its final one, asked by its
    // ClOrdID before or after the cancel.
    for asked in ["cx-1", "pre-1"] {
        alice.send("H", |e| {
            e.str(11, asked).char(54, b'1').str(55, "BTC-USDT");
        });
        let status = alice.recv();
        assert_eq!(
            (status.get(150), status.get(11), status.get(41), status.get(39), status.get(151)),
            (Some("I"), Some("cx-1"), Some("pre-1"), Some("4"), Some("0.0000")),
            "{}",
            status.text()
        );
    }
    drop(alice);
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// A market buy with a budget (CashOrderQty) ends when the budget is spent:
/// its last fill is reported as the order's last (OrdStatus 2, LeavesQty 0),
/// with no cancel after it, as REST calls it FILLED.
#[test]
fn a_budget_order_that_spends_its_budget_ends_filled() {
    let data = TempDir::new("fix-budget");
    let venue = Venue::start(&data.0, None);
    let mut alice = logon(venue.fix.expect("FIX"), "ALICE");
    for (qty, price) in [("0.0100", "20000"), ("1", "20100")] {
        let params = [
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", qty),
            ("price", price),
        ];
        rest_order(&venue, BOB, &params);
    }
    let now = transact_time();
    alice.send("D", |e| {
        e.str(11, "budget-1").char(40, b'1').char(54, b'1').str(55, "BTC-USDT").char(59, b'3').str(60, &now);
        e.str(152, "300");
    });
    let accepted = alice.recv();
    assert_eq!(
        (accepted.get(150), accepted.get(39), accepted.get(152)),
        (Some("0"), Some("0"), Some("300.000000")),
        "{}",
        accepted.text()
    );
    let first = alice.recv();
    assert_eq!(
        (first.get(150), first.get(39), first.get(31), first.get(32)),
        (Some("F"), Some("1"), Some("20000.00"), Some("0.0100")),
        "{}",
        first.text()
    );
    let last = alice.recv();
    assert_eq!(
        (last.get(11), last.get(150), last.get(39), last.get(31), last.get(151)),
        (Some("budget-1"), Some("F"), Some("2"), Some("20100.00"), Some("0.0000")),
        "{}",
        last.text()
    );
    let bought: f64 = last.get(14).expect("CumQty").parse().expect("a number");
    assert!(bought > 0.0104 && bought < 0.0150, "CumQty {bought}: {}", last.text());

    // Nothing follows the last fill: the next message is the status answer,
    // and it says filled too.
    alice.send("H", |e| {
        e.str(11, "budget-1").char(54, b'1').str(55, "BTC-USDT");
    });
    let status = alice.recv();
    assert_eq!(
        (status.get(150), status.get(11), status.get(39), status.get(151)),
        (Some("I"), Some("budget-1"), Some("2"), Some("0.0000")),
        "{}",
        status.text()
    );
    let (code, order) = rest_signed(
        venue.public,
        "GET",
        "/api/v3/order",
        ALICE,
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "budget-1")],
    );
    assert_eq!((code, order["status"].as_str()), (200, Some("FILLED")), "{order}");
    drop(alice);
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

/// A FIX cancel/replace gives the order the new ClOrdID in every view: REST
/// lists it under the new one and finds it by it, and no longer by the old.
#[test]
fn a_replaced_order_goes_by_its_new_client_order_id_everywhere() {
    let data = TempDir::new("fix-replace");
    let venue = Venue::start(&data.0, None);
    let mut alice = logon(venue.fix.expect("FIX"), "ALICE");
    buy(&mut alice, "first-id", "1", "19000");
    let replaced = replace(&mut alice, "second-id", "first-id", "1", "19100");
    assert_eq!(
        (replaced.get(150), replaced.get(11), replaced.get(41)),
        (Some("5"), Some("second-id"), Some("first-id")),
        "{}",
        replaced.text()
    );
    assert_eq!(open_ids(&venue), ["second-id"]);
    let by = |id: &str| {
        rest_signed(
            venue.public,
            "GET",
            "/api/v3/order",
            ALICE,
            &[("symbol", "BTCUSDT"), ("origClientOrderId", id)],
        )
    };
    let (code, order) = by("second-id");
    assert_eq!(
        (code, order["clientOrderId"].as_str(), order["price"].as_str()),
        (200, Some("second-id"), Some("19100.00")),
        "{order}"
    );
    let (code, answer) = by("first-id");
    assert_eq!(code, 400, "the old id names no order any more: {answer}");
    drop(alice);
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}
