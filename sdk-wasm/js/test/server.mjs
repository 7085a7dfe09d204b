// A minimal stand-in for the SentientIQ server, for run.mjs: serves target/sdk (with CORS and
// application/wasm) on one port, a host page with a strict CSP on another (another origin), a
// WebSocket at /v1/ws speaking just enough of the wire protocol (Ack, Intervene, close codes),
// and POST /v1/beacon. Everything it observes goes to `log`; `ctl` steers it.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

export const ports = { sdk: 0, page: 0 };
const SDK_DIR = process.env.SIQ_SDK_DIR || new URL('../../../target/sdk', import.meta.url).pathname;

export const log = [];
export const ctl = { ack: true, interveneAt: 85, closeNext: 0, sockets: new Set() };

const varint = (b, at) => { let v = 0n, s = 0n; for (;;) { const x = b[at.i++]; v |= BigInt(x & 0x7f) << s; if (x < 0x80) return v; s += 7n; } };
const str = (b, at) => { const n = Number(varint(b, at)); const s = b.subarray(at.i, at.i + n).toString('utf8'); at.i += n; return s; };
const zig = (v) => Number(v >> 1n) ^ -Number(v & 1n);

export function decode(b) {
  const at = { i: 0 };
  const version = b[at.i++];
  const seq = Number(varint(b, at));
  const variant = Number(varint(b, at));
  const f = { version, seq, variant, len: b.length };
  if (variant === 0 || variant === 7) {
    f.type = 'hello'; f.session = varint(b, at).toString(16); f.key = str(b, at); f.page = str(b, at);
    f.identity = b[at.i++] ? str(b, at) : null;
    if (variant === 7) { f.secret = b.subarray(at.i, at.i + 16).toString('hex'); at.i += 16; }
  } else if (variant === 1) {
    f.type = 'physics'; f.t = Number(varint(b, at)); f.moves = Number(varint(b, at)); f.clicks = Number(varint(b, at));
    f.scrolls = Number(varint(b, at)); f.speed = Number(varint(b, at)); f.jerk = Number(varint(b, at)); f.entropy = b[at.i++];
  } else if (variant === 2) {
    f.type = 'detection'; f.emotion = Number(varint(b, at)); f.pct = b[at.i++]; f.t = Number(varint(b, at)); f.section = b[at.i++];
    const n = Number(varint(b, at)); f.evidence = [];
    for (let k = 0; k < n; k++) f.evidence.push({ t: Number(varint(b, at)), x: zig(varint(b, at)), y: zig(varint(b, at)), kind: Number(varint(b, at)), section: b[at.i++] });
  } else if (variant === 3) {
    f.type = 'section'; f.id = b[at.i++]; f.name = str(b, at);
  } else if (variant === 6) {
    f.type = 'note'; f.kind = b[at.i++]; f.text = str(b, at);
  } else f.type = 'other';
  f.rest = b.length - at.i;
  return f;
}

const uvar = (v) => { const o = []; while (v >= 0x80) { o.push((v & 0x7f) | 0x80); v >>>= 7; } o.push(v); return o; };
export const ackFrame = (seq) => Buffer.from([1, 0, 4, ...uvar(seq)]);
export const interveneFrame = (id, emotion, text) => { const t = Buffer.from(text); return Buffer.concat([Buffer.from([1, 0, 5, ...uvar(id), ...uvar(emotion), ...uvar(t.length)]), t]); };

function wsSend(sock, payload, opcode = 2) {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : Buffer.from([0x80 | opcode, 126, n >> 8, n & 255]);
  sock.write(Buffer.concat([head, payload]));
}
export function wsClose(sock, code) { wsSend(sock, Buffer.from([code >> 8, code & 255]), 8); sock.end(); }

