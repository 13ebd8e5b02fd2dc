//! Peer order books that run the same benchmark streams as ours.
//!
//! * [`NaiveBTreeBook`]: a deliberately simple book written here, the floor.
//! * [`LobsterPeer`]: the published `lobster` crate (0.7.0, no dependencies).
//! * [`RustObPeer`]: the published `rust_ob` crate (2.5.3, on `rust_decimal`).
//!
//! Every peer's checksum is the total traded quantity (each fill counted
//! once), so on the same stream all of them, and our book, should print the
//! same number. `orderbook-rs` 0.15 was considered and left out: it depends
//! on tokio, crossbeam, dashmap, sha2, tracing and uuid unconditionally (about
//! 60 crates), too heavy to build for a baseline.

mod lobster_peer;
mod naive;
mod rust_ob_peer;

pub use lobster_peer::LobsterPeer;
pub use naive::NaiveBTreeBook;
pub use rust_ob_peer::RustObPeer;

use crate::workload::BenchBook;

/// Report name of the naive floor, which is not a published peer crate.
pub const NAIVE_NAME: &str = "naive-btree";

/// How many orders peers are pre-sized for by [`all_peers`] and `Default`.
pub const DEFAULT_CAPACITY: usize = 1 << 16;

/// Fresh instances of every peer, the naive book first, each pre-sized for
/// [`DEFAULT_CAPACITY`] orders where the crate allows it.
pub fn all_peers() -> Vec<Box<dyn BenchBook>> {
    all_peers_with_capacity(DEFAULT_CAPACITY)
}

