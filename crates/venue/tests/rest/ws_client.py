"""A Python `websockets` client that keeps a local order book from a REST
`depth` snapshot plus `@depth` diffs, by Binance's documented rules, while
orders flow through the signed REST API; at the end the local book must be
identical to a fresh REST snapshot, with no gap in U/u. Also checks the
live SUBSCRIBE / LIST_SUBSCRIPTIONS / UNSUBSCRIBE methods and the trade
stream.

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
        check(previous_u == final_id, f"local book at {previous_u}, fresh snapshot at {final_id}")
        check(bids == final_bids, f"bids differ:\n local {sorted(bids.items())}\n fresh {sorted(final_bids.items())}")
        check(asks == final_asks, f"asks differ:\n local {sorted(asks.items())}\n fresh {sorted(final_asks.items())}")

    # A raw stream carries the event itself.
    async with websockets.connect(f"ws://{HOST}/ws/btcusdt@depth") as ws:
        await asyncio.to_thread(rest, "POST", "/api/v3/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01", "price": "1000.00"}, "alice")
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        check(event.get("e") == "depthUpdate" and event.get("b") == [["1000.00", "0.0100"]], f"raw depth {event}")

    if failures:
        print(f"ws: {len(failures)} checks failed", flush=True)
        sys.exit(1)
    print("ws: all checks passed", flush=True)


asyncio.run(main())
