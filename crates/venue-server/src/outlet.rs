//! The sending end of a session's feed: a bounded channel the router thread
//! offers to without ever waiting, and a flag raised the first time an item
//! did not fit.
//!
//! A feed that lost an item is useless to its client (it would show a
//! wrong order state or balance), so the router stops offering to it and
//! the session, seeing the flag, disconnects; its client resynchronises by
//! query. Shared by the router's session feeds and the history's account
//! feeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// See the module documentation.
pub(crate) struct Outlet<T> {
    tx: mpsc::Sender<T>,
    overflowed: Arc<AtomicBool>,
}

impl<T> Outlet<T> {
    /// An outlet holding up to `capacity` unread items (at least one), its
    /// receiver, and the flag the receiving session watches.
    pub(crate) fn new(capacity: usize) -> (Outlet<T>, mpsc::Receiver<T>, Arc<AtomicBool>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflowed = Arc::new(AtomicBool::new(false));
        (Outlet { tx, overflowed: overflowed.clone() }, rx, overflowed)
    }

    /// Hands `item` over if there is room; otherwise marks the feed
    /// overflowed, after which nothing more is offered.
    pub(crate) fn offer(&self, item: T) {
        if !self.overflowed.load(Ordering::Relaxed) && self.tx.try_send(item).is_err() {
            self.overflowed.store(true, Ordering::Relaxed);
        }
    }
}
