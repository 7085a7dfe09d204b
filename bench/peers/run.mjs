// `cargo xtask bench peers`: SentientIQ beside the SDKs people would pick instead, in one
// Chromium, on one page (page.html), with one scripted input (CDP Input events).
//
// The xtask runs `npm ci` here (package-lock.json pins every peer), starts the real sentientiq
// server and runs this with SIQ_SERVER, SIQ_ADMIN_TOKEN, SIQ_SDK_DIR, SIQ_CHROMIUM.
//
// One local server (the "sink") serves the page, every SDK's script and everything an SDK loads
// later, gzip-encoded when the browser asks for it (Chromium always does), and accepts
// everything the SDKs send: each peer's endpoint (api_host, DSN, upload URL, ingest point) is
// this server. For SentientIQ it is the first-party proxy docs/sdk.md describes: it serves
// /sdk.js, /sdk-worker.js, /sdk.wasm and /sdk-emotions.wasm itself and passes /v1/ws and /v1/beacon to the real
// server. Peer bundles are built from their npm packages with esbuild (minified IIFE).
//
// Measured per SDK, each in a fresh browser context:
//   start raw / gzip   bytes of the scripts (and wasm) served from navigation until the input
//                      starts (4 s after load), as served: raw body and gzip body;
//   per move / click   main-thread time inside event dispatch per CDP input (median), measured
//                      from a window capture listener registered before any SDK to a window
//                      bubble listener registered after every SDK started (the page is
//                      cross-origin isolated, so performance.now() resolves 5 µs); work an SDK
//                      defers (animation frames, timers, workers) is in "script ms" instead;
//   script ms          Chromium's ScriptDuration (CDP Performance.getMetrics) over the input;
//   long tasks, TBT    PerformanceObserver 'longtask' from navigation to the end (TBT = Σ over
//                      long tasks of duration − 50 ms);
//   sent B/min         request bodies and WebSocket payloads the SDK sent (headers not counted),
//                      from navigation through pagehide, per minute of session;
//   rage               for SDKs that detect it in the page: whether and how long after the first
//                      click of the burst it fired; must-not-fire: what fired during the stepper,
//                      the date picker and the triple-click windows.
import { build } from 'esbuild';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { decode } from '../../sdk-wasm/js/test/server.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const SERVER = new URL(process.env.SIQ_SERVER);
const SDK_DIR = process.env.SIQ_SDK_DIR;
const CHROMIUM = process.env.SIQ_CHROMIUM || '/usr/bin/chromium';
const INTERVENE_PCT = 85; // the server's default SIQ_INTERVENE_CONFIDENCE
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- the tenant ---------------------------------------------------------------------------
const tenant = await (
  await fetch(SERVER.origin + '/v1/admin/tenants', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + process.env.SIQ_ADMIN_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Bench' }),
  })
).json();
if (!tenant.site_key) throw new Error('no tenant: ' + JSON.stringify(tenant));
// Every burst answered (no holdout), so the rage column measures the detector, not the control group.
await fetch(SERVER.origin + '/v1/intervention-policy', {
  method: 'PUT',
  headers: { authorization: 'Bearer ' + tenant.secret_key, 'content-type': 'application/json' },
  body: JSON.stringify({ holdout_share: 0 }),
});

// --- the sink ---------------------------------------------------------------------------------
let acct; // accounting of the SDK being measured
const fresh = () => ({ scripts: [], sentBytes: 0, sentRequests: 0, fires: [], startClosed: false });
const files = new Map(); // path -> {body, type}
const PAGE = fs.readFileSync(path.join(HERE, 'page.html'), 'utf8');
const json = (res, v) => res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end(JSON.stringify(v));

