// A stand-in for the SentientIQ server, for run.mjs: one origin serving the built widget
// (target/widget and target/widget-test), the host pages with a strict Content-Security-Policy,
// and a fake GET /v1/me and POST /v1/me/context. What it sees goes to `log`; `ctl.me` steers
// the /v1/me answer.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIRS = {
  widget: process.env.SIQ_WIDGET_DIR || path.join(ROOT, 'target/widget'),
  'widget-test': process.env.SIQ_WIDGET_TEST_DIR || path.join(ROOT, 'target/widget-test'),
  test: new URL('./static', import.meta.url).pathname,
};
export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'";
export const log = [];
// status: HTTP status; body: a value sent as JSON or a string sent as is; 'drop': the socket
// is destroyed (a network error).
export const ctl = { me: { status: 200, body: {} }, contextStatus: 201 };
export const port = { n: 0 };

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

const page = (hostile) => `<!doctype html><html><head><meta charset="utf-8"><title>host</title>
${hostile ? '<link rel="stylesheet" href="/test/hostile.css">' : ''}
<script type="module" src="/test/page.js"></script></head>
<body><h1>Host shop</h1><button id="host-button">Host button</button><p id="container"></p></body></html>`;

export async function start() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      if (url.pathname === '/v1/me' || url.pathname === '/v1/me/context') {
        log.push({ path: url.pathname, method: req.method, key: req.headers['x-siq-site-key'], auth: req.headers.authorization,
          cookie: req.headers.cookie || null, body: Buffer.concat(body).toString() });
        if (url.pathname === '/v1/me/context') {
          res.writeHead(ctl.contextStatus, { 'content-type': 'application/json' });
          return res.end('{}');
        }
        if (ctl.me === 'drop') return req.socket.destroy();
        res.writeHead(ctl.me.status, { 'content-type': 'application/json' });
        return res.end(typeof ctl.me.body === 'string' ? ctl.me.body : JSON.stringify(ctl.me.body));
      }
      const [, dir, ...rest] = url.pathname.split('/');
      if (DIRS[dir] && rest.length && !rest.includes('..')) {
        const file = path.join(DIRS[dir], ...rest);
        if (fs.existsSync(file)) {
          res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
          return res.end(fs.readFileSync(file));
        }
        res.writeHead(404);
        return res.end();
      }
      if (url.pathname === '/' || url.pathname === '/hostile') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'cache-control': 'no-store' });
        return res.end(page(url.pathname === '/hostile'));
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  port.n = server.address().port;
  return server;
}
