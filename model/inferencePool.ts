/**
 * A pool of inference workers, one onnxruntime session each. `run` sends a batch to an idle
 * worker (or waits for one) and resolves with a label map per frame.
 *
 * Thread budget: on a 2-core CPU two workers × one intra-op thread give the most throughput,
 * one worker × two threads the least latency; the caller chooses.
 */
import type { Worker } from 'node:worker_threads';
import { EnvironmentError, ModelError } from '../pipeline/errors.js';
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

export class InferencePool {
  /** Free slots, QUEUE_DEPTH per worker, interleaved so work spreads over the workers first. */
  private readonly idle: Worker[] = [];
  private readonly waiting: ((worker: Worker) => void)[] = [];
  private readonly pending = new Map<number, Pending & { worker: Worker }>();
  private nextId = 0;
  private closed = false;
  private failure: Error | null = null;

  private constructor(
    private readonly workers: Worker[],
    readonly provider: 'cpu' | 'cuda',
    readonly fallbackReason: string | undefined,
  ) {
    for (const worker of workers) {
      worker.on('message', (reply: WorkerReply) => this.onReply(worker, reply));
      worker.on('error', (error) => this.fail(new Error(`inference worker crashed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`inference worker exited unexpectedly (code ${code})`));
      });
    }
    for (let slot = 0; slot < QUEUE_DEPTH; slot++) this.idle.push(...workers);
  }

  static async start(options: InferencePoolOptions): Promise<InferencePool> {
    const { workers: count, ...init } = options;
    const workers = Array.from({ length: count }, () => startWorker(import.meta.url, 'inferenceWorker', init));
    const readies = await Promise.allSettled(workers.map((w) => waitReady(w)));
    const failed = readies.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed.reason;
    }
    const first = (readies[0] as PromiseFulfilledResult<Extract<WorkerReply, { type: 'ready' }>>).value;
    return new InferencePool(workers, first.provider, first.fallbackReason);
  }

  /** A pool for a described model: the worker settings follow from the descriptor. */
  static forModel(d: ModelDescriptor, options: { modelPath: string; device: Device; workers: number; threads: number }): Promise<InferencePool> {
    return InferencePool.start({
      ...options,
      inputName: d.inputName, outputName: d.outputName, inputLayout: d.inputLayout, outputLayout: d.outputLayout,
      outputKind: d.outputKind, maskThreshold: d.maskThreshold, inputType: d.inputType, classes: d.classes,
    });
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
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.waiting.push(resolve)));
    const id = this.nextId++;
    const request: BatchRequest = { type: 'run', id, ...batch };
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.postMessage(request, batch.frames.flatMap((f) => f.inputs.map((i) => i.data.buffer as ArrayBuffer)));
    });
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
    else pending.reject(new ModelError(`inference failed: ${reply.message}`));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
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
        reject(reply.errorName === 'EnvironmentError' ? new EnvironmentError(reply.message) : new ModelError(reply.message));
      }
    };
    worker.on('message', onMessage);
    worker.once('error', (error) => reject(new Error(`inference worker failed to start: ${error.message}`)));
  });
}
