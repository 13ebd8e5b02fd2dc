//! The market-data thread: feeds `venue-marketdata` from the engine's
//! durable outputs, off the engine thread, and shares its state with the
//! transports (REST snapshots now; WebSocket, FIX market data and gRPC
//! through the same updates later: one implementation for all).
//!
//! Market data waits for durability like acknowledgements do, so a trade
//! that a crash could still take back is never shown. After a restart the
//! books are rebuilt from the recovered engine (`MarketData::from_books`):
//! book sequence numbers continue from the engine's sequence number (never
//! back), and trades and candles from before the restart are not kept.

use crate::metrics::Metrics;
use std::sync::{Arc, Mutex, MutexGuard};
use venue_marketdata::{MarketData, Update};
use venue_pipeline::OutputStream;

/// Market data as the transports see it.
pub struct MarketFeed {
    state: Mutex<MarketData>,
    /// Every update, shared (`Arc`) by all subscribers: encode once per
    /// transport, send to many.
    pub updates: tokio::sync::broadcast::Sender<Arc<Update>>,
}

impl MarketFeed {
    /// A feed starting from `initial` (the recovered books).
    pub fn new(initial: MarketData) -> Arc<MarketFeed> {
        let (updates, _) = tokio::sync::broadcast::channel(1 << 14);
        Arc::new(MarketFeed { state: Mutex::new(initial), updates })
    }

    /// The state, for a snapshot: hold the guard briefly.
    pub fn lock(&self) -> MutexGuard<'_, MarketData> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The thread's body: until the pipeline has stopped and everything was
    /// handed over.
    pub fn run(self: Arc<MarketFeed>, mut stream: OutputStream, metrics: Arc<Metrics>) {
        let mut updates = Vec::with_capacity(256);
        let mut idle = 0u32;
        loop {
            let started = std::time::Instant::now();
            let taken = {
                let mut state = self.lock();
                stream.poll(4096, |stamped| state.apply(stamped, &mut updates))
            };
            let published = !updates.is_empty();
            for update in updates.drain(..) {
                // No subscriber is not an error.
                let _ = self.updates.send(update);
                metrics.market_updates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if published {
                metrics.publish_latency.record(started.elapsed());
            }
            if taken > 0 {
                idle = 0;
                continue;
            }
            if stream.finished() {
                let mut state = self.lock();
                state.flush(&mut updates);
                return;
            }
            idle = idle.saturating_add(1);
            if idle < 64 {
                std::hint::spin_loop();
            } else {
                stream.wait();
            }
        }
    }
}
