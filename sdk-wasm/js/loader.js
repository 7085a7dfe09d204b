/*
 * SentientIQ loader, served as /sdk.js (cargo xtask build-sdk strips these comments). The
 * whole installation:
 *
 *   <script src="https://HOST/sdk.js" data-key="pk_…" async></script>
 *
 * The main thread only copies (kind, t, x, y, section) of pointer, click and scroll events
 * into an Int32Array (at most one move per 16 ms) and hands it to a Web Worker (sdk-worker.js
 * running sdk.wasm): moves and scrolls every 70–100 ms, posted by the handler of the move that
 * finds the batch old enough (a timer only when the pointer stops), anything else in the task
 * right after its event; the worker does the physics and owns the WebSocket.
 *
 * Rows: kind 0 move, 1 down, 2 up, 3 click, 4 scroll, 5 response, 6 leave, 7 hidden,
 * 8 visible, 9 quiet; t = integer ms since the page's time origin; x, y = viewport CSS px
 * (scroll: y = scrollY; kinds 5..9: 0, except a response: x its signature, y 1-3 if own); section = the interned id (1..255) of the
 * section of a down/click target, or for a move of the element the pointer is over (looked up on pointerover, so a move costs
 * no lookup), 0 = none. A section is the nearest [data-siq-section] (its value names it); where there is none, the nearest
 * landmark with an id (a main, nav, header, footer, aside, section, form or dialog element, or any element with role=dialog:
 * its id names it), so a page marked up as <section id="pricing">, <form id="checkout"> or <div role="dialog" id="upgrade">
 * needs no attribute of ours (docs/sdk.md, "Sections").
 *
 * Response (the page answered a click; x = a signature of the answer, see sig): after each click, for 1 s (RESPONSE_WINDOW_MS of
 * shared-physics; a later click restarts it), the first of a DOM mutation (a MutationObserver on <html>, connected only
 * while that window is open; records about the SDK's own [data-siq-intervention] box are
 * skipped, and so are changes to nodes the page changes on its own, a clock or a carousel:
 * nodes a second observer sees change in two separate tasks during 2.5 s that start once 2 s
 * have passed without a click), focusin of a text field, a visible selectionchange (a
 * selection, or a field's caret), input/change, pagehide, hashchange or popstate pushes one row
 * of kind 5 and closes the window; a window that runs out with no answer pushes one row of kind
 * 9 (quiet: the clicks are decided dead). An answer the press itself makes while held (from its
 * pointerdown to its click) is its own: one row of kind 5 right after its click with y = 1,
 * which answers that click alone (y = the click count, at most 3, for a double or triple
 * click's press: the gesture's presses). Leave: mouseout without a relatedTarget (the pointer left
 * the document), x/y where it left (y < 0: through the top edge). Hidden/visible:
 * visibilitychange. Integers rather than floats: the same 4 bytes a value, but t stays exact
 * for 24 days of page life instead of 4.6 hours (and the wasm takes integers anyway).
 *
 * Content-Security-Policy the host page needs, if it sets one (HOST = where sdk.js is served):
 *   script-src  HOST 'wasm-unsafe-eval'  this file, the worker's importScripts, compiling wasm
 *   worker-src  blob:                    the worker starts from a blob: URL so that it works
 *                                        when HOST is another origin (without worker-src the
 *                                        browser uses child-src, then script-src)
 *   connect-src https://HOST wss://HOST  sdk.wasm, the WebSocket, the beacon
 *
 * API: SentientIQ.identify(token) passes the host's identity JWT for this visitor (a falsy
 * token reverts to anonymous). SentientIQ.track(outcome) reports an outcome ('purchase',
 * 'cancel', …) for the server to attribute to this session's newest intervention decision;
 * SentientIQ.context(state) shares the identified visitor's state ('busy', 'stuck', …). Both
 * travel as a Note frame.
 * SentientIQ.destroy() removes every listener, the worker (and so its socket) and the box.
 * Calls queued before the script ran, as
 *   (window.SentientIQ = window.SentientIQ || []).push(['identify', token])
 * are replayed, and SentientIQ.push([name, arg]) keeps working afterwards.
 *
 * Consent: with data-consent="required" on the script tag nothing starts (no listener, no
 * worker, no request) until SentientIQ.consent(true). Until then window.SentientIQ stays the
 * host's queue (an array: push() queues, consent(true) starts and replays the queue; a queued
 * ['consent', true] counts as consent); after it, consent(false) is destroy(). When navigator.doNotTrack is "1" the script does nothing at all
 * (docs/sdk.md).
 *
 * The npm package (packages/sentientiq) runs this same function as an ES module, passing a
 * script-like {src, dataset} instead of document.currentScript.
 *
 * Interventions: window receives a cancelable 'sentientiq:intervene' CustomEvent with detail
 * {id, emotion, text}; unless a listener calls preventDefault(), a small fixed box
 * [data-siq-intervention] shows the text (as text, never as HTML) with a close button.
 *
 * Page hide: workers cannot call sendBeacon and an unloading page cannot wait for a worker's
 * reply, so the worker keeps this thread told of its unacknowledged frames (as a ready beacon
 * body: [u16 LE length][frame]…, the session's Hello first; after an acknowledgement it may
 * still hold frames the server has, which it stores once). When the page is hidden or
 * unloaded, the pending batch goes to the worker and the last body to HOST/v1/beacon; a body
 * the worker reports while the page is hidden and its socket is down is sent at once.
 */
