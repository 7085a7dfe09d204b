// The business dashboard: live confirmed detections with who, what they are worth, where, how
// sure, and the physics behind it; interventions and alerts; escalations and who took them (a
// member can take an open one); and every failure counted.
// Everything is inserted as text (never as HTML).
(function () {
  'use strict';
  var hashKey = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
  if (hashKey) { localStorage.setItem('siq.key', decodeURIComponent(hashKey[1])); history.replaceState(null, '', location.pathname); }
  var key = localStorage.getItem('siq.key');
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = String(text); return e; }
  function money(c) { return '$' + Math.floor((c || 0) / 100).toLocaleString('en-US'); }
  function num(v, d) { return v == null ? '–' : Number(v).toLocaleString('en-US', { maximumFractionDigits: d || 0 }); }
  function time(ms) { return new Date(ms).toLocaleTimeString(); }
  function api(path, method) {
    return fetch(path, { method: method || 'GET', headers: { Authorization: 'Bearer ' + key } }).then(function (r) {
      if (r.status === 401) { localStorage.removeItem('siq.key'); throw new Error('That secret key is not valid.'); }
      if (!r.ok) throw new Error(path + ' answered ' + r.status);
      return r.json();
    });
  }
  function showError(e) { $('error').hidden = false; $('error').textContent = e.message || String(e); }

  if (!key) {
    $('key-form').hidden = false;
    $('live-state').textContent = '';
    $('key-form').addEventListener('submit', function (ev) { ev.preventDefault(); localStorage.setItem('siq.key', $('key-input').value.trim()); location.reload(); });
    return;
  }

  var STATS = [
    ['frames', 'frames received'], ['confirmed', 'detections confirmed'], ['interventions', 'interventions pushed'],
    ['alerts_sent', 'alerts delivered'], ['overturned', 'client claims overturned', 1], ['disagreed', 'confidence disagreements', 1],
    ['alerts_failed', 'alerts failed', 1], ['identity_rejected', 'identity tokens refused', 1], ['persist_failed', 'storage failures', 1], ['duplicates', 'duplicate frames'],
    ['escalations', 'escalations opened'], ['escalations_acked', 'escalations acknowledged'], ['escalations_exhausted', 'escalations nobody took', 1],
    ['held_out', 'held out (control)'], ['cards', 'cards queued'], ['card_model_failed', 'card openers the model failed', 1],
    ['outcomes', 'outcomes from pages'], ['notes_refused', 'page notes refused', 1]
  ];
  function renderStats(s) {
    $('tenant').textContent = s.tenant ? s.tenant.name : '';
    var box = $('stats'); box.textContent = '';
    STATS.forEach(function (d) {
      var c = el('div', 'stat' + (d[2] && s[d[0]] > 0 ? ' bad' : ''));
      c.appendChild(el('b', null, num(s[d[0]]))); c.appendChild(el('span', null, d[1])); box.appendChild(c);
    });
  }
  function refreshStats() { api('/v1/stats').then(renderStats).catch(showError); }

  var seen = {};
  function add(card, id, atTop) {
    if (id && seen[id]) return; if (id) seen[id] = 1;
    $('empty').hidden = true;
    var feed = $('feed');
    if (atTop) feed.insertBefore(card, feed.firstChild); else feed.appendChild(card);
  }
  function detectionCard(d) {
    var c = el('article', 'card detection');
    c.setAttribute('data-detection', d.session + ':' + d.seq);
    var top = el('div', 'top');
    top.appendChild(el('span', 'emotion', d.emotion));
    top.appendChild(el('span', 'who', d.user_name || d.user || 'anonymous visitor'));
    top.appendChild(el('span', null, d.account_name || d.account || 'no account'));
    top.appendChild(el('span', null, money(d.value_cents) + ' lifetime value'));
    top.appendChild(el('span', 'muted', 'in ' + (d.section || 'no section') + ' · ' + Math.round(d.confidence * 100) + '% confidence · ' + time(d.created_ms)));
    c.appendChild(top);
    var f = d.features || {}, p = el('div', 'physics');
    [['velocity', num(f.peak_speed), 'px/s'], ['jerk', num(f.peak_jerk), 'px/s³'], ['entropy', num(f.entropy, 2), ''], ['clicks', num(f.clicks), ''],
     ['interval', num(f.mean_ici_ms), 'ms'], ['spread', num(f.dispersion_px, 1), 'px']].forEach(function (x) {
      var s = el('span', null, x[0] + ' '); s.appendChild(el('b', null, x[1])); if (x[2]) s.appendChild(document.createTextNode(' ' + x[2])); p.appendChild(s);
    });
    c.appendChild(p);
    c.appendChild(el('div', 'muted', 'session ' + d.session + ' · client claimed ' + Math.round(d.client_confidence * 100) + '%'));
    return c;
  }
  function interventionCard(i) {
    var c = el('article', 'card intervention');
    c.appendChild(el('div', null, 'Intervention shown in session ' + i.session + ': “' + i.text + '”'));
    c.appendChild(el('div', 'muted', time(i.created_ms)));
    return c;
  }
  function alertCard(a) {
    var c = el('article', 'card alert');
    c.appendChild(el('div', null, (a.status === 'sent' ? 'Paged ' : 'FAILED to page ') + a.address + ' by ' + a.channel + ' about session ' + a.session + (a.error ? ' — ' + a.error : '')));
    c.appendChild(el('div', 'muted', a.channel + ' · ' + a.attempts + ' attempt(s) · ' + time(a.created_ms)));
    return c;
  }

  function escalationRow(e) {
    var tr = document.createElement('tr');
    tr.className = 'escalation ' + e.state;
    [time(e.created_ms), e.person_name || e.sub || '–', e.account_name || '–', money(e.value_cents), e.emotion + ' in ' + (e.section || 'no section'),
     e.state, String(e.step), e.acked_by || '–'].forEach(function (v) { tr.appendChild(el('td', null, v)); });
    var td = el('td');
    if (e.state === 'open') {
      var b = el('button', null, 'Take it');
      b.addEventListener('click', function () { b.disabled = true; api('/v1/escalations/' + encodeURIComponent(e.id) + '/ack', 'POST').then(refreshEscalations).catch(showError); });
      td.appendChild(b);
    }
    tr.appendChild(td);
    return tr;
  }
  function refreshEscalations() {
    return api('/v1/escalations?limit=20').then(function (r) {
      var body = $('escalations'); body.textContent = '';
      r.items.forEach(function (e) { body.appendChild(escalationRow(e)); });
      $('no-escalations').hidden = r.items.length > 0;
    }).catch(showError);
  }
  refreshEscalations();
  setInterval(refreshEscalations, 2000);

  api('/v1/detections?limit=50').then(function (r) { r.detections.forEach(function (d) { add(detectionCard(d), 'd' + d.session + d.seq); }); }).catch(showError);
  refreshStats();
  setInterval(refreshStats, 2000);

  // Live events: server-sent events read through fetch so the key travels in a header.
  function live(delay) {
    fetch('/v1/live', { headers: { Authorization: 'Bearer ' + key } }).then(function (r) {
      if (!r.ok || !r.body) throw new Error('live feed answered ' + r.status);
      $('live-state').textContent = '● live';
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = '';
      function pump() {
        return reader.read().then(function (x) {
          if (x.done) throw new Error('live feed closed');
          buf += dec.decode(x.value, { stream: true });
          var parts = buf.split('\n\n'); buf = parts.pop();
          parts.forEach(function (msg) {
            var ev = /^event: ?(.*)$/m.exec(msg), data = /^data: ?(.*)$/m.exec(msg);
            if (!ev || !data) return;
            var d = JSON.parse(data[1]);
            if (ev[1] === 'detection') add(detectionCard(d), 'd' + d.session + d.seq, true);
            else if (ev[1] === 'intervention') add(interventionCard(d), 'i' + d.id, true);
            else if (ev[1] === 'alert') add(alertCard(d), 'a' + d.id, true);
          });
          return pump();
        });
      }
      delay = 1000;
      return pump();
    }).catch(function (e) {
      $('live-state').textContent = '○ reconnecting (' + (e.message || e) + ')';
      setTimeout(function () { live(Math.min(delay * 2, 30000)); }, delay);
    });
  }
  live(1000);
})();
