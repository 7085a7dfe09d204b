/*
 * SentientIQ worker, served as /sdk-worker.js (cargo xtask build-sdk strips these comments);
 * sdk.js starts it through a blob: URL that importScripts() this file. It runs sdk.wasm (the
 * physics; its ABI is documented at the top of sdk-wasm/src/lib.rs) and owns the binary
 * WebSocket to HOST/v1/ws.
 *
 * From the page: first {k: site key, b: base URL, p: page path, o: the page's time origin},
 * then batches {b: Int32Array buffer of rows, s: [[id, name]…] new sections},
 * {i: identity token, '' = anonymous} and {n: [kind, text]} notes (0 track, 1 context).
 * To the page: {v: {id, emotion, text}} interventions, and the unacknowledged frames {q: beacon
 * body or 0, n: true when new frames could not be sent} after every new frame (a movement
 * summary or a section's name only if it is still unacknowledged 300 ms later) and 2 s after
 * the last acknowledgement.
 *
 * Protocol: the Hello (seq 0, a SecureHello: with the session's resume secret) opens every connection, then the Section frames already
 * acknowledged (so an instance that never saw them learns the names), then every
 * unacknowledged data frame is resent in order; Ack(seq) drops every frame up to seq (the
 * server acknowledges a frame once what it caused is durable). At most 200 frames wait, the oldest
 * are dropped (counted in `dropped`, warned once). Reconnects back off from 0.5 s doubling to
 * 30 s with jitter, except after close codes 4001 (unsupported protocol version) and 4003
 * (unknown site key).
 *
 * Two modules: sdk.wasm (the movement summary and the frames, no detector: small enough for
 * the page-start budget) runs at once; about a second later sdk-emotions.wasm (every emotion,
 * rage included) is fetched and takes over: it learns the sections already named (learn),
 * continues the frame numbering (set_seq) and is fed the rows sdk.wasm saw, sending what it
 * detects in them. A click is decided 1 s after it (its answer window), so waiting for the
 * detector costs a detection little. If it cannot be loaded, sdk.wasm keeps running: frames
 * and the movement summary, no detection.
 */
'use strict';
const EMOTIONS = ['rage', 'frustration', 'confusion', 'hesitation', 'abandonment', 'engaged'];
const enc = new TextEncoder();
// The session id (64 bits) and its resume secret (128 bits), for the life of the page view:
// every Hello carries both, and only a connection that knows the secret may speak for the session.
const session = crypto.getRandomValues(new Uint32Array(6));
const early = [];
const queue = []; // [seq, frame], oldest first
const named = []; // [id, name] of every section, for a module loaded later
const secs = []; // [seq, frame] of every Section frame: named again after every Hello
let kept = []; // the newest rows until the module with every emotion takes over
let X; // the wasm exports
let M; // the wasm memory
let cfg; // the page's first message
let token = '';
let hello;
let ws;
let delay = 500;
let dropped = 0;
let acked; // the report of acknowledged frames

const live = () => ws && ws.readyState == 1;
const write = (s, at, max) => enc.encodeInto(s, M.subarray(at, at + max));
const frame = (n) => M.slice(X.out(), X.out() + n);
const warn = (s) => console.warn('SentientIQ: ' + s);

// The Hello with the current identity (a token too long for a frame is left out, warned).
const greet = () => {
  const p = X.inp();
  const a = write(cfg.k, p, 256).written;
  const b = write(cfg.p, p + a, 512).written;
  const t = write(token, p + a + b, 1024);
  let n = t.read == token.length && X.hello(...session, a, b, t.written);
  if (!n) {
    token && warn('identity token too long, ignored');
    n = X.hello(...session, a, b, 0);
  }
  hello = frame(n);
};

// Tells the page the unacknowledged frames, as a beacon body of at most 60 kB.
const report = (news) => {
  let body = 0;
  if (queue.length) {
    const all = [hello, ...queue.map((f) => f[1])];
    let len = 0;
    let k = 0;
    while (all[k] && len + all[k].length <= 59998) len += all[k++].length + 2;
    const u = new Uint8Array(len);
    for (let j = 0, at = 0; j < k; at += all[j++].length + 2) {
      u.set([all[j].length, all[j].length >> 8], at);
      u.set(all[j], at + 2);
    }
    body = u.buffer;
  }
  postMessage({ q: body, n: news }, body ? [body] : []);
};

// Queues and sends the data frame the last wasm call left in the output buffer and tells the
// page; returns its queue entry. A movement summary (`later`: one a second while the pointer
// moves) or a section's name (one for each section the pointer enters first), each a message
// and a task on the page's main thread, is told only if the server has not acknowledged it
// 300 ms later: on a healthy connection the page hears of none, and a page hidden meanwhile
// loses at most those of its last 300 ms from its beacon, never a detection (whose report
// carries every unacknowledged frame, the sections it names included).
const emit = (n, later) => {
  if (n) {
    const f = frame(n);
    const e = [X.seq() >>> 0, f];
    queue.push(e);
    if (queue.length > 200) {
      queue.shift();
      dropped++ || warn('offline queue full, dropping the oldest frames');
    }
    live() && ws.send(f);
    later && live() ? setTimeout(() => queue.includes(e) && report(), 300) : report(!live());
    return e;
  }
};

