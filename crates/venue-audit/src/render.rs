//! Commands and outputs as JSON text, written by hand.
//!
//! The line's hash covers its bytes, so the bytes must be a pure function of
//! the command: key order, number formatting and spelling are fixed here and
//! nowhere else. serde_json is used only to *read* lines back.

use std::fmt::Write as _;

use venue_domain::{AccountId, Reject, Timestamp};
use venue_engine::{AccountLimits, Command, Output, Settlement};
use venue_matching::{AmendOrder, CancelOrder, Event, EventKind, NewOrder, OrderRef};

use crate::MaskPolicy;

/// Renders one audited command as a JSON object:
/// `{"seq":N,"time":T,"origin":O,"command":{...},"outcome":[...]}`.
///
/// This is a line of the audit file without its chain fields (`prev`,
/// `hash`), for logs that want the same masked, fixed-order description of a
/// command without the hash chain (structured logs, drop copies, tests).
pub fn render(
    seq: u64,
    time: Timestamp,
    origin: u64,
    command: &Command,
    outcome: &[Output],
    policy: &MaskPolicy,
) -> String {
    let mut out = String::new();
    write_body(&mut out, seq, time, origin, command, outcome, policy);
    out.push('}');
    out
}

/// Appends everything of a line before its chain fields: the opening brace,
/// `seq`, `time`, `origin`, `command` and `outcome`, with no closing brace.
pub(crate) fn write_body(
    out: &mut String,
    seq: u64,
    time: Timestamp,
    origin: u64,
    command: &Command,
    outcome: &[Output],
    policy: &MaskPolicy,
) {
    out.push('{');
    let mut json = Json { out, policy, comma: false };
    json.u64("seq", seq);
    json.u64("time", time.0);
    json.u64("origin", origin);
    json.open("command", '{');
    write_command(&mut json, command);
    json.close('}');
    json.open("outcome", '[');
    for output in outcome {
        json.element_object();
        write_output(&mut json, output);
        json.close('}');
    }
    json.close(']');
}

/// A JSON writer that knows whether a comma is due and how accounts are
/// masked, so the per-type code below is one line per field.
struct Json<'a> {
    out: &'a mut String,
    policy: &'a MaskPolicy,
    comma: bool,
}

impl Json<'_> {
    fn key(&mut self, key: &str) {
        if self.comma {
            self.out.push(',');
        }
        self.comma = true;
        push_string(self.out, key);
        self.out.push(':');
    }

    fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    fn i64(&mut self, key: &str, value: i64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_string(self.out, value);
    }

    fn null(&mut self, key: &str) {
        self.key(key);
        self.out.push_str("null");
    }

    fn account(&mut self, key: &str, account: AccountId) {
        self.key(key);
        self.out.push('"');
        self.policy.push_account(self.out, account);
        self.out.push('"');
    }

    fn opt_account(&mut self, key: &str, account: Option<AccountId>) {
        match account {
            Some(account) => self.account(key, account),
            None => self.null(key),
        }
    }

    fn reject(&mut self, reason: Reject) {
        self.key("reason");
        // `Reject` is non-exhaustive: its derived Debug name is the one
        // spelling that covers variants added later. The code is the stable
        // identifier; the name is for the reader.
        let name = format!("{reason:?}");
        self.out.push('"');
        push_snake_case(self.out, &name);
        self.out.push('"');
        self.u64("reason_code", u64::from(reason.code()));
    }

    /// Starts a nested object or array under `key`.
    fn open(&mut self, key: &str, bracket: char) {
        self.key(key);
        self.out.push(bracket);
        self.comma = false;
    }

    /// Starts an object that is an element of the enclosing array.
    fn element_object(&mut self) {
        if self.comma {
            self.out.push(',');
        }
        self.out.push('{');
        self.comma = false;
    }

    fn close(&mut self, bracket: char) {
        self.out.push(bracket);
        self.comma = true;
    }
}

