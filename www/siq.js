// Shared by the dashboard, the session view and the failure page: the API (same-origin
// cookie session; the CSRF token on writes), text-only DOM building (never HTML), money and
// interval formatting, and small charts drawn as SVG by hand (no library, no build step).
var SIQ = (function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var state = { csrf: null, onSignedOut: null };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function add(parent) { for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]); return parent; }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function money(cents) {
    if (cents == null) return '–';
    var neg = cents < 0, d = Math.abs(cents) / 100;
    var s = d >= 100 ? Math.round(d).toLocaleString('en-US') : d.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: 2 });
    return (neg ? '−$' : '$') + s;
  }
  function pct(x, digits) { return x == null ? '–' : (x * 100).toFixed(digits == null ? 0 : digits) + '%'; }
  function num(v, d) { return v == null ? '–' : Number(v).toLocaleString('en-US', { maximumFractionDigits: d || 0 }); }
  function time(ms) { return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }); }
  function ago(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }
  // A figure with its interval ({status: "estimate", value, low, high}) or the reason there is none.
  function figure(f, fmt) {
    if (!f) return '–';
    if (f.status !== 'estimate') return 'too little data' + (f.reason ? ' (' + f.reason + ')' : '');
    return fmt(f.value) + ' (95% ' + fmt(f.low) + ' to ' + fmt(f.high) + ')';
  }

  function api(path, opts) {
    opts = opts || {};
    var headers = { accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.method && opts.method !== 'GET' && state.csrf) headers['x-csrf-token'] = state.csrf;
    return fetch(path, { method: opts.method || 'GET', credentials: 'same-origin', headers: headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
      .then(function (r) {
        return r.text().then(function (t) {
          var v = null;
          try { v = t ? JSON.parse(t) : null; } catch (e) { v = null; }
          if (r.status === 401 && state.onSignedOut && !opts.quiet) state.onSignedOut();
          if (!r.ok) { var err = new Error((v && v.message) || (path + ' answered ' + r.status)); err.status = r.status; throw err; }
          return v;
        });
      });
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = String(text);
    return e;
  }

  // A line chart: series [{name, color, points: [[x, y]], low?: [[x, y]], high?: [[x, y]]}],
  // x in ms; an interval band when low/high are given; vertical marks [{x, label, color}].
  function chart(opts) {
    var W = opts.width || 640, H = opts.height || 180, P = { l: 40, r: 8, t: 10, b: 22 };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': opts.label || 'chart', class: 'chart' });
    add(root, svg('title', {}, opts.label || 'chart'));
    var xs = [], ys = [0];
    (opts.series || []).forEach(function (s) {
      s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); });
      (s.high || []).forEach(function (p) { ys.push(p[1]); });
    });
    (opts.marks || []).forEach(function (m) { xs.push(m.x); });
    if (!xs.length) { add(root, svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, opts.empty || 'no data yet')); return root; }
    if (opts.xMin != null) xs.push(opts.xMin);
    if (opts.xMax != null) xs.push(opts.xMax);
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs); if (x1 === x0) x1 = x0 + 1;
    var y1 = opts.yMax || Math.max.apply(null, ys); if (!(y1 > 0)) y1 = 1;
    var X = function (x) { return P.l + (x - x0) / (x1 - x0) * (W - P.l - P.r); };
    var Y = function (y) { return H - P.b - Math.min(y, y1) / y1 * (H - P.t - P.b); };
    add(root, svg('line', { x1: P.l, x2: W - P.r, y1: H - P.b, y2: H - P.b, class: 'axis-line' }));
    add(root, svg('text', { x: P.l - 4, y: P.t + 8, 'text-anchor': 'end', class: 'axis' }, opts.yFormat ? opts.yFormat(y1) : num(y1, 1)));
    add(root, svg('text', { x: P.l - 4, y: H - P.b, 'text-anchor': 'end', class: 'axis' }, '0'));
    var fx = opts.xFormat || function (x) { return new Date(x).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); };
    add(root, svg('text', { x: P.l, y: H - 6, class: 'axis' }, fx(x0)));
    add(root, svg('text', { x: W - P.r, y: H - 6, 'text-anchor': 'end', class: 'axis' }, fx(x1)));
    (opts.series || []).forEach(function (s) {
      if (s.low && s.high && s.low.length) {
        var d = s.high.map(function (p, i) { return (i ? 'L' : 'M') + X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1); }).join('');
        d += s.low.slice().reverse().map(function (p) { return 'L' + X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1); }).join('') + 'Z';
        add(root, svg('path', { d: d, fill: s.color, 'fill-opacity': 0.15, stroke: 'none' }));
      }
      if (s.bars) {
        var bw = Math.max(2, (W - P.l - P.r) / Math.max(1, s.points.length) - 2);
        s.points.forEach(function (p) { add(root, svg('rect', { x: X(p[0]) - bw / 2, y: Y(p[1]), width: bw, height: Math.max(0, H - P.b - Y(p[1])), fill: s.color })); });
        return;
      }
      if (s.ticks) {
        s.points.forEach(function (p) { add(root, svg('line', { x1: X(p[0]), x2: X(p[0]), y1: H - P.b, y2: H - P.b - 10, stroke: s.color, 'stroke-width': 2 })); });
        return;
      }
      var line = s.points.map(function (p, i) { return (i ? 'L' : 'M') + X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1); }).join('');
      add(root, svg('path', { d: line, fill: 'none', stroke: s.color, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }));
      // Few points: dots, with their interval as a bar where there is one.
      if (s.points.length < 8) s.points.forEach(function (p, i) {
        if (s.low && s.high && s.low[i]) add(root, svg('line', { x1: X(p[0]), x2: X(p[0]), y1: Y(s.low[i][1]), y2: Y(s.high[i][1]), stroke: s.color, 'stroke-width': 2, 'stroke-opacity': 0.5 }));
        add(root, svg('circle', { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: s.color }));
      });
    });
    // Marks: a dashed line each; labels on staggered rows so neighbours do not overprint.
    var lastX = [-1e9, -1e9, -1e9];
    (opts.marks || []).forEach(function (m) {
      var x = X(m.x), row = 0;
      while (row < 2 && x - lastX[row] < 56) row++;
      lastX[row] = x;
      add(root, svg('line', { x1: x, x2: x, y1: P.t, y2: H - P.b, stroke: m.color || '#ff7683', 'stroke-dasharray': '3 3' }));
      add(root, svg('text', { x: Math.min(x + 3, W - 56), y: P.t + 10 + row * 12, class: 'mark' }, m.label));
    });
    return root;
  }

  function legend(items) {
    var l = el('p', 'legend');
    items.forEach(function (i) { var s = el('span', null, i[0]); s.style.setProperty('--c', i[1]); l.appendChild(s); });
    return l;
  }

  return { state: state, el: el, add: add, clear: clear, money: money, pct: pct, num: num, time: time, ago: ago, figure: figure, api: api, chart: chart, legend: legend };
})();
