// The one-click session view an alerted human opens: the signed link's query is passed on to
// the API as it is. Opening an alert's link acknowledges the escalation for the person paged
// (its `e`, `c` and `ack` parameters), so nobody further down the chain is paged. Text only,
// never HTML.
(function () {
  'use strict';
  var id = location.pathname.split('/').pop();
  var $ = function (x) { return document.getElementById(x); };
  function el(tag, text) { var e = document.createElement(tag); e.textContent = text == null ? '' : String(text); return e; }
  function stat(value, label) { var d = document.createElement('div'); d.className = 'stat'; d.appendChild(el('b', value)); d.appendChild(el('span', label)); return d; }
  function load() {
    fetch('/v1/sessions/' + encodeURIComponent(id) + location.search).then(function (r) {
      if (!r.ok) return r.json().then(function (e) { throw new Error(e.message || r.status); });
      return r.json();
    }).then(function (v) {
      var who = $('who'); who.textContent = '';
      who.appendChild(stat(v.session.user || 'anonymous', 'person'));
      who.appendChild(stat(v.account ? v.account.name : (v.session.account || '–'), 'account'));
      who.appendChild(stat(v.account ? '$' + Math.floor(v.account.value_cents / 100).toLocaleString('en-US') : '–', 'lifetime value'));
      who.appendChild(stat(v.session.page, 'page'));
      var rows = $('rows'); rows.textContent = '';
      v.detections.forEach(function (d) {
        var tr = document.createElement('tr'), f = d.features || {};
        [new Date(d.created_ms).toLocaleTimeString(), d.emotion, d.section || '–', Math.round(d.confidence * 100) + '%',
         Math.round(f.peak_speed || 0), Math.round(f.peak_jerk || 0), (f.entropy || 0).toFixed(2), f.clicks].forEach(function (c) { tr.appendChild(el('td', c)); });
        rows.appendChild(tr);
      });
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    }).catch(function (e) { $('error').hidden = false; $('error').textContent = e.message; });
  }
  function acknowledge() {
    var q = new URLSearchParams(location.search);
    if (!q.get('e') || !q.get('c') || !q.get('ack')) return;
    var body = { t: q.get('t'), e: q.get('e'), c: q.get('c'), exp: Number(q.get('exp')), ack: q.get('ack') };
    fetch('/v1/ack', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(function (r) {
      return r.json().then(function (v) { if (!r.ok) throw new Error(v.message || r.status); return v; });
    }).then(function (v) {
      var a = $('ack'); a.hidden = false;
      if (v.acknowledged) a.textContent = 'Acknowledged: it is yours, nobody else will be paged.';
      else if (v.state === 'acknowledged') a.textContent = 'Already taken by ' + (v.acked_by || 'a colleague') + '.';
      else a.textContent = 'This escalation is ' + v.state + '.';
    }).catch(function (e) { $('error').hidden = false; $('error').textContent = 'Acknowledgement failed: ' + e.message; });
  }
  acknowledge();
  load();
  setInterval(load, 2000);
})();
