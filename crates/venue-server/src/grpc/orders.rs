//! `venue.v1.OrderEntry`: orders in, their immediate outcome out.

use super::{Caller, Grpc, caller, invalid, parse_field, rejected, request_error, time_ns};
use crate::history::Status as History;
use crate::router::{Answer, RequestError};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};
use venue_domain::{
    ClientOrderId, InstrumentId, InstrumentSpec, OrderId, OrderKind, Price, Qty, Reject, Side, StpGroup,
    StpMode, TimeInForce, Timestamp,
};
use venue_engine::{Command, Output};
use venue_matching::{AmendOrder, CancelOrder, EventKind, NewOrder, OrderRef};
use venue_proto::v1;

/// Requests of one order session that may wait for their answers at once.
const SESSION_IN_FLIGHT: usize = 1024;

fn side(value: i32) -> Result<Side, Status> {
    match v1::Side::try_from(value) {
        Ok(v1::Side::Buy) => Ok(Side::Buy),
        Ok(v1::Side::Sell) => Ok(Side::Sell),
        _ => Err(invalid("side", "must be SIDE_BUY or SIDE_SELL")),
    }
}

/// A client's order id, checked (it is remembered only once an order that
/// carries it is submitted).
fn client_id(text: &str) -> Result<ClientOrderId, Status> {
    if text.is_empty() {
        return Ok(ClientOrderId::NONE);
    }
    if text.len() > 36 || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b)) {
        return Err(invalid("client_order_id", "at most 36 characters of [A-Za-z0-9._:/-]"));
    }
    Ok(crate::fix::orders::client_id(text))
}

/// The order a cancel, amend or query names.
pub(super) fn order_ref(
    account: venue_domain::AccountId,
    order: Option<&v1::OrderRef>,
) -> Result<OrderRef, Status> {
    match order.and_then(|o| o.id.as_ref()) {
        Some(v1::order_ref::Id::OrderId(id)) => Ok(OrderRef::Id(OrderId(*id))),
        Some(v1::order_ref::Id::ClientOrderId(text)) if !text.is_empty() => {
            Ok(OrderRef::Client(account, client_id(text)?))
        }
        _ => Err(invalid("order", "order_id or client_order_id is required")),
    }
}

