// What a user of the package writes: import, init with the tenant's key and the host that
// serves the SDK, identify, and report outcomes and state.
import { init, identify, track, context, destroy } from 'sentientiq';

const started = init({ key: import.meta.env.VITE_SIQ_KEY, host: import.meta.env.VITE_SIQ_HOST });
identify(null);
track('plans-viewed');
context('exploring');

window.__app = { started, destroy, interventions: [] };
addEventListener('sentientiq:intervene', (e) => window.__app.interventions.push(e.detail));
document.getElementById('status').textContent = started ? 'sentientiq started' : 'sentientiq not started';
