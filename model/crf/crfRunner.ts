/**
 * Runs dense-CRF jobs on worker threads, so the event loop never waits on mean-field inference.
 * With several workers, independent frames run side by side; a stream's warm-started frames all go
 * to the same worker (it holds the stream's previous Q), in the order they were sent.
 *
 *   const runner = CrfRunner.start(2); await runner.run({ image, width, height, probabilities, classes, params }); await runner.close();
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../startWorker.js';
import { UsageError } from '../../pipeline/errors.js';
import type { CrfJob, CrfReply } from './crfProtocol.js';

export type CrfOutcome = Extract<CrfReply, { ok: true }>;

export class CrfRunner {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: CrfOutcome) => void; reject: (e: Error) => void; worker: Worker }>();
  /** Which worker holds each warm-started stream's state. */
  private readonly streamWorker = new Map<string, Worker>();

  private constructor(private readonly workers: readonly Worker[]) {
    for (const worker of workers) {
      worker.on('message', (reply: CrfReply) => {
        const waiter = this.pending.get(reply.id);
        if (!waiter) return;
        this.pending.delete(reply.id);
        if (reply.ok) waiter.resolve(reply);
        else if (reply.kind === 'input') waiter.reject(new UsageError(reply.message));
        else waiter.reject(Object.assign(new Error(`CRF failed: ${reply.message}`), reply.stack ? { stack: `Error: CRF failed: ${reply.stack}` } : {}));
      });
      worker.on('error', (error) => {
        for (const [id, w] of this.pending) {
          if (w.worker !== worker) continue;
          this.pending.delete(id);
          w.reject(new Error(`CRF worker crashed: ${error.message}`));
        }
      });
    }
  }

  /**
   * `workers` CRF threads, each running its frames on `threadsPerWorker` cores (default: the cores
   * shared out, so one worker on two cores runs every frame on both).
   */
  static start(workers = 1, threadsPerWorker = Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, workers)))): CrfRunner {
    return new CrfRunner(Array.from({ length: Math.max(1, workers) }, () => startWorker(import.meta.url, 'crfWorker', { threads: Math.min(2, threadsPerWorker) })));
  }

  get size(): number {
    return this.workers.length;
  }

  run(job: Omit<CrfJob, 'id'>): Promise<CrfOutcome> {
    const id = this.nextId++;
    const worker = this.workerFor(job);
    const transfer = [job.probabilities.buffer as ArrayBuffer];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.postMessage({ ...job, id }, transfer);
    });
  }

  /** A warm-started stream's own worker; otherwise the worker with the fewest jobs waiting. */
  private workerFor(job: Omit<CrfJob, 'id'>): Worker {
    const streamId = job.warmStart?.streamId;
    const pinned = streamId === undefined ? undefined : this.streamWorker.get(streamId);
    if (pinned) return pinned;
    const load = new Map(this.workers.map((w) => [w, 0]));
    for (const { worker } of this.pending.values()) load.set(worker, load.get(worker)! + 1);
    const idlest = this.workers.reduce((best, w) => (load.get(w)! < load.get(best)! ? w : best));
    if (streamId !== undefined) this.streamWorker.set(streamId, idlest);
    return idlest;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
