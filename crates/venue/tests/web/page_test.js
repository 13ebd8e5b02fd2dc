// Drives the venue's web page in headless Chromium for crates/venue/tests/web.rs.
//
// Usage: node page_test.js URL ARTEFACT_DIR   (playwright-core found through NODE_PATH)
//
// A line protocol with the Rust test, which places the orders through the REST API:
//   we print  READY      page loaded, WebSocket live, book synchronised (and empty)
//   we read   {"asks":[[p,q]...],"bids":[[p,q]...],"trade":[p,q],"orders":n}   what it placed
//   we print  CHECKED    ladder, tape, candles, depth chart and stats panel show it
//   we read   STOPPED    the venue was stopped
//   we print  DOWN       the page says it is disconnected and its data stale
//   we read   {"asks":…,"bids":…,"trade":null}   the venue is back on the same address
//   we print  PASS       the page reconnected by itself and shows the recovered book, no trades
// Anything wrong: "FAIL: why" and exit 1, with ARTEFACT_DIR/venue-page-failed.png.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');

const [url, artefacts] = process.argv.slice(2);
const CHROMIUM = process.env.VENUE_CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function expectLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error('the Rust test closed stdin');
  return value.trim();
}

function check(condition, what) {
  if (!condition) throw new Error(what);
}

/** Waits until the ladder lists exactly these levels. */
async function ladderShows(page, expected) {
  // Asks are listed highest first (the best ask next to the spread), bids best first.
  const want = JSON.stringify([
    ...[...expected.asks].reverse().map(([p, q]) => ['ask', p, q]),
    ...expected.bids.map(([p, q]) => ['bid', p, q]),
  ]);
  const shows = (want) => {
    const rows = [...document.querySelectorAll('#asks .row, #bids .row')];
    const got = JSON.stringify(rows.map((r) => [r.dataset.side, r.dataset.price, r.dataset.qty]));
    return want === null ? got : got === want;
  };
  try {
    await page.waitForFunction(shows, want, { timeout: 10000 });
  } catch (e) {
    throw new Error(`ladder: want ${want}, shows ${await page.evaluate(shows, null)} (${e.message})`);
  }
}

async function main() {
  fs.rmSync(path.join(artefacts, 'venue-page-failed.png'), { force: true }); // from an earlier run
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'venue-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  let watching = true; // page errors count until the venue is stopped on purpose
  page.on('pageerror', (e) => watching && problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    console.log(`page console ${m.type()}: ${m.text()}`); // in the Rust test's failure message
    if (watching && m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  const origin = new URL(url);
  const foreign = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.host !== origin.host && u.protocol !== 'data:') foreign.push(r.url());
  });
  page.on('websocket', (ws) => new URL(ws.url()).host !== origin.host && foreign.push(ws.url()));

  try {
    await page.goto(url);
    await page.waitForSelector('body[data-conn="live"][data-depth="synced"]', { timeout: 20000 });
    check((await page.textContent('#asks')).includes('no asks'), 'a fresh venue should show no asks');
    check((await page.textContent('#tape')).includes('no trades yet'), 'a fresh venue should show no trades');
    console.log('READY');

    const expected = JSON.parse(await expectLine());
    await ladderShows(page, expected);

    const [price, qty] = expected.trade;
    const trade = `#tape .row[data-price="${price}"][data-qty="${qty}"]`;
    try {
      await page.waitForSelector(trade, { timeout: 10000 });
    } catch (e) {
      const tape = await page.$$eval('#tape .row', (rows) => rows.map((r) => [r.dataset.price, r.dataset.qty]));
      throw new Error(`tape: no trade ${price} x ${qty}; shows ${JSON.stringify(tape)}`);
    }
    check((await page.$$('#tape .row')).length === 1, 'exactly one trade on the tape');
    check(await page.$eval(trade, (r) => r.classList.contains('buy')), 'the buyer was the aggressor: a buy row');
    await page.waitForFunction((p) => document.getElementById('t-last').textContent === p, price, { timeout: 5000 });

    check((await page.$$('#candles canvas')).length > 0, 'the candle chart has no canvas');
    await page.waitForFunction(() => Number(document.getElementById('candles').dataset.bars) >= 1, null, {
      timeout: 5000,
    });
    check((await page.$$('#depth canvas')).length > 0, 'the depth chart has no canvas');

    // The stats panel polls /metrics every 2 s.
    await page.waitForFunction(
      (orders) => {
        const n = (id) => Number(document.getElementById(id).textContent.replace(/,/g, ''));
        const latency = /^\d+(\.\d+)? (µs|ms|s)$/;
        return (
          n('s-orders') >= orders &&
          n('s-trades') >= 1 &&
          latency.test(document.getElementById('s-p50').textContent) &&
          latency.test(document.getElementById('s-p99').textContent) &&
          /^\d/.test(document.getElementById('s-cmd-rate').textContent)
        );
      },
      expected.orders,
      { timeout: 10000 },
    ).catch(async () => {
      throw new Error(`stats panel: ${await page.textContent('#stats')}`);
    });

    check(problems.length === 0, problems.join('\n'));
    check(foreign.length === 0, `requests that left the venue: ${foreign.join(', ')}`);
    const shot = path.join(artefacts, 'venue-page.png');
    await page.screenshot({ path: shot });
    console.log(`SCREENSHOT ${shot}`);
    console.log('CHECKED');

    check((await expectLine()) === 'STOPPED', 'expected STOPPED');
    watching = false;
    await page.waitForSelector('body[data-conn="disconnected"]', { timeout: 10000 });
    await page.waitForFunction(() => /disconnected/.test(document.getElementById('conn').textContent), null, {
      timeout: 5000,
    });
    check(await page.isVisible('#stale'), 'the stale-data banner is not shown');
    const down = path.join(artefacts, 'venue-page-disconnected.png');
    await page.screenshot({ path: down });
    console.log(`SCREENSHOT ${down}`);
    console.log('DOWN');

    const recovered = JSON.parse(await expectLine());
    watching = true;
    await page.waitForSelector('body[data-conn="live"][data-depth="synced"]', { timeout: 20000 });
    check(!(await page.isVisible('#stale')), 'the stale-data banner is still shown');
    await ladderShows(page, recovered);
    await page.waitForSelector('#tape .empty', { timeout: 5000 });
    check(problems.length === 0, problems.join('\n'));
    const back = path.join(artefacts, 'venue-page-reconnected.png');
    await page.screenshot({ path: back });
    console.log(`SCREENSHOT ${back}`);
    console.log('PASS');
  } catch (error) {
    await page.screenshot({ path: path.join(artefacts, 'venue-page-failed.png') }).catch(() => {});
    console.log(`FAIL: ${error.message}`);
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode || 0),
  (error) => {
    console.log(`FAIL: ${error.stack || error}`);
    process.exit(1);
  },
);
