/** A CRF worker: builds the lattices for each job's image and runs mean field, off the event loop. */
import { parentPort } from 'node:worker_threads';
import type { CrfJob, CrfReply } from './crfProtocol.js';
import { runCrf } from './reducedResolution.js';

const port = parentPort!;
port.on('message', (job: CrfJob) => {
  try {
    const result = runCrf(job.image, job.width, job.height, job.probabilities, job.classes, job.params, job.initialQ);
    const reply: CrfReply = { id: job.id, ok: true, q: result.q, labels: result.labels, setupMs: result.setupMs, inferenceMs: result.inferenceMs, activeLabels: result.activeLabels };
    port.postMessage(reply, [result.q.buffer as ArrayBuffer, result.labels.buffer as ArrayBuffer]);
  } catch (error) {
    port.postMessage({ id: job.id, ok: false, message: (error as Error).message } satisfies CrfReply);
  }
});
