/**
 * A pool of inference workers, one onnxruntime session each. `run` sends a batch to an idle
 * worker (or waits for one) and resolves with a label map per frame.
 *
 * Thread budget: on a 2-core CPU two workers × one intra-op thread give the most throughput,
 * one worker × two threads the least latency; the caller chooses.
 */
import type { Worker } from 'node:worker_threads';
import { fromErrorEnvelope, WorkerLostError } from '../core/errors.js';
import type { BatchRequest, CloseRequest, FrameInputs, FrameLabels, WorkerInit, WorkerReply } from './inferenceProtocol.js';
import type { ModelDescriptor } from './descriptor.js';
import type { Device } from './session.js';
import { startWorker } from './startWorker.js';

export interface InferencePoolOptions extends WorkerInit {
  readonly workers: number;
}

export interface BatchResult {
  readonly frames: readonly FrameLabels[];
  readonly inferMs: number;
  readonly postprocessMs: number;
}

export interface BatchInput {
  readonly frames: readonly FrameInputs[];
  readonly withProbabilities?: boolean;
}

interface Pending {
  resolve: (result: BatchResult) => void;
  reject: (error: Error) => void;
}

/**
 * Batches queued per worker: while one runs, the next already waits in the worker's port, so a
 * worker never idles for the round trip through the main thread between two batches.
 */
const QUEUE_DEPTH = 2;

export interface InferencePoolEvents {
  /** A worker stopped (crashed, ran out of memory, exited): its batches were rejected and a replacement is starting. */
  readonly onWorkerLost?: (reason: string) => void;
}

/** Workers the pool replaces in its lifetime before it gives up (a crash that repeats is a bug). */
const MAX_REPLACEMENTS = 5;

export class InferencePool {
  /** Free slots, QUEUE_DEPTH per worker, interleaved so work spreads over the workers first. */
  private readonly idle: Worker[] = [];
  /** Runs waiting for a slot; woken with null when the pool failed. */
  private readonly waiting: ((worker: Worker | null) => void)[] = [];
  private readonly pending = new Map<number, Pending & { worker: Worker; frames: number }>();
  /** Why each worker failed, from its 'error' event, for the 'exit' that follows. */
  private readonly errors = new Map<Worker, string>();
  private nextId = 0;
  private closed = false;
  private failure: Error | null = null;
  /** Workers replaced so far. */
  replacements = 0;

  private constructor(
    private readonly workers: Worker[],
    private readonly init: WorkerInit,
    readonly provider: 'cpu' | 'cuda',
    readonly fallbackReason: string | undefined,
    private readonly events: InferencePoolEvents,
  ) {
    for (const worker of workers) this.attach(worker);
    for (let slot = 0; slot < QUEUE_DEPTH; slot++) for (const worker of workers) this.release(worker);
  }

  static async start(options: InferencePoolOptions, events: InferencePoolEvents = {}): Promise<InferencePool> {
    const { workers: count, ...init } = options;
    const workers = Array.from({ length: count }, () => startWorker(import.meta.url, 'inferenceWorker', init));
    const readies = await Promise.allSettled(workers.map((w) => waitReady(w)));
    const failed = readies.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed.reason;
    }
    const first = (readies[0] as PromiseFulfilledResult<Extract<WorkerReply, { type: 'ready' }>>).value;
    return new InferencePool(workers, init, first.provider, first.fallbackReason, events);
  }

  /** A pool for a described model: the worker settings follow from the descriptor. */
  static forModel(d: ModelDescriptor, options: { modelPath: string; device: Device; workers: number; threads: number }, events: InferencePoolEvents = {}): Promise<InferencePool> {
    return InferencePool.start(
      {
        ...options,
        inputName: d.inputName, outputName: d.outputName, inputLayout: d.inputLayout, outputLayout: d.outputLayout,
        outputKind: d.outputKind, maskThreshold: d.maskThreshold, inputType: d.inputType, classes: d.classes,
      },
      events,
    );
  }

  /** Why the pool gave up (workers kept stopping), or null while it works. */
  get failed(): Error | null {
    return this.failure;
  }

  /** How many batches may be in flight at once (queued or running). */
  get size(): number {
    return this.workers.length * QUEUE_DEPTH;
  }

  get workerCount(): number {
    return this.workers.length;
  }

  async run(batch: BatchInput): Promise<BatchResult> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('inference pool is closed');
    const worker = this.idle.pop() ?? (await new Promise<Worker | null>((resolve) => this.waiting.push(resolve)));
    if (!worker) throw this.failure ?? new Error('inference pool is closed');
    const id = this.nextId++;
    const request: BatchRequest = { type: 'run', id, ...batch };
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker, frames: batch.frames.length });
      worker.postMessage(request, batch.frames.flatMap((f) => f.inputs.map((i) => i.data.buffer as ArrayBuffer)));
    });
  }

  private attach(worker: Worker): void {
    worker.on('message', (reply: WorkerReply) => this.onReply(worker, reply));
    worker.on('error', (error) => this.errors.set(worker, error.message));
    worker.on('exit', (code) => {
      if (!this.closed) this.lost(worker, this.errors.get(worker) ?? `exited with code ${code}`);
      this.errors.delete(worker);
    });
  }

  /** A worker died: its batches fail alone, and a new worker takes its place. */
  private lost(worker: Worker, reason: string): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    this.workers.splice(index, 1);
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i] === worker) this.idle.splice(i, 1);
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(new WorkerLostError(`an inference worker stopped (${reason}); the ${p.frames} frame${p.frames === 1 ? ' it held was' : 's it held were'} lost`));
    }
    this.events.onWorkerLost?.(reason);
    if (this.replacements >= MAX_REPLACEMENTS) {
      this.fail(new WorkerLostError(`inference workers keep stopping (${this.replacements} replaced; the last: ${reason}); giving up`));
      return;
    }
    this.replacements += 1;
    const replacement = startWorker(import.meta.url, 'inferenceWorker', this.init);
    waitReady(replacement).then(
      () => {
        if (this.closed) return void replacement.terminate();
        this.workers.push(replacement);
        this.attach(replacement);
        for (let slot = 0; slot < QUEUE_DEPTH; slot++) this.release(replacement);
      },
      (error: unknown) => this.fail(error instanceof Error ? error : new Error(String(error))),
    );
  }

  private release(worker: Worker): void {
    const next = this.waiting.shift();
    if (next) next(worker);
    else this.idle.push(worker);
  }

  private onReply(worker: Worker, reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'run-error') return;
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    this.release(worker);
    if (reply.type === 'result') pending.resolve(reply);
    else pending.reject(fromErrorEnvelope(reply.error, 'inference failed'));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    for (const wake of this.waiting.splice(0)) wake(null);
  }

  /**
   * Asks every worker to exit after the run it is in: terminating a worker inside
   * onnxruntime's native run aborts the whole process. A worker that does not leave within
   * `graceMs` is terminated.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.workers.map(async (worker) => {
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.postMessage({ type: 'close' } satisfies CloseRequest);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
        if ((await Promise.race([exited, late])) === 'late') await worker.terminate();
        clearTimeout(timer);
      }),
    );
  }
}

function waitReady(worker: Worker): Promise<Extract<WorkerReply, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      worker.off('message', onMessage);
      if (reply.type === 'ready') resolve(reply);
      else if (reply.type === 'init-error') {
        reject(fromErrorEnvelope(reply.error, 'the inference worker failed to start'));
      }
    };
    worker.on('message', onMessage);
    worker.once('error', (error) => reject(new Error(`inference worker failed to start: ${error.message}`)));
  });
}