/// The engine order for a request; every refusal names its field.
pub(super) fn build_order<'g>(
    grpc: &'g Grpc,
    account: venue_domain::AccountId,
    r: &v1::NewOrderRequest,
) -> Result<(NewOrder, &'g InstrumentSpec), Status> {
    let spec = grpc.instrument(&r.symbol)?;
    let side = side(r.side)?;
    let kind = match v1::OrderType::try_from(r.r#type) {
        Ok(v1::OrderType::Limit) => OrderKind::Limit,
        Ok(v1::OrderType::Market) => OrderKind::Market,
        Ok(v1::OrderType::Stop) => OrderKind::Stop,
        Ok(v1::OrderType::StopLimit) => OrderKind::StopLimit,
        _ => return Err(invalid("type", "must be one of LIMIT, MARKET, STOP, STOP_LIMIT")),
    };
    let has_limit = matches!(kind, OrderKind::Limit | OrderKind::StopLimit);
    let tif = match v1::TimeInForce::try_from(r.time_in_force) {
        Ok(v1::TimeInForce::Unspecified) if has_limit => TimeInForce::Gtc,
        Ok(v1::TimeInForce::Unspecified) => TimeInForce::Ioc,
        Ok(v1::TimeInForce::Gtc) => TimeInForce::Gtc,
        Ok(v1::TimeInForce::Ioc) => TimeInForce::Ioc,
        Ok(v1::TimeInForce::Fok) => TimeInForce::Fok,
        Ok(v1::TimeInForce::Gtd) => TimeInForce::Gtd,
        Ok(v1::TimeInForce::Day) => TimeInForce::Day,
        Err(_) => return Err(invalid("time_in_force", "unknown value")),
    };
    let price = if has_limit {
        parse_field("price", &r.price, |t| spec.parse_price(t))?
    } else if !r.price.is_empty() {
        return Err(invalid("price", "only LIMIT and STOP_LIMIT orders have a price"));
    } else {
        Price(0)
    };
    let stop_price = if kind.is_stop() {
        parse_field("stop_price", &r.stop_price, |t| spec.parse_price(t))?
    } else if !r.stop_price.is_empty() {
        return Err(invalid("stop_price", "only STOP and STOP_LIMIT orders have a stop price"));
    } else {
        Price(0)
    };
    let budget_allowed = matches!(kind, OrderKind::Market | OrderKind::Stop) && side == Side::Buy;
    let (qty, quote_budget) = match (r.quantity.is_empty(), r.quote_quantity.is_empty()) {
        (true, false) if budget_allowed => {
            (spec.max_qty, parse_field("quote_quantity", &r.quote_quantity, |t| spec.parse_quote_budget(t))?)
        }
        (true, false) => {
            return Err(invalid("quote_quantity", "only MARKET and STOP buys take a quote budget"));
        }
        (false, false) => return Err(invalid("quote_quantity", "give quantity or quote_quantity, not both")),
        _ => (parse_field("quantity", &r.quantity, |t| spec.parse_qty(t))?, 0),
    };
    let display_qty = if r.display_quantity.is_empty() {
        Qty::ZERO
    } else {
        parse_field("display_quantity", &r.display_quantity, |t| spec.parse_qty(t))?
    };
    let stp = match v1::SelfTradePrevention::try_from(r.self_trade_prevention) {
        Ok(v1::SelfTradePrevention::StpUnspecified) => StpMode::default(),
        Ok(v1::SelfTradePrevention::StpAllow) => StpMode::Allow,
        Ok(v1::SelfTradePrevention::StpCancelResting) => StpMode::CancelResting,
        Ok(v1::SelfTradePrevention::StpCancelIncoming) => StpMode::CancelIncoming,
        Ok(v1::SelfTradePrevention::StpCancelBoth) => StpMode::CancelBoth,
        Ok(v1::SelfTradePrevention::StpDecrementAndCancel) => StpMode::DecrementAndCancel,
        Err(_) => return Err(invalid("self_trade_prevention", "unknown value")),
    };
    let expire_time = match (tif, u64::try_from(r.expire_time_ns)) {
        (TimeInForce::Gtd, Ok(ns)) if ns > 0 => Timestamp(ns),
        (TimeInForce::Gtd, _) => {
            return Err(invalid("expire_time_ns", "a GTD order needs a positive expiry"));
        }
        (_, _) if r.expire_time_ns != 0 => {
            return Err(invalid("expire_time_ns", "only GTD orders have an expiry"));
        }
        _ => Timestamp(0),
    };
    let order = NewOrder {
        instrument: spec.id,
        order_id: OrderId(0),
        client_order_id: client_id(&r.client_order_id)?,
        account,
        stp_group: StpGroup(0),
        side,
        kind,
        tif,
        price,
        stop_price,
        qty,
        display_qty,
        post_only: r.post_only,
        stp,
        expire_time,
        quote_budget,
    };
    // Checked in full: the client's text is what its answers will show.
    if !r.client_order_id.is_empty() {
        grpc.rest.remember(order.client_order_id, &r.client_order_id);
    }
    Ok((order, spec))
}

/// A trace's outcome attribute for an order result.
fn order_outcome(result: &v1::OrderResult) -> String {
    match v1::OrderStatus::try_from(result.status) {
        Ok(status) => status.as_str_name().trim_start_matches("ORDER_STATUS_").to_ascii_lowercase(),
        Err(_) => "unknown".into(),
    }
}

/// The immediate outcome of a new order from its command's outputs.
pub(super) fn order_result(
    grpc: &Grpc,
    order: &NewOrder,
    spec: &InstrumentSpec,
    answer: &Answer,
) -> Result<v1::OrderResult, Status> {
    let mut result = v1::OrderResult {
        symbol: spec.symbol.clone(),
        seq: answer.seq,
        transact_time_ns: time_ns(answer.time),
        status: if order.kind.is_stop() { v1::OrderStatus::PendingTrigger } else { v1::OrderStatus::New }
            as i32,
        ..Default::default()
    };
    let mut order_id = None;
    let mut executed = 0i64;
    let mut leaves = order.qty;
    for output in &answer.outputs {
        match output {
            Output::Book(event) => match event.kind {
                EventKind::Accepted { order_id: id, .. } => order_id = Some(id),
                EventKind::Rejected { reason, .. } => return Err(rejected(reason)),
                EventKind::Trade { trade_id, price, qty, taker_order_id, taker_leaves, .. }
                    if Some(taker_order_id) == order_id =>
                {
                    executed += qty.0;
                    leaves = taker_leaves;
                    result.status = if taker_leaves.0 == 0 {
                        v1::OrderStatus::Filled
                    } else {
                        v1::OrderStatus::PartiallyFilled
                    } as i32;
                    result.fills.push(v1::Fill {
                        trade_id: trade_id.0,
                        price: spec.format_price(price),
                        quantity: spec.format_qty(qty),
                        fee_asset: spec.quote_asset.clone(),
                        maker: false,
                        fee: String::new(),
                    });
                }
                EventKind::Cancelled { order_id: id, reason, .. } if Some(id) == order_id => {
                    leaves = Qty::ZERO;
                    result.reason = reason.as_str().to_owned();
                    // The rule REST and the order history use, so that every
                    // gateway names an ended order alike.
                    result.status = proto_status(History::after_cancel(reason, Qty(executed))) as i32;
                }
                _ => {}
            },
            Output::Settlement(s) => {
                let (mine, fee) = if order.side == Side::Buy {
                    (s.buy_order, s.buyer_fee)
                } else {
                    (s.sell_order, s.seller_fee)
                };
                if Some(mine) == order_id
                    && let Some(fill) = result.fills.iter_mut().find(|f| f.trade_id == s.trade_id.0)
                {
                    fill.fee = grpc.amount(&spec.quote_asset, fee);
                }
            }
            _ => {}
        }
    }
    let order_id = order_id.ok_or_else(|| Status::internal("the order was not acknowledged"))?;
    result.order_id = order_id.0;
    result.client_order_id = grpc.rest.name(order.client_order_id, order_id);
    result.executed_quantity = spec.format_qty(Qty(executed));
    result.leaves_quantity = spec.format_qty(leaves);
    Ok(result)
}

