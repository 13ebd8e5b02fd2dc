//! `venue`'s own book behind the benchmark interface.

use crate::workload::{BenchBook, BenchTif, Op};
use venue_matching::{
    AmendOrder, BookConfig, CancelOrder, ClientOrderId, Event, EventKind, InstrumentId, InstrumentSpec,
    NewOrder, OrderBook, OrderId, OrderRef, Price, StpMode, TimeInForce, Timestamp,
};

/// Our book, driven exactly as the engine drives it: one call per
/// operation into a reused event vector, whose trades are then read (when
/// the book's trade counter says there are any).
pub struct VenueBook {
    book: OrderBook,
    events: Vec<Event>,
    traded: u64,
}

impl VenueBook {
    /// A book holding up to `max_orders` live orders, its id tables sized
    /// for a `peak` of them (never below the default), as an operator
    /// sizes a book for its expected peak: the insert-only stream grows the
    /// book through the measured part, and a growing id table would rehash
    /// (allocate, and pause) there. Its order pool is pre-faulted, as the
    /// venue's configuration does by default (`prefault_order_pool`).
    pub fn new(max_orders: u32, peak: u32) -> VenueBook {
        let spec = InstrumentSpec::spot(0, "BENCH-USD", 2, 0);
        let presized_orders = peak.max(BookConfig::default().presized_orders);
        VenueBook {
            book: OrderBook::new(spec, BookConfig { max_orders, presized_orders, prefault: true }),
            events: Vec::with_capacity(4096),
            traded: 0,
        }
    }

    /// The book, for inspection after a run.
    pub fn book(&self) -> &OrderBook {
        &self.book
    }
}

impl BenchBook for VenueBook {
    fn name(&self) -> &'static str {
        "venue"
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        self.events.clear();
        let trades_before = self.book.next_trade_id();
        let out = &mut self.events;
        let _ = match *op {
            Op::Limit { id, account, side, price, qty, tif } => {
                let mut order = NewOrder::limit(id, account, side, price, qty);
                order.stp = StpMode::Allow;
                if tif == BenchTif::Ioc {
                    order.tif = TimeInForce::Ioc;
                }
                self.book.new_order(&order, Timestamp(0), out)
            }
            Op::Market { id, account, side, qty } => {
                let mut order = NewOrder::market(id, account, side, qty);
                order.stp = StpMode::Allow;
                self.book.new_order(&order, Timestamp(0), out)
            }
            Op::Cancel { id } => self.book.cancel(
                &CancelOrder {
                    instrument: InstrumentId(0),
                    target: OrderRef::Id(OrderId(id)),
                    account: None,
                },
                out,
            ),
            Op::Move { id, new_price } => self.book.amend(
                &AmendOrder {
                    instrument: InstrumentId(0),
                    target: OrderRef::Id(OrderId(id)),
                    account: None,
                    new_price: Price(new_price),
                    new_qty: None,
                    new_client_order_id: ClientOrderId::NONE,
                },
                out,
            ),
        };
        // Most operations of a mix do not trade: the trade counter says so
        // without reading their events.
        if self.book.next_trade_id() != trades_before {
            for event in &self.events {
                if let EventKind::Trade { qty, .. } = event.kind {
                    self.traded += qty.0 as u64;
                }
            }
        }
    }

    fn checksum(&self) -> u64 {
        self.traded
    }
}
