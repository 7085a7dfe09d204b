// The session view, phone first: the target of an alert's one-click link (`/s/{session}?…`)
// and of the dashboard (`/session.html?s=…`, signed in). Opening it changes nothing: "I've got
// it" acknowledges by a tap. A link's `sig` lets its holder view; its `ack` lets the contact
// it was sent to act. Names, never ids. Text only, never HTML.
(function () {
  'use strict';
  var S = SIQ, el = S.el, add = S.add, clear = S.clear;
  var $ = function (x) { return document.getElementById(x); };
  var byLink = location.pathname.indexOf('/s/') === 0;
  var id = byLink ? location.pathname.split('/').pop() : new URLSearchParams(location.search).get('s');
  var read = byLink ? '/v1/sessions/' + encodeURIComponent(id) + location.search : '/v1/dashboard/sessions/' + encodeURIComponent(id);
  var act = byLink ? '/v1/sessions/' + encodeURIComponent(id) + '/actions' + location.search : '/v1/dashboard/sessions/' + encodeURIComponent(id) + '/actions';
  var view = null;

  function fail(e) { $('error').hidden = false; $('error').textContent = (e && e.message) || String(e); }
  function said(text) { $('said').hidden = false; $('said').textContent = text; }

  function plot(t) {
    var box = clear($('plot'));
    if (!t.points.length) { box.appendChild(el('p', 'muted', 'No pointer samples came with the detections.')); return; }
    var t0 = t.points[0].t, maxSpeed = 1, maxJerk = 1;
    t.points.forEach(function (p) { maxSpeed = Math.max(maxSpeed, p.speed); maxJerk = Math.max(maxJerk, p.jerk); });
    // Each line on its own scale (0..1 of its peak); the legend gives the peaks.
    var rel = function (f, max) { return t.points.map(function (p) { return [p.t - t0, f(p) / max]; }); };
    var series = [
      { color: '#7cc4ff', points: rel(function (p) { return p.speed; }, maxSpeed) },
      { color: '#f5b14c', points: rel(function (p) { return p.jerk; }, maxJerk) },
      { color: '#c39bff', points: rel(function (p) { return p.entropy; }, 3) },
      { color: '#e7e9f3', ticks: true, points: t.clicks.map(function (c) { return [c - t0, 0]; }) }
    ];
    var marks = t.marks.map(function (m) { return { x: m.t - t0, label: m.emotion + ' ' + Math.round(m.confidence * 100) + '%' }; });
    box.appendChild(S.chart({ label: 'Pointer speed, jerk and direction entropy over time, clicks and detections marked', width: 360, height: 190, yMax: 1, yFormat: function () { return 'peak'; },
      series: series, marks: marks, xFormat: function (x) { return (x / 1000).toFixed(1) + ' s'; } }));
    box.appendChild(S.legend([['speed (peak ' + S.num(maxSpeed) + ' px/s)', '#7cc4ff'], ['jerk (peak ' + S.num(maxJerk) + ' px/s³)', '#f5b14c'], ['direction entropy (of 3 bits)', '#c39bff'], ['clicks', '#e7e9f3'], ['detections', '#ff7683']]));
  }

  function render(v) {
    view = v;
    var p = v.person;
    $('person').textContent = p.name;
    var acct = v.account ? v.account.name + ' · ' + S.money(v.account.value_cents) + ' lifetime value' : 'No account known';
    $('account').textContent = acct + (p.company ? ' · ' + p.company : '') + ' · on ' + v.session.page;
    var contact = clear($('contact'));
    if (p.email) { var m = el('a', null, 'Email ' + p.email); m.href = 'mailto:' + p.email; contact.appendChild(m); }
    if (p.phone) { var c = el('a', null, 'Call ' + p.phone); c.href = 'tel:' + p.phone; contact.appendChild(c); }
    var e = v.escalation;
    $('escalation').textContent = !e ? (p.identified ? 'Nobody was paged.' : 'Anonymous visitor: measured, never escalated.')
      : e.state === 'acknowledged' ? 'Taken by ' + (e.acked_by || 'a colleague') + '.'
      : e.state === 'open' ? 'Paging the escalation chain: nobody has taken it yet.' : 'Everyone was paged; nobody took it.';
    $('actions').hidden = !v.can_act;
    $('ack').hidden = !e || e.state !== 'open';
    plot(v.trace);
    var list = clear($('detections'));
    v.detections.forEach(function (d) {
      var f = d.features || {};
      var text = S.time(d.created_ms) + ' · ' + d.emotion + ' ' + S.pct(d.confidence) + ' in ' + (d.section || 'no section') + ' · ' + S.num(f.clicks) + ' clicks, peak ' + S.num(f.peak_speed) + ' px/s';
      var li = el('li', null, text + (v.not_a_struggle.indexOf(d.seq) >= 0 ? ' · reported as not a struggle' : ''));
      list.appendChild(li);
    });
    $('opener-box').hidden = !v.opener;
    if (v.opener) $('opener').textContent = v.opener.text;
    var s = v.strength;
    $('strength').textContent = s ? S.num(s.score) + ' / 100 · ' + String(s.segment).replace('_', ' ') : 'Not scored yet.';
    var fl = clear($('factors'));
    ((s && s.factors) || []).forEach(function (f) { fl.appendChild(el('li', null, String(f.name) + ': ' + S.num(f.contribution, 1) + ' of ' + S.num(f.max) + (f.reason ? ' — ' + f.reason : ''))); });
    $('context').textContent = v.context ? 'They said: “' + v.context.state + '”' : 'Nothing shared.';
    var shown = clear($('shown'));
    v.interventions.forEach(function (i) { shown.appendChild(el('li', null, S.time(i.created_ms) + ': “' + i.text + '”')); });
    if (!v.interventions.length) shown.appendChild(el('li', 'muted', 'Nothing yet.'));
    $('updated').textContent = 'updated ' + S.time(Date.now());
  }

  function load() { return S.api(read, { quiet: true }).then(render).catch(fail); }
  function doAction(action, button, done) {
    button.disabled = true;
    var body = { action: action };
    if (action === 'not_a_struggle' && view && view.detections.length) body.seq = view.detections[0].seq;
    S.api(act, { method: 'POST', body: body }).then(function (r) { said(done(r)); return load(); }).catch(fail).then(function () { button.disabled = false; });
  }
  $('ack').addEventListener('click', function () {
    doAction('acknowledge', $('ack'), function (r) { return r.acknowledged ? 'It is yours: nobody else will be paged.' : 'Already taken by ' + (r.acked_by || 'a colleague') + '.'; });
  });
  $('help').addEventListener('click', function () { doAction('send_help', $('help'), function (r) { return 'Shown in their page: “' + r.text + '”'; }); });
  $('fp').addEventListener('click', function () { doAction('not_a_struggle', $('fp'), function (r) { return r.reported ? 'Thanks: counted as a false positive on the failure page.' : 'Already reported.'; }); });

  var ready = byLink ? Promise.resolve() : S.api('/v1/dashboard/me', { quiet: true }).then(function (m) { S.state.csrf = m.csrf; });
  ready.then(load).catch(function () { fail(new Error('Sign in on the dashboard first.')); });
  setInterval(load, 3000);
})();
