/**
 * Runs dense-CRF jobs on a worker thread, one at a time, so the event loop never waits on
 * mean-field inference.
 *
 *   const runner = CrfRunner.start(); await runner.run({ image, width, height, probabilities, classes, params }); await runner.close();
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../startWorker.js';
import type { CrfJob, CrfReply } from './crfProtocol.js';

export type CrfOutcome = Extract<CrfReply, { ok: true }>;

export class CrfRunner {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: CrfOutcome) => void; reject: (e: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: CrfReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply);
      else waiter.reject(new Error(`CRF failed: ${reply.message}`));
    });
    worker.on('error', (error) => {
      for (const w of this.pending.values()) w.reject(new Error(`CRF worker crashed: ${error.message}`));
      this.pending.clear();
    });
  }

  static start(): CrfRunner {
    return new CrfRunner(startWorker(import.meta.url, 'crfWorker', null));
  }

  run(job: Omit<CrfJob, 'id'>): Promise<CrfOutcome> {
    const id = this.nextId++;
    const transfer = [job.probabilities.buffer as ArrayBuffer, ...(job.initialQ ? [job.initialQ.buffer as ArrayBuffer] : [])];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...job, id }, transfer);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
