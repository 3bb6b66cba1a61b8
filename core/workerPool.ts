/**
 * Worker threads that answer jobs by id: what the inference pool and the CRF runner share. A job
 * goes to the worker the caller chose (a free slot, a stream's own worker); the worker's reply
 * resolves it, or its error envelope rejects it with the error's own kind (core/errors.ts). A
 * worker that stops — crash, out of memory, exit — rejects only the jobs it held (WorkerLostError)
 * and is replaced, at most `maxReplacements` times; after that the pool has failed.
 *
 *   pool.send(worker, job, transfer, what) → Promise<reply>     hooks: onWorkerLost(reason, worker), onReplaced(old, new)
 */
import type { Worker } from 'node:worker_threads';
import { type ErrorEnvelope, fromErrorEnvelope, WorkerLostError } from './errors.js';

/** A worker's answer to job `id`; messages without a numeric id (a handshake) are not replies. */
export type PoolReply =
  | { readonly id: number; readonly ok: true }
  | { readonly id: number; readonly ok: false; readonly error: ErrorEnvelope };

export interface WorkerPoolOptions {
  /** What the workers do, for messages: 'inference', 'CRF'. */
  readonly label: string;
  /** Starts one worker and resolves once it can take jobs (its handshake, if it has one). */
  readonly start: () => Promise<Worker>;
  readonly maxReplacements?: number;
  /** A worker stopped: it is out of the pool, its jobs were rejected, a replacement is starting. */
  readonly onWorkerLost?: (reason: string, worker: Worker) => void;
  /** `old` was replaced by `replacement` (null: it could not be, and the pool has failed). */
  readonly onReplaced?: (old: Worker, replacement: Worker | null) => void;
}

interface Pending {
  readonly worker: Worker;
  readonly what: string;
  resolve(reply: unknown): void;
  reject(error: Error): void;
}

export class WorkerPool {
  private readonly pending = new Map<number, Pending>();
  /** Why each worker failed, from its 'error' event, for the 'exit' that follows. */
  private readonly errors = new Map<Worker, string>();
  private nextId = 0;
  private closed = false;
  private failure: Error | null = null;
  /** Workers replaced so far. */
  replacements = 0;

  constructor(
    readonly workers: Worker[],
    private readonly options: WorkerPoolOptions,
  ) {
    for (const worker of workers) this.attach(worker);
  }

  /** Why the pool gave up (workers kept stopping, or a replacement could not start), or null. */
  get failed(): Error | null {
    return this.failure;
  }

  /** Jobs sent to `worker` and not yet answered. */
  jobsOn(worker: Worker): number {
    let count = 0;
    for (const p of this.pending.values()) if (p.worker === worker) count += 1;
    return count;
  }

  /** Sends `job` (with a fresh id) to `worker`; `what` names what a lost job held ("the 2 frames it held"). */
  send<Reply>(worker: Worker, job: object, transfer: readonly ArrayBuffer[], what: string): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`the ${this.options.label} workers are closed`));
    if (!this.workers.includes(worker))
      return Promise.reject(
        new WorkerLostError(`${this.article()} ${this.options.label} worker had stopped; ${what} lost`),
      );
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { worker, what, resolve, reject });
      worker.postMessage({ ...job, id }, [...transfer]);
    });
  }

  /** Stops every worker the way `stop` says (asked to leave, or terminated); lost jobs are not replaced any more. */
  async close(stop: (worker: Worker) => Promise<void>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map(stop));
  }

  private attach(worker: Worker): void {
    worker.on('message', (reply: PoolReply) => {
      if (typeof reply?.id !== 'number') return;
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply);
      else pending.reject(fromErrorEnvelope(reply.error, `${this.options.label} failed`));
    });
    worker.on('error', (error) => this.errors.set(worker, error.message));
    worker.on('exit', (code) => {
      const reason = this.errors.get(worker) ?? `exited with code ${code}`;
      this.errors.delete(worker);
      if (!this.closed) this.lost(worker, reason);
    });
  }

  private lost(worker: Worker, reason: string): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    // Out of the list at once, so nothing more is sent to it; the replacement joins when it is ready.
    this.workers.splice(index, 1);
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(
        new WorkerLostError(`${this.article()} ${this.options.label} worker stopped (${reason}); ${p.what} lost`),
      );
    }
    this.options.onWorkerLost?.(reason, worker);
    const { maxReplacements = 5 } = this.options;
    if (this.replacements >= maxReplacements) {
      this.fail(
        new WorkerLostError(
          `${this.options.label} workers keep stopping (${this.replacements} replaced; the last: ${reason}); giving up`,
        ),
      );
      this.options.onReplaced?.(worker, null);
      return;
    }
    this.replacements += 1;
    this.options.start().then(
      (replacement) => {
        if (this.closed) return void replacement.terminate();
        this.workers.push(replacement);
        this.attach(replacement);
        this.options.onReplaced?.(worker, replacement);
      },
      (error: unknown) => {
        this.fail(error instanceof Error ? error : new Error(String(error)));
        this.options.onReplaced?.(worker, null);
      },
    );
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  private article(): string {
    return /^[aeiou]/i.test(this.options.label) ? 'an' : 'a';
  }
}
