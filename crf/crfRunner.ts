/**
 * Runs dense-CRF jobs on worker threads, so the event loop never waits on mean-field inference.
 * With several workers, independent frames run side by side; a stream's warm-started frames all go
 * to the same worker (it holds the stream's previous Q), in the order they were sent.
 *
 *   const runner = CrfRunner.start(2); await runner.run({ image, width, height, probabilities, classes, params }); await runner.close();
 */
import os from 'node:os';
import { MessageChannel, type Worker } from 'node:worker_threads';
import { startWorker } from '../core/startWorker.js';
import { WorkerPool } from '../core/workerPool.js';
import type { CrfJob, CrfReply } from './crfProtocol.js';

export type CrfOutcome = Extract<CrfReply, { ok: true }>;

export class CrfRunner {
  /** Which worker holds each warm-started stream's state. */
  private readonly streamWorker = new Map<string, Worker>();
  private readonly workers: WorkerPool;

  private constructor(
    workers: Worker[],
    private readonly helpers: Worker[],
    threads: number,
    onWorkerLost: ((reason: string) => void) | undefined,
  ) {
    this.workers = new WorkerPool(workers, {
      label: 'CRF',
      start: () => Promise.resolve(startWorker(import.meta.url, 'crfWorker', { threads })),
      ...(onWorkerLost ? { onWorkerLost: (reason: string) => onWorkerLost(reason) } : {}),
      // Its streams' warm-start state went with it: they start cold on whichever worker takes them.
      onReplaced: (old) => {
        for (const [stream, w] of this.streamWorker) if (w === old) this.streamWorker.delete(stream);
      },
    });
  }

  /**
   * `workers` CRF threads, each running its frames on `threadsPerWorker` cores (default: the cores
   * shared out, so one worker on two cores runs every frame on both). A worker that stops (crash,
   * out of memory) fails only the frame it held, is replaced, and its streams start cold.
   */
  static start(
    workers = 1,
    threadsPerWorker = Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, workers))),
    onWorkerLost?: (reason: string) => void,
  ): CrfRunner {
    const threads = Math.min(2, threadsPerWorker);
    const helpers: Worker[] = [];
    const started = Array.from({ length: Math.max(1, workers) }, () => {
      if (threads < 2) return startWorker(import.meta.url, 'crfWorker', { threads });
      // Its helper thread boots beside it, not after it: a one-image process waits for both.
      const { port1, port2 } = new MessageChannel();
      const helper = startWorker(import.meta.url, 'meanFieldHelper', { port: port2 }, [port2]);
      helper.unref();
      helpers.push(helper);
      return startWorker(import.meta.url, 'crfWorker', { threads, helper: port1 }, [port1]);
    });
    return new CrfRunner(started, helpers, threads, onWorkerLost);
  }

  get size(): number {
    return this.workers.workers.length;
  }

  /** Why the runner gave up (its workers kept stopping), or null while it runs. */
  get failed(): Error | null {
    return this.workers.failed;
  }

  /** Workers replaced after they stopped. */
  get replacements(): number {
    return this.workers.replacements;
  }

  run(job: Omit<CrfJob, 'id'>): Promise<CrfOutcome> {
    if (this.workers.failed) return Promise.reject(this.workers.failed);
    const worker = this.workerFor(job);
    if (!worker) return Promise.reject(new Error('the CRF runner has no worker'));
    const transfer = job.probabilities instanceof Float32Array ? [job.probabilities.buffer as ArrayBuffer] : [];
    return this.workers.send<CrfOutcome>(worker, job, transfer, 'the frame it was refining was');
  }

  /** A warm-started stream's own worker; otherwise the worker with the fewest jobs waiting. */
  private workerFor(job: Omit<CrfJob, 'id'>): Worker | undefined {
    const streamId = job.warmStart?.streamId;
    const pinned = streamId === undefined ? undefined : this.streamWorker.get(streamId);
    if (pinned && this.workers.workers.includes(pinned)) return pinned;
    let idlest: Worker | undefined;
    for (const w of this.workers.workers)
      if (!idlest || this.workers.jobsOn(w) < this.workers.jobsOn(idlest)) idlest = w;
    if (idlest && streamId !== undefined) this.streamWorker.set(streamId, idlest);
    return idlest;
  }

  async close(): Promise<void> {
    await this.workers.close(async (worker) => void (await worker.terminate()));
    await Promise.all(this.helpers.map((helper) => helper.terminate()));
  }
}
