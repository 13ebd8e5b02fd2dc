"""A Binance-style REST client (Python's own hmac and urllib, nothing from
the venue) against `venue serve`: signed requests, orders between two
accounts, queries, cancels, and every kind of bad request, each with the
code Binance clients map, and nothing changed by a refused one.

Usage: rest_client.py BASE_URL
Exit 0 and a last line "rest: all checks passed" when everything held.
"""

import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request

BASE = sys.argv[1]
KEYS = {
    "alice": ("demoalicekey000000000000000000000000000000000000000000000000000",
              b"demoalicesecret0000000000000000000000000000000000000000000000000"),
    "bob": ("demobobkey00000000000000000000000000000000000000000000000000000",
            b"demobobsecret000000000000000000000000000000000000000000000000000"),
}
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def call(method, path, params=None, who=None, in_body=False, timestamp=None, tamper=False, key=None, raw_body=None):
    params = dict(params or {})
    query = ""
    if who:
        api_key, secret = KEYS[who]
        params["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        signature = hmac.new(secret, query.encode(), hashlib.sha256).hexdigest()
        if tamper:
            signature = ("0" if signature[0] != "0" else "1") + signature[1:]
        query += "&signature=" + signature
    else:
        query = "&".join(f"{k}={v}" for k, v in params.items())
    url = BASE + path + ("?" + query if query and not in_body else "")
    data = query.encode() if in_body else raw_body
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if who or key:
        headers["X-MBX-APIKEY"] = key if key is not None else KEYS[who][0]
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            body = json.loads(body)
        except ValueError:
            body = {"raw": body[:200]}
        return e.code, body, e.headers


def expect_error(what, answer, status, code):
    got_status, body, _ = answer
    check(got_status == status and isinstance(body, dict) and body.get("code") == code and body.get("msg"),
          f"{what}: expected HTTP {status} code {code}, got {got_status} {body}")


def balances(who):
    status, body, _ = call("GET", "/api/v3/account", who=who)
    check(status == 200, f"account {who}: {status} {body}")
    return {b["asset"]: (b["free"], b["locked"]) for b in body.get("balances", [])}


def main():
    check(call("GET", "/api/v3/ping")[:2] == (200, {}), "ping")
    status, body, headers = call("GET", "/api/v3/time")
    check(status == 200 and abs(body["serverTime"] - time.time() * 1000) < 5000, f"time {body}")
    check(headers.get("X-MBX-USED-WEIGHT-1M") is not None, "weight header")
    status, info, _ = call("GET", "/api/v3/exchangeInfo")
    symbols = {s["symbol"]: s for s in info["symbols"]}
    check("BTCUSDT" in symbols and symbols["BTCUSDT"]["baseAsset"] == "BTC", f"exchangeInfo {list(symbols)}")
    filters = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
    check(filters["PRICE_FILTER"]["tickSize"] == "0.01" and filters["LOT_SIZE"]["stepSize"] == "0.0001", f"filters {filters}")

    alice0, bob0 = balances("alice"), balances("bob")
    check(alice0["BTC"] == ("100.00000000", "0.00000000"), f"alice {alice0}")

    # Bob rests 1 BTC at 30000; Alice buys 0.25 at market (FULL response).
    status, sell, _ = call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "1", "price": "30000",
                                                    "newClientOrderId": "bob-1"}, who="bob", in_body=True)
    check(status == 200 and sell["status"] == "NEW" and sell["clientOrderId"] == "bob-1", f"sell {status} {sell}")
    status, buy, _ = call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                   "quantity": "0.25"}, who="alice", in_body=True)
    check(status == 200 and buy["status"] == "FILLED" and buy["executedQty"] == "0.2500", f"buy {status} {buy}")
    check(buy.get("cummulativeQuoteQty") == "7500.000000", f"cummulativeQuoteQty {buy}")
    fills = buy.get("fills", [])
    check(len(fills) == 1 and fills[0]["price"] == "30000.00" and fills[0]["commission"] == "3.75000000"
          and fills[0]["commissionAsset"] == "USDT", f"fills {fills}")
    alice1 = balances("alice")
    check(alice1["BTC"][0] == "100.25000000" and alice1["USDT"][0] == "9992496.25000000", f"alice after {alice1}")

    # Market data reflects the trade and the rest of the book.
    status, depth, _ = call("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5})
    check(status == 200 and depth["lastUpdateId"] > 0 and depth["asks"] == [["30000.00", "0.7500"]] and depth["bids"] == [],
          f"depth {status} {depth}")
    status, trades, _ = call("GET", "/api/v3/trades", {"symbol": "BTCUSDT"})
    check(status == 200 and len(trades) == 1 and trades[0]["price"] == "30000.00" and trades[0]["qty"] == "0.2500"
          and trades[0]["quoteQty"] == "7500.000000" and trades[0]["isBuyerMaker"] is False, f"trades {trades}")
    status, klines, _ = call("GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"})
    check(status == 200 and len(klines) == 1 and klines[0][1:6] == ["30000.00"] * 4 + ["0.2500"] and klines[0][8] == 1,
          f"klines {klines}")
    expect_error("bad interval", call("GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}), 400, -1120)
    status, ticker, _ = call("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"})
    check(status == 200 and ticker["lastPrice"] == "30000.00" and ticker["volume"] == "0.2500" and ticker["count"] == 1
          and ticker["askPrice"] == "30000.00" and ticker["priceChangePercent"] == "0.000", f"ticker {ticker}")
    status, price, _ = call("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"})
    check(status == 200 and price == {"symbol": "BTCUSDT", "price": "30000.00"}, f"price {price}")
    status, books, _ = call("GET", "/api/v3/ticker/bookTicker")
    check(status == 200 and isinstance(books, list) and len(books) == 2, f"bookTicker {books}")
    expect_error("depth of an unknown symbol", call("GET", "/api/v3/depth", {"symbol": "NOPE"}), 400, -1121)

    # Query, list, cancel.
    status, order, _ = call("GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "bob-1"}, who="bob")
    check(status == 200 and order["status"] == "PARTIALLY_FILLED" and order["executedQty"] == "0.2500", f"query {order}")
    status, opened, _ = call("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, who="bob")
    check(status == 200 and [o["clientOrderId"] for o in opened] == ["bob-1"], f"openOrders {opened}")
    # Alice cannot see or cancel Bob's order, by id or by client id.
    expect_error("another account's order", call("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": sell["orderId"]}, who="alice"), 400, -2013)
    expect_error("cancel another account's order", call("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": sell["orderId"]}, who="alice"), 400, -2011)
    status, cancelled, _ = call("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "bob-1"}, who="bob")
    check(status == 200 and cancelled["status"] == "CANCELED" and cancelled["origClientOrderId"] == "bob-1", f"cancel {cancelled}")
    expect_error("cancel twice", call("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "bob-1"}, who="bob"), 400, -2011)
    # Cancel all on a symbol.
    for price in ("31000", "31001"):
        call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.1", "price": price}, who="bob", in_body=True)
    status, gone, _ = call("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, who="bob")
    check(status == 200 and len(gone) == 2, f"cancel all {gone}")

    # Bad requests: each its code, and nothing changes.
    before = balances("alice"), balances("bob")
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1", "price": "100"}
    expect_error("unsigned", call("POST", "/api/v3/order", order, key=KEYS["alice"][0], in_body=False), 400, -1102)
    expect_error("no key", call("GET", "/api/v3/account", {"timestamp": int(time.time() * 1000), "signature": "00"}), 401, -2014)
    expect_error("unknown key", call("GET", "/api/v3/account", who="alice", key="nosuchkey000000000000"), 401, -2015)
    expect_error("wrong signature", call("POST", "/api/v3/order", order, who="alice", in_body=True, tamper=True), 400, -1022)
    expect_error("stale timestamp", call("POST", "/api/v3/order", order, who="alice", in_body=True, timestamp=int(time.time() * 1000) - 10_000), 400, -1021)
    expect_error("future timestamp", call("POST", "/api/v3/order", order, who="alice", in_body=True, timestamp=int(time.time() * 1000) + 10_000), 400, -1021)
    expect_error("recvWindow too large", call("GET", "/api/v3/account", {"recvWindow": 70000}, who="alice"), 400, -1131)
    expect_error("unknown symbol", call("POST", "/api/v3/order", dict(order, symbol="DOGEUSDT"), who="alice", in_body=True), 400, -1121)
    expect_error("off-grid price", call("POST", "/api/v3/order", dict(order, price="100.001"), who="alice", in_body=True), 400, -1013)
    expect_error("malformed quantity", call("POST", "/api/v3/order", dict(order, quantity="1e3"), who="alice", in_body=True), 400, -1013)
    expect_error("missing price", call("POST", "/api/v3/order", {k: v for k, v in order.items() if k != "price"}, who="alice", in_body=True), 400, -1102)
    expect_error("bad side", call("POST", "/api/v3/order", dict(order, side="UP"), who="alice", in_body=True), 400, -1100)
    expect_error("bad type", call("POST", "/api/v3/order", dict(order, type="FANCY"), who="alice", in_body=True), 400, -1116)
    expect_error("insufficient balance", call("POST", "/api/v3/order", dict(order, quantity="99", price="9000000"), who="alice", in_body=True), 400, -2010)
    status, body, _ = call("POST", "/api/v3/order", raw_body=b"x" * 100_000, key=KEYS["alice"][0])
    check(status == 413 and body.get("code") == -1000 and body.get("msg"), f"oversized body: {status} {body}")
    status, body, headers = call("PUT", "/api/v3/order")
    check(status == 405 and body.get("code") == -1000 and "GET" in (headers.get("Allow") or ""), f"wrong method: {status} {body}")
    after = balances("alice"), balances("bob")
    check(before == after, f"refused requests changed balances: {before} -> {after}")

    if failures:
        print(f"rest: {len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("rest: all checks passed", flush=True)


if __name__ == "__main__":
    main()