const serve = (req, res, body, type) => {
  const gz = zlib.gzipSync(body, { level: 9 });
  const isCode = /javascript|wasm/.test(type);
  if (isCode) acct.scripts.push({ path: req.url, raw: body.length, gzip: gz.length, atStart: !acct.startClosed });
  const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] || '');
  res.writeHead(200, {
    'content-type': type,
    'access-control-allow-origin': '*',
    'cache-control': 'no-store',
    // Cross-origin isolated, so performance.now() has 5 µs resolution instead of 100 µs (every
    // resource of the page is same-origin).
    ...(type.startsWith('text/html') ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {}),
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  res.end(gzip ? gz : body);
};

const sink = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    if (process.env.BENCH_LOG) console.error(`sink: ${req.method} ${req.url} ${body.length} B`);
    if (req.method === 'OPTIONS') {
      return res
        .writeHead(204, { 'access-control-allow-origin': req.headers.origin || '*', 'access-control-allow-headers': '*', 'access-control-allow-methods': '*', 'access-control-allow-credentials': 'true' })
        .end();
    }
    if (body.length || req.method === 'POST') {
      acct.sentBytes += body.length;
      acct.sentRequests++;
    }
    const p = url.pathname;
    if (p === '/page') return serve(req, res, Buffer.from(PAGE.replace('<!--SDK-->', snippet(url.searchParams.get('sdk')))), 'text/html; charset=utf-8');
    if (files.has(p)) return serve(req, res, files.get(p).body, files.get(p).type);
    // posthog-js: lazy extensions from api_host/static/, remote config and flags, events.
    if (p.startsWith('/static/')) {
      const f = path.join(HERE, 'node_modules/posthog-js/dist', path.basename(p));
      if (fs.existsSync(f)) return serve(req, res, fs.readFileSync(f), 'text/javascript');
    }
    // The project settings PostHog's cloud would answer: autocapture (which carries rage
    // clicks) and dead clicks on, recording off.
    const remote = { autocapture_opt_out: false, captureDeadClicks: true, sessionRecording: false, capturePerformance: false, heatmaps: false, surveys: false };
    if (p.startsWith('/flags') || p.startsWith('/decide')) return json(res, { featureFlags: {}, featureFlagPayloads: {}, ...remote });
    if (p.startsWith('/array/')) return p.endsWith('.js') ? serve(req, res, Buffer.from(''), 'text/javascript') : json(res, remote);
    // OpenReplay's backend answers to start.
    if (p === '/ingest/v1/web/start') {
      return json(res, { token: 'bench-token', userUUID: 'bench-user', sessionID: String(Date.now()), projectID: '1', startTimestamp: Date.now(), delay: 0, beaconSizeLimit: 1e6, compressionThreshold: 24000 });
    }
    // SentientIQ's beacon goes on to the real server.
    if (p === '/v1/beacon') {
      const r = await fetch(SERVER.origin + p, { method: 'POST', body, headers: { 'content-type': req.headers['content-type'] || 'application/octet-stream' } }).catch(() => null);
      return res.writeHead(r ? r.status : 502, { 'access-control-allow-origin': '*' }).end();
    }
    if (req.method === 'GET' && p !== '/') return res.writeHead(404, { 'access-control-allow-origin': '*' }).end();
    json(res, { status: 1 });
  });
});

