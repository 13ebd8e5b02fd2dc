//! Every invalid field gets its own message naming it. Each case edits the
//! built-in demo configuration (which must itself be valid) in one place.

use venue_server::config::{self, DEMO};

/// Replaces the first occurrence of `from` in the demo configuration.
fn demo_with(from: &str, to: &str) -> String {
    assert!(DEMO.contains(from), "the demo configuration has no {from:?}");
    DEMO.replacen(from, to, 1)
}

#[test]
fn the_demo_configuration_is_valid() {
    let settings = config::demo();
    assert_eq!(settings.engine.instruments.len(), 2);
    assert_eq!(settings.engine.instruments[0].tick_size, 1);
    assert_eq!(settings.engine.instruments[0].max_qty.0, 1_000_000, "100 BTC in lots of 0.0001");
    assert_eq!(settings.accounts.len(), 3);
    assert!(format!("{settings:?}").contains("Secret(***)"), "secrets never print");
    assert!(!format!("{settings:?}").contains("demo-admin-token"), "secrets never print");
}

#[test]
fn book_capacity_reaches_the_engine_and_a_changed_one_changes_the_fingerprint() {
    let demo = config::demo();
    assert_eq!(demo.engine.book.max_orders, 100_000);
    assert_eq!(demo.engine.book.presized_orders, 4096);
    let small =
        config::parse(&demo_with("max_orders_per_book = 100000", "max_orders_per_book = 500").replacen(
            "expected_orders_per_book = 4096",
            "expected_orders_per_book = 200",
            1,
        ))
        .expect("valid");
    assert_eq!(small.engine.book.max_orders, 500);
    assert_eq!(small.engine.book.presized_orders, 200);
    // Capacity decides which orders are refused, so snapshots must not
    // cross it; the tables' starting size decides nothing.
    assert_ne!(small.engine.fingerprint(), demo.engine.fingerprint());
    let roomier =
        config::parse(&demo_with("expected_orders_per_book = 4096", "expected_orders_per_book = 9000"))
            .expect("valid");
    assert_eq!(roomier.engine.fingerprint(), demo.engine.fingerprint());
}