fn write_command(json: &mut Json<'_>, command: &Command) {
    match *command {
        Command::NewOrder(ref order) => write_new_order(json, order),
        Command::Cancel(ref cancel) => write_cancel(json, cancel),
        Command::Amend(ref amend) => write_amend(json, amend),
        Command::MassCancel { instrument, account } => {
            json.str("type", "mass_cancel");
            match instrument {
                Some(instrument) => json.u64("instrument", u64::from(instrument.0)),
                None => json.null("instrument"),
            }
            json.opt_account("account", account);
        }
        Command::SetStatus { instrument, status } => {
            json.str("type", "set_status");
            json.u64("instrument", u64::from(instrument.0));
            json.str("status", status.name());
        }
        Command::Deposit { transfer_id, account, asset, amount } => {
            json.str("type", "deposit");
            json.u64("transfer_id", transfer_id);
            json.account("account", account);
            json.u64("asset", u64::from(asset.0));
            json.i64("amount_units", amount);
        }
        Command::WithdrawPending { transfer_id, account, asset, amount } => {
            json.str("type", "withdraw_pending");
            json.u64("transfer_id", transfer_id);
            json.account("account", account);
            json.u64("asset", u64::from(asset.0));
            json.i64("amount_units", amount);
        }
        Command::WithdrawPost { transfer_id } => {
            json.str("type", "withdraw_post");
            json.u64("transfer_id", transfer_id);
        }
        Command::WithdrawVoid { transfer_id } => {
            json.str("type", "withdraw_void");
            json.u64("transfer_id", transfer_id);
        }
        Command::SetAccount { account, tier, limits } => {
            json.str("type", "set_account");
            json.account("account", account);
            json.u64("tier", u64::from(tier));
            write_limits(json, &limits);
        }
        Command::KillSwitch { account, on } => {
            json.str("type", "kill_switch");
            json.account("account", account);
            json.bool("on", on);
        }
        Command::Tick => json.str("type", "tick"),
        Command::EndOfSession => json.str("type", "end_of_session"),
    }
}

fn write_new_order(json: &mut Json<'_>, order: &NewOrder) {
    json.str("type", "new_order");
    json.u64("instrument", u64::from(order.instrument.0));
    json.u64("order_id", order.order_id.0);
    json.u64("client_order_id", order.client_order_id.0);
    json.account("account", order.account);
    json.u64("stp_group", u64::from(order.stp_group.0));
    json.str("side", order.side.name());
    json.str("kind", order.kind.name());
    json.str("tif", order.tif.name());
    json.i64("price_ticks", order.price.0);
    json.i64("stop_price_ticks", order.stop_price.0);
    json.i64("qty_lots", order.qty.0);
    json.i64("display_qty_lots", order.display_qty.0);
    json.bool("post_only", order.post_only);
    json.str("stp", order.stp.name());
    json.u64("expire_time_ns", order.expire_time.0);
    json.i64("quote_budget_tick_lots", order.quote_budget);
}

fn write_cancel(json: &mut Json<'_>, cancel: &CancelOrder) {
    json.str("type", "cancel");
    json.u64("instrument", u64::from(cancel.instrument.0));
    write_target(json, cancel.target);
    json.opt_account("account", cancel.account);
}

fn write_amend(json: &mut Json<'_>, amend: &AmendOrder) {
    json.str("type", "amend");
    json.u64("instrument", u64::from(amend.instrument.0));
    write_target(json, amend.target);
    json.opt_account("account", amend.account);
    json.i64("new_price_ticks", amend.new_price.0);
    match amend.new_qty {
        Some(qty) => json.i64("new_qty_lots", qty.0),
        None => json.null("new_qty_lots"),
    }
    json.u64("new_client_order_id", amend.new_client_order_id.0);
}

fn write_target(json: &mut Json<'_>, target: OrderRef) {
    json.open("target", '{');
    match target {
        OrderRef::Id(order_id) => json.u64("order_id", order_id.0),
        OrderRef::Client(account, client_order_id) => {
            json.account("account", account);
            json.u64("client_order_id", client_order_id.0);
        }
    }
    json.close('}');
}

fn write_limits(json: &mut Json<'_>, limits: &AccountLimits) {
    json.open("limits", '{');
    json.i64("max_order_qty_lots", limits.max_order_qty);
    json.i64("max_notional_units", limits.max_notional);
    json.u64("max_open_orders", u64::from(limits.max_open_orders));
    json.u64("price_band_bps", u64::from(limits.price_band_bps));
    json.close('}');
}

