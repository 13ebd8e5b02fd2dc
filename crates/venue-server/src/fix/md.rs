//! FIX market data for one session, from the one market-data component:
//! MarketDataRequest (V) answered with MarketDataSnapshotFullRefresh (W),
//! then MarketDataIncrementalRefresh (X) for subscriptions, or
//! MarketDataRequestReject (Y) with a reason.
//!
//! Supported: SubscriptionRequestType 0 (snapshot), 1 (snapshot and
//! updates), 2 (unsubscribe); MDEntryType 0 (bid), 1 (offer), 2 (trade);
//! MarketDepth 0 (full) for subscriptions, any depth for snapshots;
//! MDUpdateType 1 (incremental). Each subscription follows the book's
//! sequence numbers (`BookFollower`); if the session's feed ever misses an
//! update, it sends a fresh full snapshot (W) instead of a wrong increment.

use super::orders::Reply;
use crate::market::MarketFeed;
use std::collections::BTreeSet;
use venue_domain::{InstrumentId, InstrumentSpec, Side};
use venue_fix::{Dictionary, Fields};
use venue_marketdata::{Applied, BookFollower, Update};

struct Subscription {
    req_id: String,
    instrument: InstrumentId,
    bids: bool,
    offers: bool,
    trades: bool,
    follower: BookFollower,
    /// Prices with a level, per side (to tell MDUpdateAction new from
    /// change).
    known: BTreeSet<(bool, i64)>,
}

/// A session's market-data subscriptions.
#[derive(Default)]
pub struct MdDesk {
    subs: Vec<Subscription>,
}

fn reject(req_id: &str, reason: &str, text: &str) -> Reply {
    let mut r = Reply::new("Y");
    r.set(262, req_id.to_owned()).set(281, reason.to_owned()).set(58, text.to_owned());
    r
}

impl MdDesk {
    /// Whether any subscription is live (the session then listens to the
    /// market-data updates).
    pub fn active(&self) -> bool {
        !self.subs.is_empty()
    }

    /// Answers a MarketDataRequest.
    pub fn on_request(
        &mut self,
        fields: &Fields<'_>,
        market: &MarketFeed,
        specs: &[InstrumentSpec],
    ) -> Vec<Reply> {
        let req_id = fields.get_str(262).unwrap_or_default().to_owned();
        let kind = fields.get_char(263).unwrap_or(b'0');
        if kind == b'2' {
            let before = self.subs.len();
            self.subs.retain(|s| s.req_id != req_id);
            return if self.subs.len() == before {
                vec![reject(&req_id, "0", "no subscription with this MDReqID")]
            } else {
                Vec::new()
            };
        }
        if kind != b'0' && kind != b'1' {
            return vec![reject(&req_id, "4", "unsupported SubscriptionRequestType")];
        }
        if kind == b'1' && self.subs.iter().any(|s| s.req_id == req_id) {
            return vec![reject(&req_id, "1", "duplicate MDReqID")];
        }
        let depth = fields.get_u64(264).unwrap_or(0);
        if kind == b'1' && depth != 0 {
            return vec![reject(&req_id, "5", "subscriptions are to the full book (MarketDepth 0)")];
        }
        if kind == b'1' && fields.get_char(265).is_ok_and(|t| t != b'1') {
            return vec![reject(&req_id, "6", "only incremental refresh (MDUpdateType 1) is supported")];
        }
        let dict = Dictionary::fix44();
        let (mut bids, mut offers, mut trades) = (false, false, false);
        if let Some(group) = dict.group(b"V", 267).and_then(|spec| fields.group(spec)) {
            for entry in group.entries() {
                match entry.get_char(269) {
                    Ok(b'0') => bids = true,
                    Ok(b'1') => offers = true,
                    Ok(b'2') => trades = true,
                    _ => {
                        return vec![reject(
                            &req_id,
                            "8",
                            "MDEntryType must be 0 (bid), 1 (offer) or 2 (trade)",
                        )];
                    }
                }
            }
        }
        let mut symbols = Vec::new();
        if let Some(group) = dict.group(b"V", 146).and_then(|spec| fields.group(spec)) {
            for entry in group.entries() {
                let symbol = entry.get_str(55).unwrap_or_default();
                match crate::rest::find_instrument(specs, symbol) {
                    Some(spec) => symbols.push(spec.clone()),
                    None => return vec![reject(&req_id, "0", &format!("unknown symbol {symbol:?}"))],
                }
            }
        }
        if symbols.is_empty() {
            return vec![reject(&req_id, "0", "no symbol requested")];
        }
        let limit = (depth > 0).then_some(depth as usize);
        let mut replies = Vec::new();
        for spec in &symbols {
            let (snapshot, last_trade) = {
                let state = market.lock();
                let Some(snapshot) = state.depth(spec.id, limit) else { continue };
                (snapshot, state.l1(spec.id).and_then(|l1| l1.last_trade))
            };
            let mut w = Reply::new("W");
            w.set(262, req_id.clone()).set(55, spec.symbol.clone());
            let mut entries = Vec::new();
            for (wanted, levels, kind) in [(bids, &snapshot.bids, "0"), (offers, &snapshot.asks, "1")] {
                if wanted {
                    for level in levels {
                        entries.push(vec![
                            (269, kind.to_owned()),
                            (270, spec.format_price(level.price)),
                            (271, spec.format_qty(level.qty)),
                        ]);
                    }
                }
            }
            if trades && let Some(trade) = last_trade {
                entries.push(vec![
                    (269, "2".to_owned()),
                    (270, spec.format_price(trade.price)),
                    (271, spec.format_qty(trade.qty)),
                ]);
            }
            w.groups.push((268, entries));
            replies.push(w);
            if kind == b'1' {
                let known = snapshot
                    .bids
                    .iter()
                    .map(|l| (true, l.price.0))
                    .chain(snapshot.asks.iter().map(|l| (false, l.price.0)))
                    .collect();
                self.subs.push(Subscription {
                    req_id: req_id.clone(),
                    instrument: spec.id,
                    bids,
                    offers,
                    trades,
                    follower: BookFollower::new(&snapshot),
                    known,
                });
            }
        }
        replies
    }