fn cancel_result(spec: &InstrumentSpec, answer: &Answer) -> Result<v1::CancelOrderResult, Status> {
    for output in &answer.outputs {
        if let Output::Book(event) = output {
            match event.kind {
                EventKind::Rejected { reason, .. } => return Err(rejected(reason)),
                EventKind::Cancelled { order_id, qty, .. } => {
                    return Ok(v1::CancelOrderResult {
                        order_id: order_id.0,
                        symbol: spec.symbol.clone(),
                        cancelled_quantity: spec.format_qty(qty),
                        seq: answer.seq,
                        transact_time_ns: time_ns(answer.time),
                    });
                }
                _ => {}
            }
        }
    }
    Err(rejected(Reject::UnknownOrder))
}

fn amend_result(spec: &InstrumentSpec, answer: &Answer) -> Result<v1::AmendOrderResult, Status> {
    for output in &answer.outputs {
        if let Output::Book(event) = output {
            match event.kind {
                EventKind::Rejected { reason, .. } => return Err(rejected(reason)),
                EventKind::Amended { order_id, price, qty, leaves, priority_kept, .. } => {
                    return Ok(v1::AmendOrderResult {
                        order_id: order_id.0,
                        symbol: spec.symbol.clone(),
                        price: spec.format_price(price),
                        quantity: spec.format_qty(qty),
                        leaves_quantity: spec.format_qty(leaves),
                        priority_kept,
                        seq: answer.seq,
                        transact_time_ns: time_ns(answer.time),
                    });
                }
                _ => {}
            }
        }
    }
    Err(rejected(Reject::UnknownOrder))
}

fn mass_cancel_result(answer: &Answer) -> Result<v1::MassCancelResult, Status> {
    let mut result = v1::MassCancelResult { seq: answer.seq, ..Default::default() };
    for output in &answer.outputs {
        match output {
            Output::Book(event) => match event.kind {
                EventKind::Cancelled { order_id, .. } => result.cancelled_order_ids.push(order_id.0),
                EventKind::Rejected { reason, .. } => return Err(rejected(reason)),
                _ => {}
            },
            Output::CommandRejected { reason } => return Err(rejected(*reason)),
            _ => {}
        }
    }
    Ok(result)
}

/// One request made ready to submit: the command and how to read its
/// answer. It outlives the request, so it names its instrument by id
/// rather than borrowing or copying the specification.
enum Prepared {
    New(NewOrder, InstrumentId),
    Cancel(InstrumentId),
    Amend(InstrumentId),
    MassCancel,
}

impl Prepared {
    fn answer(&self, grpc: &Grpc, answer: &Answer) -> Result<v1::session_response::Response, Status> {
        use v1::session_response::Response as R;
        let spec = |id: InstrumentId| grpc.spec(id).ok_or_else(|| Status::internal("instrument vanished"));
        Ok(match *self {
            Prepared::New(order, id) => R::Order(order_result(grpc, &order, spec(id)?, answer)?),
            Prepared::Cancel(id) => R::Cancel(cancel_result(spec(id)?, answer)?),
            Prepared::Amend(id) => R::Amend(amend_result(spec(id)?, answer)?),
            Prepared::MassCancel => R::MassCancel(mass_cancel_result(answer)?),
        })
    }
}

