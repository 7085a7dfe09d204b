// The business dashboard. Signed in by an HttpOnly session cookie (POST /v1/login): no key is
// kept in the page or in storage; writes carry the session's CSRF token. Pages are sections
// chosen by the URL's hash; each reads the product's own API. Text only, never HTML.
(function () {
  'use strict';
  var S = SIQ, el = S.el, add = S.add, clear = S.clear;
  var $ = function (id) { return document.getElementById(id); };
  var EMOTION_COLOR = { rage: '#ff7683', frustration: '#f5b14c', confusion: '#c39bff', hesitation: '#7cc4ff', abandonment: '#ff9d5c', engaged: '#4fd69c' };
  var me = null, live = null, timers = [];

  function showError(e) { if (e && e.status === 401) return; $('error').hidden = false; $('error').textContent = (e && e.message) || String(e); }
  function signedOut() {
    me = null; S.state.csrf = null;
    if (live) { live.close(); live = null; }
    timers.forEach(clearInterval); timers = [];
    document.querySelectorAll('[data-page]').forEach(function (p) { p.hidden = true; });
    $('nav').hidden = true; $('sign-out').hidden = true; $('who').textContent = ''; $('tenant').textContent = ''; $('live-state').textContent = '';
    $('signin').hidden = false;
    $('tenant-id').value = localStorage.getItem('siq.workspace') || '';
  }
  S.state.onSignedOut = signedOut;

  $('signin-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    $('error').hidden = true;
    var body = { tenant_id: $('tenant-id').value.trim(), email: $('email').value.trim(), password: $('password').value };
    S.api('/v1/login', { method: 'POST', body: body, quiet: true }).then(function () {
      localStorage.setItem('siq.workspace', body.tenant_id); // the workspace id, not a secret
      $('password').value = '';
      start();
    }).catch(function (e) { $('error').hidden = false; $('error').textContent = e.status === 401 ? 'That workspace, email and password do not match.' : e.message; });
  });
  $('sign-out').addEventListener('click', function () {
    S.api('/v1/logout', { method: 'POST' }).then(signedOut, signedOut);
  });

  function start() {
    S.api('/v1/dashboard/me', { quiet: true }).then(function (m) {
      me = m; S.state.csrf = m.csrf;
      $('signin').hidden = true; $('nav').hidden = false; $('sign-out').hidden = false;
      $('tenant').textContent = m.tenant.name; $('who').textContent = (m.email || '') + ' · ' + m.role;
      $('public-link').href = '/failures.html?t=' + encodeURIComponent(m.tenant.id);
      startLive();
      route();
    }).catch(signedOut);
  }

  // ---- pages -------------------------------------------------------------------------------
  var PAGES = { struggles: struggles, accounts: accounts, segments: segments, queue: queue, interventions: interventions, money: money, weather: weather, chain: chain, broken: broken, audit: audit, failures: failures };
  function route() {
    if (!me) return;
    var name = (location.hash || '#struggles').slice(1);
    if (!PAGES[name]) name = 'struggles';
    document.querySelectorAll('[data-page]').forEach(function (p) { p.hidden = p.getAttribute('data-page') !== name; });
    document.querySelectorAll('nav a').forEach(function (a) { if (a.getAttribute('href') === '#' + name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current'); });
    $('error').hidden = true;
    PAGES[name]();
  }
  window.addEventListener('hashchange', route);

  // Live struggles: one card per episode, updated in place as the burst grows.
  var refreshing = null;
  function struggles() { refreshStruggles(); refreshEvi(); }
  function refreshStruggles() {
    var q = [];
    if ($('f-value').value) q.push('min_value_cents=' + $('f-value').value);
    if ($('f-emotion').value) q.push('emotion=' + $('f-emotion').value);
    return S.api('/v1/struggles' + (q.length ? '?' + q.join('&') : '')).then(function (r) {
      var feed = $('feed'), keep = {};
      r.items.forEach(function (item, i) {
        var id = item.episode.id; keep[id] = 1;
        var card = feed.querySelector('[data-episode="' + CSS.escape(id) + '"]');
        var fresh = episodeCard(item);
        if (card) feed.replaceChild(fresh, card); else feed.insertBefore(fresh, feed.children[i] || null);
      });
      Array.prototype.slice.call(feed.querySelectorAll('[data-episode]')).forEach(function (c) { if (!keep[c.getAttribute('data-episode')]) c.remove(); });
      $('empty').hidden = r.items.length > 0;
    }).catch(showError);
  }
  ['f-value', 'f-emotion'].forEach(function (id) { $(id).addEventListener('change', refreshStruggles); });
  function episodeCard(item) {
    var e = item.episode, c = el('article', 'card' + (item.not_a_struggle ? ' calm' : ''));
    c.setAttribute('data-episode', e.id);
    var top = add(el('div', 'top'),
      el('span', 'badge', e.emotion),
      el('span', 'who', e.who),
      el('span', null, e.account || 'no account'),
      el('span', 'value', S.money(e.value_cents)),
      el('span', 'muted', 'in ' + (e.section || 'no section') + (item.page ? ' on ' + item.page : '') + ' · ' + S.time(e.last_ms)));
    c.appendChild(top);
    c.appendChild(el('div', 'confidence', 'confidence ' + e.confidences.map(function (x) { return S.pct(x); }).join(' → ')));
    var f = e.features || {}, p = el('div', 'physics');
    [['speed', S.num(f.peak_speed), 'px/s'], ['jerk', S.num(f.peak_jerk), 'px/s³'], ['entropy', S.num(f.entropy, 2), 'bits'], ['clicks', S.num(f.clicks), ''], ['spread', S.num(f.dispersion_px, 1), 'px']].forEach(function (x) {
      var s = el('span', null, x[0] + ' '); s.appendChild(el('b', null, x[1])); if (x[2]) s.appendChild(document.createTextNode(' ' + x[2])); p.appendChild(s);
    });
    c.appendChild(p);
    var done = [];
    item.interventions.forEach(function (i) { done.push('shown in the page: “' + i.text + '”'); });
    if (item.escalation) {
      var x = item.escalation;
      done.push(x.state === 'acknowledged' ? 'taken by ' + (x.acked_by || 'a colleague') : x.state === 'open' ? 'paging the escalation chain (step ' + x.step + ')' : 'nobody took it');
    }
    if (item.not_a_struggle) done.push('reported as not a struggle');
    c.appendChild(el('div', 'done', done.length ? 'Done: ' + done.join(' · ') : (e.identified ? 'Nothing done yet.' : 'Anonymous visitor: measured, never escalated.')));
    var open = el('a', null, 'Open the session'); open.href = '/session.html?s=' + encodeURIComponent(e.session);
    c.appendChild(open);
    return c;
  }
  function startLive() {
    if (live || !window.EventSource) return;
    live = new EventSource('/v1/live');
    live.onopen = function () { $('live-state').textContent = '● live'; };
    live.onerror = function () { $('live-state').textContent = '○ reconnecting'; };
    ['detection', 'intervention', 'alert'].forEach(function (k) {
      live.addEventListener(k, function () {
        if (refreshing) return;
        refreshing = setTimeout(function () { refreshing = null; if (!$('page-struggles').hidden) { refreshStruggles(); } }, 250);
      });
    });
    timers.push(setInterval(function () { if (!$('page-struggles').hidden) { refreshStruggles(); refreshEvi(); } }, 10000));
  }

  function eviChart(target, hours) {
    return S.api('/v1/evi?hours=' + hours).then(function (r) {
      var pts = [], lo = [], hi = [];
      r.series.forEach(function (b) { if (b.evi.status === 'estimate') { pts.push([b.start_ms, b.evi.value]); lo.push([b.start_ms, b.evi.low]); hi.push([b.start_ms, b.evi.high]); } });
      var box = clear(target);
      box.appendChild(S.chart({ label: 'EVI per hour with its 95% interval', xMin: r.series.length ? r.series[0].start_ms : undefined, xMax: r.now_ms, series: [{ name: 'EVI', color: '#ff7683', points: pts, low: lo, high: hi }], empty: 'no active session-minutes in this period', xFormat: hours > 48 ? function (x) { return new Date(x).toLocaleDateString(); } : undefined }));
      box.appendChild(S.legend([['EVI per hour (band: 95% interval)', '#ff7683']]));
      return r;
    });
  }
  function refreshEvi() {
    eviChart($('evi-chart'), 24).then(function (r) {
      $('evi-now').textContent = 'Last hour: EVI ' + S.figure(r.last_hour.evi, function (v) { return v.toFixed(1); }) + ' over ' + r.last_hour.minutes + ' active session-minutes.';
    }).catch(showError);
  }

  var accountSort = { key: 'value_cents', desc: true }, accountRows = [];
  var customerSort = { key: 'strength', desc: false }, customerRows = [];
  function sortRows(rows, sort) {
    var k = sort.key, d = sort.desc ? -1 : 1;
    rows.sort(function (a, b) { var x = a[k], y = b[k]; if (x == null) return 1; if (y == null) return -1; return (x < y ? -1 : x > y ? 1 : 0) * d; });
  }
  function accounts() {
    S.api('/v1/dashboard/accounts').then(function (r) {
      accountRows = r.items; drawAccounts();
      return S.api('/v1/customers?order=weakest&limit=500').then(function (c) {
        var byId = {};
        r.items.forEach(function (a) { byId[a.account] = a; });
        customerRows = c.items.map(function (x) { var a = byId[x.account] || {}; return { name: x.name || 'unnamed customer', account_name: a.name || x.account, value_cents: a.value_cents, strength: x.strength, segment: x.segment, last_seen_ms: x.last_seen_ms }; });
        drawCustomers();
      });
    }).catch(showError);
  }
  function drawCustomers() {
    sortRows(customerRows, customerSort);
    var body = clear($('customers'));
    customerRows.forEach(function (c) {
      add(body, add(el('tr'), el('td', null, c.name), el('td', null, c.account_name || '–'), el('td', null, S.money(c.value_cents)), el('td', null, S.num(c.strength)), el('td', null, String(c.segment).replace('_', ' ')), el('td', null, S.ago(c.last_seen_ms))));
    });
  }
  document.querySelectorAll('[data-csort]').forEach(function (b) {
    b.addEventListener('click', function () { var k = b.getAttribute('data-csort'); customerSort = { key: k, desc: customerSort.key === k ? !customerSort.desc : true }; drawCustomers(); });
  });
  function drawAccounts() {
    sortRows(accountRows, accountSort);
    var body = clear($('accounts'));
    accountRows.forEach(function (a) {
      var trend = a.trend == null ? '–' : (a.trend > 0 ? '▲ +' : a.trend < 0 ? '▼ ' : '') + S.num(a.trend, 1);
      add(body, add(el('tr'), el('td', null, a.name), el('td', null, S.money(a.value_cents)), el('td', null, S.money(a.recent_cents)), el('td', null, a.customers), el('td', null, a.strength == null ? '–' : S.num(a.strength)), el('td', null, trend)));
    });
  }
  document.querySelectorAll('[data-sort]').forEach(function (b) {
    b.addEventListener('click', function () { var k = b.getAttribute('data-sort'); accountSort = { key: k, desc: accountSort.key === k ? !accountSort.desc : true }; drawAccounts(); });
  });

  function segments() {
    S.api('/v1/segments').then(function (r) {
      var box = clear($('segments'));
      r.segments.forEach(function (s) {
        var d = el('div', 'stat'); add(d, el('b', null, S.num(s.customers)), el('span', null, String(s.segment).replace('_', ' ') + ' · ' + S.money(s.value_cents) + ' in accounts'));
        box.appendChild(d);
      });
    }).catch(showError);
  }

  function queue() {
    var st = $('q-state').value;
    S.api('/v1/cards?state=' + st + '&limit=50').then(function (r) {
      var box = clear($('queue'));
      if (!r.items.length) box.appendChild(el('p', 'muted', 'No ' + st + ' conversations.'));
      r.items.forEach(function (c) {
        var card = el('article', 'card');
        add(card, add(el('div', 'top'), el('span', 'badge', c.emotion), el('span', null, 'in ' + (c.section || 'no section')), el('span', 'muted', S.ago(c.created_ms))),
          add(el('blockquote'), el('span', null, c.opener)));
        var row = el('div', 'row');
        if (c.state === 'pending') { var t = el('button', null, 'I will call'); t.onclick = function () { move(c.id, 'action'); }; row.appendChild(t); }
        if (c.state !== 'completed') {
          ['saved', 'lost', 'no answer'].forEach(function (o) { var b = el('button', 'secondary', o); b.onclick = function () { move(c.id, 'complete', o.replace(' ', '_')); }; row.appendChild(b); });
        } else row.appendChild(el('span', 'muted', 'outcome: ' + (c.outcome || '–')));
        var open = el('a', null, 'session'); open.href = '/session.html?s=' + encodeURIComponent(c.session); row.appendChild(open);
        card.appendChild(row); box.appendChild(card);
      });
    }).catch(showError);
  }
  function move(id, verb, outcome) {
    S.api('/v1/cards/' + encodeURIComponent(id) + '/' + verb, { method: 'POST', body: outcome ? { outcome: outcome } : undefined }).then(queue).catch(showError);
  }
  $('q-state').addEventListener('change', queue);

  function interventions() {
    S.api('/v1/uplift').then(function (r) {
      var body = clear($('uplift'));
      if (!r.emotions.length) add(body, add(el('tr'), el('td', null, 'No decision has an outcome yet.')));
      r.emotions.forEach(function (e) {
        var u = e.uplift;
        add(body, add(el('tr'), el('td', null, e.emotion), el('td', null, e.treated.conversions + ' / ' + e.treated.n), el('td', null, e.holdout.conversions + ' / ' + e.holdout.n),
          el('td', null, u ? (u.uplift * 100).toFixed(1) + ' pts (' + (u.low * 100).toFixed(1) + ' to ' + (u.high * 100).toFixed(1) + ')' : 'too little data')));
      });
      $('policy').textContent = 'Holdout: ' + S.pct(r.holdout_share) + ' of decisions get no intervention; every uplift is measured against them.';
    }).catch(showError);
    S.api('/v1/variants').then(function (r) {
      var body = clear($('variants'));
      if (!r.variants.length) add(body, add(el('tr'), el('td', null, 'No variants: the default help message is shown.')));
      var counts = function (v) {
        var a = r.arms.filter(function (x) { return x.variant_id === v.id && x.emotion === v.emotion && x.section === v.section; });
        return [a.reduce(function (t, x) { return t + x.successes; }, 0), a.reduce(function (t, x) { return t + x.failures; }, 0)];
      };
      r.variants.forEach(function (v) {
        var peers = r.variants.filter(function (w) { return w.emotion === v.emotion && w.section === v.section; });
        var shares = allocation(peers.map(counts)), c = counts(v);
        add(body, add(el('tr'), el('td', null, v.emotion + ' · ' + (v.section || 'any section')), el('td', null, v.id + ' (' + v.kind + ')'), el('td', null, v.text || '–'), el('td', null, c[0] + ' / ' + c[1]),
          el('td', null, S.pct(shares[peers.indexOf(v)], 1))));
      });
    }).catch(showError);
    S.api('/v1/interventions?limit=20').then(function (r) {
      var body = clear($('pushed'));
      r.interventions.forEach(function (i) { add(body, add(el('tr'), el('td', null, S.ago(i.created_ms)), el('td', null, i.emotion), el('td', null, i.text))); });
    }).catch(showError);
  }

  // Thompson sampling's allocation: the chance each arm's Beta(1 + successes, 1 + failures)
  // posterior draws highest, P(i best) = ∫ f_i(x) Π_j≠i F_j(x) dx, integrated on a 2,000-point
  // grid (deterministic; no sampling).
  function allocation(arms) {
    var N = 2000, pmf = arms.map(function (c) {
      var a = c[0] + 1, b = c[1] + 1, logs = [], max = -Infinity, sum = 0, out = [];
      for (var k = 0; k < N; k++) { var x = (k + 0.5) / N, l = (a - 1) * Math.log(x) + (b - 1) * Math.log(1 - x); logs.push(l); if (l > max) max = l; }
      for (k = 0; k < N; k++) { out.push(Math.exp(logs[k] - max)); sum += out[k]; }
      return out.map(function (v) { return v / sum; });
    });
    var cdf = pmf.map(function (p) { var t = 0; return p.map(function (v) { t += v; return t - v / 2; }); });
    return pmf.map(function (p, i) {
      var share = 0;
      for (var k = 0; k < N; k++) { var prod = p[k]; for (var j = 0; j < arms.length; j++) if (j !== i) prod *= cdf[j][k]; share += prod; }
      return share;
    });
  }

  function money() {
    S.api('/v1/forensics').then(function (r) {
      var all = r.prevented[r.prevented.length - 1], usd = function (c) { return S.money(Math.round(c)); };
      var top = clear($('money-top'));
      // A money figure: the estimate big with its interval below, or "too little data" and why.
      var est = function (f, label) {
        if (f.status !== 'estimate') return ['too little data', label + ': ' + f.reason];
        return [usd(f.value), label + ' (95% ' + usd(f.low) + ' to ' + usd(f.high) + ')'];
      };
      [est(all.prevented_cents, 'prevented churn, last ' + r.days + ' days'), est(r.projection.quarter_cents, 'projected for a quarter'),
       [S.money(all.value_at_risk_cents), 'value at risk (treated accounts)'], [all.treated.n + ' / ' + all.holdout.n, 'treated / holdout decisions with outcomes (holdout ' + S.pct(r.holdout_share) + ')']].forEach(function (x) {
        add(top, add(el('div', 'stat'), el('b', null, x[0]), el('span', null, x[1])));
      });
      var body = clear($('prevented'));
      r.prevented.forEach(function (p) {
        add(body, add(el('tr'), el('td', null, p.emotion), el('td', null, p.treated.conversions + ' / ' + p.treated.n), el('td', null, p.holdout.conversions + ' / ' + p.holdout.n),
          el('td', null, S.figure(p.uplift, function (v) { return (v * 100).toFixed(1) + ' pts'; })), el('td', null, S.money(p.value_at_risk_cents)), el('td', null, S.figure(p.prevented_cents, usd))));
      });
      var cb = clear($('correlations'));
      if (!r.correlations.length) add(cb, add(el('tr'), el('td', null, 'No decision has an outcome yet.')));
      r.correlations.forEach(function (c) {
        add(cb, add(el('tr'), el('td', null, c.emotion), el('td', null, c.section || '–'), el('td', null, c.all.n), el('td', null, S.figure(c.conversion, function (v) { return S.pct(v, 1); })),
          el('td', null, c.all.churned), el('td', null, S.figure(c.baseline, function (v) { return S.pct(v, 1); }))));
      });
    }).catch(showError);
  }

  function weather() {
    S.api('/v1/weather').then(function (w) {
      var box = clear($('weather'));
      add(box, el('p', 'big', w.sky ? w.sky : 'no weather'), el('p', null, w.summary));
      var em = Object.keys(w.emotions);
      if (em.length) box.appendChild(el('p', 'muted', 'Struggles: ' + em.map(function (k) { return k + ' ' + w.emotions[k]; }).join(', ')));
      if (w.sections.length) box.appendChild(el('p', 'muted', 'Where: ' + w.sections.map(function (s) { return s[0] + ' (' + s[1] + ')'; }).join(', ')));
      box.appendChild(el('p', 'muted', 'The week before: EVI ' + S.figure(w.week_before, function (v) { return v.toFixed(1); }) + '. JSON: /v1/weather?day=' + w.day));
    }).catch(showError);
    eviChart($('evi-week'), 168).catch(showError);
  }

  function chain() {
    S.api('/v1/contacts').then(function (r) {
      var names = {}, body = clear($('contacts'));
      r.contacts.forEach(function (c, i) {
        names['contact:' + c.id] = c.name + (c.role ? ' (' + c.role + ')' : '');
        var chans = [c.channel].concat(c.fallbacks.map(function (f) { return f.channel; })).join(' → ');
        add(body, add(el('tr'), el('td', null, i + 1), el('td', null, c.name), el('td', null, c.role || '–'), el('td', null, chans), el('td', null, S.money(c.min_value_cents))));
      });
      if (me && me.actor) names[me.actor] = me.email || 'you';
      return S.api('/v1/escalations?limit=20').then(function (r2) {
        var eb = clear($('escalations'));
        r2.items.forEach(function (e) {
          var by = !e.acked_by ? '–' : names[e.acked_by] || (e.acked_by.indexOf('user:') === 0 ? 'a dashboard user' : e.acked_by.indexOf('key:') === 0 ? 'the backend' : 'a former contact');
          var tr = add(el('tr'), el('td', null, S.ago(e.created_ms)), el('td', null, e.person_name), el('td', null, e.account_name), el('td', null, S.money(e.value_cents)),
            el('td', null, e.emotion + ' in ' + (e.section || 'no section')), el('td', 'status', e.state), el('td', null, by));
          var td = el('td'), open = el('a', null, 'session'); open.href = '/session.html?s=' + encodeURIComponent(e.session); td.appendChild(open);
          tr.appendChild(td); eb.appendChild(tr);
        });
      });
    }).catch(showError);
  }

  // The crowd's findings: spots where many visitors' clicks go unanswered, the most visited first.
  function broken() {
    S.api('/v1/dashboard/broken-controls').then(function (r) {
      var body = clear($('broken'));
      if (!r.spots.length) {
        var none = el('td', 'muted', 'No broken controls found yet: a spot needs 5 visitors, half of them unanswered.');
        none.colSpan = 5;
        add(body, add(el('tr'), none));
      }
      r.spots.forEach(function (s) {
        var held = s.held_back ? s.held_back + ' (latest ' + S.ago(s.last_held_ms) + ')' : 'none';
        add(body, add(el('tr'), el('td', null, s.page), el('td', null, 'x ' + s.x + ', y ' + s.y + ' (16 px square)'), el('td', null, S.num(s.visitors, 1)),
          el('td', null, S.pct(s.unanswered_share)), el('td', null, held)));
      });
    }).catch(showError);
  }

  function audit() {
    S.api('/v1/audit?limit=100').then(function (r) {
      var body = clear($('audit'));
      r.items.forEach(function (a) { add(body, add(el('tr'), el('td', null, new Date(a.at_ms).toLocaleString()), el('td', null, a.actor), el('td', null, a.action), el('td', null, a.target))); });
    }).catch(showError);
  }

  function failures() {
    S.api('/v1/failures').then(function (r) {
      $('public-toggle').checked = r.public;
      FailurePage.render($('failures'), r.page);
    }).catch(showError);
  }
  $('public-toggle').addEventListener('change', function () {
    S.api('/v1/failures/public', { method: 'PUT', body: { public: $('public-toggle').checked } }).catch(showError);
  });

  start();
})();
