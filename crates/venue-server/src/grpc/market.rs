//! `venue.v1.MarketData` (from the shared market-data component, the same
//! updates REST, WebSocket and FIX read) and `venue.v1.Admin`.

use super::{Grpc, invalid, rejected, side_of, status_text, time_ns};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use v1::market_data_message::Payload;
use venue_domain::{InstrumentSpec, Side, TradingStatus};
use venue_engine::{Command, Output};
use venue_marketdata::{Conflator, Interest, Interval, L3Event, Update};
use venue_proto::v1;

fn levels(spec: &InstrumentSpec, levels: &[venue_marketdata::PriceLevel]) -> Vec<v1::Level> {
    levels
        .iter()
        .map(|l| v1::Level {
            price: spec.format_price(l.price),
            quantity: spec.format_qty(l.qty),
            orders: l.count,
        })
        .collect()
}

fn book(spec: &InstrumentSpec, snapshot: &venue_marketdata::DepthSnapshot) -> v1::BookSnapshot {
    v1::BookSnapshot {
        symbol: spec.symbol.clone(),
        seq: snapshot.seq,
        bids: levels(spec, &snapshot.bids),
        asks: levels(spec, &snapshot.asks),
    }
}

fn l3_book(spec: &InstrumentSpec, snapshot: &venue_marketdata::L3Snapshot) -> v1::L3Snapshot {
    let orders = [(Side::Buy, &snapshot.bids), (Side::Sell, &snapshot.asks)]
        .into_iter()
        .flat_map(|(side, orders)| {
            orders.iter().map(move |o| v1::L3Order {
                order_id: o.order_id.0,
                side: side_of(side),
                price: spec.format_price(o.price),
                quantity: spec.format_qty(o.qty),
            })
        })
        .collect();
    v1::L3Snapshot { symbol: spec.symbol.clone(), seq: snapshot.seq, orders }
}

fn trade(spec: &InstrumentSpec, t: &venue_marketdata::PublicTrade) -> v1::Trade {
    v1::Trade {
        trade_id: t.trade_id.0,
        price: spec.format_price(t.price),
        quantity: spec.format_qty(t.qty),
        aggressor: side_of(t.aggressor),
        time_ns: time_ns(t.time),
    }
}

fn l3_event(spec: &InstrumentSpec, event: &L3Event) -> v1::L3Event {
    use v1::L3EventType as T;
    let (kind, order_id, side, price, qty, trade_id) = match *event {
        L3Event::Added { order_id, side, price, qty } => (T::Added, order_id, side, price, Some(qty), 0),
        L3Event::Modified { order_id, side, price, qty } => {
            (T::Modified, order_id, side, price, Some(qty), 0)
        }
        L3Event::Deleted { order_id, side, price } => (T::Deleted, order_id, side, price, None, 0),
        L3Event::Executed { order_id, side, price, qty, trade_id } => {
            (T::Executed, order_id, side, price, Some(qty), trade_id.0)
        }
    };
    v1::L3Event {
        r#type: kind as i32,
        order_id: order_id.0,
        side: side_of(side),
        price: spec.format_price(price),
        quantity: qty.map(|q| spec.format_qty(q)).unwrap_or_default(),
        trade_id,
    }
}

/// What one subscription asked for, and where each of its channels stands.
struct Subscription {
    spec: InstrumentSpec,
    depth: Option<usize>,
    l2: bool,
    l3: bool,
    trades: bool,
    quotes: bool,
    intervals: Vec<Interval>,
    /// The book sequence number the subscriber is at.
    seq: u64,
}

impl Subscription {
    /// The parts of an update this subscription uses (what conflation keeps).
    fn interest(&self) -> Interest {
        Interest {
            l2: self.l2,
            l3: self.l3,
            trades: self.trades,
            l1: self.quotes,
            candles: !self.intervals.is_empty(),
            status: true,
        }
    }