#[test]
fn each_invalid_field_is_named_with_its_reason() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("durability = \"always\"", "durability = \"sometimes\"", "venue.durability", "not one of"),
        ("fsync_interval_ms = 1", "fsync_interval_ms = 0\ndurability = \"interval\"", "", "duplicate key"),
        ("keep_snapshots = 2", "keep_snapshots = 0", "venue.keep_snapshots", "at least 1"),
        ("max_accounts = 65536", "max_accounts = 0", "venue.max_accounts", "positive"),
        ("fee_account = 0", "fee_account = 70000", "venue.fee_account", "below"),
        ("inbound_capacity = 65536", "inbound_capacity = 10", "venue.inbound_capacity", "between"),
        ("outbound_capacity = 262144", "outbound_capacity = 1", "venue.outbound_capacity", "between"),
        ("# engine_core = 1", "engine_core = 4096", "venue.engine_core", "CPU 4096"),
        ("max_orders_per_book = 100000", "max_orders_per_book = 0", "venue.max_orders_per_book", "between"),
        (
            "max_orders_per_book = 100000",
            "max_orders_per_book = 10000001",
            "venue.max_orders_per_book",
            "between",
        ),
        (
            "expected_orders_per_book = 4096",
            "expected_orders_per_book = 0",
            "venue.expected_orders_per_book",
            "positive",
        ),
        ("listen = \"127.0.0.1:8080\"", "listen = \"localhost\"", "http.listen", "not an address"),
        ("listen = \"127.0.0.1:8081\"", "listen = \"127.0.0.1:8080\"", "admin.listen", "differ"),
        ("token = { value = \"demo-admin-token\" }", "token = { value = \"\" }", "admin.token", "empty"),
        (
            "token = { value = \"demo-admin-token\" }",
            "token = { env = \"VENUE_TEST_UNSET_VARIABLE\" }",
            "admin.token",
            "not set",
        ),
        (
            "token = { value = \"demo-admin-token\" }",
            "token = { file = \"/nonexistent/token\" }",
            "admin.token",
            "cannot read",
        ),
        (
            "token = { value = \"demo-admin-token\" }",
            "token = { value = \"a\", env = \"B\" }",
            "admin.token",
            "exactly one",
        ),
        ("format = \"json\"", "format = \"xml\"", "log.format", "not one of"),
        ("level = \"info\"", "level = \"loud\"", "log.level", "not one of"),
        ("mask_accounts = \"partial\"", "mask_accounts = \"some\"", "audit.mask_accounts", "not one of"),
        ("name = \"BTC\"", "name = \"B-TC\"", "assets[0].name", "letters and digits"),
        ("name = \"ETH\"", "name = \"BTC\"", "assets[1].name", "twice"),
        ("decimals = 8", "decimals = 19", "assets[0].decimals", "at most 18"),
        ("symbol = \"BTC-USDT\"", "symbol = \"BTC USDT\"", "instruments[0].symbol", "printable"),
        ("symbol = \"ETH-USDT\"", "symbol = \"BTC-USDT\"", "instruments[1].symbol", "twice"),
        ("base = \"BTC\"", "base = \"XRP\"", "instruments[0].base", "not in [[assets]]"),
        ("quote = \"USDT\"", "quote = \"BTC\"", "instruments[0].quote", "differ from base"),
        ("price_decimals = 2", "price_decimals = 20", "instruments[0].price_decimals", "at most 18"),
        ("tick_size = \"0.01\"", "tick_size = \"0.001\"", "instruments[0].tick_size", "at most 2 decimals"),
        ("tick_size = \"0.01\"", "tick_size = \"0\"", "instruments[0].tick_size", "positive"),
        ("lot_size = \"0.0001\"", "lot_size = \"-1\"", "instruments[0].lot_size", "positive"),
        ("min_qty = \"0.0001\"", "min_qty = \"abc\"", "instruments[0].min_qty", "not a decimal number"),
        ("max_qty = \"100\"", "max_qty = \"0.00001\"", "instruments[0].max_qty", "at most 4 decimals"),
        ("max_qty = \"100\"", "max_qty = \"0.00005000\"", "instruments[0].max_qty", "at most 4 decimals"),
        ("min_price = \"0.01\"", "min_price = \"20000000\"", "instruments[0].max_price", "below min_price"),
        (
            "max_price = \"10000000\"",
            "max_price = \"1000000000000000\"",
            "instruments[0].max_price",
            "64-bit",
        ),
        ("price_band_bps = 0", "price_band_bps = 20000", "instruments[0].price_band_bps", "at most 10000"),
        ("status = \"open\"", "status = \"paused\"", "instruments[0].status", "not one of"),
        ("maker_bps = 2", "maker_bps = 10001", "fee_tiers[0].maker_bps", "at most 10000"),
        ("id = 1", "id = 0", "accounts[0].id", "fee account"),
        ("id = 2", "id = 1", "accounts[1].id", "twice"),
        ("id = 1", "id = 100000", "accounts[0].id", "below venue.max_accounts"),
        ("tier = 0", "tier = 5", "accounts[0].tier", "no fee tier 5"),
        ("max_order_qty = 0", "max_order_qty = -5", "accounts[0].limits.max_order_qty", "negative"),
        ("BTC = \"100\"", "DOGE = \"100\"", "accounts[0].deposits.DOGE", "no such asset"),
        ("BTC = \"100\"", "BTC = \"0.000000001\"", "accounts[0].deposits.BTC", "at most 8 decimals"),
        ("BTC = \"100\"", "BTC = \"-1\"", "accounts[0].deposits.BTC", "positive"),
        ("[log]", "[logs]", "", "unknown field `logs`"),
        ("format = \"json\"", "fromat = \"json\"", "", "unknown field `fromat`"),
        ("data_dir = \"venue-data\"", "data_dir = 5", "", "invalid type"),
    ];
    for &(from, to, field, reason) in cases {
        let text = demo_with(from, to);
        let error = match config::parse(&text) {
            Ok(_) => panic!("{from:?} -> {to:?} was accepted"),
            Err(error) => error,
        };
        assert_eq!(error.field, field, "{from:?} -> {to:?}: {error}");
        assert!(error.to_string().contains(reason), "{from:?} -> {to:?}: {error:?} should say {reason:?}");
    }
}

#[test]
fn toml_errors_say_where() {
    let error = config::parse(&demo_with("[log]", "[log")).expect_err("broken table header");
    assert!(error.reason.contains("line "), "{error}");
}

#[test]
fn secrets_come_from_environment_and_files() {
    let dir = std::env::temp_dir().join(format!("venue-config-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("token");
    std::fs::write(&file, "from-a-file\n").expect("write");
    let text =
        demo_with("token = { value = \"demo-admin-token\" }", &format!("token = {{ file = {:?} }}", file));
    let settings = config::parse(&text).expect("file secret");
    assert_eq!(settings.admin_token.expose(), "from-a-file", "trailing newline removed");
    assert!(settings.admin_token.matches(b"from-a-file") && !settings.admin_token.matches(b"from-a-fil"));
    let _ = std::fs::remove_dir_all(&dir);
    // PATH is set in every test environment.
    let text = demo_with("token = { value = \"demo-admin-token\" }", "token = { env = \"PATH\" }");
    let settings = config::parse(&text).expect("env secret");
    assert_eq!(settings.admin_token.expose(), std::env::var("PATH").expect("PATH"));
}
