"""A Binance-style REST client (Python's own hmac and urllib, nothing from
the venue) against `venue serve`: signed requests, orders between two
accounts, queries, cancels, and every kind of bad request, each with the
code Binance clients map, and nothing changed by a refused one; then the
order history (`allOrders`, `myTrades`, `GET order` of ended orders, with
exact quantities, statuses and commissions) and `order/cancelReplace` in
both modes, with each way it can fail.

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

    # Market data reflects the trade and the rest of the book. It is
    # published apart from the order's answer (as on Binance), so a client
    # may ask before it has caught up: wait for the book's update, bounded.
    # The trade comes before that update in the command's events, so every
    # read below sees it too.
    deadline = time.time() + 5
    while True:
        status, depth, _ = call("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5})
        if status != 200 or depth.get("asks") == [["30000.00", "0.7500"]] or time.time() > deadline:
            break
        time.sleep(0.01)
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
    # ICEBERG_PARTS (exchangeInfo: 1000): ceil(1 / 0.0009) = 1112 parts; 0.001 makes exactly 1000.
    expect_error("iceberg of too many parts", call("POST", "/api/v3/order", dict(order, icebergQty="0.0009"), who="alice", in_body=True), 400, -1013)
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

    history_checks(sell, buy)
    cancel_replace_checks()

    if failures:
        print(f"rest: {len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("rest: all checks passed", flush=True)


def weight_used(headers):
    return int(headers.get("X-MBX-USED-WEIGHT-1M") or 0)


def history_checks(sell, buy):
    """Ended orders and trades from the history, exactly as the order
    answers reported them; another account's are refused."""
    btc = {"symbol": "BTCUSDT"}
    # Alice's market buy: FILLED, as its answer said.
    status, mine, headers = call("GET", "/api/v3/allOrders", btc, who="alice")
    check(status == 200 and isinstance(mine, list), f"allOrders alice: {status} {mine}")
    ours = [o for o in mine if o.get("orderId") == buy["orderId"]]
    check(len(ours) == 1, f"alice's market buy in allOrders: {mine}")
    if ours:
        o = ours[0]
        check((o["status"], o["type"], o["side"], o["origQty"], o["executedQty"], o["cummulativeQuoteQty"])
              == ("FILLED", "MARKET", "BUY", "0.2500", "0.2500", "7500.000000"), f"filled order {o}")
        check(o["clientOrderId"] == buy["clientOrderId"] and o["time"] > 0 and o["updateTime"] >= o["time"]
              and o["isWorking"] is True and o["orderListId"] == -1, f"filled order fields {o}")
    check(all(o["orderId"] != sell["orderId"] for o in mine), f"bob's order among alice's: {mine}")
    # The weight is Binance's: 20.
    status, _, headers2 = call("GET", "/api/v3/allOrders", btc, who="alice")
    used = weight_used(headers2) - weight_used(headers)
    check(status == 200 and (used == 20 or weight_used(headers2) == 20), f"allOrders weight {used}")

    # GET order answers ended orders with their final state.
    status, got, _ = call("GET", "/api/v3/order", dict(btc, orderId=buy["orderId"]), who="alice")
    check(status == 200 and got["status"] == "FILLED" and got["executedQty"] == "0.2500", f"GET filled order: {status} {got}")
    status, got, _ = call("GET", "/api/v3/order", dict(btc, origClientOrderId="bob-1"), who="bob")
    check(status == 200 and (got["status"], got["origQty"], got["executedQty"], got["cummulativeQuoteQty"],
                             got["price"], got["timeInForce"], got["type"])
          == ("CANCELED", "1.0000", "0.2500", "7500.000000", "30000.00", "GTC", "LIMIT"), f"GET cancelled order: {got}")
    # Another account's ended order is not found, by id or client id.
    expect_error("another account's ended order", call("GET", "/api/v3/order", dict(btc, orderId=sell["orderId"]), who="alice"), 400, -2013)
    expect_error("another account's client id", call("GET", "/api/v3/order", dict(btc, origClientOrderId="bob-1"), who="alice"), 400, -2013)
    expect_error("an order on another symbol", call("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": sell["orderId"]}, who="bob"), 400, -2013)
    expect_error("an order that never was", call("GET", "/api/v3/order", dict(btc, orderId=999999999), who="bob"), 400, -2013)

    # Bob's orders: the partly filled then cancelled one, and the two
    # post-only ones cancelled by cancel-all, with their placed attributes.
    status, bobs, _ = call("GET", "/api/v3/allOrders", btc, who="bob")
    check(status == 200 and len(bobs) == 3, f"allOrders bob: {status} {bobs}")
    if status == 200 and len(bobs) == 3:
        first, maker1, maker2 = bobs
        check(first["orderId"] == sell["orderId"] and first["status"] == "CANCELED" and first["executedQty"] == "0.2500"
              and first["clientOrderId"] == "bob-1", f"bob-1 {first}")
        for o, price in ((maker1, "31000.00"), (maker2, "31001.00")):
            check((o["status"], o["type"], o["price"], o["origQty"], o["executedQty"], o["cummulativeQuoteQty"])
                  == ("CANCELED", "LIMIT_MAKER", price, "0.1000", "0.0000", "0.000000"), f"post-only order {o}")
        check([o["orderId"] for o in bobs] == sorted(o["orderId"] for o in bobs), f"oldest first: {bobs}")
        # orderId: from that order on; limit: the most recent ones.
        status, tail, _ = call("GET", "/api/v3/allOrders", dict(btc, orderId=maker1["orderId"]), who="bob")
        check(status == 200 and [o["orderId"] for o in tail] == [maker1["orderId"], maker2["orderId"]], f"allOrders from id: {tail}")
        status, last, _ = call("GET", "/api/v3/allOrders", dict(btc, limit=1), who="bob")
        check(status == 200 and [o["orderId"] for o in last] == [maker2["orderId"]], f"allOrders limit 1: {last}")
        status, first_only, _ = call("GET", "/api/v3/allOrders", dict(btc, startTime=first["time"], limit=1), who="bob")
        check(status == 200 and [o["orderId"] for o in first_only] == [first["orderId"]], f"allOrders startTime: {first_only}")
        status, none, _ = call("GET", "/api/v3/allOrders", dict(btc, endTime=first["time"] - 1), who="bob")
        check(status == 200 and none == [], f"allOrders before the first order: {none}")
    status, eth, _ = call("GET", "/api/v3/allOrders", {"symbol": "ETHUSDT"}, who="bob")
    check(status == 200 and eth == [], f"allOrders of an instrument not traded: {eth}")
    expect_error("allOrders without symbol", call("GET", "/api/v3/allOrders", {}, who="bob"), 400, -1102)
    expect_error("allOrders limit 1001", call("GET", "/api/v3/allOrders", dict(btc, limit=1001), who="bob"), 400, -1100)
    expect_error("allOrders unknown symbol", call("GET", "/api/v3/allOrders", {"symbol": "NOPE"}, who="bob"), 400, -1121)
    expect_error("allOrders unsigned", call("GET", "/api/v3/allOrders", btc, key=KEYS["bob"][0]), 400, -1102)

    # myTrades: each side of the one trade, with the commission its order
    # answer reported (alice's fill) and the maker's fee (bob's).
    fill = buy["fills"][0]
    status, trades, headers = call("GET", "/api/v3/myTrades", btc, who="alice")
    check(status == 200 and len(trades) == 1, f"myTrades alice: {status} {trades}")
    if status == 200 and len(trades) == 1:
        t = trades[0]
        check((t["id"], t["orderId"], t["price"], t["qty"], t["quoteQty"], t["commission"], t["commissionAsset"],
               t["isBuyer"], t["isMaker"], t["isBestMatch"], t["symbol"], t["orderListId"])
              == (fill["tradeId"], buy["orderId"], "30000.00", "0.2500", "7500.000000", fill["commission"], "USDT",
                  True, False, True, "BTCUSDT", -1), f"alice's trade {t} (fill {fill})")
        check(t["time"] > 0, f"trade time {t}")
    status, trades, _ = call("GET", "/api/v3/myTrades", btc, who="bob")
    check(status == 200 and len(trades) == 1 and trades[0]["orderId"] == sell["orderId"] and trades[0]["isBuyer"] is False
          and trades[0]["isMaker"] is True and trades[0]["commission"] == "1.50000000"
          and trades[0]["id"] == fill["tradeId"], f"bob's trade {trades}")
    status, by_order, headers2 = call("GET", "/api/v3/myTrades", dict(btc, orderId=sell["orderId"]), who="bob")
    check(status == 200 and len(by_order) == 1, f"myTrades by order: {by_order}")
    used = weight_used(headers2) - weight_used(headers)
    status, none, _ = call("GET", "/api/v3/myTrades", dict(btc, orderId=buy["orderId"]), who="bob")
    check(status == 200 and none == [], f"another account's order has no trades here: {none}")
    status, none, _ = call("GET", "/api/v3/myTrades", dict(btc, fromId=fill["tradeId"] + 1), who="alice")
    check(status == 200 and none == [], f"myTrades fromId past the last: {none}")
    expect_error("myTrades limit 0", call("GET", "/api/v3/myTrades", dict(btc, limit=0), who="alice"), 400, -1100)

    # An IOC order that finds nothing ends EXPIRED, and says it was IOC.
    status, ioc, _ = call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
                                                   "quantity": "0.1", "price": "100"}, who="alice", in_body=True)
    check(status == 200 and ioc["status"] == "EXPIRED", f"IOC {status} {ioc}")
    status, got, _ = call("GET", "/api/v3/order", dict(btc, orderId=ioc.get("orderId")), who="alice")
    check(status == 200 and (got["status"], got["timeInForce"], got["executedQty"]) == ("EXPIRED", "IOC", "0.0000"), f"GET IOC {got}")


