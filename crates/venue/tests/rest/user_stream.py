"""Binance's user data stream against `venue serve`, with Python's own
urllib, hmac and `websockets` (nothing from the venue): a listen key from
`POST /api/v3/userDataStream` (the API key only, no signature), kept alive
with `PUT` and closed with `DELETE`; on `/ws/<listenKey>`, the account's
`executionReport`s (NEW, TRADE with the fill's commission, CANCELED) as
Binance shapes them, and `outboundAccountPosition` whose balances equal
`GET /api/v3/account`; a closed or unknown key refused on REST (-1125) and
on the WebSocket (close 1008).

Usage: user_stream.py HOST:PORT
Exit 0 and a last line "user stream: all checks passed" when everything held.
"""

import asyncio
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request

import websockets

HOST = sys.argv[1]
BASE = f"http://{HOST}"
KEYS = {
    "alice": ("demoalicekey000000000000000000000000000000000000000000000000000",
              b"demoalicesecret0000000000000000000000000000000000000000000000000"),
    "bob": ("demobobkey00000000000000000000000000000000000000000000000000000",
            b"demobobsecret000000000000000000000000000000000000000000000000000"),
}
# Every field Binance's executionReport has (beside the conditional ones).
REPORT_FIELDS = set("e E s c S o f q p P F g C x X r i l z L n N T t I w m M O Z Y Q V".split())
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def call(method, path, params=None, who=None, signed=True, key=None):
    """A request; `signed=False` sends only the API key (USER_STREAM)."""
    params = dict(params or {})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if who:
        headers["X-MBX-APIKEY"] = key or KEYS[who][0]
        if signed:
            params["timestamp"] = int(time.time() * 1000)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    if who and signed:
        query += "&signature=" + hmac.new(KEYS[who][1], query.encode(), hashlib.sha256).hexdigest()
    data = query.encode() if method in ("POST", "PUT", "DELETE") else None
    url = BASE + path + ("?" + query if data is None and query else "")
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def expect_error(what, answer, status, code):
    got_status, body = answer
    check(got_status == status and isinstance(body, dict) and body.get("code") == code and body.get("msg"),
          f"{what}: expected HTTP {status} code {code}, got {got_status} {body}")


def order(who, side, qty, price, client, tif="GTC"):
    status, body = call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": tif,
                                                 "quantity": qty, "price": price, "newClientOrderId": client}, who=who)
    check(status == 200, f"order {client}: {status} {body}")
    return body