fn prepare_cancel<'g>(
    grpc: &'g Grpc,
    caller: &Caller,
    r: &v1::CancelOrderRequest,
) -> Result<(Command, &'g InstrumentSpec), Status> {
    let spec = grpc.instrument(&r.symbol)?;
    let target = order_ref(caller.account, r.order.as_ref())?;
    let command = Command::Cancel(CancelOrder { instrument: spec.id, target, account: Some(caller.account) });
    Ok((command, spec))
}

fn prepare_amend<'g>(
    grpc: &'g Grpc,
    caller: &Caller,
    r: &v1::AmendOrderRequest,
) -> Result<(Command, &'g InstrumentSpec), Status> {
    let spec = grpc.instrument(&r.symbol)?;
    let target = order_ref(caller.account, r.order.as_ref())?;
    let new_price = parse_field("new_price", &r.new_price, |t| spec.parse_price(t))?;
    let new_qty = if r.new_quantity.is_empty() {
        None
    } else {
        Some(parse_field("new_quantity", &r.new_quantity, |t| spec.parse_qty(t))?)
    };
    let command = Command::Amend(AmendOrder {
        instrument: spec.id,
        target,
        account: Some(caller.account),
        new_price,
        new_qty,
        new_client_order_id: ClientOrderId::NONE,
    });
    Ok((command, spec))
}

fn prepare_mass_cancel(
    grpc: &Grpc,
    caller: &Caller,
    r: &v1::MassCancelRequest,
) -> Result<(Command, Prepared), Status> {
    let instrument = if r.symbol.is_empty() { None } else { Some(grpc.instrument(&r.symbol)?.id) };
    Ok((Command::MassCancel { instrument, account: Some(caller.account) }, Prepared::MassCancel))
}

fn prepare(
    grpc: &Grpc,
    caller: &Caller,
    request: &v1::SessionRequest,
) -> Result<(Command, Prepared), Status> {
    use v1::session_request::Request as R;
    match &request.request {
        Some(R::NewOrder(r)) => {
            let (order, spec) = build_order(grpc, caller.account, r)?;
            Ok((Command::NewOrder(order), Prepared::New(order, spec.id)))
        }
        Some(R::Cancel(r)) => prepare_cancel(grpc, caller, r).map(|(c, spec)| (c, Prepared::Cancel(spec.id))),
        Some(R::Amend(r)) => prepare_amend(grpc, caller, r).map(|(c, spec)| (c, Prepared::Amend(spec.id))),
        Some(R::MassCancel(r)) => prepare_mass_cancel(grpc, caller, r),
        None => Err(invalid("request", "one of new_order, cancel, amend, mass_cancel is required")),
    }
}

fn session_error(status: &Status) -> v1::session_response::Response {
    use tonic_types::StatusExt;
    let reason = status.get_details_error_info().map(|info| info.reason).unwrap_or_default();
    v1::session_response::Response::Error(v1::SessionError {
        code: status.code() as i32,
        reason,
        message: status.message().to_owned(),
    })
}