    /// Snapshots of what was asked: copied under the market-data lock,
    /// formatted after it is released (the market-data thread needs the
    /// lock to publish, and any client may subscribe).
    fn snapshot(&mut self, grpc: &Grpc, out: &mut VecDeque<v1::MarketDataMessage>) {
        let id = self.spec.id;
        let (seq, depth, l3, l1, status) = {
            let state = grpc.market.lock();
            (
                state.seq(id).unwrap_or(0),
                self.l2.then(|| state.depth(id, self.depth)).flatten(),
                self.l3.then(|| state.l3_snapshot(id)).flatten(),
                self.quotes.then(|| state.l1(id)).flatten(),
                state.status(id),
            )
        };
        let mut seq = seq;
        if let Some(s) = depth {
            seq = s.seq;
            out.push_back(self.message(s.seq, s.time, Payload::Book(book(&self.spec, &s))));
        }
        if let Some(s) = l3 {
            seq = s.seq;
            out.push_back(self.message(s.seq, s.time, Payload::L3Book(l3_book(&self.spec, &s))));
        }
        if let Some(l1) = l1 {
            out.push_back(self.message(l1.seq, l1.time, Payload::Quote(quote(&self.spec, &l1.bbo))));
        }
        if let Some(status) = status {
            out.push_back(self.message(
                seq,
                venue_domain::Timestamp(0),
                Payload::Status(status_text(status).to_owned()),
            ));
        }
        self.seq = seq;
    }

    fn message(&self, seq: u64, time: venue_domain::Timestamp, payload: Payload) -> v1::MarketDataMessage {
        v1::MarketDataMessage {
            symbol: self.spec.symbol.clone(),
            seq,
            time_ns: time_ns(time),
            payload: Some(payload),
        }
    }

    /// The messages one update makes for this subscription (none for
    /// another instrument or one already in the snapshot).
    fn update(&mut self, u: &Update, out: &mut VecDeque<v1::MarketDataMessage>) {
        if u.instrument != self.spec.id || u.seq <= self.seq {
            return;
        }
        self.seq = u.seq;
        let spec = &self.spec;
        if self.l2 && u.has_l2() {
            let changes = u
                .levels
                .iter()
                .map(|c| v1::LevelChange {
                    side: side_of(c.side),
                    price: spec.format_price(c.price),
                    quantity: spec.format_qty(c.qty),
                    orders: c.count,
                })
                .collect();
            let diff = v1::BookDiff { first_seq: u.l2_first_seq, seq: u.seq, changes };
            out.push_back(self.message(u.seq, u.time, Payload::BookDiff(diff)));
        }
        if self.l3 && u.has_l3() {
            let events = u.l3.iter().map(|e| l3_event(spec, e)).collect();
            let diff = v1::L3Diff { first_seq: u.l3_first_seq, seq: u.seq, events };
            out.push_back(self.message(u.seq, u.time, Payload::L3Diff(diff)));
        }
        if self.trades {
            for t in &u.trades {
                out.push_back(self.message(u.seq, u.time, Payload::Trade(trade(spec, t))));
            }
        }
        if self.quotes
            && let Some(bbo) = &u.bbo
        {
            out.push_back(self.message(u.seq, u.time, Payload::Quote(quote(spec, bbo))));
        }
        for candle in u.candles.iter().filter(|c| self.intervals.contains(&c.interval)) {
            let o = &candle.ohlcv;
            let c = v1::Candle {
                interval: candle.interval.name().to_owned(),
                open_time_ns: time_ns(candle.open_time),
                open: spec.format_price(o.open),
                high: spec.format_price(o.high),
                low: spec.format_price(o.low),
                close: spec.format_price(o.close),
                volume: spec.format_qty(o.volume),
                quote_volume: crate::rest::quote_text(spec, o.quote_volume),
                trades: o.trades,
                closed: candle.is_closed(u.time),
            };
            out.push_back(self.message(u.seq, u.time, Payload::Candle(c)));
        }
        if let Some(status) = u.status {
            out.push_back(self.message(u.seq, u.time, Payload::Status(status_text(status).to_owned())));
        }
    }
}