class Stream:
    """A user data stream connection and the events read from it."""

    def __init__(self, ws):
        self.ws = ws
        self.events = []

    async def until(self, what, done, timeout=10):
        """Reads events until `done(events)` holds."""
        deadline = time.monotonic() + timeout
        while not done(self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                check(False, f"{what}: not seen within {timeout} s; got {json.dumps(self.events)[:3000]}")
                return
            try:
                frame = await asyncio.wait_for(self.ws.recv(), left)
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                continue
            self.events.append(json.loads(frame))

    def reports(self, order_id):
        return [e for e in self.events if e.get("e") == "executionReport" and e.get("i") == order_id]

    def positions(self):
        return [e for e in self.events if e.get("e") == "outboundAccountPosition"]


async def refused(key, what):
    """The WebSocket for `key` is closed at once with 1008."""
    try:
        async with websockets.connect(f"ws://{HOST}/ws/{key}", open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            check(False, f"{what}: a frame instead of a close")
    except websockets.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
        check(code == 1008, f"{what}: closed with {code} {e}")


async def main():
    # The key alone starts a stream; no key, or an unknown one, is refused.
    status, body = call("POST", "/api/v3/userDataStream", who="alice", signed=False)
    key = body.get("listenKey", "") if isinstance(body, dict) else ""
    check(status == 200 and len(key) == 60 and key.isalnum(), f"listen key: {status} {body}")
    status, again = call("POST", "/api/v3/userDataStream", who="alice", signed=False)
    check(status == 200 and again.get("listenKey") == key, f"one key per account while valid: {again}")
    status, signed = call("POST", "/api/v3/userDataStream", who="alice")
    check(status == 200 and signed.get("listenKey") == key, f"a signed start is accepted too: {status} {signed}")
    status, bobs = call("POST", "/api/v3/userDataStream", who="bob", signed=False)
    bob_key = bobs.get("listenKey", "")
    check(status == 200 and len(bob_key) == 60 and bob_key != key, f"bob's key: {bobs}")
    expect_error("no API key", call("POST", "/api/v3/userDataStream"), 401, -2014)
    expect_error("unknown API key", call("POST", "/api/v3/userDataStream", who="alice", signed=False, key="nosuchkey0000"), 401, -2015)
    expect_error("keepalive without listenKey", call("PUT", "/api/v3/userDataStream", who="alice", signed=False), 400, -1102)
    expect_error("keepalive of an unknown key", call("PUT", "/api/v3/userDataStream", {"listenKey": "x" * 60}, who="alice", signed=False), 400, -1125)
    expect_error("keepalive of another account's key", call("PUT", "/api/v3/userDataStream", {"listenKey": bob_key}, who="alice", signed=False), 400, -1125)
    expect_error("closing another account's key", call("DELETE", "/api/v3/userDataStream", {"listenKey": bob_key}, who="alice", signed=False), 400, -1125)
    status, body = call("PUT", "/api/v3/userDataStream", {"listenKey": key}, who="alice", signed=False)
    check(status == 200 and body == {}, f"keepalive: {status} {body}")

    async with websockets.connect(f"ws://{HOST}/ws/{key}", open_timeout=10) as alice_ws, \
            websockets.connect(f"ws://{HOST}/ws/{bob_key}", open_timeout=10) as bob_ws:
        alice, bob = Stream(alice_ws), Stream(bob_ws)
        # Bob rests 1 BTC at 30000; Alice takes 0.4 of it, then rests a buy
        # at 29000 and cancels it.
        sell = order("bob", "SELL", "1", "30000", "bob-us-1")
        buy = order("alice", "BUY", "0.4", "30000", "alice-us-1")
        rest = order("alice", "BUY", "0.3", "29000", "alice-us-2")
        # While it rests, its quote is locked (read once the position after
        # its NEW report has come).
        await alice.until("the resting order's position", lambda events: alice.reports(rest.get("orderId"))
                          and events[-1].get("e") == "outboundAccountPosition")
        locked = {b["a"]: b["l"] for b in (alice.positions() or [{}])[-1].get("B", [])}
        check(locked.get("USDT") not in (None, "0.00000000"), f"USDT locked while resting: {locked}")
        status, cancelled = call("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "alice-us-2"}, who="alice")
        check(status == 200 and cancelled.get("status") == "CANCELED", f"cancel: {status} {cancelled}")

        def alice_done(_):
            return (len(alice.reports(buy.get("orderId"))) >= 2 and len(alice.reports(rest.get("orderId"))) >= 2
                    and alice.events and alice.events[-1].get("e") == "outboundAccountPosition")
        await alice.until("alice's reports", alice_done)
        await bob.until("bob's reports", lambda _: len(bob.reports(sell.get("orderId"))) >= 2 and bob.positions())

        new, trade = (alice.reports(buy.get("orderId")) + [{}, {}])[:2]
        for report in alice.reports(buy.get("orderId")) + alice.reports(rest.get("orderId")):
            missing = REPORT_FIELDS - set(report)
            check(not missing, f"executionReport lacks {sorted(missing)}: {report}")
            check(report.get("s") == "BTCUSDT" and report.get("S") == "BUY" and report.get("o") == "LIMIT"
                  and report.get("f") == "GTC" and report.get("g") == -1 and report.get("r") == "NONE"
                  and report.get("M") is False and report.get("P") == "0.00" and report.get("V") == "EXPIRE_MAKER"
                  and all(isinstance(report.get(k), int) for k in "EITO"), f"report fields {report}")
        check((new.get("x"), new.get("X"), new.get("c"), new.get("q"), new.get("p"), new.get("z"), new.get("l"), new.get("t"), new.get("N"))
              == ("NEW", "NEW", "alice-us-1", "0.4000", "30000.00", "0.0000", "0.0000", -1, None), f"NEW report {new}")
        fill = (buy.get("fills") or [{}])[0]
        check((trade.get("x"), trade.get("X"), trade.get("l"), trade.get("L"), trade.get("z"), trade.get("Z"), trade.get("Y"),
               trade.get("n"), trade.get("N"), trade.get("t"), trade.get("m"), trade.get("w"))
              == ("TRADE", "FILLED", "0.4000", "30000.00", "0.4000", "12000.000000", "12000.000000",
                  fill.get("commission"), "USDT", fill.get("tradeId"), False, False), f"TRADE report {trade} (fill {fill})")
        check(trade.get("I", 0) > new.get("I", 0), f"execution ids increase: {new.get('I')} {trade.get('I')}")
        placed, gone = (alice.reports(rest.get("orderId")) + [{}, {}])[:2]
        check((placed.get("x"), placed.get("X"), placed.get("w")) == ("NEW", "NEW", True), f"resting NEW {placed}")
        check((gone.get("x"), gone.get("X"), gone.get("c"), gone.get("C"), gone.get("q"), gone.get("z"))
              == ("CANCELED", "CANCELED", "alice-us-2", "alice-us-2", "0.3000", "0.0000"), f"CANCELED report {gone}")
        # Reports come in the order of the events: NEW, TRADE, NEW, CANCELED.
        order_ids = [(e.get("i"), e.get("x")) for e in alice.events if e.get("e") == "executionReport"]
        check(order_ids == [(buy.get("orderId"), "NEW"), (buy.get("orderId"), "TRADE"), (rest.get("orderId"), "NEW"),
                            (rest.get("orderId"), "CANCELED")], f"report order {order_ids}")
        # Bob is the maker: his order is partly filled by the same trade.
        bob_new, bob_trade = (bob.reports(sell.get("orderId")) + [{}, {}])[:2]
        check((bob_new.get("x"), bob_trade.get("x"), bob_trade.get("X"), bob_trade.get("m"), bob_trade.get("z"),
               bob_trade.get("t"), bob_trade.get("n"), bob_trade.get("w"))
              == ("NEW", "TRADE", "PARTIALLY_FILLED", True, "0.4000", fill.get("tradeId"), "2.40000000", True),
              f"bob's TRADE report {bob_trade}")

        # The last position equals the account as REST reports it.
        status, account = call("GET", "/api/v3/account", who="alice")
        balances = {b["asset"]: (b["free"], b["locked"]) for b in account.get("balances", [])}
        last = alice.positions()[-1] if alice.positions() else {}
        streamed = {b["a"]: (b["f"], b["l"]) for b in last.get("B", [])}
        check(set(streamed) == {"BTC", "USDT"} and all(balances.get(a) == v for a, v in streamed.items()),
              f"outboundAccountPosition {streamed} vs account {balances}")
        check(streamed.get("BTC") == ("100.40000000", "0.00000000"), f"alice's BTC after buying 0.4: {streamed}")
        check(isinstance(last.get("E"), int) and isinstance(last.get("u"), int), f"position times {last}")

        # Keepalive keeps the stream open; closing the key closes it.
        status, body = call("PUT", "/api/v3/userDataStream", {"listenKey": key}, who="alice", signed=False)
        check(status == 200 and body == {}, f"keepalive while streaming: {status} {body}")
        status, body = call("DELETE", "/api/v3/userDataStream", {"listenKey": key}, who="alice", signed=False)
        check(status == 200 and body == {}, f"close: {status} {body}")
        try:
            while True:
                await asyncio.wait_for(alice_ws.recv(), 10)
        except websockets.ConnectionClosed as e:
            check(e.rcvd is not None and e.rcvd.code == 1000, f"stream closed with the key: {e}")
        except asyncio.TimeoutError:
            check(False, "the stream stayed open after its key was closed")

    # A closed key is refused everywhere; a new one can be started.
    expect_error("keepalive of a closed key", call("PUT", "/api/v3/userDataStream", {"listenKey": key}, who="alice", signed=False), 400, -1125)
    expect_error("closing twice", call("DELETE", "/api/v3/userDataStream", {"listenKey": key}, who="alice", signed=False), 400, -1125)
    await refused(key, "closed key")
    await refused("A" * 60, "unknown key")
    status, body = call("POST", "/api/v3/userDataStream", who="alice", signed=False)
    check(status == 200 and body.get("listenKey") not in (None, key), f"a new key after closing: {body}")
    # Market streams are unaffected by the user stream path.
    async with websockets.connect(f"ws://{HOST}/ws/btcusdt@trade", open_timeout=10) as ws:
        order("bob", "SELL", "0.1", "30000", "bob-us-2")
        order("alice", "BUY", "0.1", "30000", "alice-us-3")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        check(frame.get("e") == "trade" and frame.get("q") == "0.1000", f"trade stream {frame}")

    if failures:
        print(f"user stream: {len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("user stream: all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
