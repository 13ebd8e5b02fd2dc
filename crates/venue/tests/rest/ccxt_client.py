"""ccxt's `binance` class, unchanged but for the host in `urls['api']`,
against `venue serve`: load markets, order book, balance, a limit order
fetched and cancelled, crossing orders with fills and fees, balances after,
ticker and trades; the order history (`fetch_orders`,
`fetch_closed_orders`, `fetch_my_trades`, `fetch_order` of ended orders) and
`edit_order` (Binance's cancelReplace).

Usage: ccxt_client.py BASE_URL
Exit 0 and a last line "ccxt: all checks passed" when everything held.
"""

import sys

import ccxt

BASE = sys.argv[1]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def client(key, secret):
    exchange = ccxt.binance({
        "apiKey": key,
        "secret": secret,
        # Spot only: the venue has no margin, futures or wallet endpoints.
        "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False},
    })
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str):
            exchange.urls["api"][name] = url.replace("https://api.binance.com", BASE)
    return exchange


alice = client("demoalicekey000000000000000000000000000000000000000000000000000",
               "demoalicesecret0000000000000000000000000000000000000000000000000")
bob = client("demobobkey00000000000000000000000000000000000000000000000000000",
             "demobobsecret000000000000000000000000000000000000000000000000000")

markets = alice.load_markets()
check("BTC/USDT" in markets and markets["BTC/USDT"]["precision"]["price"] == 0.01, f"markets {list(markets)}")
bob.load_markets()
balance = alice.fetch_balance()
check(balance["BTC"]["free"] == 100.0 and balance["USDT"]["free"] == 10_000_000.0, f"balance {balance['BTC']} {balance['USDT']}")

order = bob.create_order("BTC/USDT", "limit", "sell", 1, 30000)
check(order["status"] == "open", f"limit order {order}")
fetched = bob.fetch_order(order["id"], "BTC/USDT")
check(fetched["status"] == "open" and fetched["amount"] == 1.0 and fetched["price"] == 30000.0, f"fetched {fetched}")
book = alice.fetch_order_book("BTC/USDT")
check(book["asks"][:1] == [[30000.0, 1.0]], f"order book {book}")

trade = alice.create_order("BTC/USDT", "market", "buy", 0.25)
check(trade["status"] == "closed" and trade["filled"] == 0.25 and trade["cost"] == 7500.0, f"market buy {trade}")
check(trade["fee"] and trade["fee"]["currency"] == "USDT" and trade["fee"]["cost"] == 3.75, f"fee {trade.get('fee')}")
cancelled = bob.cancel_order(order["id"], "BTC/USDT")
check(cancelled["status"] == "canceled", f"cancel {cancelled}")

alice_after = alice.fetch_balance()
bob_after = bob.fetch_balance()
check(alice_after["BTC"]["free"] == 100.25 and alice_after["USDT"]["free"] == 9992496.25, f"alice after {alice_after['BTC']} {alice_after['USDT']}")
check(bob_after["BTC"]["free"] == 99.75 and bob_after["USDT"]["free"] == 10007498.5, f"bob after {bob_after['BTC']} {bob_after['USDT']}")
ticker = alice.fetch_ticker("BTC/USDT")
check(ticker["last"] == 30000.0 and ticker["baseVolume"] == 0.25, f"ticker {ticker}")
trades = alice.fetch_trades("BTC/USDT")
check(len(trades) == 1 and trades[-1]["price"] == 30000.0 and trades[-1]["amount"] == 0.25, f"trades {trades}")
check(alice.fetch_open_orders("BTC/USDT") == [], "no open orders left")

# The history: ended orders and the trades with their fees.
orders = alice.fetch_orders("BTC/USDT")
mine = [o for o in orders if o["id"] == trade["id"]]
check(len(mine) == 1 and mine[0]["status"] == "closed" and mine[0]["filled"] == 0.25 and mine[0]["cost"] == 7500.0,
      f"fetch_orders {orders}")
closed = alice.fetch_closed_orders("BTC/USDT")
check([o["id"] for o in closed] == [trade["id"]], f"fetch_closed_orders {closed}")
check(alice.fetch_order(trade["id"], "BTC/USDT")["status"] == "closed", "fetch_order of a filled order")
bobs = bob.fetch_orders("BTC/USDT")
check([(o["id"], o["status"], o["filled"], o["amount"]) for o in bobs] == [(order["id"], "canceled", 0.25, 1.0)],
      f"bob's fetch_orders {bobs}")
mine = alice.fetch_my_trades("BTC/USDT")
check(len(mine) == 1 and mine[0]["order"] == trade["id"] and mine[0]["side"] == "buy" and mine[0]["takerOrMaker"] == "taker"
      and mine[0]["price"] == 30000.0 and mine[0]["amount"] == 0.25 and mine[0]["fee"]["cost"] == 3.75
      and mine[0]["fee"]["currency"] == "USDT", f"fetch_my_trades {mine}")
theirs = bob.fetch_my_trades("BTC/USDT")
check(len(theirs) == 1 and theirs[0]["id"] == mine[0]["id"] and theirs[0]["takerOrMaker"] == "maker"
      and theirs[0]["side"] == "sell" and theirs[0]["fee"]["cost"] == 1.5, f"bob's fetch_my_trades {theirs}")

# edit_order is Binance's cancelReplace: the old order cancelled, a new one live.
resting = bob.create_order("BTC/USDT", "limit", "sell", 0.5, 31000)
edited = bob.edit_order(resting["id"], "BTC/USDT", "limit", "sell", 0.4, 31500)
check(edited["id"] != resting["id"] and edited["status"] == "open" and edited["price"] == 31500.0 and edited["amount"] == 0.4,
      f"edit_order {edited}")
check(bob.fetch_order(resting["id"], "BTC/USDT")["status"] == "canceled", "the edited order is cancelled")
check([o["id"] for o in bob.fetch_open_orders("BTC/USDT")] == [edited["id"]], "only the new order is open")
bob.cancel_order(edited["id"], "BTC/USDT")

if failures:
    print(f"ccxt: {len(failures)} checks failed", flush=True)
    sys.exit(1)
print("ccxt: all checks passed", flush=True)
