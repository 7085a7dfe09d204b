// Microsoft Clarity's tracker (clarity-js, the code the clarity.ms tag loads), uploading to the
// sink. Rage and dead clicks are computed by Clarity's servers, not in the page.
import { clarity } from 'clarity-js';

clarity.start({ projectId: 'bench', upload: SINK + '/clarity/collect', track: true, content: true });
