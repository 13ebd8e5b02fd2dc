//! `venue.v1.Account`: the caller's executions and balances, streamed and
//! queried.

use super::{Grpc, caller, rejected, request_error, side_of, time_ns};
use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use venue_domain::{AccountId, InstrumentId, OrderKind, TimeInForce};
use venue_engine::{AssetId, Engine, Output};
use venue_matching::{BookOrder, EventKind};
use venue_proto::v1;

/// Outputs that may wait unread for one account stream; beyond this the
/// stream ends with RESOURCE_EXHAUSTED (the engine never waits for it) and
/// the client re-reads its state with the queries.
const FEED_CAPACITY: usize = 1 << 14;

fn order_type(kind: OrderKind) -> i32 {
    (match kind {
        OrderKind::Limit => v1::OrderType::Limit,
        OrderKind::Market => v1::OrderType::Market,
        OrderKind::Stop => v1::OrderType::Stop,
        OrderKind::StopLimit => v1::OrderType::StopLimit,
    }) as i32
}

fn tif(tif: TimeInForce) -> i32 {
    (match tif {
        TimeInForce::Gtc => v1::TimeInForce::Gtc,
        TimeInForce::Ioc => v1::TimeInForce::Ioc,
        TimeInForce::Fok => v1::TimeInForce::Fok,
        TimeInForce::Gtd => v1::TimeInForce::Gtd,
        TimeInForce::Day => v1::TimeInForce::Day,
    }) as i32
}

impl Grpc {
    fn open_order(&self, instrument: InstrumentId, order: &BookOrder) -> Option<v1::OpenOrder> {
        let spec = self.spec(instrument)?;
        let executed = order.qty.0 - order.leaves.0;
        // A dormant stop still has a stop kind (a triggered one is a limit
        // or market order).
        let status = if order.kind.is_stop() {
            v1::OrderStatus::PendingTrigger
        } else if executed > 0 {
            v1::OrderStatus::PartiallyFilled
        } else {
            v1::OrderStatus::New
        };
        Some(v1::OpenOrder {
            order_id: order.order_id.0,
            client_order_id: self.rest.name(order.client_order_id, order.order_id),
            symbol: spec.symbol.clone(),
            side: side_of(order.side),
            r#type: order_type(order.kind),
            time_in_force: tif(order.tif),
            price: spec.format_price(order.price),
            stop_price: spec.format_price(order.stop_price),
            quantity: spec.format_qty(order.qty),
            leaves_quantity: spec.format_qty(order.leaves),
            executed_quantity: spec.format_qty(venue_domain::Qty(executed)),
            status: status as i32,
        })
    }

    /// The executions one output makes for `account`.
    fn executions(
        &self,
        account: AccountId,
        seq: u64,
        time: i64,
        output: &Output,
        out: &mut Vec<v1::Execution>,
    ) {
        let Output::Book(event) = output else { return };
        let Some(spec) = self.spec(event.instrument) else { return };
        let base = |order_id: venue_domain::OrderId, exec_type: v1::ExecType| v1::Execution {
            seq,
            time_ns: time,
            symbol: spec.symbol.clone(),
            order_id: order_id.0,
            exec_type: exec_type as i32,
            ..Default::default()
        };
        match event.kind {
            EventKind::Accepted { order_id, account: a, side, price, qty, .. } if a == account => {
                out.push(v1::Execution {
                    side: side_of(side),
                    price: spec.format_price(price),
                    quantity: spec.format_qty(qty),
                    leaves_quantity: spec.format_qty(qty),
                    ..base(order_id, v1::ExecType::New)
                });
            }
            EventKind::Rejected { order_id, account: a, reason, .. } if a == account => {
                out.push(v1::Execution {
                    reason: reason.as_str().to_owned(),
                    ..base(order_id, v1::ExecType::Rejected)
                });
            }
            EventKind::Trade {
                trade_id,
                price,
                qty,
                maker_order_id,
                taker_order_id,
                maker_account,
                taker_account,
                maker_leaves,
                taker_leaves,
                aggressor,
            } => {
                let maker_side = aggressor.opposite();
                for (mine, order_id, side, leaves, maker) in [
                    (maker_account == account, maker_order_id, maker_side, maker_leaves, true),
                    (taker_account == account, taker_order_id, aggressor, taker_leaves, false),
                ] {
                    if mine {
                        out.push(v1::Execution {
                            side: side_of(side),
                            price: spec.format_price(price),
                            quantity: spec.format_qty(qty),
                            leaves_quantity: spec.format_qty(leaves),
                            trade_id: trade_id.0,
                            maker,
                            fee_asset: spec.quote_asset.clone(),
                            ..base(order_id, v1::ExecType::Trade)
                        });
                    }
                }
            }
            EventKind::Cancelled { order_id, account: a, qty, reason } if a == account => {
                out.push(v1::Execution {
                    quantity: spec.format_qty(qty),
                    leaves_quantity: "0".to_owned(),
                    reason: reason.as_str().to_owned(),
                    ..base(order_id, v1::ExecType::Canceled)
                });
            }
            EventKind::Expired { order_id, account: a, qty } if a == account => {
                out.push(v1::Execution {
                    quantity: spec.format_qty(qty),
                    leaves_quantity: "0".to_owned(),
                    reason: "order expired".to_owned(),
                    ..base(order_id, v1::ExecType::Expired)
                });
            }
            EventKind::Triggered { order_id, account: a, last_price } if a == account => {
                out.push(v1::Execution {
                    price: spec.format_price(last_price),
                    ..base(order_id, v1::ExecType::Triggered)
                });
            }
            EventKind::Amended { order_id, account: a, price, qty, leaves, .. } if a == account => {
                out.push(v1::Execution {
                    price: spec.format_price(price),
                    quantity: spec.format_qty(qty),
                    leaves_quantity: spec.format_qty(leaves),
                    ..base(order_id, v1::ExecType::Replaced)
                });
            }
            EventKind::Reduced { order_id, account: a, qty, leaves } if a == account => {
                out.push(v1::Execution {
                    quantity: spec.format_qty(qty),
                    leaves_quantity: spec.format_qty(leaves),
                    reason: "reduced by self-trade prevention".to_owned(),
                    ..base(order_id, v1::ExecType::Restated)
                });
            }
            _ => {}
        }
    }

