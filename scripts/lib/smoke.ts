// The smoke test after a deploy or a rollback: through the edge, as a user would come.
import { labUrl } from './lab-context.js';
import { LabClient, labHttp } from './lab-https.js';
import { ServiceFailure } from './lab-swarm.js';

/** Through the edge: HTTPS with the lab CA answers /readyz, plain HTTP redirects to HTTPS. */
export async function smokeTest(timeoutMs = 90_000) {
  const client = new LabClient();
  const deadline = Date.now() + timeoutMs;
  let problem = '';
  try {
    while (Date.now() < deadline) {
      try {
        const ready = await client.request({ host: 'api', path: '/readyz' });
        const redirect = await labHttp('api', '/readyz');
        const location = String(redirect.headers.location ?? '');
        if (ready.status === 200 && redirect.status >= 301 && redirect.status <= 308 && location.startsWith('https://'))
          return `GET ${labUrl('api')}/readyz 200, http → ${location}`;
        problem = `readyz ${ready.status}, http ${redirect.status} ${location}`;
      } catch (error) {
        problem = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  } finally {
    client.close();
  }
  throw new ServiceFailure('api', `smoke test through the edge failed for ${timeoutMs / 1000} s: ${problem}`);
}
