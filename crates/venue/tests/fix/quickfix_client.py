"""An unmodified QuickFIX (Python binding) initiator against `venue serve`.

Two sessions, ALICE and BOB, trade BTC-USDT: logon with a password,
crossing orders, partial fills, cancel/replace, cancel, mass cancel, a
sequence gap in each direction (their ResendRequest answered by the venue,
the venue's answered by QuickFIX), and logout. QuickFIX validates every
message we send against its own FIX44.xml: a message it finds invalid is
answered with a Reject (35=3), which this script counts as a failure, and is
not delivered to fromApp, so the expected reports would also be missing.

CAROL subscribes to BTC-USDT market data (MarketDataRequest) at the start
and rebuilds the book from the snapshot (W) and increments (X); at the end
it must equal the venue's REST depth.

Usage: quickfix_client.py PORT WORKDIR FIX44_XML REST_BASE
Exit 0 and a last line "quickfix: all checks passed" when everything held.
"""

import os
import queue
import sys
import time

import quickfix as fix

PORT, WORK, DICTIONARY, REST_BASE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
PASSWORD = "demo-fix-password"
TIMEOUT = 20.0


def field(message, tag, header=False):
    part = message.getHeader() if header else message
    if not part.isSetField(tag):
        return None
    return part.getField(tag)


class App(fix.Application):
    def __init__(self):
        super().__init__()
        self.logged_on = set()
        self.inbox = {}
        self.rejects_sent = []
        self.admin_seen = []

    def onCreate(self, session):
        self.inbox[session.getSenderCompID().getValue()] = queue.Queue()

    def onLogon(self, session):
        self.logged_on.add(session.getSenderCompID().getValue())

    def onLogout(self, session):
        self.logged_on.discard(session.getSenderCompID().getValue())

    def toAdmin(self, message, session):
        msg_type = field(message, 35, header=True)
        if msg_type == "A":
            message.setField(fix.StringField(554, PASSWORD))
        if msg_type == "3":
            # QuickFIX refused something the venue sent.
            self.rejects_sent.append(message.toString().replace("\x01", "|"))

    def fromAdmin(self, message, session):
        self.admin_seen.append((session.getSenderCompID().getValue(), field(message, 35, header=True)))

    def toApp(self, message, session):
        pass

    def fromApp(self, message, session):
        self.inbox[session.getSenderCompID().getValue()].put(fix.Message(message))


failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    check(False, "timed out waiting for " + what)
    return False


def session_id(name):
    return fix.SessionID("FIX.4.4", name, "VENUE")


def send(name, msg_type, fields):
    message = fix.Message()
    message.getHeader().setField(fix.BeginString("FIX.4.4"))
    message.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in fields:
        message.setField(fix.StringField(tag, value))
    if msg_type != "H":  # OrderStatusRequest has no TransactTime in FIX 4.4
        message.setField(fix.TransactTime())
    fix.Session.sendToTarget(message, session_id(name))


def expect(app, name, what, **want):
    """The next application message for `name`, checked field by field."""
    try:
        message = app.inbox[name].get(timeout=TIMEOUT)
    except queue.Empty:
        check(False, f"{name}: no message for {what}")
        return None
    text = message.toString().replace("\x01", "|")
    for tag, value in want.items():
        number = int(tag[1:])
        got = field(message, number, header=(number == 35))
        check(got == value, f"{name} {what}: tag {number} is {got!r}, expected {value!r} in {text}")
    return message


def new_order(name, cl, side, qty, price, tif="1"):
    send(name, "D", [(11, cl), (55, "BTC-USDT"), (54, side), (38, qty), (40, "2"), (44, price), (59, tif)])