fn quote(spec: &InstrumentSpec, bbo: &venue_marketdata::Bbo) -> v1::Quote {
    let side = |level: &Option<venue_marketdata::PriceLevel>| match level {
        Some(l) => (spec.format_price(l.price), spec.format_qty(l.qty)),
        None => (String::new(), "0".to_owned()),
    };
    let (bid_price, bid_quantity) = side(&bbo.bid);
    let (ask_price, ask_quantity) = side(&bbo.ask);
    v1::Quote { bid_price, bid_quantity, ask_price, ask_quantity }
}

type MarketStream = Pin<Box<dyn Stream<Item = Result<v1::MarketDataMessage, Status>> + Send>>;

#[tonic::async_trait]
impl v1::market_data_server::MarketData for Grpc {
    async fn get_instruments(
        &self,
        _request: Request<v1::GetInstrumentsRequest>,
    ) -> Result<Response<v1::GetInstrumentsResponse>, Status> {
        let state = self.market.lock();
        let instruments = self
            .rest
            .specs()
            .iter()
            .map(|s| v1::Instrument {
                symbol: s.symbol.clone(),
                base_asset: s.base_asset.clone(),
                quote_asset: s.quote_asset.clone(),
                tick_size: venue_domain::format_scaled(s.tick_size, s.price_decimals),
                lot_size: venue_domain::format_scaled(s.lot_size, s.qty_decimals),
                min_quantity: s.format_qty(s.min_qty),
                max_quantity: s.format_qty(s.max_qty),
                price_decimals: u32::from(s.price_decimals),
                quantity_decimals: u32::from(s.qty_decimals),
                status: status_text(state.status(s.id).unwrap_or(s.status)).to_owned(),
            })
            .collect();
        Ok(Response::new(v1::GetInstrumentsResponse { instruments }))
    }

    async fn get_book(
        &self,
        request: Request<v1::GetBookRequest>,
    ) -> Result<Response<v1::BookSnapshot>, Status> {
        let r = request.get_ref();
        let spec = self.instrument(&r.symbol)?;
        let depth = (r.depth > 0).then_some(r.depth as usize);
        let snapshot =
            self.market.lock().depth(spec.id, depth).ok_or_else(|| Status::not_found("no book"))?;
        Ok(Response::new(book(spec, &snapshot)))
    }

    async fn get_trades(
        &self,
        request: Request<v1::GetTradesRequest>,
    ) -> Result<Response<v1::GetTradesResponse>, Status> {
        let r = request.get_ref();
        let spec = self.instrument(&r.symbol)?;
        let limit = match r.limit {
            0 => 100,
            n @ 1..=1000 => n as usize,
            _ => return Err(invalid("limit", "at most 1000")),
        };
        let snapshot =
            self.market.lock().trades(spec.id, limit).ok_or_else(|| Status::not_found("no trades"))?;
        let trades = snapshot.trades.iter().map(|t| trade(spec, t)).collect();
        Ok(Response::new(v1::GetTradesResponse { seq: snapshot.seq, trades }))
    }

    type SubscribeStream = MarketStream;

