/**
 * A CRF worker: builds the lattices for each job's image and runs mean field, off the event loop.
 * It keeps what carries from frame to frame: the WebAssembly workspace (the position-only lattice,
 * grown memory, and with `threads: 2` a helper thread that runs half of every step) and each
 * stream's previous Q for the warm start.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { CrfJob, CrfReply } from './crfProtocol.js';
import { toErrorEnvelope, UsageError } from '../core/errors.js';
import { CrfWorkspace } from './crfWorkspace.js';
import { CrfMemoryLimitError, latticeModule, offerHelper } from './wasmModule.js';
import { runCrf, type RunCrfOptions } from './reducedResolution.js';
import { restartStream, type WarmStartState } from './warmStart.js';

const port = parentPort!;
const { threads = 1, helper } = (workerData as { threads?: number; helper?: MessagePort } | null) ?? {};
// A helper thread the runner booted alongside this one: the first two-core engine takes it.
if (helper) offerHelper(helper);
const workspace = new CrfWorkspace({ threads });
const streams = new Map<string, WarmStartState>();
try {
  const module = latticeModule();
  if (module) workspace.startThreads(module);
} catch {
  // The first frame starts the threads again and reports what fails.
}

port.on('message', (job: CrfJob) => {
  try {
    let warmStart: RunCrfOptions['warmStart'];
    if (job.warmStart) {
      const { streamId, restart, ...settings } = job.warmStart;
      const state = streams.get(streamId) ?? { previous: null };
      if (restart) restartStream(state);
      streams.set(streamId, state);
      warmStart = { settings, state };
    }
    const result = runCrf(job.image, job.width, job.height, job.probabilities, job.classes, job.params, {
      workspace,
      labelsOnly: !job.wantQ,
      ...(warmStart ? { warmStart } : {}),
    });
    const reply: CrfReply = {
      id: job.id,
      ok: true,
      labels: result.labels,
      setupMs: result.setupMs,
      inferenceMs: result.inferenceMs,
      activeLabels: result.activeLabels,
      iterations: result.iterations,
      warm: result.warm,
      activePixels: result.activePixels,
      points: result.points,
      ...(job.wantQ && result.q ? { q: result.q } : {}),
    };
    port.postMessage(reply, [
      result.labels.buffer as ArrayBuffer,
      ...(job.wantQ && result.q ? [result.q.buffer as ArrayBuffer] : []),
    ]);
  } catch (error) {
    const tooLarge =
      error instanceof CrfMemoryLimitError
        ? new UsageError(
            `a ${job.width}x${job.height} frame with ${job.classes} labels is too large for the CRF (${error.message}): run it at reduced resolution (--crf-scale 0.5 or lower)`,
          )
        : null;
    port.postMessage({ id: job.id, ok: false, error: toErrorEnvelope(tooLarge ?? error) } satisfies CrfReply);
  }
});