function upgrade(req, sock) {
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
  const conn = { id: log.filter((e) => e.ev === 'open').length + 1, first: true, highest: 0 };
  ctl.sockets.add(sock);
  log.push({ ev: 'open', conn: conn.id, origin: req.headers.origin, at: Date.now() });
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 15; let n = buf[1] & 127, off = 2;
      if (n === 126) { n = buf.readUInt16BE(2); off = 4; } else if (n === 127) { n = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf.length < off + 4 + n) return;
      const mask = buf.subarray(off, off + 4); const p = Buffer.from(buf.subarray(off + 4, off + 4 + n));
      for (let i = 0; i < n; i++) p[i] ^= mask[i & 3];
      buf = buf.subarray(off + 4 + n);
      if (op === 8) { log.push({ ev: 'client-close', conn: conn.id }); sock.end(); return; }
      if (op !== 2) continue;
      const f = decode(p);
      f.conn = conn.id; f.ev = 'frame'; f.first = conn.first; conn.first = false; f.at = Date.now();
      log.push(f);
      if (ctl.closeNext) { const c = ctl.closeNext; ctl.closeNext = 0; wsClose(sock, c); return; }
      if (f.type !== 'hello' && ctl.ack) { conn.highest = Math.max(conn.highest, f.seq); wsSend(sock, ackFrame(conn.highest)); log.push({ ev: 'ack', conn: conn.id, seq: conn.highest }); }
      if (f.type === 'detection' && f.pct >= ctl.interveneAt && !conn.intervened) {
        conn.intervened = true;
        wsSend(sock, interveneFrame(4000000001, f.emotion, 'Stuck? The coupon box is <b>below</b> — “here”.'));
      }
    }
  });
  sock.on('close', () => { ctl.sockets.delete(sock); log.push({ ev: 'closed', conn: conn.id }); });
  sock.on('error', () => {});
}

// /consent: the tag requires consent; /consent-queued: and the host queued ['consent', true].
const page = (url) => `<!doctype html><html><head><meta charset="utf-8"><title>host</title>
<script>(window.SentientIQ = window.SentientIQ || []).push(['identify', 'early.jwt.token']);${url === '/consent-queued' ? "SentientIQ.push(['consent', true]);" : ''}</script>
<script src="http://127.0.0.1:${ports.sdk}/sdk.js" data-key="pk_test_123"${url.startsWith('/consent') ? ' data-consent="required"' : ''} async></script></head>
<body style="margin:0;height:3000px">
<div data-siq-section="pricing" style="position:absolute;left:300px;top:200px;width:200px;height:100px">
<button id="dead" style="width:200px;height:100px">Apply coupon</button></div>
<div data-siq-section="footer" style="position:absolute;left:50px;top:330px;width:100px;height:50px" id="foot">foot</div>
${url === '/ticker' ? `<span id="clock" style="position:absolute;left:600px;top:50px">0</span>
<button id="plus" style="position:absolute;left:600px;top:200px;width:60px;height:40px">+</button><span id="qty" style="position:absolute;left:680px;top:210px">1</span>
<script>setInterval(() => (clock.textContent = Date.now()), 200); plus.addEventListener('click', () => (qty.textContent = +qty.textContent + 1));
setTimeout(() => (qty.textContent = 1), 2600); /* a value set once as the page finishes loading, while the loader learns */</script>` : ''}
${url === '/slow' ? `<button id="more" style="position:absolute;left:600px;top:200px;width:120px;height:40px">More</button><ul id="list"></ul>
<script>let loading = 0; more.addEventListener('click', () => loading || (loading = setTimeout(() => { loading = 0; list.append(Object.assign(document.createElement('li'), { textContent: 'result ' + list.children.length })); }, 557)));</script>` : ''}
${url === '/checkout' ? `<div data-siq-section="checkout" style="position:absolute;left:100px;top:150px;width:500px;height:250px">Card number, expiry, CVC, Pay</div>` : ''}
${url === '/landmarks' ? `<form id="checkout" style="position:absolute;left:100px;top:150px;width:500px;height:250px">Card number, expiry, CVC, Pay</form>
<div data-siq-section="plans" style="position:absolute;left:620px;top:150px;width:150px;height:100px"><section id="inner" style="height:100px">Pro</section></div>
<main style="position:absolute;left:620px;top:300px;width:150px;height:100px">Terms</main>
<div role="dialog" id="upgrade" style="position:absolute;left:620px;top:40px;width:150px;height:80px"><button>Upgrade</button></div>` : ''}
${url === '/press' ? `<p id="txt" style="position:absolute;left:300px;top:300px;width:300px;margin:0;font:16px/20px sans-serif">Coupons apply to the whole order. Enter the code exactly as printed on the card, then apply it once.</p>
${[100, 200, 300].map((y, i) => `<button class="menu" style="position:absolute;left:700px;top:${y}px;width:100px;height:40px">Menu ${i}</button>`).join('')}
${[100, 300, 500].map((x) => `<button class="up" style="position:absolute;left:${x}px;top:20px;width:100px;height:40px">Off</button>`).join('')}
<script>document.querySelectorAll('.menu').forEach((b) => b.addEventListener('mousedown', () => (b.textContent = b.textContent.endsWith('▾') ? b.textContent.slice(0, -1) : b.textContent + '▾')));
document.querySelectorAll('.up').forEach((b) => b.addEventListener('pointerup', () => (b.textContent = b.textContent === 'On' ? 'Off' : 'On'))); /* switches that act on release */</script>` : ''}
</body></html>`;