def main():
    os.makedirs(WORK, exist_ok=True)
    config = os.path.join(WORK, "initiator.cfg")
    with open(config, "w") as f:
        f.write(f"""[DEFAULT]
ConnectionType=initiator
ReconnectInterval=1
FileStorePath={WORK}/store
FileLogPath={WORK}/log
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={DICTIONARY}
ValidateUserDefinedFields=Y
HeartBtInt=5
SocketConnectHost=127.0.0.1
SocketConnectPort={PORT}

[SESSION]
BeginString=FIX.4.4
SenderCompID=ALICE
TargetCompID=VENUE

[SESSION]
BeginString=FIX.4.4
SenderCompID=BOB
TargetCompID=VENUE

[SESSION]
BeginString=FIX.4.4
SenderCompID=CAROL
TargetCompID=VENUE
""")
    app = App()
    settings = fix.SessionSettings(config)
    initiator = fix.SocketInitiator(app, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    initiator.start()
    wait_for(lambda: {"ALICE", "BOB", "CAROL"} <= app.logged_on, "three logons")

    # CAROL subscribes to the full BTC-USDT book and trades.
    def md_request(req_id, symbol):
        request = fix.Message()
        request.getHeader().setField(fix.BeginString("FIX.4.4"))
        request.getHeader().setField(fix.MsgType("V"))
        request.setField(fix.MDReqID(req_id))
        request.setField(fix.SubscriptionRequestType("1"))
        request.setField(fix.MarketDepth(0))
        request.setField(fix.MDUpdateType(1))
        for entry_type in ("0", "1", "2"):
            group = fix.Group(267, 269)
            group.setField(fix.MDEntryType(entry_type))
            request.addGroup(group)
        symbol_group = fix.Group(146, 55)
        symbol_group.setField(fix.Symbol(symbol))
        request.addGroup(symbol_group)
        fix.Session.sendToTarget(request, session_id("CAROL"))

    md_request("md-1", "BTC-USDT")
    snapshot = expect(app, "CAROL", "market data snapshot", t35="W", t262="md-1", t55="BTC-USDT")
    carol_book = {"0": {}, "1": {}}

    def entries(message, count_tag, first_tag):
        group = fix.Group(count_tag, first_tag)
        count = int(field(message, count_tag) or 0)
        for n in range(1, count + 1):
            message.getGroup(n, group)
            yield {tag: group.getField(tag) for tag in (279, 269, 270, 271) if group.isSetField(tag)}

    if snapshot is not None:
        for entry in entries(snapshot, 268, 269):
            if entry[269] in carol_book:
                carol_book[entry[269]][entry[270]] = entry[271]
    # An unknown symbol is refused with MarketDataRequestReject.
    md_request("md-bad", "DOGE-USDT")
    expect(app, "CAROL", "market data reject", t35="Y", t262="md-bad", t281="0")

    # BOB rests 1 BTC at 30000; ALICE takes 0.4 then 0.2 of it.
    new_order("BOB", "b1", "2", "1", "30000")
    expect(app, "BOB", "b1 new", t35="8", t150="0", t39="0", t11="b1", t151="1.0000", t14="0.0000")
    new_order("ALICE", "a1", "1", "0.4", "30000", tif="3")
    expect(app, "ALICE", "a1 new", t150="0", t39="0", t11="a1")
    expect(app, "ALICE", "a1 fill", t150="F", t39="2", t32="0.4000", t31="30000.00", t14="0.4000", t151="0.0000", t6="30000.000000")
    expect(app, "BOB", "b1 partial", t150="F", t39="1", t32="0.4000", t14="0.4000", t151="0.6000")
    new_order("ALICE", "a2", "1", "0.2", "30000", tif="3")
    expect(app, "ALICE", "a2 new", t150="0")
    expect(app, "ALICE", "a2 fill", t150="F", t39="2", t14="0.2000")
    expect(app, "BOB", "b1 second partial", t150="F", t39="1", t14="0.6000", t151="0.4000")
    # OrderStatusRequest for the live, partly filled order: a status report.
    send("BOB", "H", [(11, "b1"), (55, "BTC-USDT"), (54, "2")])
    status = expect(app, "BOB", "b1 status", t35="8", t150="I", t39="1", t11="b1", t14="0.6000", t151="0.4000", t6="30000.000000")
    check(status is not None and bool(field(status, 17)), "BOB: the status report carries an ExecID")

    # BOB replaces: new price, total quantity 1.5 (0.9 left), new ClOrdID.
    send("BOB", "G", [(11, "b1r"), (41, "b1"), (55, "BTC-USDT"), (54, "2"), (38, "1.5"), (40, "2"), (44, "30100")])
    expect(app, "BOB", "b1 replaced", t150="5", t39="1", t11="b1r", t41="b1", t44="30100.00", t151="0.9000", t14="0.6000")
    # Cancel by the new ClOrdID.
    send("BOB", "F", [(11, "b1c"), (41, "b1r"), (55, "BTC-USDT"), (54, "2")])
    expect(app, "BOB", "b1 cancelled", t150="4", t39="4", t11="b1c", t41="b1r", t151="0.0000", t14="0.6000")
    # Cancelling it again: OrderCancelReject, too late (it has ended), with
    # its final status.
    send("BOB", "F", [(11, "b1c2"), (41, "b1r"), (55, "BTC-USDT"), (54, "2")])
    expect(app, "BOB", "too late to cancel", t35="9", t11="b1c2", t41="b1r", t434="1", t102="0", t39="4")
    # Cancelling an order that never was: unknown order.
    send("BOB", "F", [(11, "b1c3"), (41, "never-sent"), (55, "BTC-USDT"), (54, "2")])
    expect(app, "BOB", "cancel reject", t35="9", t11="b1c3", t434="1", t102="1", t39="8")
    # An order off the tick grid: rejected ExecutionReport.
    new_order("BOB", "bad", "2", "1", "30000.001")
    expect(app, "BOB", "off-grid reject", t35="8", t150="8", t39="8", t11="bad")

    # Two resting orders, then a mass cancel.
    new_order("BOB", "m1", "2", "0.1", "31000")
    expect(app, "BOB", "m1 new", t150="0")
    new_order("BOB", "m2", "2", "0.1", "31001")
    expect(app, "BOB", "m2 new", t150="0")
    send("BOB", "q", [(11, "mass1"), (530, "7")])
    expect(app, "BOB", "m1 cancelled", t150="4")
    expect(app, "BOB", "m2 cancelled", t150="4")
    expect(app, "BOB", "mass report", t35="r", t530="7", t531="7", t533="2")

    # A stop-market buy with a budget in the quote asset (CashOrderQty):
    # dormant above the market, then cancelled (the final balances show its
    # hold released). The reports carry the budget, not a quantity.
    send("BOB", "D", [(11, "sb1"), (55, "BTC-USDT"), (54, "1"), (152, "1000"), (40, "3"), (99, "90000"), (59, "1")])
    report = expect(app, "BOB", "stop buy with a budget", t150="0", t39="0", t11="sb1", t40="3", t152="1000.000000")
    check(report is None or field(report, 38) is None, "the budget order reports no OrderQty")
    send("BOB", "F", [(11, "sb1c"), (41, "sb1"), (55, "BTC-USDT"), (54, "1")])
    expect(app, "BOB", "stop buy cancelled", t150="4", t39="4", t11="sb1c", t41="sb1", t152="1000.000000")
    # By quantity, a stop-market buy is refused (nothing bounds its spend);
    # a budget on a sell is refused too.
    send("BOB", "D", [(11, "sb2"), (55, "BTC-USDT"), (54, "1"), (38, "0.1"), (40, "3"), (99, "90000"), (59, "1")])
    expect(app, "BOB", "stop buy by quantity refused", t150="8", t39="8", t11="sb2")
    send("BOB", "D", [(11, "sb3"), (55, "BTC-USDT"), (54, "2"), (152, "1000"), (40, "1"), (59, "3")])
    expect(app, "BOB", "budget on a sell refused", t150="8", t39="8", t11="sb3", t103="11")

    # Gap from the client: skip five of ALICE's sequence numbers. The venue
    # asks for them (ResendRequest) and QuickFIX fills the gap.
    alice = fix.Session.lookupSession(session_id("ALICE"))
    alice.setNextSenderMsgSeqNum(alice.getExpectedSenderNum() + 5)
    new_order("ALICE", "a3", "1", "0.1", "29000")
    expect(app, "ALICE", "a3 new after the gap", t150="0", t11="a3")

    # Gap from the venue: ALICE forgets the last three messages it got, so
    # its next logon sees the venue ahead and asks for a resend, which the
    # venue answers from its store (PossDupFlag) for QuickFIX to validate.
    alice.logout()
    wait_for(lambda: "ALICE" not in app.logged_on, "ALICE logout")
    alice.setNextTargetMsgSeqNum(max(1, alice.getExpectedTargetNum() - 3))
    alice.logon()  # a logged-out QuickFIX session stays down until told to log on
    wait_for(lambda: "ALICE" in app.logged_on, "ALICE logs on again", timeout=30)
    new_order("ALICE", "a4", "1", "0.1", "29001")
    deadline = time.time() + TIMEOUT
    got_a4 = False
    resent = 0
    a3_cancel = False
    while time.time() < deadline and not got_a4:
        try:
            message = app.inbox["ALICE"].get(timeout=1)
        except queue.Empty:
            continue
        # Resent reports (PossDupFlag=Y) come first.
        if field(message, 43, header=True) == "Y" and field(message, 122, header=True):
            resent += 1
        if field(message, 11) == "a3" and field(message, 150) == "4":
            a3_cancel = True
        if field(message, 11) == "a4" and field(message, 150) == "0":
            got_a4 = True
    check(got_a4, "ALICE: a4 accepted after the resend")
    check(resent >= 1, "ALICE: the venue resent its reports with PossDupFlag and OrigSendingTime")
    # a3 rested when ALICE logged out; cancel-on-disconnect cancelled it while
    # she was away, and the report was kept for her resend.
    check(a3_cancel, "ALICE: the cancel of a3 made while disconnected was delivered after logon")

    # CAROL's book, rebuilt from W and every X, equals the venue's depth.
    time.sleep(1.0)
    increments = 0
    while not app.inbox["CAROL"].empty():
        message = app.inbox["CAROL"].get()
        if field(message, 35, header=True) != "X":
            continue
        increments += 1
        for entry in entries(message, 268, 279):
            side = entry.get(269)
            if side not in carol_book:
                continue
            if entry[279] == "2":
                carol_book[side].pop(entry[270], None)
            else:
                carol_book[side][entry[270]] = entry[271]
    import json
    import urllib.request
    with urllib.request.urlopen(REST_BASE + "/api/v3/depth?symbol=BTCUSDT&limit=5000") as response:
        depth = json.loads(response.read())
    check(increments > 0, "CAROL received no MarketDataIncrementalRefresh")
    check(carol_book["0"] == {p: q for p, q in depth["bids"]}, f"bids from W+X {carol_book['0']} != REST {depth['bids']}")
    check(carol_book["1"] == {p: q for p, q in depth["asks"]}, f"asks from W+X {carol_book['1']} != REST {depth['asks']}")

    # Logout handshake.
    initiator.stop()
    check(not app.logged_on, "logged out: " + repr(app.logged_on))
    check(not app.rejects_sent, "QuickFIX rejected messages from the venue: " + repr(app.rejects_sent))
    if failures:
        print(f"quickfix: {len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("quickfix: all checks passed", flush=True)


if __name__ == "__main__":
    main()
