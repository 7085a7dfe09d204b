// The failure page: how the product failed a tenant, counted, with no personal data. Shown in
// the dashboard and, when the tenant publishes it, to anyone at /failures.html?t=… .
var FailurePage = (function () {
  'use strict';
  var S = SIQ, el = S.el, add = S.add;
  function ms(v) { return v == null ? '–' : S.num(v) + ' ms'; }
  function render(box, p) {
    S.clear(box);
    var items = [
      [p.false_positives, 'detections reported as not a struggle', p.false_positives > 0],
      [S.figure(p.false_positive_share, function (v) { return S.pct(v, 1); }), 'of ' + S.num(p.detections) + ' confirmed detections (a floor)'],
      [(p.misses.stuck || 0) + (p.misses.frustrated || 0), 'missed: a customer said stuck or frustrated and we saw nothing', ((p.misses.stuck || 0) + (p.misses.frustrated || 0)) > 0],
      [p.alerts_failed + ' / ' + p.alerts, 'alerts that failed to deliver', p.alerts_failed > 0],
      [p.late_acknowledgements + ' / ' + p.escalations, 'escalations taken after 60 s or never', p.late_acknowledgements > 0],
      [p.exhausted, 'escalations nobody took', p.exhausted > 0],
      [ms(p.detection_to_intervention.p50_ms) + ' / ' + ms(p.detection_to_intervention.p95_ms), 'detection → intervention, p50 / p95 (server)'],
      [ms(p.detection_to_alert.p50_ms) + ' / ' + ms(p.detection_to_alert.p95_ms), 'detection → alert delivered, p50 / p95'],
      [S.figure(p.minutes_interrupted, function (v) { return S.pct(v, 2); }), 'of ' + S.num(p.active_minutes) + ' active session-minutes got an intervention'],
      [p.storage.frames_unstored, 'frames this server could not store at once (the pages resent them)', p.storage.frames_unstored > 0],
      [p.storage.events_given_up + p.storage.events_refused, 'events this server gave up on (their frames were not acknowledged)', p.storage.events_given_up + p.storage.events_refused > 0],
      [p.storage.events_redelivered, 'events the database refused for a while (stored later)', p.storage.events_redelivered > 0],
      [p.up_since_ms ? S.ago(p.up_since_ms).replace(' ago', '') : '–', 'this server up']
    ];
    items.forEach(function (i) { add(box, add(el('div', 'stat' + (i[2] ? ' bad' : '')), el('b', null, i[0]), el('span', null, i[1]))); });
    var days = Object.keys(p.false_positives_by_day).sort();
    if (days.length) {
      var d = el('div', 'panel');
      d.appendChild(S.chart({ label: 'False positives per day', height: 140, series: [{ color: '#ff7683', bars: true, points: days.map(function (k) { return [Date.parse(k + 'T12:00:00Z'), p.false_positives_by_day[k]]; }) }], xFormat: function (x) { return new Date(x).toISOString().slice(0, 10); } }));
      d.appendChild(S.legend([['false positives reported per day', '#ff7683']]));
      box.appendChild(d);
    }
  }
  return { render: render };
})();
