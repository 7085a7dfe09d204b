// The npm package as a user meets it, run by `cargo xtask package-test` in a temporary copy of
// this folder after `npm ci` and `npm install <the sentientiq tarball>`:
//   1. provision a tenant on the real server (SIQ_SERVER, SIQ_ADMIN_TOKEN) through its API;
//   2. `vite build` the app with the tenant's key and the server as host;
//   3. serve dist/ from another origin, open it in headless Chromium (SIQ_CHROMIUM), move and
//      rage-click the dead button;
//   4. read the tenant's counters at /v1/stats: frames and a detection arrived; after destroy()
//      nothing more does.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const SERVER = process.env.SIQ_SERVER;
const ADMIN = process.env.SIQ_ADMIN_TOKEN;
const CHROMIUM = process.env.SIQ_CHROMIUM || '/usr/bin/chromium';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
const check = (name, ok, detail) => {
  results.push(!!ok);
  console.log((ok ? 'PASS ' : 'FAIL ') + name + (detail !== undefined ? '  ' + JSON.stringify(detail) : ''));
};

const api = async (method, p, token, body) => {
  const r = await fetch(SERVER + p, {
    method,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r.json();
};

// 1. A tenant, through the operator API.
const tenant = await api('POST', '/v1/admin/tenants', ADMIN, { name: 'Vite app' });
const stats = () => api('GET', '/v1/stats', tenant.secret_key);
// This check needs every rage answered: no holdout (the server's suite tests the holdout).
await api('PUT', '/v1/intervention-policy', tenant.secret_key, { holdout_share: 0 });

// 2. vite build, with the key and host as a user would pass them (env at build time).
await new Promise((resolve, reject) => {
  const p = spawn(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], {
    stdio: 'inherit',
    env: { ...process.env, VITE_SIQ_KEY: tenant.site_key, VITE_SIQ_HOST: SERVER },
  });
  p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('vite build failed: ' + code))));
});
const assets = fs.readdirSync('dist/assets').filter((f) => f.endsWith('.js'));
const bundle = assets.map((f) => fs.readFileSync(path.join('dist/assets', f), 'utf8')).join('\n');
check('vite build bundled the package (its boot code, not a <script src>)', bundle.includes('sdk-worker.js') && bundle.includes('sentientiq:intervene'), assets);

// 3. Serve dist/ (another origin than the server) and open it.
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };
const site = http.createServer((req, res) => {
  const p = new URL(req.url, 'http://x').pathname;
  if (p === '/favicon.ico') return res.writeHead(204).end();
  const file = path.join('dist', p === '/' ? 'index.html' : path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
  fs.readFile(file, (err, data) => {
    if (err) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' }).end(data);
  });
});
await new Promise((r) => site.listen(0, '127.0.0.1', r));
const APP = `http://127.0.0.1:${site.address().port}/`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
});
let failed = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const logs = [];
  page.on('console', (m) => logs.push(m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => logs.push('pageerror: ' + e.message));
  await page.goto(APP);
  await page.waitForFunction(() => window.__app, null, { timeout: 10000 });
  check('init() started the SDK in the built app', await page.evaluate(() => window.__app.started === true && typeof window.SentientIQ.destroy === 'function'));

  await sleep(1000);
  for (let i = 0; i < 60; i++) {
    await page.mouse.move(40 + i * 6, 60 + i * 2);
    await sleep(16);
  }
  for (let i = 0; i < 6; i++) {
    await page.mouse.move(410 + (i % 2), 260 - (i % 3));
    await page.mouse.down();
    await sleep(40);
    await page.mouse.up();
    await sleep(110);
  }
  let s = await stats();
  for (let i = 0; i < 50 && !(s.frames > 0 && s.detections > 0); i++) {
    await sleep(200);
    s = await stats();
  }
  check('frames arrived at the real server (GET /v1/stats)', s.frames > 0, s);
  check('the rage burst at the dead button arrived as a detection', s.detections > 0, s);
  await sleep(1000);
  const shown = await page.evaluate(() => window.__app.interventions);
  check('the server answered in the page (sentientiq:intervene)', shown.length > 0 && shown[0].emotion === 'rage', shown);

  // 4. destroy(): nothing more reaches the server.
  await page.evaluate(() => window.__app.destroy());
  await sleep(1500);
  const before = await stats();
  for (let i = 0; i < 40; i++) {
    await page.mouse.move(100 + i * 5, 400 - i * 3);
    await sleep(16);
  }
  await page.mouse.click(410, 260);
  await sleep(2500);
  const after = await stats();
  check('after destroy() no frame arrives', after.frames === before.frames && !(await page.evaluate(() => 'SentientIQ' in window)), { before: before.frames, after: after.frames });
  const bad = logs.filter((l) => l.startsWith('pageerror') || l.startsWith('error'));
  check('no page error', bad.length === 0, bad);
} catch (e) {
  check('the journey ran: ' + e.message, false);
} finally {
  await browser.close();
  site.close();
}
failed = results.filter((ok) => !ok).length;
console.log(`\npackage checks: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
