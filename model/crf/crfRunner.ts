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
import { fromErrorEnvelope, WorkerLostError } from '../../core/errors.js';
import type { CrfJob, CrfReply } from './crfProtocol.js';

export type CrfOutcome = Extract<CrfReply, { ok: true }>;

/** Workers replaced in the runner's lifetime before it stops replacing them (a crash that repeats is a bug). */
const MAX_REPLACEMENTS = 5;

export class CrfRunner {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: CrfOutcome) => void; reject: (e: Error) => void; worker: Worker }>();
  /** Which worker holds each warm-started stream's state. */
  private readonly streamWorker = new Map<string, Worker>();
  private readonly errors = new Map<Worker, string>();
  private closed = false;
  /** Workers replaced after they stopped. */
  replacements = 0;

  private constructor(
    private readonly workers: Worker[],
    private readonly threads: number,
    private readonly onWorkerLost: ((reason: string) => void) | undefined,
  ) {
    for (const worker of workers) this.attach(worker);
  }

  /**
   * `workers` CRF threads, each running its frames on `threadsPerWorker` cores (default: the cores
   * shared out, so one worker on two cores runs every frame on both). A worker that stops (crash,
   * out of memory) fails only the frames it held, is replaced, and its streams start cold.
   */
  static start(workers = 1, threadsPerWorker = Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, workers))), onWorkerLost?: (reason: string) => void): CrfRunner {
    const threads = Math.min(2, threadsPerWorker);
    return new CrfRunner(Array.from({ length: Math.max(1, workers) }, () => startWorker(import.meta.url, 'crfWorker', { threads })), threads, onWorkerLost);
  }

  get size(): number {
    return this.workers.length;
  }

  run(job: Omit<CrfJob, 'id'>): Promise<CrfOutcome> {
    if (this.closed) return Promise.reject(new Error('the CRF runner is closed'));
    const id = this.nextId++;
    const worker = this.workerFor(job);
    const transfer = [job.probabilities.buffer as ArrayBuffer];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.postMessage({ ...job, id }, transfer);
    });
  }

  private attach(worker: Worker): void {
    worker.on('message', (reply: CrfReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply);
      else waiter.reject(fromErrorEnvelope(reply.error, 'CRF failed'));
    });
    worker.on('error', (error) => this.errors.set(worker, error.message));
    worker.on('exit', (code) => {
      if (!this.closed) this.lost(worker, this.errors.get(worker) ?? `exited with code ${code}`);
    });
  }

  private lost(worker: Worker, reason: string): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    for (const [id, w] of this.pending) {
      if (w.worker !== worker) continue;
      this.pending.delete(id);
      w.reject(new WorkerLostError(`a CRF worker stopped (${reason}); the frame it was refining was lost`));
    }
    // Its streams' warm-start state went with it: they start cold on whichever worker takes them.
    for (const [stream, w] of this.streamWorker) if (w === worker) this.streamWorker.delete(stream);
    this.onWorkerLost?.(reason);
    if (this.replacements >= MAX_REPLACEMENTS) {
      this.workers.splice(index, 1);
      if (this.workers.length === 0) this.closed = true;
      return;
    }
    this.replacements += 1;
    const replacement = startWorker(import.meta.url, 'crfWorker', { threads: this.threads });
    this.workers[index] = replacement;
    this.attach(replacement);
  }

  /** A warm-started stream's own worker; otherwise the worker with the fewest jobs waiting. */
  private workerFor(job: Omit<CrfJob, 'id'>): Worker {
    const streamId = job.warmStart?.streamId;
    const pinned = streamId === undefined ? undefined : this.streamWorker.get(streamId);
    if (pinned) return pinned;
    const load = new Map(this.workers.map((w) => [w, 0]));
    for (const { worker } of this.pending.values()) load.set(worker, (load.get(worker) ?? 0) + 1);
    const idlest = this.workers.reduce((best, w) => (load.get(w)! < load.get(best)! ? w : best));
    if (streamId !== undefined) this.streamWorker.set(streamId, idlest);
    return idlest;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