    /// The assets whose balance of `account` an output changes.
    fn touched(&self, account: AccountId, output: &Output, assets: &mut BTreeSet<u32>) {
        let instrument = match output {
            Output::Settlement(s) if s.buyer == account || s.seller == account => s.instrument,
            Output::Transfer { account: a, asset, .. } if *a == account => {
                assets.insert(asset.0);
                return;
            }
            // New orders and cancels move money between available and held.
            Output::Book(event) => match event.kind {
                EventKind::Accepted { account: a, .. }
                | EventKind::Cancelled { account: a, .. }
                | EventKind::Expired { account: a, .. }
                | EventKind::Amended { account: a, .. }
                | EventKind::Reduced { account: a, .. }
                    if a == account =>
                {
                    event.instrument
                }
                _ => return,
            },
            _ => return,
        };
        let Some(spec) = self.spec(instrument) else { return };
        let known = &self.venue().engine.assets;
        for name in [&spec.base_asset, &spec.quote_asset] {
            if let Some(at) = known.iter().position(|a| &a.name == name) {
                assets.insert(at as u32);
            }
        }
    }

    async fn balances(
        &self,
        account: AccountId,
        assets: Vec<u32>,
    ) -> Result<(u64, Vec<v1::Balance>), Status> {
        let venue = self.venue();
        let (seq, raw) = venue
            .router
            .query(
                &venue.monitor,
                move |engine: &Engine| {
                    let raw: Vec<(u32, i64, i64)> = assets
                        .iter()
                        .map(|&at| {
                            let b = engine.balance(account, AssetId(at));
                            (at, b.available, b.held)
                        })
                        .collect();
                    (engine.seq(), raw)
                },
                self.timeout(),
            )
            .await
            .map_err(request_error)?;
        let balances = raw
            .into_iter()
            .filter_map(|(at, available, held)| {
                let asset = venue.engine.assets.get(at as usize)?;
                Some(v1::Balance {
                    asset: asset.name.clone(),
                    available: venue_domain::format_scaled(available, asset.decimals),
                    held: venue_domain::format_scaled(held, asset.decimals),
                })
            })
            .collect();
        Ok((seq, balances))
    }
}

type AccountStream = Pin<Box<dyn Stream<Item = Result<v1::AccountEvent, Status>> + Send>>;

#[tonic::async_trait]
impl v1::account_server::Account for Grpc {
    type StreamAccountStream = AccountStream;