impl Grpc {
    /// Submits `command` and waits for its answer, within the gateway's
    /// timeout; refusals and timeouts become gRPC statuses.
    pub(super) async fn run(&self, command: Command) -> Result<Answer, Status> {
        let pending = self.venue().router.start(command).map_err(request_error)?;
        pending.wait(self.timeout()).await.map_err(request_error)
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<v1::SessionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl v1::order_entry_server::OrderEntry for Grpc {
    async fn submit_order(
        &self,
        request: Request<v1::NewOrderRequest>,
    ) -> Result<Response<v1::OrderResult>, Status> {
        let tracer = &self.venue().tracer;
        let received = if tracer.sample() { crate::clock::now_ns() } else { 0 };
        let caller = caller(&request)?;
        let (order, spec) = build_order(self, caller.account, request.get_ref())?;
        let decoded = if received > 0 { crate::clock::now_ns() } else { 0 };
        let answer = self.run(Command::NewOrder(order)).await;
        let result = answer.map(|answer| (order_result(self, &order, spec, &answer), answer));
        if received > 0 {
            let (seq, sequenced, outcome, error) = match &result {
                Ok((Ok(r), answer)) => (answer.seq, answer.time.0, order_outcome(r), false),
                Ok((Err(status), answer)) => {
                    (answer.seq, answer.time.0, format!("rejected: {}", status.message()), true)
                }
                Err(status) => (0, 0, format!("{:?}: {}", status.code(), status.message()), true),
            };
            tracer.record(crate::otlp::OrderTrace {
                gateway: "grpc",
                symbol: spec.symbol.clone(),
                side: if order.side == Side::Buy { "buy" } else { "sell" },
                account: caller.account.0,
                received,
                decoded,
                seq,
                sequenced,
                answered: crate::clock::now_ns(),
                outcome,
                error,
            });
        }
        Ok(Response::new(result?.0?))
    }

    async fn cancel_order(
        &self,
        request: Request<v1::CancelOrderRequest>,
    ) -> Result<Response<v1::CancelOrderResult>, Status> {
        let caller = caller(&request)?;
        let (command, spec) = prepare_cancel(self, &caller, request.get_ref())?;
        Ok(Response::new(cancel_result(spec, &self.run(command).await?)?))
    }

    async fn amend_order(
        &self,
        request: Request<v1::AmendOrderRequest>,
    ) -> Result<Response<v1::AmendOrderResult>, Status> {
        let caller = caller(&request)?;
        let (command, spec) = prepare_amend(self, &caller, request.get_ref())?;
        Ok(Response::new(amend_result(spec, &self.run(command).await?)?))
    }

    async fn mass_cancel(
        &self,
        request: Request<v1::MassCancelRequest>,
    ) -> Result<Response<v1::MassCancelResult>, Status> {
        let caller = caller(&request)?;
        let (command, _) = prepare_mass_cancel(self, &caller, request.get_ref())?;
        Ok(Response::new(mass_cancel_result(&self.run(command).await?)?))
    }

    type OrderSessionStream = SessionStream;

    /// Requests are read, checked and submitted in arrival order (so the
    /// engine sequences them in that order) without waiting for earlier
    /// answers; a second task awaits the answers in the same order.
    async fn order_session(
        &self,
        request: Request<Streaming<v1::SessionRequest>>,
    ) -> Result<Response<Self::OrderSessionStream>, Status> {
        let caller = caller(&request)?;
        let mut inbound = request.into_inner();
        let grpc = Arc::new(self.clone_parts());
        let (pending_tx, mut pending_rx) = tokio::sync::mpsc::channel::<(
            u64,
            Result<(Prepared, crate::router::Pending), Status>,
        )>(SESSION_IN_FLIGHT);
        let (out_tx, out_rx) =
            tokio::sync::mpsc::channel::<Result<v1::SessionResponse, Status>>(SESSION_IN_FLIGHT);
        let reader = grpc.clone();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    message = inbound.message() => message,
                    _ = stop.wait_for(|s| *s) => break,
                };
                let request = match message {
                    Ok(Some(request)) => request,
                    // The client half-closed, or the call broke.
                    Ok(None) | Err(_) => break,
                };
                let id = request.request_id;
                let item =
                    match reader.rest.charge(&caller.key, 1, true) {
                        Err(e) => Err(super::auth::rate_limited(e)),
                        Ok(_) => prepare(&reader, &caller, &request).and_then(|(command, prepared)| {
                            match reader.venue().router.start(command) {
                                Ok(pending) => Ok((prepared, pending)),
                                Err(e) => Err(request_error(e)),
                            }
                        }),
                    };
                if pending_tx.send((id, item)).await.is_err() {
                    break;
                }
            }
        });
        let writer = grpc;
        tokio::spawn(async move {
            while let Some((request_id, item)) = pending_rx.recv().await {
                let response = match item {
                    Err(status) => session_error(&status),
                    Ok((prepared, pending)) => match pending.wait(writer.timeout()).await {
                        Ok(answer) => prepared.answer(&writer, &answer).unwrap_or_else(|s| session_error(&s)),
                        Err(RequestError::Stopped) => {
                            let _ = out_tx.send(Err(Status::unavailable("the venue is stopping"))).await;
                            return;
                        }
                        Err(e) => session_error(&request_error(e)),
                    },
                };
                let message = v1::SessionResponse { request_id, response: Some(response) };
                if out_tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out_rx))))
    }
}

impl Grpc {
    /// A second handle on the shared parts, for tasks that outlive a call.
    pub(super) fn clone_parts(&self) -> Grpc {
        Grpc { rest: self.rest.clone(), market: self.market.clone(), stop: self.stop.clone() }
    }
}

/// The order history's status as the `.proto` names it (which has no
/// separate "expired in match": a self-trade-prevention removal expires).
fn proto_status(status: History) -> v1::OrderStatus {
    match status {
        History::New => v1::OrderStatus::New,
        History::PartiallyFilled => v1::OrderStatus::PartiallyFilled,
        History::Filled => v1::OrderStatus::Filled,
        History::Canceled => v1::OrderStatus::Canceled,
        History::Expired | History::ExpiredInMatch => v1::OrderStatus::Expired,
    }
}