((w, d, me) => {
  try {
    const key = me && me.dataset.key;
    const queued = w.SentientIQ;
    if (!key || !w.WebAssembly || navigator.doNotTrack == 1 || (queued && queued.identify)) return;
    const base = new URL(me.src).origin;
    // The host's queue of calls; with consent required it stays window.SentientIQ until consent.
    const q = Array.isArray(queued) ? queued : [];
    // Aborting it removes every listener (destroy).
    const stop = new AbortController();
    const SIZE = 1280; // 256 rows of 5
    const names = new Map();
    const rows = new Int32Array(SIZE);
    let worker;
    let n = 0;
    let last = 0; // the newest row's time: rows never go back in time
    let raf = 0; // the pending flush timer
    let next = 0; // when a move gets a row of its own again (the events' clock, ms)
    let fresh = [];
    let beacon;
    let box;

    const post = (m, t) => worker.postMessage(m, t);

    // Hands the batch (a copy of the rows used), and the section names it introduced, to the
    // worker.
    const flush = () => {
      clearTimeout(raf);
      raf = 0;
      if (n) {
        const b = rows.slice(0, n).buffer;
        post({ b, s: fresh }, [b]);
        n = 0;
        fresh = [];
      }
    };

    // One row; a move less than 16 ms after the one that began the last row, if that is a move,
    // replaces it: at most one move per animation frame. Its time is the event's, or now for the
    // rows the loader makes (an answer, a quiet), never before the previous row's: an event can
    // be dispatched after a timer that fired later than it. Moves and scrolls, streams, wait up
    // to 100 ms: the first once the batch is 70 ms old posts it from its own handler, so a moving
    // pointer costs no task of ours (the margin keeps a late frame ahead of the timer), and a
    // timer posts what is left when it stops. Anything else (a click, a quiet row: the detection
    // path) goes to the worker in the task right after its event, without lengthening the
    // event's own handling. Each value is written on its own: no array is allocated per event.
    const put = (kind, e, x, y, section) => {
      const t = (last = Math.max(last, e.timeStamp || performance.now()));
      if (kind || !n || rows[n - 5] || t >= next) {
        if (n == SIZE) flush();
        n += 5;
        next = t + 16;
      }
      rows[n - 5] = kind;
      rows[n - 4] = t;
      rows[n - 3] = x;
      rows[n - 2] = y;
      rows[n - 1] = section;
      kind && kind - 4 ? (clearTimeout(raf), (raf = setTimeout(flush))) : t - rows[1] < 70 ? (raf = raf || setTimeout(flush, 100)) : flush();
    };

    // The interned id of the target's section (an attribute of ours, else a landmark's id); a
    // new name travels with the next batch. (A selector list, not :is(), which browsers before
    // 2021 refuse with an exception in the host's console.)
    const section = (e) => {
      const el =
        e.target.closest?.('[data-siq-section]') ||
        e.target.closest?.('main[id],nav[id],header[id],footer[id],aside[id],section[id],form[id],dialog[id],[role=dialog][id]');
      const name = el && (el.dataset.siqSection ?? el.id);
      let id = names.get(name);
      if (el && !id && names.size < 255) {
        names.set(name, (id = names.size + 1));
        fresh.push([id, name]);
      }
      return id || 0;
    };
    // The section under the pointer, looked up when it enters an element (pointerover), so a
    // move looks nothing up.
    let over = 0;

    const at = (kind, withSection) => (e) => put(kind, e, e.clientX, e.clientY, withSection ? section(e) : 0);

    // The answer to a click: `open` while its window is, one kind-5 row for the first answer,
    // one kind-9 row when the window runs out without one.
    let open = 0;
    const shut = () => {
      clearTimeout(open);
      open = 0;
      pressed || mo.disconnect();
    };
    // x of the row: a signature of what answered (1..32767), so that the same control answering
    // with the same result (a submit that keeps showing the same error) can be told from one
    // answering with another (a date picker's next month, another day picked): a hash of the
    // answering nodes' names, first 256 characters of text, values and checked states (the
    // first 8 mutation records of the answer, or the event's target).
    const sig = (rs, h = 7) => {
      for (const { target: n } of rs.slice(0, 8))
        for (const c of n ? n.nodeName + ('' + n.textContent).slice(0, 256) + n.value + n.checked : '') h = (h * 31 + c.charCodeAt()) & 32767;
      return h || 1;
    };
    // An answer the press itself made while held (`mine`: a word its double press selected, a
    // field it focused, a menu the page opened on pointerdown or mousedown) is that press's own:
    // kept in `own` and written right after its click with y = 1 (OWN_ANSWER of shared-physics),
    // so it answers that click alone, never the clicks before it; with y = the click count (at
    // most 3) for a press that continues a double or triple click, whose answer is the
    // gesture's. Anything else answers the open window: every click of the second before it.
    const answer = (e, mine) => {
      const s = sig(e.length ? e : [e]);
      mine ? (own = own || s) : open && (put(5, 0, s, 0, 0), shut());
    };
    // `pressed` from a pointerdown until its click (or the task after its pointerup), `hot`
    // during the pointerdown's own task and the pointerup's until the click: a mutation then
    // comes from the page's handlers of the press (pointerdown, mousedown, pointerup, mouseup:
    // a switch that acts on release), one in another task (a late answer arriving while the
    // button is held) answers the window.
    let pressed = 0;
    let hot = 0;
    let own = 0;
    // A text field or a contenteditable: focusing one, or moving the caret in it, answers.
    // Focus moving to a button or a link, or a caret placed in static text, is the browser
    // handling the press, nothing the visitor sees: no answer.
    const editable = (n) => n && (n.isContentEditable || n.matches?.('input:not([type=button],[type=submit],[type=reset],[type=image]),textarea,select'));
    // A record about the SDK's own box (added, removed or changed inside it) is no answer.
    const mine = (r) => {
      const n = r.addedNodes[0] || r.removedNodes[0] || r.target;
      return (n.closest ? n : n.parentNode)?.closest('[data-siq-intervention]');
    };
    // Nodes the page changes on its own (a clock, a countdown, a carousel), learnt while nobody
    // clicks: for 2.5 s once 2 s have passed without a click (after start and after each
    // click; a click cuts it short and drops what it saw), a node that changes in two separate
    // tasks is ambient (one change, as a page finishing its load sets a value, is not). Their
    // changes answer no click.
    const ambient = new WeakSet();
    let once;
    const all = { childList: true, subtree: true, attributes: true, characterData: true };
    const mo = new MutationObserver((rs) => {
      rs = rs.filter((r) => !mine(r) && !ambient.has(r.target));
      rs[0] && answer(rs, pressed && hot);
    });
    const watch = new MutationObserver((rs) => new Set(rs.map((r) => r.target)).forEach((t) => (once.has(t) ? ambient.add(t) : once.add(t))));
    let quiet = 0;
    const rest = () => {
      clearTimeout(quiet);
      watch.disconnect();
      once = new WeakSet();
      quiet = setTimeout(() => (watch.observe(d.documentElement, all), (quiet = setTimeout(() => watch.disconnect(), 2500))), 2000);
    };
    const click = at(3, 1);

    const send = () => {
      beacon && navigator.sendBeacon(base + '/v1/beacon', new Blob([beacon]));
      beacon = 0;
    };
    const hide = () => {
      flush();
      send();
    };

    const el = (tag, css, text) => {
      const e = d.createElement(tag);
      e.style.cssText = 'all:initial;font:14px/1.4 sans-serif;color:#111;' + css;
      e.textContent = text;
      return e;
    };
    const show = (v) => {
      if (!w.dispatchEvent(new CustomEvent('sentientiq:intervene', { detail: v, cancelable: true }))) return;
      box?.remove();
      const b = (box = el('div', 'position:fixed;right:16px;bottom:16px;z-index:2147483647;max-width:320px;' +
        'padding:12px 32px 12px 14px;background:#fff;border:1px solid #ccc;border-radius:8px', v.text));
      const x = el('button', 'position:absolute;top:8px;right:10px;cursor:pointer', '\u00d7');
      b.dataset.siqIntervention = v.emotion;
      b.role = 'status';
      x.ariaLabel = 'Close';
      x.onclick = () => b.remove();
      b.append(x);
      d.body.append(b);
    };

    // Starts the worker and every listener: at once, or on consent(true); never after destroy.
    const go = (yes) => {
      if (!yes || worker) return;
      worker = new Worker(
        URL.createObjectURL(new Blob(['importScripts("' + base + '/sdk-worker.js")'], { type: 'text/javascript' }))
      );
      post({ k: key, b: base, p: location.pathname, o: performance.timeOrigin });
      // From the worker: {q: beacon body or 0, n: send it now if hidden} and {v: intervention}.
      worker.onmessage = ({ data: m }) => {
        if ('q' in m) {
          beacon = m.q;
          m.n && d.hidden && send();
        }
        m.v && show(m.v);
      };
      const on = (type, f, t) => (t || w).addEventListener(type, f, { capture: true, passive: true, signal: stop.signal });
      on('pointerover', (e) => (over = section(e)));
      on('pointermove', (e) => put(0, e, e.clientX, e.clientY, over));
      const down = at(1, 1);
      const up = at(2);
      on('pointerdown', (e) => {
        down(e);
        pressed = hot = 1;
        own = 0;
        setTimeout(() => (hot = 0));
        mo.observe(d.documentElement, all);
      });
      // The press is over in the task after its pointerup (its click comes in the same task),
      // or after a pointercancel (a touch turned into a scroll): the observer goes unless a
      // click's window is open.
      const release = () => setTimeout(() => (hot = pressed = 0) || open || mo.disconnect());
      on('pointerup', (e) => {
        up(e);
        hot = 1;
        release();
      });
      on('pointercancel', release);
      on('scroll', (e) => put(4, e, 0, w.scrollY, 0));
      on('mouseout', (e) => e.relatedTarget || put(6, e, e.clientX, e.clientY, 0));
      on('click', (e) => {
        click(e);
        own && put(5, 0, own, Math.min(e.detail, 3) || 1, 0);
        pressed = own = 0;
        shut();
        open = setTimeout(() => (put(9, 0, 0, 0, 0), shut()), 1000);
        mo.observe(d.documentElement, all);
        rest();
      });
      ['input', 'change', 'pagehide', 'hashchange', 'popstate'].forEach((t) => on(t, answer));
      on('focusin', (e) => editable(e.target) && answer(e, pressed));
      // A selection the visitor can see (a word, a paragraph), or the caret of a field.
      on('selectionchange', (e) => (editable(d.activeElement) || !d.getSelection().isCollapsed) && answer(e, pressed), d);
      on('pagehide', hide);
      on('visibilitychange', () => (put(d.hidden ? 7 : 8, 0, 0, 0, 0), d.hidden && hide()), d);
      rest();
      w.SentientIQ = api;
      q.forEach(api.push);
    };

    const api = {
      identify: (token) => post({ i: token ? '' + token : '' }),
      // An outcome or the visitor's state, on the wire as a Note frame (docs/sdk.md).
      track: (o) => post({ n: [0, '' + ((o && o.name) || o)] }),
      context: (c) => post({ n: [1, '' + c] }),
      consent: (yes) => yes || api.destroy(),
      destroy: () => {
        stop.abort();
        shut();
        clearTimeout(quiet);
        watch.disconnect();
        worker?.terminate();
        box?.remove();
      },
      push: (call) => api[call[0]]?.(call[1]),
    };
    // Consent required (data-consent set) and not already queued as ['consent', true] (an
    // array == a string compares the joined text): wait for it.
    me.dataset.consent && !q.some((c) => c == 'consent,true') ? ((w.SentientIQ = q).consent = go) : go(1);
  } catch (err) {
    // Never break the host page.
    console.warn('SentientIQ:', err);
  }
})(window, document, document.currentScript);