    async fn subscribe(
        &self,
        request: Request<v1::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = request.into_inner();
        let spec = self.instrument(&r.symbol)?.clone();
        let mut intervals = Vec::new();
        for name in &r.candle_intervals {
            intervals.push(Interval::from_name(name).ok_or_else(|| {
                invalid("candle_intervals", format!("{name:?} is not one of 1s, 1m, 5m, 15m, 1h, 1d"))
            })?);
        }
        if !(r.l2 || r.l3 || r.trades || r.quotes || !intervals.is_empty()) {
            return Err(invalid(
                "subscribe",
                "ask for at least one of l2, l3, trades, quotes, candle_intervals",
            ));
        }
        let mut sub = Subscription {
            spec,
            depth: (r.depth > 0).then_some(r.depth as usize),
            l2: r.l2,
            l3: r.l3,
            trades: r.trades,
            quotes: r.quotes,
            intervals,
            seq: 0,
        };
        let grpc = Arc::new(self.clone_parts());
        // Subscribed before the snapshot: every update after it arrives;
        // those already in it are skipped by sequence number.
        let updates = self.market.updates.subscribe();
        let mut first = VecDeque::new();
        sub.snapshot(&grpc, &mut first);
        let conflator = r.conflate.then(|| Conflator::new(CONFLATE_AFTER, sub.interest()));
        // A conflating subscriber keeps little queued: the point is the
        // latest state, merged here, not a long queue of old diffs.
        let (tx, rx) = tokio::sync::mpsc::channel(if r.conflate { 16 } else { 1024 });
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let resnapshot = move |sub: &mut Subscription, out: &mut VecDeque<v1::MarketDataMessage>| {
                sub.snapshot(&grpc, out)
            };
            pump(sub, updates, tx, conflator, first, resnapshot, stopped).await;
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// Updates a conflating subscription may have waiting before they merge.
const CONFLATE_AFTER: usize = 64;

/// Feeds one subscription until the client leaves or the venue stops.
///
/// Without a conflator it sends every update's messages in order, waiting
/// for the client; if it falls so far behind that the shared update channel
/// drops updates for it, it sends a fresh snapshot (the diffs' `first_seq`
/// shows the jump). With one, it keeps taking updates while the client is
/// slow and merges them (latest level states and quote, trades and L3
/// events kept in order), so a slow client gets fewer, larger diffs that
/// still chain (`first_seq` = previous `seq` + 1) instead of a backlog.
async fn pump(
    mut sub: Subscription,
    mut updates: broadcast::Receiver<Arc<Update>>,
    tx: mpsc::Sender<Result<v1::MarketDataMessage, Status>>,
    mut conflator: Option<Conflator>,
    mut out: VecDeque<v1::MarketDataMessage>,
    mut resnapshot: impl FnMut(&mut Subscription, &mut VecDeque<v1::MarketDataMessage>),
    stopped: impl Future<Output = ()>,
) {
    tokio::pin!(stopped);
    loop {
        if out.is_empty()
            && let Some(update) = conflator.as_mut().and_then(Conflator::pop)
        {
            sub.update(&update, &mut out);
            continue;
        }
        let sending = !out.is_empty();
        tokio::select! {
            biased;
            () = &mut stopped => return,
            permit = tx.reserve(), if sending => match (permit, out.pop_front()) {
                (Ok(permit), Some(message)) => permit.send(Ok(message)),
                _ => return,
            },
            received = updates.recv(), if !sending || conflator.is_some() => match received {
                Ok(update) => match conflator.as_mut() {
                    Some(conflator) => {
                        conflator.push(update);
                    }
                    None => sub.update(&update, &mut out),
                },
                Err(RecvError::Lagged(_)) => {
                    // Everything waiting is older than the snapshot.
                    if let Some(conflator) = conflator.as_mut() {
                        while conflator.pop().is_some() {}
                    }
                    resnapshot(&mut sub, &mut out);
                }
                Err(RecvError::Closed) => return,
            },
            () = tx.closed(), if !sending => return,
        }
    }
}

impl Grpc {
    async fn admin(&self, command: Command) -> Result<Response<v1::AdminResult>, Status> {
        let answer = self.run(command).await?;
        for output in &answer.outputs {
            if let Output::CommandRejected { reason } = output {
                return Err(rejected(*reason));
            }
        }
        Ok(Response::new(v1::AdminResult { seq: answer.seq }))
    }
}

#[tonic::async_trait]
impl v1::admin_server::Admin for Grpc {
    async fn set_instrument_status(
        &self,
        request: Request<v1::SetInstrumentStatusRequest>,
    ) -> Result<Response<v1::AdminResult>, Status> {
        let r = request.get_ref();
        let instrument = self.instrument(&r.symbol)?.id;
        let status = match r.status.as_str() {
            "TRADING" => TradingStatus::Open,
            "HALT" => TradingStatus::Halted,
            "BREAK" => TradingStatus::Closed,
            _ => return Err(invalid("status", "must be TRADING, HALT or BREAK")),
        };
        self.admin(Command::SetStatus { instrument, status }).await
    }

    async fn set_kill_switch(
        &self,
        request: Request<v1::SetKillSwitchRequest>,
    ) -> Result<Response<v1::AdminResult>, Status> {
        let r = request.get_ref();
        let account = u32::try_from(r.account).map_err(|_| invalid("account", "out of range"))?;
        self.admin(Command::KillSwitch { account: venue_domain::AccountId(account), on: r.on }).await
    }

    async fn get_status(
        &self,
        _request: Request<v1::VenueStatusRequest>,
    ) -> Result<Response<v1::VenueStatus>, Status> {
        let venue = self.venue();
        let stats = venue.monitor.stats();
        Ok(Response::new(v1::VenueStatus {
            last_seq: stats.applied.load(Ordering::Acquire),
            durable_seq: stats.durable.load(Ordering::Acquire),
            commands: stats.applied.load(Ordering::Acquire),
            inbound_queued: venue.router.queued() as u64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use venue_domain::{Price, Qty, Timestamp};
    use venue_matching::{Event, EventKind};

    /// A client that reads nothing while 2,000 updates arrive, then reads
    /// everything: with conflation it gets far fewer diffs, each chained to
    /// the previous one, and ends with exactly the market's book.
    #[tokio::test(flavor = "current_thread")]
    async fn a_conflating_subscription_merges_what_a_slow_client_missed_into_chained_diffs() {
        let instruments = venue_engine::EngineConfig::demo().instruments;
        let spec = instruments[0].clone();
        let mut market = venue_marketdata::MarketData::new(&instruments);
        let sub = Subscription {
            spec: spec.clone(),
            depth: None,
            l2: true,
            l3: false,
            trades: false,
            quotes: true,
            intervals: Vec::new(),
            seq: 0,
        };
        let (updates_tx, updates) = broadcast::channel(1 << 14);
        let (tx, mut rx) = mpsc::channel(16);
        let conflator = Some(Conflator::new(CONFLATE_AFTER, sub.interest()));
        let no_lag = |_: &mut Subscription, _: &mut VecDeque<v1::MarketDataMessage>| panic!("no lag here");
        let pump =
            tokio::spawn(pump(sub, updates, tx, conflator, VecDeque::new(), no_lag, std::future::pending()));

        const UPDATES: u64 = 2_000;
        for i in 0..UPDATES {
            let qty = (i % 5) as i64;
            let kind = EventKind::Level {
                side: Side::Buy,
                price: Price(100 + (i * 7 % 40) as i64),
                qty: Qty(qty),
                count: u32::from(qty > 0),
            };
            let output = Output::Book(Event { instrument: spec.id, kind });
            let mut out = Vec::new();
            market.apply_command(i + 1, Timestamp(i), &[output], &mut out);
            for update in out {
                updates_tx.send(update).expect("the pump listens");
            }
        }
        // The slow client reads nothing until the pump has taken everything.
        while !updates_tx.is_empty() {
            tokio::task::yield_now().await;
        }

        let last = market.seq(spec.id).expect("the instrument");
        let (mut seq, mut diffs) = (0, 0);
        let mut local: BTreeMap<String, (String, u32)> = BTreeMap::new();
        while seq < last {
            let message = rx.recv().await.expect("the pump runs").expect("no error");
            let Some(Payload::BookDiff(diff)) = message.payload else { continue };
            assert_eq!(diff.first_seq, seq + 1, "diffs chain");
            for change in diff.changes {
                if change.quantity == "0" {
                    local.remove(&change.price);
                } else {
                    local.insert(change.price, (change.quantity, change.orders));
                }
            }
            (seq, diffs) = (diff.seq, diffs + 1);
        }
        assert!(diffs < UPDATES / 10, "{diffs} diffs for {UPDATES} updates: nothing was merged");
        let expected = book(&spec, &market.depth(spec.id, None).expect("book"));
        let expected: BTreeMap<String, (String, u32)> =
            expected.bids.into_iter().map(|l| (l.price, (l.quantity, l.orders))).collect();
        assert_eq!(local, expected, "the conflated client's book is the market's");
        pump.abort();
    }
}