    /// Incremental refreshes for one market-data update; a subscription
    /// that finds a gap gets a fresh snapshot instead.
    pub fn on_update(
        &mut self,
        update: &Update,
        market: &MarketFeed,
        specs: &[InstrumentSpec],
    ) -> Vec<Reply> {
        let mut replies = Vec::new();
        for sub in &mut self.subs {
            if sub.instrument != update.instrument {
                continue;
            }
            let Some(spec) = specs.get(update.instrument.0 as usize) else { continue };
            match sub.follower.apply(update) {
                Ok(Applied::Applied) => {}
                Ok(_) => continue,
                Err(_) => {
                    // Missed updates: start the subscription over.
                    let Some(snapshot) = market.lock().depth(spec.id, None) else { continue };
                    let mut w = Reply::new("W");
                    w.set(262, sub.req_id.clone()).set(55, spec.symbol.clone());
                    let mut entries = Vec::new();
                    for (wanted, levels, kind) in
                        [(sub.bids, &snapshot.bids, "0"), (sub.offers, &snapshot.asks, "1")]
                    {
                        if wanted {
                            for level in levels {
                                entries.push(vec![
                                    (269, kind.to_owned()),
                                    (270, spec.format_price(level.price)),
                                    (271, spec.format_qty(level.qty)),
                                ]);
                            }
                        }
                    }
                    w.groups.push((268, entries));
                    sub.known = snapshot
                        .bids
                        .iter()
                        .map(|l| (true, l.price.0))
                        .chain(snapshot.asks.iter().map(|l| (false, l.price.0)))
                        .collect();
                    sub.follower = BookFollower::new(&snapshot);
                    replies.push(w);
                    continue;
                }
            }
            let mut entries = Vec::new();
            for change in &update.levels {
                let bid = change.side == Side::Buy;
                if (bid && !sub.bids) || (!bid && !sub.offers) {
                    continue;
                }
                let key = (bid, change.price.0);
                let action = if change.qty.0 == 0 {
                    sub.known.remove(&key);
                    "2"
                } else if sub.known.insert(key) {
                    "0"
                } else {
                    "1"
                };
                let mut entry = vec![
                    (279, action.to_owned()),
                    (269, if bid { "0" } else { "1" }.to_owned()),
                    (55, spec.symbol.clone()),
                    (270, spec.format_price(change.price)),
                ];
                if change.qty.0 > 0 {
                    entry.push((271, spec.format_qty(change.qty)));
                }
                entries.push(entry);
            }
            if sub.trades {
                for trade in &update.trades {
                    entries.push(vec![
                        (279, "0".to_owned()),
                        (269, "2".to_owned()),
                        (55, spec.symbol.clone()),
                        (270, spec.format_price(trade.price)),
                        (271, spec.format_qty(trade.qty)),
                    ]);
                }
            }
            if !entries.is_empty() {
                let mut x = Reply::new("X");
                x.set(262, sub.req_id.clone());
                x.groups.push((268, entries));
                replies.push(x);
            }
        }
        replies
    }
}