// SentientIQ's socket, passed through to the real server; the client's payloads are counted and
// its Detection frames read (the first at intervention grade is when it "fired").
sink.on('upgrade', (req, sock) => {
  if (!req.url.startsWith('/v1/ws')) return sock.destroy();
  const a = acct;
  const up = net.connect(Number(SERVER.port), SERVER.hostname, () => {
    const head = [`GET ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      head.push(req.rawHeaders[i] + ': ' + (req.rawHeaders[i].toLowerCase() === 'host' ? SERVER.host : req.rawHeaders[i + 1]));
    }
    up.write(head.join('\r\n') + '\r\n\r\n');
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      up.write(d);
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length < 2) return;
        let n = buf[1] & 127;
        let off = 2;
        if (n === 126) (n = buf.length >= 4 ? buf.readUInt16BE(2) : Infinity), (off = 4);
        else if (n === 127) (n = buf.length >= 10 ? Number(buf.readBigUInt64BE(2)) : Infinity), (off = 10);
        if (buf.length < off + 4 + n) return;
        const op = buf[0] & 15;
        const mask = buf.subarray(off, off + 4);
        const p = Buffer.from(buf.subarray(off + 4, off + 4 + n));
        for (let i = 0; i < n; i++) p[i] ^= mask[i & 3];
        buf = buf.subarray(off + 4 + n);
        a.sentBytes += n;
        if (op !== 2) continue;
        a.sentRequests++;
        try {
          const f = decode(p);
          if (f.type === 'detection' && f.pct >= INTERVENE_PCT) a.fires.push({ kind: 'rage ' + f.pct + '%', at: Date.now() });
        } catch {}
      }
    });
    up.on('data', (d) => sock.write(d));
  });
  const end = () => (up.destroy(), sock.destroy());
  up.on('error', end);
  sock.on('error', end);
  up.on('close', end);
  sock.on('close', end);
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const SINK = `http://127.0.0.1:${sink.address().port}`;

// --- the SDKs ---------------------------------------------------------------------------------
for (const f of ['sdk.js', 'sdk-worker.js', 'sdk.wasm', 'sdk-emotions.wasm']) {
  files.set('/' + f, { body: fs.readFileSync(path.join(SDK_DIR, f)), type: f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
}
const PEERS = [
  ['posthog-js', 'posthog', true],
  ['clarity-js', 'clarity', false],
  ['@sentry/browser + replay', 'sentry', true],
  ['@openreplay/tracker', 'openreplay', false],
];
for (const [, entry] of PEERS) {
  const out = await build({
    entryPoints: [path.join(HERE, 'entries', entry + '.js')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    platform: 'browser',
    define: { SINK: JSON.stringify(SINK), 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'error',
  });
  files.set('/peer/' + entry + '.js', { body: Buffer.from(out.outputFiles[0].contents), type: 'text/javascript' });
}
// BENCH_ONLY=name,name runs a subset (for debugging a peer's setup; the table needs all).
const SDKS = [['none (the page alone)', 'none', false], ['SentientIQ (ours)', 'sentientiq', true], ...PEERS].filter(
  ([, sdk]) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(',').includes(sdk),
);
function snippet(sdk) {
  if (sdk === 'sentientiq') return `<script src="/sdk.js" data-key="${tenant.site_key}" async></script>`;
  if (sdk && sdk !== 'none') return `<script src="/peer/${sdk}.js" async></script>`;
  return '';
}

// --- the page's probes, installed before any script of the page -----------------------------
const PROBE = `(() => {
  const b = (window.__bench = { fires: [], dur: {}, long: [] });
  b.fired = (kind) => b.fires.push({ kind, at: performance.timeOrigin + performance.now() });
  new PerformanceObserver((l) => l.getEntries().forEach((e) => b.long.push(e.duration))).observe({ type: 'longtask', buffered: true });
  const TYPES = ['pointermove', 'mousemove', 'pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'];
  const start = new Map();
  for (const t of TYPES) addEventListener(t, (e) => start.set(e, performance.now()), true);
  b.arm = () => { for (const t of TYPES) addEventListener(t, (e) => { const s = start.get(e); if (s !== undefined) (b.dur[t] = b.dur[t] || []).push(performance.now() - s); start.delete(e); }, false); };
})();`;

// --- the scripted input -------------------------------------------------------------------------
async function script(cdp, page) {
  const at = await page.evaluate(() => {
    const c = (sel, i = 0) => {
      const r = document.querySelectorAll(sel)[i].getBoundingClientRect();
      return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];
    };
    return { add: [0, 1, 2].map((i) => c('.add', i)), plus: c('#plus'), next: c('#next-month'), para: c('#para'), dead: c('#dead') };
  });
  const mouse = (type, x, y, clickCount = 1) =>
    cdp.send('Input.dispatchMouseEvent', { type, x, y, button: type === 'mouseMoved' ? 'none' : 'left', buttons: type === 'mousePressed' ? 1 : 0, clickCount });
  const click = async ([x, y], clickCount = 1, hold = 40) => {
    await mouse('mouseMoved', x, y);
    await mouse('mousePressed', x, y, clickCount);
    await sleep(hold);
    await mouse('mouseReleased', x, y, clickCount);
  };
  const windows = {};
  const mark = (name) => (windows[name] = Date.now());
  mark('moves');
  for (let i = 0; i < 150; i++) {
    await mouse('mouseMoved', 60 + ((i * 7) % 700), 80 + Math.round(120 * Math.sin(i / 9)) + 120);
    await sleep(16);
  }
  await sleep(1500);
  mark('answered clicks');
  for (const p of at.add) {
    await click(p);
    await sleep(600);
  }
  await sleep(2500);
  mark('stepper');
  for (let i = 0; i < 8; i++) {
    await click(at.plus, 1, 30);
    await sleep(90);
  }
  await sleep(3000);
  mark('date picker');
  for (let i = 0; i < 6; i++) {
    await click(at.next, 1, 30);
    await sleep(120);
  }
  await sleep(3000);
  mark('triple-click');
  for (const dx of [-80, 60]) {
    for (let n = 1; n <= 3; n++) {
      await click([at.para[0] + dx, at.para[1]], n, 20);
      await sleep(60);
    }
    await sleep(700);
  }
  await sleep(3000);
  mark('rage');
  for (let i = 0; i < 6; i++) {
    await click([at.dead[0] + (i % 2 ? 2 : -1), at.dead[1] + (i % 3) - 1], 1, 40);
    await sleep(110);
  }
  await sleep(9000);
  mark('end');
  return windows;
}

// --- one run ------------------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
});
const median = (a) => (a && a.length ? [...a].sort((x, y) => x - y)[a.length >> 1] : 0);
const rows = [];
for (const [label, sdk, detects] of SDKS) {
  acct = fresh();
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  await context.addInitScript(PROBE);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const t0 = Date.now();
  await page.goto(`${SINK}/page?sdk=${sdk}`, { waitUntil: 'load' });
  await sleep(4000);
  acct.startClosed = true;
  await page.evaluate(() => window.__bench.arm());
  const metric = async (name) => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === name).value;
  const script0 = await metric('ScriptDuration');
  const windows = await script(cdp, page);
  const scriptMs = ((await metric('ScriptDuration')) - script0) * 1000;
  const probe = await page.evaluate(() => window.__bench);
  await page.goto('about:blank');
  await sleep(1500);
  const t1 = Date.now();
  await context.close();

  const start = acct.scripts.filter((s) => s.atStart);
  const names = Object.keys(windows);
  const fires = [...probe.fires, ...acct.fires];
  const inWindow = (name) => {
    const i = names.indexOf(name);
    return fires.filter((f) => f.at >= windows[name] && f.at < windows[names[i + 1]]);
  };
  const rage = inWindow('rage');
  const d = probe.dur;
  rows.push({
    label,
    sdk,
    raw: start.reduce((a, s) => a + s.raw, 0),
    gzip: start.reduce((a, s) => a + s.gzip, 0),
    files: start.length,
    later: acct.scripts.length - start.length,
    move: (median(d.pointermove) + median(d.mousemove)) * 1000,
    click: ['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'].reduce((a, t) => a + median(d[t]), 0) * 1000,
    scriptMs,
    long: probe.long.length,
    tbt: probe.long.reduce((a, x) => a + Math.max(0, x - 50), 0),
    perMin: Math.round(acct.sentBytes / ((t1 - t0) / 60000)),
    requests: acct.sentRequests,
    rage: !detects ? 'n/a (server-side)' : rage.length ? `yes +${Math.round(rage[0].at - windows.rage)} ms (${rage[0].kind})` : 'no',
    mustNot: !detects ? 'n/a' : ['stepper', 'date picker', 'triple-click'].map((w) => inWindow(w).length).join('/'),
    errors: errors.length,
  });
  if (sdk !== 'none' && start.length === 0) console.error(`warning: ${label} loaded no script at start`);
  if (errors.length) console.error(`note: ${label} page errors: ${errors.slice(0, 3).join(' | ')}`);
}
await browser.close();
sink.close();

// --- the table ------------------------------------------------------------------------------------
const cols = [
  ['sdk', (r) => r.label, 26],
  ['start raw B', (r) => r.raw, 12],
  ['start gzip B', (r) => r.gzip, 13],
  ['files', (r) => r.files + (r.later ? '+' + r.later : ''), 6],
  ['µs/move', (r) => r.move.toFixed(1), 8],
  ['µs/click', (r) => r.click.toFixed(1), 9],
  ['script ms', (r) => r.scriptMs.toFixed(1), 10],
  ['long', (r) => r.long, 5],
  ['TBT ms', (r) => r.tbt.toFixed(0), 7],
  ['sent B/min', (r) => r.perMin, 11],
  ['reqs', (r) => r.requests, 5],
  ['rage (dead button)', (r) => r.rage, 30],
  ['fired: stepper/date/triple', (r) => r.mustNot, 0],
];
const line = (cells) => cells.map((c, i) => (i === 0 || i >= cols.length - 2 ? String(c).padEnd(cols[i][2]) : String(c).padStart(cols[i][2]))).join(' ').trimEnd();
console.log(line(cols.map((c) => c[0])));
for (const r of rows) console.log(line(cols.map((c) => c[1](r))));
console.log(
  '\nstart = scripts and wasm served from navigation until 4 s after load (gzip -9 as served); µs/move, µs/click = median main-thread time in event dispatch per CDP input;\n' +
    'script ms = Chromium ScriptDuration over the scripted input (~40 s); sent = request bodies + WebSocket payloads through pagehide; files +N = scripts loaded later.',
);
const ours = rows.find((r) => r.sdk === 'sentientiq');
if (!ours) process.exit(0);
const smallest = rows.filter((r) => r.sdk !== 'sentientiq' && r.sdk !== 'none').sort((a, b) => a.gzip - b.gzip)[0];
console.log(`ours vs smallest peer (gzip start bytes): 1:${(smallest.gzip / ours.gzip).toFixed(1)}`);