fn write_output(json: &mut Json<'_>, output: &Output) {
    match *output {
        Output::Book(ref event) => write_event(json, event),
        Output::Settlement(ref settlement) => write_settlement(json, settlement),
        Output::Transfer { transfer_id, account, asset, amount, state } => {
            json.str("type", "transfer");
            json.u64("transfer_id", transfer_id);
            json.account("account", account);
            json.u64("asset", u64::from(asset.0));
            json.i64("amount_units", amount);
            json.str("state", state.name());
        }
        Output::AccountSet { account } => {
            json.str("type", "account_set");
            json.account("account", account);
        }
        Output::KillSwitch { account, on } => {
            json.str("type", "kill_switch");
            json.account("account", account);
            json.bool("on", on);
        }
        Output::CommandRejected { reason } => {
            json.str("type", "command_rejected");
            json.reject(reason);
        }
        Output::Ticked => json.str("type", "ticked"),
    }
}

fn write_settlement(json: &mut Json<'_>, s: &Settlement) {
    json.str("type", "settlement");
    json.u64("instrument", u64::from(s.instrument.0));
    json.u64("trade_id", s.trade_id.0);
    json.account("buyer", s.buyer);
    json.account("seller", s.seller);
    json.u64("buy_order_id", s.buy_order.0);
    json.u64("sell_order_id", s.sell_order.0);
    json.i64("base_units", s.base);
    json.i64("quote_units", s.quote);
    json.i64("buyer_fee_units", s.buyer_fee);
    json.i64("seller_fee_units", s.seller_fee);
}

fn write_event(json: &mut Json<'_>, event: &Event) {
    let type_name = match event.kind {
        EventKind::Accepted { .. } => "accepted",
        EventKind::Rejected { .. } => "rejected",
        EventKind::Trade { .. } => "trade",
        EventKind::Cancelled { .. } => "cancelled",
        EventKind::Expired { .. } => "expired",
        EventKind::Triggered { .. } => "triggered",
        EventKind::Amended { .. } => "amended",
        EventKind::Reduced { .. } => "reduced",
        EventKind::MassCancelled { .. } => "mass_cancelled",
        EventKind::StatusChanged { .. } => "status_changed",
        EventKind::Level { .. } => "level",
        EventKind::OrderAdded { .. } => "order_added",
        EventKind::OrderModified { .. } => "order_modified",
        EventKind::OrderDeleted { .. } => "order_deleted",
    };
    json.str("type", type_name);
    json.u64("instrument", u64::from(event.instrument.0));
    match event.kind {
        EventKind::Accepted { order_id, client_order_id, account, side, kind, price, qty } => {
            json.u64("order_id", order_id.0);
            json.u64("client_order_id", client_order_id.0);
            json.account("account", account);
            json.str("side", side.name());
            json.str("kind", kind.name());
            json.i64("price_ticks", price.0);
            json.i64("qty_lots", qty.0);
        }
        EventKind::Rejected { order_id, client_order_id, account, request, reason } => {
            json.u64("order_id", order_id.0);
            json.u64("client_order_id", client_order_id.0);
            json.account("account", account);
            json.str("request", request.name());
            json.reject(reason);
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
            json.u64("trade_id", trade_id.0);
            json.i64("price_ticks", price.0);
            json.i64("qty_lots", qty.0);
            json.u64("maker_order_id", maker_order_id.0);
            json.u64("taker_order_id", taker_order_id.0);
            json.account("maker_account", maker_account);
            json.account("taker_account", taker_account);
            json.i64("maker_leaves_lots", maker_leaves.0);
            json.i64("taker_leaves_lots", taker_leaves.0);
            json.str("aggressor", aggressor.name());
        }
        EventKind::Cancelled { order_id, account, qty, reason } => {
            json.u64("order_id", order_id.0);
            json.account("account", account);
            json.i64("qty_lots", qty.0);
            json.str("reason", reason.name());
        }
        EventKind::Expired { order_id, account, qty } => {
            json.u64("order_id", order_id.0);
            json.account("account", account);
            json.i64("qty_lots", qty.0);
        }
        EventKind::Triggered { order_id, account, last_price } => {
            json.u64("order_id", order_id.0);
            json.account("account", account);
            json.i64("last_price_ticks", last_price.0);
        }
        EventKind::Amended { order_id, account, price, qty, leaves, priority_kept, client_order_id } => {
            json.u64("order_id", order_id.0);
            json.u64("client_order_id", client_order_id.0);
            json.account("account", account);
            json.i64("price_ticks", price.0);
            json.i64("qty_lots", qty.0);
            json.i64("leaves_lots", leaves.0);
            json.bool("priority_kept", priority_kept);
        }
        EventKind::Reduced { order_id, account, qty, leaves } => {
            json.u64("order_id", order_id.0);
            json.account("account", account);
            json.i64("qty_lots", qty.0);
            json.i64("leaves_lots", leaves.0);
        }
        EventKind::MassCancelled { account, count } => {
            json.opt_account("account", account);
            json.u64("count", u64::from(count));
        }
        EventKind::StatusChanged { status } => json.str("status", status.name()),
        EventKind::Level { side, price, qty, count } => {
            json.str("side", side.name());
            json.i64("price_ticks", price.0);
            json.i64("qty_lots", qty.0);
            json.u64("count", u64::from(count));
        }
        EventKind::OrderAdded { order_id, side, price, qty }
        | EventKind::OrderModified { order_id, side, price, qty } => {
            json.u64("order_id", order_id.0);
            json.str("side", side.name());
            json.i64("price_ticks", price.0);
            json.i64("qty_lots", qty.0);
        }
        EventKind::OrderDeleted { order_id, side, price } => {
            json.u64("order_id", order_id.0);
            json.str("side", side.name());
            json.i64("price_ticks", price.0);
        }
    }
}

