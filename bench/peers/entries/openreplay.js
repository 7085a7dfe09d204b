// OpenReplay's tracker, ingesting into the sink (which answers /v1/web/start as its backend
// would). Click rage is computed by OpenReplay's backend, not in the page.
import Tracker from '@openreplay/tracker';

const tracker = new Tracker({ projectKey: 'bench', ingestPoint: SINK + '/ingest', __DISABLE_SECURE_MODE: true });
tracker.start();
