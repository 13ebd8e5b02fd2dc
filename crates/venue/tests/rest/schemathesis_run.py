"""Schemathesis against a running `venue serve`, from the venue's own
/openapi.json: every documented operation, with generated valid and invalid
inputs, checked for no server error, a documented status, a documented
content type, documented headers and a body that conforms to the schema.

Signed endpoints are signed here (alice's demo key, Python's own hmac), so
that they are exercised past the signature check rather than answering 401
to everything; a few trades are made first so that the market-data answers
are not all empty.

Usage: schemathesis_run.py BASE_URL [extra `st run` options...]
Exit 0 and a last line "schemathesis: all checks passed" when it passed.

This file is also the hooks module schemathesis loads (SCHEMATHESIS_HOOKS):
imported that way, it only registers the signing hook.
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

KEY = "demoalicekey000000000000000000000000000000000000000000000000000"
SECRET = b"demoalicesecret0000000000000000000000000000000000000000000000000"
BOB_KEY = "demobobkey00000000000000000000000000000000000000000000000000000"
BOB_SECRET = b"demobobsecret000000000000000000000000000000000000000000000000000"
# Not `positive_data_acceptance` (a schema-valid symbol need not be one of
# the configured instruments: -1121), `ignored_auth` (the hook signs every
# request that carries a key, so its "invalid" credentials become valid), nor
# `use_after_free` / `ensure_resource_availability` (a cancelled order stays
# queryable, as CANCELED, as on Binance; one placed with a random id is not).
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
])


def sign(secret, payload):
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


# ---- the hook (runs inside schemathesis) -------------------------------------

if __name__ != "__main__":
    import requests
    import schemathesis

    @schemathesis.hook
    def before_call(context, case, kwargs):
        """Signs a signed operation's request: alice's key, a fresh
        `timestamp`, and `signature` over the query string and body exactly
        as they will be sent (the other generated values are kept, invalid
        ones included)."""
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "x-mbx-apikey"}
        if not case.operation.definition.raw.get("security") or len(headers) == len(case.headers or {}):
            # Unsigned, or a case that leaves the key out on purpose.
            return
        case.headers = {**headers, "X-MBX-APIKEY": KEY}
        body = case.body if isinstance(case.body, dict) else {}
        auth = ("signature", "timestamp")
        # Each parameter only once across query and body: the body's wins
        # (the documented order examples are bodies).
        query = {k: v for k, v in (case.query or {}).items() if k not in auth and k not in body}
        if body:
            case.body = {k: v for k, v in body.items() if k not in auth}
        for params in (query, case.body if body else {}):
            # A window under a second fails on latency alone: -1021, again.
            window = params.get("recvWindow")
            if isinstance(window, int) and not isinstance(window, bool) and 0 <= window < 1000:
                params["recvWindow"] = 5000
        query["timestamp"] = int(time.time() * 1000)
        case.query = query
        sent = case.as_transport_kwargs(base_url=os.environ["VENUE_BASE_URL"])
        prepared = requests.Request(
            method=sent["method"],
            url=sent["url"],
            params=sent.get("params"),
            data=sent.get("data"),
            json=sent.get("json"),
            headers=sent.get("headers"),
        ).prepare()
        raw_query = prepared.url.partition("?")[2]
        body = prepared.body or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "surrogateescape")
        case.query = {**query, "signature": sign(SECRET, raw_query + body)}


# ---- the driver ----------------------------------------------------------------

def call(base, method, path, params, key, secret):
    params = dict(params, timestamp=int(time.time() * 1000))
    body = "&".join(f"{k}={v}" for k, v in params.items())
    body += "&signature=" + sign(secret, body)
    request = urllib.request.Request(base + path, method=method, data=body.encode(), headers={
        "X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def seed(base):
    """Trades, resting orders on both sides and candles on both demo
    instruments."""
    for symbol, price in (("BTCUSDT", 30000), ("ETHUSDT", 2000)):
        orders = [
            ("bob", {"side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": f"{price + 1}.00"}),
            ("bob", {"side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": f"{price + 2}.00"}),
            ("bob", {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": f"{price - 1}.00"}),
            ("alice", {"side": "BUY", "type": "MARKET", "quantity": "0.2"}),
            ("alice", {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.4", "price": f"{price + 1}.00"}),
            ("alice", {"side": "SELL", "type": "LIMIT", "timeInForce": "IOC", "quantity": "0.1", "price": f"{price - 1}.00"}),
            ("alice", {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1", "price": f"{price - 5}.00"}),
        ]
        if symbol == "BTCUSDT":
            # The ones the documented examples query and cancel.
            for name in ("seed-query", "seed-cancel", "seed-replace"):
                orders.append(("alice", {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1",
                                         "price": f"{price - 10}.00", "newClientOrderId": name}))
        for who, order in orders:
            key, secret = (KEY, SECRET) if who == "alice" else (BOB_KEY, BOB_SECRET)
            status, body = call(base, "POST", "/api/v3/order", dict(order, symbol=symbol), key, secret)
            if status != 200:
                sys.exit(f"seeding {symbol} {who} {order}: {status} {body}")


def main():
    base = sys.argv[1].rstrip("/")
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        print("schemathesis is not installed: pip install schemathesis (.ci/run installs the pinned version)",
              flush=True)
        sys.exit(2)
    seed(base)
    env = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.abspath(__file__), VENUE_BASE_URL=base)
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", base + "/openapi.json",
        "--url", base,
        "--checks", CHECKS,
        "--max-examples", "20",
        "--seed", "1",
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
        *sys.argv[2:],
    ]
    print("running:", " ".join(command), flush=True)
    try:
        result = subprocess.run(command, env=env, timeout=270)
    except subprocess.TimeoutExpired:
        print("schemathesis: did not finish within 270 s", flush=True)
        sys.exit(1)
    if result.returncode != 0:
        print(f"schemathesis: failed (exit {result.returncode})", flush=True)
        sys.exit(1)
    print("schemathesis: all checks passed", flush=True)


if __name__ == "__main__":
    main()
