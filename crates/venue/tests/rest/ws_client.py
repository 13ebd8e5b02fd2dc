"""A Python `websockets` client that keeps a local order book from a REST
`depth` snapshot plus `@depth` diffs, by Binance's documented rules, while
orders flow through the signed REST API; at the end the local book must be
identical to a fresh REST snapshot, with no gap in U/u. Also checks the
live SUBSCRIBE / LIST_SUBSCRIPTIONS / UNSUBSCRIBE methods, the trade
stream, partial books on their timer, and that a kline is published closed (x true) once its period ends.

Usage: ws_client.py HOST:PORT
Exit 0 and a last line "ws: all checks passed" when everything held.
"""

import asyncio
import hashlib
import hmac
import json
import random
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
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def rest(method, path, params=None, who=None):
    params = dict(params or {})
    headers = {}
    if who:
        params["timestamp"] = int(time.time() * 1000)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        query += "&signature=" + hmac.new(KEYS[who][1], query.encode(), hashlib.sha256).hexdigest()
        headers["X-MBX-APIKEY"] = KEYS[who][0]
    else:
        query = "&".join(f"{k}={v}" for k, v in params.items())
    request = urllib.request.Request(f"{BASE}{path}?{query}", method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def snapshot():
    book = rest("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5000})
    bids = {p: q for p, q in book["bids"]}
    asks = {p: q for p, q in book["asks"]}
    return book["lastUpdateId"], bids, asks


async def order_flow(rng, count, progress):
    """Orders from two accounts around 30000: rests, crosses, cancels."""
    live = {"alice": [], "bob": []}
    for n in range(count):
        progress[0] = n
        who = rng.choice(["alice", "bob"])
        action = rng.random()
        if action < 0.2 and live[who]:
            order_id = live[who].pop(rng.randrange(len(live[who])))
            await asyncio.to_thread(rest, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id}, who)
        else:
            side = rng.choice(["BUY", "SELL"])
            price = 30000 + rng.randint(-5, 5) * 0.5
            qty = rng.choice(["0.01", "0.02", "0.05", "0.1"])
            answer = await asyncio.to_thread(rest, "POST", "/api/v3/order", {
                "symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC",
                "quantity": qty, "price": f"{price:.2f}", "selfTradePreventionMode": "NONE",
            }, who)
            if answer.get("status") in ("NEW", "PARTIALLY_FILLED"):
                live[who].append(answer["orderId"])
            check("orderId" in answer, f"order {n} refused: {answer}")


async def main():
    rng = random.Random(7)
    url = f"ws://{HOST}/stream?streams=btcusdt@depth/btcusdt@trade"
    async with websockets.connect(url) as ws:
        # Live methods on the same connection.
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 1}))
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 3}))
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nosuch@depth"], "id": 4}))
        answers = {}
        while len(answers) < 4:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if "id" in message:
                answers[message["id"]] = message
        check(answers[1] == {"result": None, "id": 1}, f"SUBSCRIBE {answers[1]}")
        check(sorted(answers[2]["result"]) == ["btcusdt@depth", "btcusdt@trade", "ethusdt@bookTicker"], f"LIST {answers[2]}")
        check(answers[3] == {"result": None, "id": 3}, f"UNSUBSCRIBE {answers[3]}")
        check("error" in answers[4], f"unknown stream must be refused: {answers[4]}")

        events = asyncio.Queue()

        async def reader():
            async for raw in ws:
                await events.put(json.loads(raw))

        task = asyncio.create_task(reader())
        # Orders start; the snapshot is taken while they flow (Binance's
        # procedure: buffer events, then fetch the snapshot).
        progress = [0]
        flow = asyncio.create_task(order_flow(rng, 90, progress))
        while progress[0] < 30:
            await asyncio.sleep(0.005)
        last_update_id, bids, asks = await asyncio.to_thread(snapshot)
        await flow
        check(progress[0] == 89, "the flow ran to the end")
        await asyncio.sleep(1.0)

        previous_u = None
        applied = 0
        trades = 0
        while not events.empty():
            message = events.get_nowait()
            stream, data = message.get("stream"), message.get("data")
            if stream == "btcusdt@trade":
                trades += 1
                check(data["e"] == "trade" and data["s"] == "BTCUSDT", f"trade event {data}")
                continue
            check(stream == "btcusdt@depth" and data["e"] == "depthUpdate", f"unexpected {message}")
            first, last = data["U"], data["u"]
            if last <= last_update_id:
                continue  # older than the snapshot: drop
            if previous_u is None:
                check(first <= last_update_id + 1 <= last, f"first event {first}..{last} does not straddle {last_update_id}")
            else:
                check(first == previous_u + 1, f"gap: previous u {previous_u}, this U {first}")
            previous_u = last
            for side, levels in (("b", bids), ("a", asks)):
                for price, qty in data[side]:
                    if float(qty) == 0:
                        levels.pop(price, None)
                    else:
                        levels[price] = qty
            applied += 1
        task.cancel()
        final_id, final_bids, final_asks = await asyncio.to_thread(snapshot)
        check(applied > 0, "no depth event applied after the snapshot")
        check(trades > 0, "no trade event")
        # Updates without level changes (a candle closing on the time tick)
        # advance lastUpdateId without a depth event: the fresh snapshot may
        # be later than the last diff, never earlier, and its book the same.
        check(previous_u is not None and previous_u <= final_id,
              f"local book at {previous_u}, fresh snapshot at {final_id}")
        check(bids == final_bids, f"bids differ:\n local {sorted(bids.items())}\n fresh {sorted(final_bids.items())}")
        check(asks == final_asks, f"asks differ:\n local {sorted(asks.items())}\n fresh {sorted(final_asks.items())}")

    # A raw stream carries the event itself.
    async with websockets.connect(f"ws://{HOST}/ws/btcusdt@depth") as ws:
        await asyncio.to_thread(rest, "POST", "/api/v3/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01", "price": "1000.00"}, "alice")
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        check(event.get("e") == "depthUpdate" and event.get("b") == [["1000.00", "0.0100"]], f"raw depth {event}")

    # Partial books: the top 5 levels as REST shows them, pushed on a timer
    # whether the book changed or not (every 100 ms here, every second
    # without the suffix).
    async with websockets.connect(f"ws://{HOST}/stream?streams=btcusdt@depth5@100ms/btcusdt@depth5") as ws:
        fresh = rest("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5})
        seen = {"btcusdt@depth5@100ms": [], "btcusdt@depth5": []}
        started = time.monotonic()
        while len(seen["btcusdt@depth5"]) < 2:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            seen[message["stream"]].append((time.monotonic(), message["data"]))
        elapsed = time.monotonic() - started
        fast, slow = seen["btcusdt@depth5@100ms"], seen["btcusdt@depth5"]
        for _, data in fast + slow:
            # A candle closing on the time tick may advance lastUpdateId;
            # the levels cannot change on this idle venue.
            same = (data["bids"], data["asks"]) == (fresh["bids"], fresh["asks"])
            check(same and data["lastUpdateId"] >= fresh["lastUpdateId"],
                  f"partial book {data} differs from REST depth {fresh}")
        check(len(fast) >= 5, f"{len(fast)} @100ms partial books against 2 per-second ones in {elapsed:.2f} s")
        check(slow[1][0] - slow[0][0] >= 0.5, f"per-second partial books {slow[1][0] - slow[0][0]:.2f} s apart")

    # Klines: a trade's 1s candle is published open (x false), then once
    # more, final (x true), when the sequencer's time passes its end: on
    # this idle venue, by the periodic time tick.
    async with websockets.connect(f"ws://{HOST}/ws/btcusdt@kline_1s") as ws:
        for who, side, tif in (("bob", "SELL", "GTC"), ("alice", "BUY", "IOC")):
            await asyncio.to_thread(rest, "POST", "/api/v3/order", {
                "symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": tif,
                "quantity": "0.01", "price": "40000.00", "selfTradePreventionMode": "NONE"}, who)
        klines = []
        while not any(k["x"] for k in klines):
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            check(event.get("e") == "kline", f"kline event {event}")
            klines.append(event["k"])
        first, final = klines[0], klines[-1]
        check(not first["x"] and first["n"] >= 1, f"first kline must be open: {first}")
        check(final["t"] == first["t"] and final["T"] == final["t"] + 999 and final["i"] == "1s",
              f"the closed kline is the same second: {first} then {final}")
        check(final["n"] >= first["n"] and final["c"] != "", f"closed kline {final}")

    if failures:
        print(f"ws: {len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("ws: all checks passed", flush=True)


asyncio.run(main())