export async function start() {
  const sdk = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname === '/v1/beacon') {
      const chunks = []; req.on('data', (c) => chunks.push(c)); req.on('end', () => {
        const body = Buffer.concat(chunks); const frames = []; let i = 0;
        while (i + 2 <= body.length) { const n = body.readUInt16LE(i); frames.push(decode(body.subarray(i + 2, i + 2 + n))); i += 2 + n; }
        log.push({ ev: 'beacon', bytes: body.length, type: req.headers['content-type'] || null, frames, trailing: body.length - i });
        res.writeHead(204, { 'access-control-allow-origin': '*' }); res.end();
      });
      return;
    }
    const file = { '/sdk.js': 'sdk.js', '/sdk-worker.js': 'sdk-worker.js', '/sdk.wasm': 'sdk.wasm', '/sdk-emotions.wasm': 'sdk-emotions.wasm' }[url.pathname];
    if (!file) { res.writeHead(404); res.end(); return; }
    const type = file.endsWith('.wasm') ? (ctl.wasmType || 'application/wasm') : 'text/javascript';
    const serve = () => {
      log.push({ ev: 'get', path: url.pathname });
      res.writeHead(200, { 'content-type': type, 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      res.end(fs.readFileSync(SDK_DIR + '/' + file));
    };
    // ctl.hold: the emotions module is answered only when the check calls ctl.release().
    if (ctl.hold && file === 'sdk-emotions.wasm') ctl.release = serve;
    else serve();
  });
  sdk.on('upgrade', (req, sock) => (req.url === '/v1/ws' ? upgrade(req, sock) : sock.destroy()));
  await new Promise((r) => sdk.listen(0, '127.0.0.1', r));
  ports.sdk = sdk.address().port;
  const host = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8',
      // The CSP sdk.js documents; /nowasm leaves out 'wasm-unsafe-eval'.
      'content-security-policy': `script-src 'unsafe-inline' http://127.0.0.1:${ports.sdk}${req.url === '/nowasm' ? '' : " 'wasm-unsafe-eval'"}; ` +
        `worker-src blob:; connect-src http://127.0.0.1:${ports.sdk} ws://127.0.0.1:${ports.sdk}` });
    res.end(page(req.url));
  });
  await new Promise((r) => host.listen(0, '127.0.0.1', r));
  ports.page = host.address().port;
}