    async fn stream_account(
        &self,
        request: Request<v1::StreamAccountRequest>,
    ) -> Result<Response<Self::StreamAccountStream>, Status> {
        let account = caller(&request)?.account;
        let mut feed = self.venue().router.subscribe(Some(account), FEED_CAPACITY);
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let grpc = self.clone_parts();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let mut executions = Vec::new();
            let mut assets = BTreeSet::new();
            loop {
                let first = tokio::select! {
                    first = feed.rx.recv() => first,
                    _ = stop.wait_for(|s| *s) => None,
                    _ = tx.closed() => None,
                };
                let Some(first) = first else { break };
                let mut batch = vec![first];
                while batch.len() < 4096
                    && let Ok(more) = feed.rx.try_recv()
                {
                    batch.push(more);
                }
                for (at, stamped) in batch.iter().enumerate() {
                    let time = time_ns(stamped.time);
                    grpc.executions(account, stamped.seq, time, &stamped.output, &mut executions);
                    grpc.touched(account, &stamped.output, &mut assets);
                    // A trade's fees come in the settlement right after it.
                    if let Output::Settlement(s) = &stamped.output {
                        for e in executions.iter_mut().filter(|e| {
                            e.trade_id == s.trade_id.0 && e.exec_type == v1::ExecType::Trade as i32
                        }) {
                            let fee = if e.order_id == s.buy_order.0 { s.buyer_fee } else { s.seller_fee };
                            e.fee = grpc.amount(&e.fee_asset, fee);
                        }
                    }
                    // Its settlement is the next output of the feed: in this
                    // batch, or (when the batch ended between the two) in
                    // the next one; the execution waits for its fee.
                    let settles_next = match batch.get(at + 1) {
                        Some(next) => matches!(next.output, Output::Settlement(_)),
                        None => {
                            matches!(&stamped.output, Output::Book(e) if matches!(e.kind, EventKind::Trade { .. }))
                        }
                    };
                    if settles_next {
                        continue;
                    }
                    for execution in executions.drain(..) {
                        let event =
                            v1::AccountEvent { event: Some(v1::account_event::Event::Execution(execution)) };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
                let overflowed = feed.overflowed.load(Ordering::Relaxed);
                if !executions.is_empty() && !overflowed {
                    // Balances follow the executions that changed them.
                    continue;
                }
                if overflowed {
                    let _ = tx
                        .send(Err(Status::resource_exhausted(
                            "the stream fell behind and lost events: reopen it and re-read orders and balances",
                        )))
                        .await;
                    return;
                }
                if !assets.is_empty() {
                    let asked: Vec<u32> = std::mem::take(&mut assets).into_iter().collect();
                    match grpc.balances(account, asked).await {
                        Ok((seq, balances)) => {
                            for b in balances {
                                let update = v1::BalanceUpdate {
                                    seq,
                                    asset: b.asset,
                                    available: b.available,
                                    held: b.held,
                                };
                                let event = v1::AccountEvent {
                                    event: Some(v1::account_event::Event::Balance(update)),
                                };
                                if tx.send(Ok(event)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(status) => {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn get_balances(
        &self,
        request: Request<v1::GetBalancesRequest>,
    ) -> Result<Response<v1::GetBalancesResponse>, Status> {
        let account = caller(&request)?.account;
        let all: Vec<u32> = (0..self.venue().engine.assets.len() as u32).collect();
        let (seq, balances) = self.balances(account, all).await?;
        Ok(Response::new(v1::GetBalancesResponse { balances, seq }))
    }

    async fn get_open_orders(
        &self,
        request: Request<v1::GetOpenOrdersRequest>,
    ) -> Result<Response<v1::GetOpenOrdersResponse>, Status> {
        let account = caller(&request)?.account;
        let symbol = &request.get_ref().symbol;
        let ids: Vec<InstrumentId> = if symbol.is_empty() {
            self.rest.specs().iter().map(|s| s.id).collect()
        } else {
            vec![self.instrument(symbol)?.id]
        };
        let venue = self.venue();
        let (seq, found) = venue
            .router
            .query(
                &venue.monitor,
                move |engine: &Engine| {
                    let mut found = Vec::new();
                    for id in ids {
                        if let Some(book) = engine.books().book(id) {
                            found.extend(book.orders_of(account).into_iter().map(|o| (id, o)));
                        }
                    }
                    (engine.seq(), found)
                },
                self.timeout(),
            )
            .await
            .map_err(request_error)?;
        let mut orders: Vec<v1::OpenOrder> =
            found.iter().filter_map(|(id, order)| self.open_order(*id, order)).collect();
        orders.sort_by_key(|o| o.order_id);
        Ok(Response::new(v1::GetOpenOrdersResponse { orders, seq }))
    }

    async fn get_order(
        &self,
        request: Request<v1::GetOrderRequest>,
    ) -> Result<Response<v1::OpenOrder>, Status> {
        let account = caller(&request)?.account;
        let r = request.get_ref();
        let spec = self.instrument(&r.symbol)?;
        let target = super::orders::order_ref(account, r.order.as_ref())?;
        let instrument = spec.id;
        let venue = self.venue();
        let found = venue
            .router
            .query(
                &venue.monitor,
                move |engine: &Engine| engine.books().book(instrument)?.find(target, Some(account)).ok(),
                self.timeout(),
            )
            .await
            .map_err(request_error)?;
        match found.and_then(|order| self.open_order(instrument, &order)) {
            Some(order) => Ok(Response::new(order)),
            None => Err(rejected(venue_domain::Reject::UnknownOrder)),
        }
    }
}