const handle = (m) => {
  for (const [id, name] of m.s || []) {
    named.push([id, name]);
    const e = emit(X.section(id, write(name, X.inp(), 256).written), 1);
    e && secs.push(e);
  }
  if (m.n) emit(X.note(m.n[0], write(m.n[1], X.inp(), 256).written));
  const r = new Int32Array(m.b || 0);
  for (let i = 0; i < r.length; i += 5) {
    emit(X.sample(r[i], r[i + 1], r[i + 2], r[i + 3], r[i + 4]));
    kept && kept.push(r.slice(i, i + 5)) > 1024 && kept.shift();
  }
  if ('i' in m) {
    token = m.i;
    greet();
    live() && ws.send(hello);
    report(false);
  }
};

const connect = () => {
  const s = (ws = new WebSocket(cfg.b.replace('http', 'ws') + '/v1/ws'));
  s.binaryType = 'arraybuffer';
  // Hello, the sections named in frames already acknowledged (an instance that never saw them
  // learns them; they keep their numbers), then every unacknowledged frame.
  s.onopen = () => [[0, hello], ...secs.filter((e) => !queue.includes(e)), ...queue].forEach((e) => s.send(e[1]));
  s.onmessage = ({ data }) => {
    if (!(data.byteLength <= 2048)) return; // text, or larger than any valid frame
    M.set(new Uint8Array(data), X.inp());
    const code = X.recv(data.byteLength);
    const f = (i) => X.field(i) >>> 0;
    if (code == 1) {
      while (queue[0] && queue[0][0] <= f(0)) queue.shift();
      delay = 500;
      // What is acknowledged the page may beacon again (the server stores a frame once), so it
      // hears of it 2 s after the last ack, not at each: a frame a second (Physics) is one
      // message a second, not two.
      clearTimeout(acked);
      acked = setTimeout(report, 2e3);
    }
    if (code == 2) {
      const at = X.inp() + f(2);
      const text = new TextDecoder().decode(M.subarray(at, at + f(3)));
      postMessage({ v: { id: f(0), emotion: EMOTIONS[f(1)], text } });
    }
  };
  s.onclose = ({ code }) => {
    ws = 0;
    if (code == 4001 || code == 4003) {
      return warn((code == 4001 ? 'unsupported protocol version' : 'unknown site key') + ', not reconnecting');
    }
    setTimeout(connect, (delay * (1 + Math.random())) / 2);
    delay = Math.min(delay * 2, 30000);
  };
};

const load = async (file) => {
  const res = await fetch(cfg.b + file);
  if (!res.ok) throw file + ': ' + res.status;
  try {
    return (await WebAssembly.instantiateStreaming(res.clone())).instance.exports;
  } catch (_) {
    // A server without application/wasm, or a browser without streaming compilation.
    return (await WebAssembly.instantiate(await res.arrayBuffer())).instance.exports;
  }
};

const use = (x) => {
  X = x;
  M = new Uint8Array(X.memory.buffer);
};

// The module with every emotion takes over from the page-start one, warm: it learns the
// sections, continues the numbering from the page-start module's, and is fed the rows the
// page-start module saw (the newest 1,024), sending what it detects in them, so an episode that
// began before it arrived is seen whole. A tick then empties its movement summary (sdk.wasm
// reported that movement already).
const upgrade = async () => {
  const x = await load('/sdk-emotions.wasm');
  const seq = X.seq();
  use(x);
  X.set_seq(seq);
  named.forEach(([id, name]) => X.learn(id, write(name, X.inp(), 256).written));
  kept.forEach((r) => emit(X.sample(...r)));
  const last = X.seq();
  kept.length && X.tick(kept.at(-1)[1]);
  X.set_seq(last);
  kept = 0;
};

const start = async () => {
  use(await load('/sdk.wasm'));
  greet();
  connect();
  setInterval(() => emit(X.tick(performance.timeOrigin + performance.now() - cfg.o), 1), 1000);
  early.splice(0).forEach(handle);
  setTimeout(() => upgrade().catch((e) => { kept = 0; warn(e); }), 1000);
};

onmessage = ({ data: m }) => {
  if (m.k) {
    cfg = m;
    start().catch((err) => {
      // No wasm (e.g. a CSP without 'wasm-unsafe-eval'): stop listening, keep nothing.
      onmessage = null;
      early.length = 0;
      warn(err);
    });
  } else X ? handle(m) : early.push(m);
};