/// `InsufficientBalance` → `insufficient_balance`.
fn push_snake_case(out: &mut String, name: &str) {
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
}

/// Writes `text` as a JSON string. Every string this crate writes today is
/// from a fixed ASCII vocabulary; escaping anyway keeps the line valid JSON
/// if a free-text field is ever added.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountMask;
    use venue_domain::{ClientOrderId, InstrumentId, OrderId, OrderKind, Price, Qty, Side};

    #[test]
    fn a_new_order_with_its_acceptance() {
        let order = NewOrder::limit(0, 1042, Side::Buy, 2_712_350, 3);
        let accepted = Output::Book(Event {
            instrument: InstrumentId(0),
            kind: EventKind::Accepted {
                order_id: OrderId(9),
                client_order_id: ClientOrderId(77),
                account: AccountId(1042),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Price(2_712_350),
                qty: Qty(3),
            },
        });
        let line = render(9, Timestamp(5), 3, &Command::NewOrder(order), &[accepted], &MaskPolicy::default());
        assert_eq!(
            line,
            concat!(
                r#"{"seq":9,"time":5,"origin":3,"command":{"type":"new_order","instrument":0,"order_id":0,"#,
                r#""client_order_id":0,"account":"**42","stp_group":0,"side":"buy","kind":"limit","tif":"gtc","#,
                r#""price_ticks":2712350,"stop_price_ticks":0,"qty_lots":3,"display_qty_lots":0,"#,
                r#""post_only":false,"stp":"cancel_resting","expire_time_ns":0,"quote_budget_tick_lots":0},"#,
                r#""outcome":[{"type":"accepted","instrument":0,"order_id":9,"client_order_id":77,"#,
                r#""account":"**42","side":"buy","kind":"limit","price_ticks":2712350,"qty_lots":3}]}"#
            )
        );
        assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok());
    }

    #[test]
    fn rejections_carry_name_and_code() {
        let out = Output::CommandRejected { reason: Reject::InsufficientBalance };
        let policy = MaskPolicy { accounts: AccountMask::Full };
        let line = render(1, Timestamp(0), 0, &Command::Tick, &[out, out], &policy);
        assert_eq!(
            line,
            concat!(
                r#"{"seq":1,"time":0,"origin":0,"command":{"type":"tick"},"outcome":["#,
                r#"{"type":"command_rejected","reason":"insufficient_balance","reason_code":502},"#,
                r#"{"type":"command_rejected","reason":"insufficient_balance","reason_code":502}]}"#
            )
        );
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c\nd");
        assert_eq!(out, r#""a\"b\\c\u000ad""#);
    }
}
