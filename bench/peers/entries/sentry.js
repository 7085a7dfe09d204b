// @sentry/browser with the session replay integration (every session recorded), sending
// envelopes to the sink. Replay's click detector reports slow (dead) clicks and rage
// (a slow click clicked 3+ times) as breadcrumbs in the recording.
import * as Sentry from '@sentry/browser';

Sentry.init({
  dsn: SINK.replace('//', '//public@') + '/1',
  integrations: [
    Sentry.replayIntegration({
      beforeAddRecordingEvent: (event) => {
        const p = event && event.data && event.data.payload;
        if (p && p.category === 'ui.slowClickDetected') window.__bench.fired(p.data && p.data.clickCount >= 3 ? 'rage' : 'dead');
        if (p && p.category === 'ui.multiClick') window.__bench.fired('multiClick');
        return event;
      },
    }),
  ],
  replaysSessionSampleRate: 1.0,
  replaysOnErrorSampleRate: 1.0,
});
