/**
 * A pool of inference workers, one onnxruntime session each. `run` sends a batch to an idle
 * worker (or waits for one) and resolves with a label map per frame.
 *
 * Thread budget: on a 2-core CPU two workers × one intra-op thread give the most throughput,
 * one worker × two threads the least latency; the caller chooses.
 */
import type { Worker } from 'node:worker_threads';
import { fromErrorEnvelope } from '../core/errors.js';
import type {
  BatchRequest,
  CloseRequest,
  FrameInputs,
  FrameLabels,
  WorkerInit,
  WorkerReply,
} from './inferenceProtocol.js';
import type { ModelDescriptor } from './descriptor.js';
import type { Device } from './device.js';
import { recycleInputBuffer } from './inputBuffers.js';
import { startWorker } from '../core/startWorker.js';
import { WorkerPool } from '../core/workerPool.js';

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
  /** The probabilities at this fraction of the frame size: the CRF's (default 1). */
  readonly probabilitiesScale?: number;
  /** The CRF's pruning threshold: labels that never come near it are left at 0. */
  readonly probabilitiesPrune?: number;
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

export class InferencePool {
  /** Free slots, QUEUE_DEPTH per worker, interleaved so work spreads over the workers first. */
  private readonly idle: Worker[] = [];
  /** Runs waiting for a slot; woken with null when the pool failed. */
  private readonly waiting: ((worker: Worker | null) => void)[] = [];
  private readonly workers: WorkerPool;

  private constructor(
    workers: Worker[],
    init: WorkerInit,
    readonly provider: 'cpu' | 'cuda',
    readonly fallbackReason: string | undefined,
    events: InferencePoolEvents,
  ) {
    this.workers = new WorkerPool(workers, {
      label: 'inference',
      start: async () => {
        const worker = startWorker(import.meta.url, 'inferenceWorker', init);
        await waitReady(worker);
        return worker;
      },
      onWorkerLost: (reason, lost) => {
        for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i] === lost) this.idle.splice(i, 1);
        events.onWorkerLost?.(reason);
      },
      onReplaced: (_old, replacement) => {
        if (replacement) for (let slot = 0; slot < QUEUE_DEPTH; slot++) this.release(replacement);
        // No workers left: runs waiting for a slot fail (run checks the pool's failure).
        else if (this.workers.workers.length === 0) for (const wake of this.waiting.splice(0)) wake(null);
      },
    });
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
  static forModel(
    d: ModelDescriptor,
    options: { modelPath: string; device: Device; workers: number; threads: number },
    events: InferencePoolEvents = {},
  ): Promise<InferencePool> {
    return InferencePool.start(
      {
        ...options,
        inputName: d.inputName,
        outputName: d.outputName,
        inputLayout: d.inputLayout,
        outputLayout: d.outputLayout,
        outputKind: d.outputKind,
        maskThreshold: d.maskThreshold,
        inputType: d.inputType,
        classes: d.classes,
        dynamicBatch: d.batchSize === null,
        ...(d.scoresAlignCorners ? { scoresAlignCorners: true } : {}),
        ...(d.shownClasses ? { shownClasses: d.shownClasses } : {}),
      },
      events,
    );
  }

  /** Why the pool gave up (workers kept stopping), or null while it works. */
  get failed(): Error | null {
    return this.workers.failed;
  }

  /** Workers replaced after they stopped. */
  get replacements(): number {
    return this.workers.replacements;
  }

  /** How many batches may be in flight at once (queued or running). */
  get size(): number {
    return this.workers.workers.length * QUEUE_DEPTH;
  }

  get workerCount(): number {
    return this.workers.workers.length;
  }

  async run(batch: BatchInput): Promise<BatchResult> {
    if (this.workers.failed) throw this.workers.failed;
    const worker = this.idle.pop() ?? (await new Promise<Worker | null>((resolve) => this.waiting.push(resolve)));
    if (!worker) throw this.workers.failed ?? new Error('inference pool is closed');
    const n = batch.frames.length;
    const transfer = batch.frames.flatMap((f) => f.inputs.map((i) => i.data.buffer as ArrayBuffer));
    try {
      const { inputBuffers, ...result } = await this.workers.send<BatchResult & { inputBuffers: ArrayBuffer[] }>(
        worker,
        { type: 'run', ...batch } satisfies Omit<BatchRequest, 'id'>,
        transfer,
        `the ${n} frame${n === 1 ? ' it held was' : 's it held were'}`,
      );
      for (const buffer of inputBuffers) recycleInputBuffer(buffer);
      return result;
    } finally {
      // The slot is free again, unless its worker is gone (its slots went with it).
      if (this.workers.workers.includes(worker)) this.release(worker);
    }
  }

  private release(worker: Worker): void {
    const next = this.waiting.shift();
    if (next) next(worker);
    else this.idle.push(worker);
  }

  /**
   * Asks every worker to exit after the run it is in: terminating a worker inside
   * onnxruntime's native run aborts the whole process. A worker that does not leave within
   * `graceMs` is terminated.
   */
  async close(graceMs = 10_000): Promise<void> {
    await this.workers.close(async (worker) => {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' } satisfies CloseRequest);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
      if ((await Promise.race([exited, late])) === 'late') await worker.terminate();
      clearTimeout(timer);
    });
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