def cancel_replace_checks():
    """cancelReplace in both modes, and each way it can fail."""
    def place(who, price, client, qty="0.5"):
        status, order, _ = call("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                                                         "quantity": qty, "price": price, "newClientOrderId": client}, who=who, in_body=True)
        check(status == 200 and order["status"] == "NEW", f"place {client}: {status} {order}")
        return order

    def replace(who, params, **new):
        order = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.4", "price": "32100"}
        order.update(new)
        return call("POST", "/api/v3/order/cancelReplace", dict(order, **params), who=who, in_body=True)

    def open_ids(who):
        status, orders, _ = call("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, who=who)
        check(status == 200, f"openOrders {who}: {status} {orders}")
        return sorted(o["clientOrderId"] for o in orders) if status == 200 else []

    first = place("bob", "32000", "bob-r1")
    # Success: the order is cancelled and the new one rests.
    status, body, headers = replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "bob-r1",
                                            "newClientOrderId": "bob-r2", "cancelNewClientOrderId": "bob-r1-cancel"})
    check(status == 200 and body.get("cancelResult") == "SUCCESS" and body.get("newOrderResult") == "SUCCESS", f"cancelReplace {status} {body}")
    check(headers.get("X-MBX-ORDER-COUNT-10S") is not None, "cancelReplace counts an order")
    if status == 200:
        c, n = body["cancelResponse"], body["newOrderResponse"]
        check((c["status"], c["orderId"], c["origClientOrderId"], c["clientOrderId"], c["origQty"], c["executedQty"])
              == ("CANCELED", first["orderId"], "bob-r1", "bob-r1-cancel", "0.5000", "0.0000"), f"cancelResponse {c}")
        check((n["status"], n["clientOrderId"], n["price"], n["origQty"], n["side"]) == ("NEW", "bob-r2", "32100.00", "0.4000", "SELL"),
              f"newOrderResponse {n}")
    check(open_ids("bob") == ["bob-r2"], f"after replace: {open_ids('bob')}")
    status, got, _ = call("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": first["orderId"]}, who="bob")
    check(status == 200 and got["status"] == "CANCELED", f"the replaced order: {got}")

    # STOP_ON_FAILURE with a cancel that fails: nothing placed.
    status, body, _ = replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": first["orderId"], "newClientOrderId": "bob-r3"})
    data = body.get("data") or {}
    check(status == 400 and body.get("code") == -2022 and body.get("msg") == "Order cancel-replace failed."
          and data.get("cancelResult") == "FAILURE" and data.get("newOrderResult") == "NOT_ATTEMPTED"
          and (data.get("cancelResponse") or {}).get("code") == -2011 and data.get("newOrderResponse") is None
          and "newOrderResponse" in data, f"STOP_ON_FAILURE failed cancel: {status} {body}")
    check(open_ids("bob") == ["bob-r2"], f"nothing placed: {open_ids('bob')}")

    # ALLOW_FAILURE with a cancel that fails: the new order is placed (409).
    status, body, _ = replace("bob", {"cancelReplaceMode": "ALLOW_FAILURE", "cancelOrderId": first["orderId"], "newClientOrderId": "bob-r3"},
                              price="32200")
    data = body.get("data") or {}
    check(status == 409 and body.get("code") == -2021 and data.get("cancelResult") == "FAILURE"
          and data.get("newOrderResult") == "SUCCESS" and (data.get("cancelResponse") or {}).get("code") == -2011
          and (data.get("newOrderResponse") or {}).get("clientOrderId") == "bob-r3", f"ALLOW_FAILURE failed cancel: {status} {body}")
    check(open_ids("bob") == ["bob-r2", "bob-r3"], f"placed anyway: {open_ids('bob')}")

    # The cancel succeeds but the new order is refused (-2010): -2021, 400.
    status, body, _ = replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "bob-r3"},
                              side="BUY", quantity="99", price="9000000")
    data = body.get("data") or {}
    check(status == 400 and body.get("code") == -2021 and body.get("msg") == "Order cancel-replace partially failed."
          and data.get("cancelResult") == "SUCCESS" and data.get("newOrderResult") == "FAILURE"
          and (data.get("cancelResponse") or {}).get("status") == "CANCELED"
          and (data.get("newOrderResponse") or {}).get("code") == -2010, f"new order refused: {status} {body}")
    check(open_ids("bob") == ["bob-r2"], f"bob-r3 cancelled: {open_ids('bob')}")

    # Both fail (ALLOW_FAILURE): -2022 with both outcomes.
    status, body, _ = replace("bob", {"cancelReplaceMode": "ALLOW_FAILURE", "cancelOrigClientOrderId": "bob-r3"},
                              side="BUY", quantity="99", price="9000000")
    data = body.get("data") or {}
    check(status == 400 and body.get("code") == -2022 and data.get("cancelResult") == "FAILURE"
          and data.get("newOrderResult") == "FAILURE" and (data.get("newOrderResponse") or {}).get("code") == -2010,
          f"both fail: {status} {body}")

    # Checked before anything is cancelled: a bad new order cancels nothing.
    before = open_ids("bob")
    expect_error("cancelReplace bad type", replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "bob-r2"},
                                                   type="FANCY"), 400, -1116)
    expect_error("cancelReplace off-grid price", replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "bob-r2"},
                                                         price="32100.001"), 400, -1013)
    expect_error("cancelReplace bad mode", replace("bob", {"cancelReplaceMode": "SOMETIMES", "cancelOrigClientOrderId": "bob-r2"}), 400, -1100)
    expect_error("cancelReplace no mode", replace("bob", {"cancelOrigClientOrderId": "bob-r2"}), 400, -1102)
    expect_error("cancelReplace no target", replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE"}), 400, -1102)
    expect_error("cancelReplace restrictions", replace("bob", {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "bob-r2",
                                                               "cancelRestrictions": "ONLY_NEW"}), 400, -1145)
    check(open_ids("bob") == before, f"refused cancelReplace cancelled something: {before} -> {open_ids('bob')}")

    # Alice cannot cancel-replace Bob's order, by id or by client id.
    status, r2, _ = call("GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "bob-r2"}, who="bob")
    for target in ({"cancelOrderId": r2.get("orderId")}, {"cancelOrigClientOrderId": "bob-r2"}):
        status, body, _ = replace("alice", dict(target, cancelReplaceMode="STOP_ON_FAILURE"))
        check(status == 400 and body.get("code") == -2022 and (body.get("data") or {}).get("newOrderResult") == "NOT_ATTEMPTED",
              f"alice replacing bob's order: {status} {body}")
    check(open_ids("bob") == ["bob-r2"] and open_ids("alice") == [], f"bob's order untouched: {open_ids('bob')}")
    status, gone, _ = call("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, who="bob")
    check(status == 200 and len(gone) == 1, f"clean up: {gone}")

    # A stop-market buy holds a quote budget (quoteOrderQty); by quantity it
    # is refused, since nothing would bound what it spends once triggered.
    before = balances("alice")["USDT"]
    stop = {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS", "stopPrice": "90000"}
    expect_error("stop-market buy by quantity", call("POST", "/api/v3/order", dict(stop, quantity="0.1"), who="alice", in_body=True), 400, -2010)
    status, body, _ = call("POST", "/api/v3/order", dict(stop, quoteOrderQty="1000", newClientOrderId="alice-stop-buy"), who="alice", in_body=True)
    check(status == 200 and body.get("clientOrderId") == "alice-stop-buy", f"stop-market buy with a budget: {status} {body}")
    status, orders, _ = call("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, who="alice")
    check([(o["clientOrderId"], o["type"], o["status"]) for o in orders] == [("alice-stop-buy", "STOP_LOSS", "NEW")],
          f"the dormant stop is open: {orders}")
    # The budget and the largest fee on it (5 bps: 0.50) are held.
    free, locked = balances("alice")["USDT"]
    check(float(locked) - float(before[1]) == 1000.5 and float(before[0]) - float(free) == 1000.5,
          f"the stop's budget is held: {before} -> {(free, locked)}")
    status, gone, _ = call("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, who="alice")
    check(status == 200 and len(gone) == 1, f"the stop is cancelled: {gone}")
    check(balances("alice")["USDT"] == before, f"and its budget released: {before} -> {balances('alice')['USDT']}")


if __name__ == "__main__":
    main()
