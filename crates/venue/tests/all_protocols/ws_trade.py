"""Subscribes to one raw WebSocket stream of `venue serve` and prints the
first event it receives, for `tests/all_protocols.rs`.

Usage: ws_trade.py HOST:PORT STREAM

Prints "ready" once the venue has the subscription (it answered a
LIST_SUBSCRIPTIONS naming STREAM, so no event can be missed after that
line), then "event <JSON>" for the first stream event, and exits 0. Exits 1
with a message on stderr if nothing arrives within 20 s.
"""

import asyncio
import json
import sys

import websockets

HOST, STREAM = sys.argv[1], sys.argv[2]


async def main():
    async with websockets.connect(f"ws://{HOST}/ws/{STREAM}", open_timeout=10) as ws:
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        while True:
            message = json.loads(await ws.recv())
            if message.get("id") == 1:
                if STREAM not in (message.get("result") or []):
                    print(f"subscription missing: {message}", file=sys.stderr, flush=True)
                    sys.exit(1)
                break
        print("ready", flush=True)
        while True:
            message = json.loads(await ws.recv())
            if "id" not in message:
                print("event " + json.dumps(message), flush=True)
                return


try:
    asyncio.run(asyncio.wait_for(main(), timeout=20))
except asyncio.TimeoutError:
    print(f"no {STREAM} event within 20 s", file=sys.stderr, flush=True)
    sys.exit(1)
