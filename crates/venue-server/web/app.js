// venue's live page: a client of the venue's public API like any other.
//
// Where the data comes from:
// - /api/v3/exchangeInfo once: the instruments, their tick and lot sizes.
// - One combined WebSocket, /stream?streams=<s>@depth/<s>@trade/<s>@kline_<i>/<s>@ticker,
//   opened first; then the REST snapshots (depth, trades, klines, ticker/24hr), and
//   the events that arrived meanwhile are applied on top of them.
// - The order book by Binance's documented rules: buffer @depth diffs, take the REST
//   snapshot's lastUpdateId, drop diffs with u <= lastUpdateId, the first one applied
//   must have U <= lastUpdateId + 1, every later one U == previous u + 1; a gap means
//   a new snapshot. A quantity of 0 removes the level.
// - The candle interval changes live on the same socket (UNSUBSCRIBE / SUBSCRIBE).
// - The venue panel polls the Prometheus text at /metrics every 2 s.
// When the socket closes the page says "disconnected", greys the stale data and
// reconnects with exponential backoff (0.5 s doubling to 10 s, with jitter), then
// resynchronises everything from fresh snapshots.
'use strict';

(function () {
  const LW = window.LightweightCharts;
  const INTERVALS = ['1s', '1m', '5m', '15m', '1h', '1d'];
  const LADDER_ROWS = 16; // price levels shown per side
  const DEPTH_LIMIT = 1000; // levels per side in the REST snapshot
  const DEPTH_CHART_LEVELS = 100; // levels per side in the depth chart
  const DEPTH_POINTS = 120; // price steps per side in the depth chart
  const TAPE_ROWS = 60;
  const KLINES = 500;
  const STATS_EVERY_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const num = Number;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const css = getComputedStyle(document.documentElement);
  const theme = (name) => css.getPropertyValue(name).trim();
  const params = new URLSearchParams(location.search);

  const state = {
    market: null, // { symbol, stream, base, quote, priceDecimals, qtyDecimals, tick }
    interval: INTERVALS.includes(params.get('interval')) ? params.get('interval') : '1m',
    ws: null,
    epoch: 0, // bumped on every (re)connect: stale async results are dropped
    attempt: 0, // reconnect attempts since the last good sync
    lastPrice: null,
  };

  // ---------------------------------------------------------------- helpers

  async function getJSON(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  /** Decimals of a step such as "0.01000000" (2). */
  function decimalsOf(step) {
    const s = String(step);
    return s.includes('.') ? s.replace(/0+$/, '').split('.')[1].length : 0;
  }

  function fixed(x, decimals) {
    return Number.isFinite(x) ? x.toFixed(decimals) : '–';
  }

  function count(x) {
    return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–';
  }

  function rate(x) {
    if (!Number.isFinite(x)) return '–';
    return x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US');
  }

  function duration(seconds) {
    if (!Number.isFinite(seconds)) return '–';
    if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
    if (seconds < 1) return `${(seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
    return `${seconds.toFixed(2)} s`;
  }

  function el(tag, className, texts, data) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const text of texts || []) {
      const span = document.createElement('span');
      span.textContent = text;
      node.appendChild(span);
    }
    Object.assign(node.dataset, data || {});
    return node;
  }

  function chartOptions(extra) {
    const line = theme('--line');
    return Object.assign(
      {
        autoSize: true,
        layout: {
          background: { type: 'solid', color: theme('--panel') },
          textColor: theme('--muted'),
          fontSize: 11,
          attributionLogo: false,
        },
        grid: { vertLines: { color: line }, horzLines: { color: line } },
        rightPriceScale: { borderColor: line },
        timeScale: { borderColor: line },
      },
      extra,
    );
  }

  // ------------------------------------------------------------- connection

  function setConn(kind, text) {
    document.body.dataset.conn = kind;
    $('conn').textContent = text;
    $('stale').hidden = kind !== 'disconnected';
  }

  function connect() {
    const epoch = ++state.epoch;
    const s = state.market.stream;
    const streams = [`${s}@depth`, `${s}@trade`, `${s}@kline_${state.interval}`, `${s}@ticker`];
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/stream?streams=${streams.join('/')}`);
    state.ws = ws;
    setConn(state.attempt ? 'disconnected' : 'connecting', state.attempt ? 'reconnecting…' : 'connecting…');
    book.reset();
    tape.reset();
    candles.reset();
    ws.onopen = () => epoch === state.epoch && resync(epoch);
    ws.onmessage = (message) => epoch === state.epoch && onMessage(JSON.parse(message.data), epoch);
    ws.onclose = (event) => {
      if (epoch !== state.epoch) return;
      state.epoch++;
      disconnected(event.reason || (event.code === 1006 ? 'connection lost' : `closed (${event.code})`));
    };
  }

  function disconnected(why) {
    const delay = Math.min(10000, 500 * 2 ** state.attempt) + Math.random() * 250;
    state.attempt++;
    const epoch = state.epoch;
    const until = Date.now() + delay;
    const countdown = () => {
      if (epoch !== state.epoch) return; // connect() has run
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConn('disconnected', `disconnected: ${why}; retrying in ${left} s`);
      setTimeout(countdown, 250);
    };
    countdown();
    setTimeout(connect, delay);
  }

  /** Snapshots after the socket opened; the buffered events apply on top. */
  async function resync(epoch) {
    const symbol = state.market.symbol;
    try {
      const [trades, klines, ticker] = await Promise.all([
        getJSON(`/api/v3/trades?symbol=${symbol}&limit=${TAPE_ROWS}`),
        getJSON(`/api/v3/klines?symbol=${symbol}&interval=${state.interval}&limit=${KLINES}`),
        getJSON(`/api/v3/ticker/24hr?symbol=${symbol}`),
        syncDepth(epoch),
      ]);
      if (epoch !== state.epoch) return;
      tape.load(trades);
      candles.load(klines, state.interval);
      showTicker(ticker.lastPrice, ticker.priceChangePercent, ticker.highPrice, ticker.lowPrice, ticker.volume);
      state.attempt = 0;
      setConn('live', `live · ${symbol}`);
    } catch (error) {
      console.warn('resync failed:', error);
      if (epoch === state.epoch) state.ws.close();
    }
  }

  /** The REST depth snapshot, fetched again while it is older than the buffered diffs. */
  async function syncDepth(epoch) {
    for (let tries = 0; tries < 5; tries++) {
      const snapshot = await getJSON(`/api/v3/depth?symbol=${state.market.symbol}&limit=${DEPTH_LIMIT}`);
      if (epoch !== state.epoch) return;
      if (book.load(snapshot)) return;
      await sleep(200 * (tries + 1));
    }
    throw new Error('depth snapshot never caught up with the diff stream');
  }

  function onMessage(message, epoch) {
    if (!message.stream) return; // answers to SUBSCRIBE / UNSUBSCRIBE
    const event = message.data;
    switch (event.e) {
      case 'depthUpdate':
        if (!book.onDiff(event)) {
          console.warn(`depth gap at U=${event.U}: resynchronising from a snapshot`);
          book.reset();
          syncDepth(epoch).catch(() => epoch === state.epoch && state.ws.close());
        }
        break;
      case 'trade':
        tape.onTrade(event);
        break;
      case 'kline':
        candles.onKline(event.k);
        break;
      case '24hrTicker':
        showTicker(event.c, event.P, event.h, event.l, event.v);
        break;
    }
  }

  function showTicker(last, changePercent, high, low, volume) {
    const d = state.market.priceDecimals;
    const lastNum = num(last);
    const change = num(changePercent);
    $('t-last').textContent = lastNum > 0 ? last : '–';
    $('t-change').textContent = lastNum > 0 ? `${change >= 0 ? '+' : ''}${fixed(change, 2)} %` : '–';
    $('t-change').className = change > 0 ? 'up' : change < 0 ? 'down' : '';
    $('t-high').textContent = num(high) > 0 ? fixed(num(high), d) : '–';
    $('t-low').textContent = num(low) > 0 ? fixed(num(low), d) : '–';
    $('t-volume').textContent = `${volume} ${state.market.base}`;
    document.title = lastNum > 0 ? `${last} ${state.market.symbol} · venue` : `${state.market.symbol} · venue`;
  }

  // ------------------------------------------------------------- order book

  const book = {
    bids: new Map(), // price text -> quantity text
    asks: new Map(),
    lastUpdateId: 0,
    synced: false,
    buffer: [],
    shown: { bids: new Map(), asks: new Map() },

    reset() {
      this.synced = false;
      this.buffer = [];
      document.body.dataset.depth = 'syncing';
    },

    /** Applies a diff; false on a gap (the caller resynchronises). */
    onDiff(event) {
      if (!this.synced) {
        this.buffer.push(event);
        return true;
      }
      if (event.u <= this.lastUpdateId) return true;
      if (event.U !== this.lastUpdateId + 1) return false;
      this.apply(event);
      return true;
    },

    /** Takes a snapshot plus the buffered diffs; false if the snapshot is too old. */
    load(snapshot) {
      const pending = this.buffer.filter((e) => e.u > snapshot.lastUpdateId);
      if (pending.length && pending[0].U > snapshot.lastUpdateId + 1) return false;
      this.bids = new Map(snapshot.bids);
      this.asks = new Map(snapshot.asks);
      this.lastUpdateId = snapshot.lastUpdateId;
      for (const event of pending) {
        if (event.U > this.lastUpdateId + 1) return false;
        this.apply(event);
      }
      this.buffer = [];
      this.synced = true;
      document.body.dataset.depth = 'synced';
      redraw();
      return true;
    },

    apply(event) {
      for (const [side, levels] of [[this.bids, event.b], [this.asks, event.a]]) {
        for (const [price, qty] of levels) {
          if (num(qty) === 0) side.delete(price);
          else side.set(price, qty);
        }
      }
      this.lastUpdateId = event.u;
      redraw();
    },

    /** Best levels first, with running totals. */
    sides(limit) {
      const cut = (map, dir) =>
        [...map]
          .sort((a, b) => dir * (num(a[0]) - num(b[0])))
          .slice(0, limit)
          .reduce((rows, [price, qty]) => {
            const total = (rows.length ? rows[rows.length - 1].total : 0) + num(qty);
            rows.push({ price, qty, total });
            return rows;
          }, []);
      return { bids: cut(this.bids, -1), asks: cut(this.asks, 1) };
    },
  };

  let redrawPending = false;
  let depthChartAt = 0;
  function redraw() {
    if (redrawPending) return;
    redrawPending = true;
    requestAnimationFrame(() => {
      redrawPending = false;
      renderLadder();
      // The depth chart is heavier: at most four times a second.
      const now = performance.now();
      if (now - depthChartAt > 250) {
        depthChartAt = now;
        depth.render();
      } else {
        setTimeout(redraw, 260 - (now - depthChartAt));
      }
    });
  }

  function renderLadder() {
    const { bids, asks } = book.sides(LADDER_ROWS);
    const max = Math.max(bids.length ? bids[bids.length - 1].total : 0, asks.length ? asks[asks.length - 1].total : 0);
    const qd = state.market.qtyDecimals;
    const rows = (levels, side) => {
      const before = book.shown[side];
      const now = new Map();
      const nodes = levels.map((l) => {
        now.set(l.price, l.qty);
        const changed = before.get(l.price) !== l.qty;
        const row = el('div', changed ? 'row flash' : 'row', [l.price, l.qty, fixed(l.total, qd)], {
          side: side === 'bids' ? 'bid' : 'ask',
          price: l.price,
          qty: l.qty,
        });
        const bar = document.createElement('i');
        bar.className = 'bar';
        bar.style.width = `${max > 0 ? (100 * l.total) / max : 0}%`;
        row.prepend(bar);
        return row;
      });
      book.shown[side] = now;
      if (!nodes.length) nodes.push(el('div', 'empty', [side === 'bids' ? 'no bids' : 'no asks']));
      return nodes;
    };
    $('asks').replaceChildren(...rows(asks, 'asks').reverse());
    $('bids').replaceChildren(...rows(bids, 'bids'));
    $('book-seq').textContent = `#${book.lastUpdateId}`;

    const spread = $('spread');
    const last = el('b', state.lastPrice && state.lastPrice.dir < 0 ? 'down' : 'up');
    last.textContent = state.lastPrice ? state.lastPrice.price : '–';
    const info = document.createElement('span');
    if (bids.length && asks.length) {
      const gap = num(asks[0].price) - num(bids[0].price);
      const mid = (num(asks[0].price) + num(bids[0].price)) / 2;
      info.textContent = `spread ${fixed(gap, state.market.priceDecimals)} (${fixed((gap / mid) * 1e4, 1)} bps)`;
    } else {
      info.textContent = 'spread –';
    }
    spread.replaceChildren(last, info);
  }

  // ------------------------------------------------------------ depth chart

  const depth = {
    chart: null,
    bids: null,
    asks: null,

    create() {
      const d = state.market.priceDecimals;
      this.chart = LW.createOptionsChart(
        $('depth'),
        chartOptions({
          localization: { precision: d },
          handleScroll: false,
          handleScale: false,
          rightPriceScale: { borderColor: theme('--line'), scaleMargins: { top: 0.1, bottom: 0 } },
          crosshair: { vertLine: { labelVisible: true }, horzLine: { labelVisible: true } },
        }),
      );
      const area = (color, fill) => ({
        lineColor: color,
        topColor: fill,
        bottomColor: fill,
        lineWidth: 2,
        lineType: 1, // steps: depth is flat between levels
        priceLineVisible: false,
        lastValueVisible: false,
        priceFormat: { type: 'volume' },
        // The size axis starts at zero.
        autoscaleInfoProvider: (original) => {
          const info = original();
          if (info) info.priceRange.minValue = 0;
          return info;
        },
      });
      this.bids = this.chart.addSeries(LW.AreaSeries, area(theme('--buy'), 'rgba(34,195,142,0.16)'));
      this.asks = this.chart.addSeries(LW.AreaSeries, area(theme('--sell'), 'rgba(240,80,110,0.16)'));
    },

    /**
     * Cumulative size against price. The library spaces points evenly, so the
     * book is sampled on an even price grid around the mid: the x axis stays
     * linear in price. The range reaches the last level of a side shown in
     * full, but no further than the nearer edge of a side cut at
     * DEPTH_CHART_LEVELS, so neither side is drawn past what is known.
     */
    render() {
      const { bids, asks } = book.sides(DEPTH_CHART_LEVELS);
      if (!bids.length && !asks.length) {
        this.bids.setData([]);
        this.asks.setData([]);
        return;
      }
      const { tick, priceDecimals } = state.market;
      const best = (levels) => (levels.length ? num(levels[0].price) : NaN);
      const mid = bids.length && asks.length ? (best(bids) + best(asks)) / 2 : bids.length ? best(bids) : best(asks);
      const reach = (levels) => (levels.length ? Math.abs(num(levels[levels.length - 1].price) - mid) : 0);
      const cut = [bids, asks].filter((l) => l.length >= DEPTH_CHART_LEVELS).map(reach);
      const range = Math.max(cut.length ? Math.min(...cut) : Math.max(reach(bids), reach(asks)), 10 * tick) * 1.05;
      const step = Math.max(1, Math.ceil((2 * range) / DEPTH_POINTS / tick)) * tick;
      const onGrid = (x) => num((Math.round(x / tick) * tick).toFixed(priceDecimals));
      // dir -1: bids, walking down from the best bid; +1: asks, walking up.
      const sample = (levels, dir) => {
        const points = [];
        let at = 0;
        let total = 0;
        for (let x = best(levels); points.length <= DEPTH_POINTS && Math.abs(x - mid) <= range; x += dir * step) {
          while (at < levels.length && dir * (num(levels[at].price) - x) <= tick / 2) total = levels[at++].total;
          points.push({ time: onGrid(x), value: total });
        }
        return points;
      };
      this.bids.setData(bids.length ? sample(bids, -1).reverse() : []);
      this.asks.setData(asks.length ? sample(asks, 1) : []);
      this.chart.timeScale().fitContent();
    },
  };

  // ------------------------------------------------------------- trade tape

  const tape = {
    trades: [], // newest first: { id, price, qty, time, sell }
    ids: new Set(),
    loaded: false,
    buffer: [],

    reset() {
      this.loaded = false;
      this.buffer = [];
    },

    load(rest) {
      this.trades = [];
      this.ids = new Set();
      state.lastPrice = null;
      const all = rest
        .map((t) => ({ id: t.id, price: t.price, qty: t.qty, time: t.time, sell: t.isBuyerMaker }))
        .concat(this.buffer.map(fromEvent));
      all.sort((a, b) => a.id - b.id);
      for (const t of all) this.add(t);
      this.loaded = true;
      this.buffer = [];
      this.render(null);
      redraw(); // the last price beside the spread
    },

    onTrade(event) {
      if (!this.loaded) {
        this.buffer.push(event);
        return;
      }
      const t = fromEvent(event);
      if (this.add(t)) this.render(t.id);
    },

    add(t) {
      if (this.ids.has(t.id)) return false;
      this.ids.add(t.id);
      this.trades.unshift(t);
      if (this.trades.length > TAPE_ROWS) this.ids.delete(this.trades.pop().id);
      const before = state.lastPrice ? num(state.lastPrice.price) : num(t.price);
      state.lastPrice = { price: t.price, dir: Math.sign(num(t.price) - before) || (state.lastPrice || {}).dir || 1 };
      redraw();
      return true;
    },

    render(freshId) {
      const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false, timeZone: 'UTC' });
      const rows = this.trades.map((t) => {
        const cls = `row ${t.sell ? 'sell' : 'buy'}${t.id === freshId ? ' new' : ''}`;
        return el('div', cls, [clock(t.time), t.price, t.qty], { id: t.id, price: t.price, qty: t.qty });
      });
      if (!rows.length) rows.push(el('div', 'empty', ['no trades yet']));
      $('tape').replaceChildren(...rows);
    },
  };

  function fromEvent(e) {
    return { id: e.t, price: e.p, qty: e.q, time: e.T, sell: e.m };
  }

  // ---------------------------------------------------------------- candles

  const candles = {
    chart: null,
    series: null,
    volume: null,
    trades: new Map(), // bar time -> trades in it (so an older event never overwrites a newer bar)
    last: 0,
    loaded: false,
    buffer: [],

    create() {
      const d = state.market.priceDecimals;
      this.chart = LW.createChart(
        $('candles'),
        chartOptions({
          layout: {
            background: { type: 'solid', color: theme('--panel') },
            textColor: theme('--muted'),
            fontSize: 11,
            attributionLogo: true, // the link to TradingView its licence asks for
          },
          timeScale: {
            borderColor: theme('--line'),
            timeVisible: true,
            secondsVisible: state.interval === '1s',
            barSpacing: 10,
            rightOffset: 4,
          },
          crosshair: { mode: LW.CrosshairMode.Normal },
        }),
      );
      this.series = this.chart.addSeries(LW.CandlestickSeries, {
        upColor: theme('--buy'),
        downColor: theme('--sell'),
        borderVisible: false,
        wickUpColor: theme('--buy'),
        wickDownColor: theme('--sell'),
        priceFormat: { type: 'price', precision: d, minMove: state.market.tick },
      });
      this.volume = this.chart.addSeries(LW.HistogramSeries, {
        priceScaleId: 'volume',
        priceFormat: { type: 'volume' },
        lastValueVisible: false,
        priceLineVisible: false,
      });
      this.chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
      this.series.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
    },

    reset() {
      this.loaded = false;
      this.buffer = [];
    },

    bar(t, o, h, l, c, v, n) {
      const up = num(c) >= num(o);
      return {
        candle: { time: t / 1000, open: num(o), high: num(h), low: num(l), close: num(c) },
        volume: { time: t / 1000, value: num(v), color: up ? 'rgba(34,195,142,0.45)' : 'rgba(240,80,110,0.45)' },
        trades: n,
      };
    },

    load(rows, interval) {
      if (interval !== state.interval) return;
      const bars = rows.map((r) => this.bar(r[0], r[1], r[2], r[3], r[4], r[5], r[8]));
      this.series.setData(bars.map((b) => b.candle));
      this.volume.setData(bars.map((b) => b.volume));
      this.trades = new Map(bars.map((b) => [b.candle.time, b.trades]));
      this.last = bars.length ? bars[bars.length - 1].candle.time : 0;
      this.loaded = true;
      for (const k of this.buffer.splice(0)) this.onKline(k);
      this.chart.applyOptions({ timeScale: { secondsVisible: interval === '1s' } });
      this.counted();
    },

    counted() {
      $('candles').dataset.bars = String(this.trades.size);
      $('candles-empty').hidden = this.trades.size > 0;
    },

    onKline(k) {
      if (k.i !== state.interval) return;
      if (!this.loaded) {
        this.buffer.push(k);
        return;
      }
      const b = this.bar(k.t, k.o, k.h, k.l, k.c, k.v, k.n);
      const t = b.candle.time;
      if (t < this.last || (this.trades.has(t) && this.trades.get(t) > b.trades)) return;
      this.series.update(b.candle);
      this.volume.update(b.volume);
      this.trades.set(t, b.trades);
      this.last = t;
      this.counted();
    },

    /** A new interval on the open socket: swap the kline stream, reload history. */
    async choose(interval) {
      if (interval === state.interval) return;
      const s = state.market.stream;
      const old = state.interval;
      state.interval = interval;
      renderIntervals();
      const url = new URL(location.href);
      url.searchParams.set('interval', interval);
      history.replaceState(null, '', url);
      this.reset();
      const ws = state.ws;
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ method: 'UNSUBSCRIBE', params: [`${s}@kline_${old}`], id: 1 }));
        ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: [`${s}@kline_${interval}`], id: 2 }));
        const epoch = state.epoch;
        try {
          const rows = await getJSON(`/api/v3/klines?symbol=${state.market.symbol}&interval=${interval}&limit=${KLINES}`);
          if (epoch === state.epoch) this.load(rows, interval);
        } catch (error) {
          if (epoch === state.epoch) ws.close();
        }
      }
      // Not connected: the next connection subscribes to the new interval.
    },
  };

  function renderIntervals() {
    const buttons = INTERVALS.map((i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = i;
      b.setAttribute('role', 'tab');
      b.setAttribute('aria-selected', String(i === state.interval));
      b.onclick = () => candles.choose(i);
      return b;
    });
    $('intervals').replaceChildren(...buttons);
  }

  // ------------------------------------------------------------ venue stats

  /** Prometheus text: unlabelled values, and histograms' cumulative buckets. */
  function parseMetrics(text) {
    const values = new Map();
    const histograms = new Map();
    for (const line of text.split('\n')) {
      const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const [, name, labels, value] = m;
      if (name.endsWith('_bucket')) {
        const le = /le="([^"]+)"/.exec(labels || '');
        if (!le) continue;
        const base = name.slice(0, -'_bucket'.length);
        if (!histograms.has(base)) histograms.set(base, []);
        histograms.get(base).push([le[1] === '+Inf' ? Infinity : num(le[1]), num(value)]);
      } else if (!labels) {
        values.set(name, num(value));
      }
    }
    return { values, histograms };
  }

  /** Like PromQL's histogram_quantile: linear within the bucket. */
  function quantile(q, buckets) {
    if (!buckets || !buckets.length) return NaN;
    const total = buckets[buckets.length - 1][1];
    if (!total) return NaN;
    const rank = q * total;
    let [lower, below] = [0, 0];
    for (const [le, cumulative] of buckets) {
      if (cumulative >= rank) {
        if (le === Infinity) return lower;
        return lower + ((le - lower) * (rank - below)) / Math.max(1, cumulative - below);
      }
      [lower, below] = [le, cumulative];
    }
    return lower;
  }

  const stats = {
    previous: null,
    chart: null,
    commands: null,
    trades: null,
    lastTime: 0,

    create() {
      this.chart = LW.createChart(
        $('stats-chart'),
        chartOptions({
          handleScroll: false,
          handleScale: false,
          timeScale: { visible: false, borderColor: theme('--line'), barSpacing: 3, rightOffset: 0 },
          rightPriceScale: { borderColor: theme('--line'), scaleMargins: { top: 0.15, bottom: 0.02 } },
          grid: { vertLines: { visible: false }, horzLines: { color: theme('--line') } },
        }),
      );
      this.commands = this.chart.addSeries(LW.AreaSeries, {
        lineColor: theme('--accent'),
        topColor: 'rgba(76,141,246,0.35)',
        bottomColor: 'rgba(76,141,246,0)',
        lineWidth: 2,
        priceLineVisible: false,
      });
      this.trades = this.chart.addSeries(LW.LineSeries, {
        color: theme('--buy'),
        lineWidth: 1,
        priceLineVisible: false,
        lastValueVisible: false,
      });
    },

    async poll() {
      try {
        const response = await fetch('/metrics', { cache: 'no-store' });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        this.show(parseMetrics(await response.text()), Date.now() / 1000);
        $('stats-state').textContent = 'from /metrics';
      } catch (error) {
        $('stats-state').textContent = 'metrics unavailable';
      } finally {
        setTimeout(() => this.poll(), STATS_EVERY_MS);
      }
    },

    show({ values, histograms }, now) {
      const applied = values.get('venue_commands_applied_total');
      const trades = values.get('venue_trades_total');
      const previous = this.previous;
      this.previous = { now, applied, trades };
      $('s-orders').textContent = count(values.get('venue_orders_accepted_total'));
      $('s-trades').textContent = count(trades);
      const latency = histograms.get('venue_request_latency_seconds');
      $('s-p50').textContent = duration(quantile(0.5, latency));
      $('s-p99').textContent = duration(quantile(0.99, latency));
      $('s-commit').textContent = duration(quantile(0.99, histograms.get('venue_journal_commit_seconds')));
      const lag = applied - values.get('venue_journal_durable_seq');
      $('s-lag').textContent = Number.isFinite(lag) ? `${count(lag)} cmd` : '–';
      if (!previous || now - previous.now < 0.5 || applied < previous.applied) return; // restarted
      const seconds = now - previous.now;
      const commandRate = (applied - previous.applied) / seconds;
      const tradeRate = (trades - previous.trades) / seconds;
      $('s-cmd-rate').textContent = rate(commandRate);
      $('s-trade-rate').textContent = rate(tradeRate);
      const time = Math.floor(now);
      if (time > this.lastTime) {
        this.lastTime = time;
        this.commands.update({ time, value: commandRate });
        this.trades.update({ time, value: tradeRate });
      }
    },
  };

  // ------------------------------------------------------------------ start

  async function start() {
    let info;
    for (let attempt = 0; !info; attempt++) {
      try {
        info = await getJSON('/api/v3/exchangeInfo');
      } catch (error) {
        setConn('disconnected', 'venue unreachable; retrying');
        await sleep(Math.min(10000, 500 * 2 ** attempt));
      }
    }
    const wanted = (params.get('symbol') || '').toUpperCase().replace(/[-_/]/g, '');
    const chosen = info.symbols.find((s) => s.symbol === wanted) || info.symbols[0];
    if (!chosen) {
      setConn('disconnected', 'the venue lists no instruments');
      return;
    }
    const filter = (type) => chosen.filters.find((f) => f.filterType === type) || {};
    const tick = filter('PRICE_FILTER').tickSize || '0.01';
    state.market = {
      symbol: chosen.symbol,
      stream: chosen.symbol.toLowerCase(),
      base: chosen.baseAsset,
      quote: chosen.quoteAsset,
      tick: num(tick),
      priceDecimals: decimalsOf(tick),
      qtyDecimals: decimalsOf(filter('LOT_SIZE').stepSize || '0.0001'),
    };

    $('symbols').replaceChildren(
      ...info.symbols.map((s) => {
        const a = document.createElement('a');
        a.href = `?symbol=${encodeURIComponent(s.symbol)}&interval=${state.interval}`;
        a.textContent = `${s.baseAsset}/${s.quoteAsset}`;
        if (s.symbol === chosen.symbol) a.setAttribute('aria-current', 'page');
        if (s.status !== 'TRADING') a.title = s.status;
        return a;
      }),
    );
    const head = document.querySelectorAll('.ladder-head span');
    head[0].textContent = `Price (${chosen.quoteAsset})`;
    head[1].textContent = `Size (${chosen.baseAsset})`;
    const tapeHead = document.querySelectorAll('.tape-head span');
    tapeHead[1].textContent = `Price (${chosen.quoteAsset})`;
    tapeHead[2].textContent = `Size (${chosen.baseAsset})`;
    renderIntervals();

    candles.create();
    depth.create();
    stats.create();
    tape.render(null);
    renderLadder();
    connect();
    stats.poll();
  }

  start();
})();