/// Fresh instances of every peer, the naive book first, each pre-sized for
/// `orders` orders where the crate allows it.
pub fn all_peers_with_capacity(orders: usize) -> Vec<Box<dyn BenchBook>> {
    vec![
        Box::new(NaiveBTreeBook::with_capacity(orders)),
        Box::new(LobsterPeer::with_capacity(orders)),
        Box::new(RustObPeer::with_capacity(orders)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{BenchTif, Op, Side};

    fn limit(id: u64, side: Side, price: i64, qty: i64, tif: BenchTif) -> Op {
        Op::Limit { id, account: 7, side, price, qty, tif }
    }

    fn gtc(id: u64, side: Side, price: i64, qty: i64) -> Op {
        limit(id, side, price, qty, BenchTif::Gtc)
    }

    fn market(id: u64, side: Side, qty: i64) -> Op {
        Op::Market { id, account: 7, side, qty }
    }

    #[test]
    fn names_are_distinct() {
        let peers = all_peers();
        let names: Vec<_> = peers.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["naive-btree", "lobster 0.7.0", "rust_ob 2.5.3"]);
    }

    /// Each op with the total traded quantity expected right after it.
    fn hand_stream() -> Vec<(Op, u64)> {
        use Side::{Buy, Sell};
        vec![
            (gtc(1, Sell, 100, 5), 0),
            (gtc(2, Sell, 101, 5), 0),
            // 5 @ 100 from #1, 2 @ 101 from #2; #2 has 3 left.
            (gtc(3, Buy, 101, 7), 7),
            (Op::Cancel { id: 2 }, 7),
            // Unknown id, and an id that was filled completely.
            (Op::Cancel { id: 99 }, 7),
            (Op::Cancel { id: 1 }, 7),
            (gtc(4, Sell, 105, 4), 7),
            (gtc(5, Buy, 103, 6), 7),
            // #4 moves to 103 and trades 4 against #5; #5 has 2 left.
            (Op::Move { id: 4, new_price: 103 }, 11),
            // Already filled, then unknown: no-ops.
            (Op::Move { id: 4, new_price: 90 }, 11),
            (Op::Move { id: 77, new_price: 100 }, 11),
            // IOC sell 5 @ 102 trades #5's 2; its remaining 3 is dropped.
            (limit(6, Sell, 102, 5, BenchTif::Ioc), 13),
            (gtc(7, Buy, 90, 3), 13),
            (gtc(8, Buy, 95, 2), 13),
            // Market sell 4: 2 @ 95 (#8), then 2 @ 90 (#7 has 1 left).
            (market(9, Sell, 4), 17),
            // Market sell 5: only 1 left to take; the rest must not rest.
            (market(10, Sell, 5), 18),
            // Would trade against a resting market remainder.
            (gtc(11, Buy, 200, 1), 18),
            (Op::Move { id: 11, new_price: 150 }, 18),
            // IOC sell 3 @ 150 trades 1 with #11; the rest is dropped...
            (limit(12, Sell, 150, 3, BenchTif::Ioc), 19),
            // ...so this buy finds nothing.
            (gtc(13, Buy, 150, 1), 19),
            (Op::Cancel { id: 13 }, 19),
            // Time priority after a move to the same price: #20 goes behind
            // #21, so the market sell takes #21, whose cancel is then a no-op
            // and the next market sell still finds #20's 2 lots.
            (gtc(20, Buy, 100, 2), 19),
            (gtc(21, Buy, 100, 2), 19),
            (Op::Move { id: 20, new_price: 100 }, 19),
            (market(22, Sell, 2), 21),
            (Op::Cancel { id: 21 }, 21),
            (market(23, Sell, 3), 23),
            // The book is empty again.
            (market(24, Buy, 10), 23),
            (market(25, Sell, 10), 23),
        ]
    }

    #[test]
    fn hand_stream_traded_quantity_matches_for_every_peer() {
        for mut peer in all_peers_with_capacity(4) {
            for (step, (op, expected)) in hand_stream().into_iter().enumerate() {
                peer.apply(&op);
                assert_eq!(peer.checksum(), expected, "{} after step {step}: {op:?}", peer.name());
            }
        }
    }

    /// xorshift64: enough randomness for a reproducible test stream.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: u64) -> i64 {
            i64::try_from(self.next() % n).unwrap()
        }
    }

    /// A stream over a narrow price band, so that orders cross often, with
    /// cancels and moves of live, already filled or cancelled, and never
    /// issued ids.
    fn random_stream(seed: u64, len: usize) -> Vec<Op> {
        let mut rng = XorShift(seed);
        let mut ops = Vec::with_capacity(len);
        let mut next_id = 1_u64;
        while ops.len() < len {
            let side = if rng.next().is_multiple_of(2) { Side::Buy } else { Side::Sell };
            // Buys 980..=1004, sells 996..=1020: the bands overlap a little,
            // so some orders trade and depth builds up on both sides.
            let price = match side {
                Side::Buy => 980 + rng.below(25),
                Side::Sell => 996 + rng.below(25),
            };
            let qty = 1 + rng.below(20);
            let target = match rng.next() % 10 {
                // Never issued.
                0 => next_id + 1_000_000 + rng.next() % 1000,
                // Any earlier id, usually gone by now.
                1..5 => 1 + rng.next() % next_id,
                // A recent id, often still resting.
                _ => next_id.saturating_sub(1 + rng.next() % 32).max(1),
            };
            let op = match rng.next() % 100 {
                0..45 => gtc(next_id, side, price, qty),
                45..55 => limit(next_id, side, price, qty, BenchTif::Ioc),
                55..63 => market(next_id, side, 1 + rng.below(30)),
                63..82 => Op::Cancel { id: target },
                _ => Op::Move { id: target, new_price: 978 + rng.below(45) },
            };
            if matches!(op, Op::Limit { .. } | Op::Market { .. }) {
                next_id += 1;
            }
            ops.push(op);
        }
        ops
    }

    /// Every peer runs ~20k random ops without panicking and reports the same
    /// total traded quantity as the naive book, checked every 1000 ops so a
    /// divergence is localised. No peer differs on these streams: all of them
    /// fill at the resting price in strict price-time priority, a move loses
    /// priority in all of them (it is a cancel plus a new order in every
    /// adapter), and IOC/market remainders never rest.
    #[test]
    fn random_streams_agree_with_the_naive_book() {
        for seed in [0x9E37_79B9_7F4A_7C15_u64, 42, 0xDEAD_BEEF] {
            let ops = random_stream(seed, 20_000);
            let mut peers = all_peers_with_capacity(1024);
            for (i, chunk) in ops.chunks(1000).enumerate() {
                for peer in &mut peers {
                    for op in chunk {
                        peer.apply(op);
                    }
                }
                let naive = peers[0].checksum();
                for peer in &peers[1..] {
                    assert_eq!(
                        peer.checksum(),
                        naive,
                        "{} vs naive-btree, seed {seed:#x}, ops up to {}",
                        peer.name(),
                        (i + 1) * 1000
                    );
                }
            }
            // The stream really trades, and a lot.
            assert!(peers[0].checksum() > 20_000, "seed {seed:#x}");
        }
    }
}
