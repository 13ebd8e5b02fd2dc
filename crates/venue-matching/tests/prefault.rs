//! A pre-faulted book's order pool is resident from the start. Alone in its
//! test binary: it reads the process's resident memory, which other tests
//! running beside it in the same process would move.

use venue_matching::{BookConfig, InstrumentSpec, NewOrder, OrderBook, Side, Timestamp};

/// Resident memory of this process, from `/proc/self/statm`.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("resident");
    pages * 4096
}

#[test]
fn a_prefaulted_order_pool_is_resident_and_the_book_works_as_usual() {
    const MAX_ORDERS: u32 = 200_000;
    // 112 bytes an order (docs/operations.md); 100 is a floor that holds
    // if the node shrinks a little.
    let pool = MAX_ORDERS as usize * 100;
    let spec = InstrumentSpec::spot(0, "TST-USD", 2, 0);
    let config = BookConfig { max_orders: MAX_ORDERS, ..BookConfig::default() };

    let before = resident_bytes();
    let lazy = OrderBook::new(spec.clone(), config);
    let lazy_growth = resident_bytes().saturating_sub(before);
    let before = resident_bytes();
    let prefaulted = OrderBook::new(spec, BookConfig { prefault: true, ..config });
    let prefaulted_growth = resident_bytes().saturating_sub(before);

    assert!(lazy_growth < pool / 4, "a lazy pool became resident: {lazy_growth} bytes");
    assert!(prefaulted_growth >= pool * 9 / 10, "pool of about {pool} bytes, {prefaulted_growth} resident");

    // Both books start empty and answer the same commands the same way.
    let mut outputs = Vec::new();
    for mut book in [lazy, prefaulted] {
        assert_eq!(book.len(), 0);
        let mut events = Vec::new();
        for (id, side, price) in [(1, Side::Sell, 101), (2, Side::Sell, 100), (3, Side::Buy, 101)] {
            let order = NewOrder::limit(id, 7, side, price, 5);
            book.new_order(&order, Timestamp(1), &mut events).expect("accepted");
        }
        assert_eq!(book.len(), 1);
        outputs.push((events, book.export()));
    }
    assert_eq!(outputs[0], outputs[1]);
}
