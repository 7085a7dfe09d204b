// SentientIQ for bundlers: the same main-thread code as the one-line script tag (boot.js is
// generated from sdk-wasm/js/loader.js by `cargo xtask package`), started by `init` instead of
// by a <script> element. The worker (sdk-worker.js), the wasm (sdk.wasm) and the WebSocket
// come from `host`, exactly as for the script tag, so the two share one server-side version.
//
// One instance per page: the SDK lives on window.SentientIQ, like the script tag's, and a
// second start (a second init, or a script tag as well) is ignored until destroy().
import boot from './boot.js';

const g = typeof window == 'undefined' ? undefined : window;

// Queues a call the way the snippet does; the running SDK's push() takes it at once, and
// calls made before init() are replayed when it starts.
const call = (name, arg) => {
  if (g) (g.SentientIQ = g.SentientIQ || []).push([name, arg]);
};

/**
 * Starts the SDK (with {consent: "required"}: waits for consent(true)). Returns true when it
 * started or waits for consent; false on the server, without a key, without WebAssembly, when
 * navigator.doNotTrack is "1", or when an instance already runs.
 */
export function init(options) {
  const o = options || {};
  if (!g || !o.key) return false;
  const host = String(o.host || g.location.origin).replace(/\/+$/, '');
  const before = g.SentientIQ;
  if (before && (!Array.isArray(before) || before.consent)) return false;
  boot(g, g.document, {
    src: host + '/sdk.js',
    dataset: o.consent === 'required' ? { key: String(o.key), consent: 'required' } : { key: String(o.key) },
  });
  const s = g.SentientIQ;
  return !!s && (!Array.isArray(s) || typeof s.consent == 'function');
}

/** The host's identity JWT for this visitor; a falsy token reverts to anonymous. */
export function identify(token) {
  call('identify', token);
}

/** A business outcome (e.g. "signup"). Accepted; not sent yet (see docs/sdk.md). */
export function track(outcome) {
  call('track', outcome);
}

/** The app's state (e.g. {plan: "pro"}). Accepted; not sent yet (see docs/sdk.md). */
export function context(state) {
  call('context', state);
}

/** Consent for a page started with {consent: "required"}: true starts, false is destroy(). */
export function consent(granted) {
  const s = g && g.SentientIQ;
  // Waiting for consent, window.SentientIQ is the queue with a consent() of its own; before
  // init, a queued ['consent', true] is honoured when it starts.
  if (s && typeof s.consent == 'function') s.consent(!!granted);
  else call('consent', !!granted);
}

/** Removes every listener, the worker (and its socket) and the intervention box. */
export function destroy() {
  const s = g && g.SentientIQ;
  if (!s) return;
  if (!Array.isArray(s)) s.destroy();
  // Lets a later init() start a fresh instance.
  delete g.SentientIQ;
}
