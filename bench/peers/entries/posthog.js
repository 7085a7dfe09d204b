// posthog-js as its docs install it from npm, with autocapture, rage clicks and dead clicks on;
// session recording off (its smallest configuration that detects rage). Everything it sends,
// and the scripts it loads later, go to the bench's sink (SINK).
import posthog from 'posthog-js';

posthog.init('phc_bench', {
  api_host: SINK,
  autocapture: true,
  rageclick: true,
  capture_dead_clicks: true,
  disable_session_recording: true,
  persistence: 'memory',
  // posthog-js drops events from headless browsers by default; the bench is one.
  opt_out_useragent_filter: true,
  before_send: (event) => {
    if (event && (event.event === '$rageclick' || event.event === '$dead_click')) window.__bench.fired(event.event);
    return event;
  },
});
