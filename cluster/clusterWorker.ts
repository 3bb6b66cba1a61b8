/**
 * `deeplab-stream worker --nats URL`: takes chunks from the cluster's work queue until stopped (and
 * runs live streams the cluster's `serve --nats` asks for: liveClaims.ts),
 * segments each with the same offline run as `segment` (its own decoder, model workers and CRF),
 * puts the chunk's outputs in the object store, announces them on the job's results subject, and
 * only then acknowledges the chunk. While it works it tells the server so (every third of the
 * acknowledgement deadline); a worker that dies stops telling, and the chunk goes to another.
 *
 *   ChunkTask ─▶ fetch chunk + model (cached by content) ─▶ segmentVideo ─▶ put outputs ─▶ ChunkDone ─▶ ack
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JsMsg } from '@nats-io/jetstream';
import { CancelledError, ClusterError, isUserError, toErrorEnvelope } from '../core/errors.js';
import type { Device } from '../model/device.js';
import { InferencePool } from '../model/inferencePool.js';
import type { RunPlan } from '../pipeline/runPlan.js';
import { planOptionsOf } from './runSettings.js';
import { segmentVideo } from '../pipeline/segmentVideo.js';
import { bundleFiles } from './maskBundle.js';
import { redactSecrets } from '../core/redact.js';
import { DEFAULT_INPUT_RULES, type InputPolicy, parseInputRules } from '../sources/inputPolicy.js';
import { LiveClaims } from './liveClaims.js';
import { cachedModel, DEFAULT_MODEL_CACHE_LIMITS, type ModelCacheLimits } from './modelCache.js';
import { checkRunLimits, DEFAULT_RUN_LIMITS, type RunLimits } from './runLimits.js';
import type { InputKey } from './sealedInput.js';
import { type Cluster, openCluster } from './natsCluster.js';
import type { NatsTarget } from './natsSecurity.js';
import {
  ackWaitMs,
  CHUNK_STREAM,
  type ChunkDone,
  type ChunkTask,
  doneSubject,
  encode,
  MAX_DELIVERIES,
  parseChunkTask,
  WORKER_CONSUMER,
} from './protocol.js';

export interface ClusterWorkerOptions {
  readonly nats: NatsTarget;
  readonly device: Device;
  /** Cores for the model (and the CRF) of each chunk, and of each live stream. */
  readonly threads: number;
  /** Live streams (serve --nats) this worker runs at most, besides chunks (default 4). */
  readonly maxStreams?: number;
  /** What live tasks may make this worker open (default: network streams and testsrc). */
  readonly inputs?: InputPolicy;
  /** How big a run a task may ask for (chunks and live streams). */
  readonly limits?: RunLimits;
  readonly modelCache?: ModelCacheLimits;
  /** The key serve seals input credentials with (`--input-key`). */
  readonly inputKey?: InputKey;
  /** Aborted: the chunk in hand is handed back to the queue (another worker takes it) and the worker stops. */
  readonly signal: AbortSignal;
  readonly onLog?: (line: string) => void;
}

export interface ClusterWorkerSummary {
  readonly chunks: number;
  readonly frames: number;
}

/**
 * The inference workers of the last job, kept for its next chunk: starting them (loading the model)
 * is the one cost per chunk that does not depend on its length. A chunk of another job, or a pool
 * that lost its workers, starts anew.
 */
class ChunkPools {
  private kept: { readonly key: string; readonly pool: InferencePool } | null = null;

  constructor(private readonly options: ClusterWorkerOptions) {}

  async poolFor(task: ChunkTask, plan: RunPlan): Promise<InferencePool> {
    const key = `${task.job}:${task.model.object}`;
    if (this.kept && (this.kept.key !== key || this.kept.pool.failed)) await this.close();
    if (!this.kept) {
      const workers = Math.min(2, this.options.threads);
      const pool = await InferencePool.forModel(plan.descriptor, {
        workers,
        modelPath: plan.modelPath,
        device: this.options.device,
        threads: Math.max(1, Math.floor(this.options.threads / workers)),
      });
      this.kept = { key, pool };
    }
    return this.kept.pool;
  }

  async close(): Promise<void> {
    const kept = this.kept;
    this.kept = null;
    await kept?.pool.close();
  }
}

export async function runClusterWorker(given: ClusterWorkerOptions): Promise<ClusterWorkerSummary> {
  // Every line the worker says passes the one redactor here: addresses with credentials never reach a log.
  const options: ClusterWorkerOptions = { ...given, onLog: (line) => given.onLog?.(redactSecrets(line)) };
  const { signal } = options;
  const log = (line: string) => options.onLog?.(line);
  const id = `${os.hostname()}:${process.pid}`;
  const cluster = await openCluster(options.nats, {
    role: 'worker',
    persistent: true,
    name: `deeplab-stream worker ${id}`,
    log,
  });
  let chunks = 0;
  let frames = 0;
  const pools = new ChunkPools(options);
  const limits = options.limits ?? DEFAULT_RUN_LIMITS;
  const modelFile = (model: { readonly object: string }) =>
    cachedModel(cluster, model, options.modelCache ?? DEFAULT_MODEL_CACHE_LIMITS);
  const live = new LiveClaims(cluster, {
    id,
    device: options.device,
    threads: options.threads,
    maxStreams: options.maxStreams ?? 4,
    inputs: options.inputs ?? parseInputRules(DEFAULT_INPUT_RULES),
    limits,
    inputKey: options.inputKey,
    modelFile,
    log,
  });
  live.start();
  try {
    const consumer = await cluster.js.consumers.get(CHUNK_STREAM, WORKER_CONSUMER);
    log(`worker ${id} waiting for chunks on ${cluster.url}`);
    while (!signal.aborted) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: 2000 });
      } catch (error) {
        if (cluster.connection.isClosed())
          throw new ClusterError(`lost the NATS server at ${cluster.url} (${(error as Error).message})`);
        await new Promise((resolve) => setTimeout(resolve, 500)); // reconnecting: ask again shortly
        continue;
      }
      if (!msg) continue;
      if (signal.aborted) {
        msg.nak();
        break;
      }
      let task: ChunkTask;
      try {
        task = parseChunkTask(msg.data);
      } catch (error) {
        log(`dropped a message on ${msg.subject}: ${(error as Error).message}`);
        msg.term((error as Error).message);
        continue;
      }
      const done = await workOn(cluster, msg, task, id, { ...options, limits }, pools, modelFile);
      if (done === 'handed back') break;
      chunks += 1;
      if (done.ok) frames += done.frames;
    }
  } finally {
    await live.stop().catch((error: unknown) => log(`live streams: ${(error as Error).message}`));
    await pools.close();
    await cluster.close();
  }
  return { chunks, frames };
}

/** One chunk, start to acknowledgement; 'handed back' when the worker was stopped in the middle. */
type ModelFile = (model: { readonly object: string }) => Promise<string>;

async function workOn(
  cluster: Cluster,
  msg: JsMsg,
  task: ChunkTask,
  id: string,
  options: ClusterWorkerOptions & { readonly limits: RunLimits },
  pools: ChunkPools,
  modelFile: ModelFile,
): Promise<ChunkDone | 'handed back'> {
  const log = (line: string) => options.onLog?.(line);
  const what = `job ${task.job} chunk ${task.chunk + 1}/${task.chunks}`;
  log(`${what}: started (delivery ${msg.info.deliveryCount})`);
  const heartbeat = setInterval(() => msg.working(), Math.max(200, ackWaitMs() / 3));
  try {
    const over = checkRunLimits(task.run, options.limits);
    // Over this worker's caps: the job's answer (its client sees the line), not a reason to try elsewhere.
    const done: ChunkDone = over
      ? {
          ok: false,
          job: task.job,
          chunk: task.chunk,
          worker: id,
          error: { kind: 'InputError', message: `worker ${id} ${over}` },
        }
      : await segmentChunk(cluster, task, id, options, pools, modelFile);
    await cluster.js.publish(doneSubject(task.job), encode(done));
    await msg.ackAck();
    log(`${what}: done, ${done.ok ? `${done.frames} frames` : done.error.message}`);
    return done;
  } catch (error) {
    if (error instanceof CancelledError || options.signal.aborted) {
      msg.nak();
      log(`${what}: handed back`);
      return 'handed back';
    }
    const last = msg.info.deliveryCount >= MAX_DELIVERIES;
    log(`${what}: failed (${(error as Error).message})${last ? '; giving it up' : '; it will be tried again'}`);
    if (!last) {
      msg.nak(1000);
      return {
        ok: false,
        job: task.job,
        chunk: task.chunk,
        worker: id,
        error: { kind: 'internal', message: (error as Error).message },
      };
    }
    const failed: ChunkDone = {
      ok: false,
      job: task.job,
      chunk: task.chunk,
      worker: id,
      error: {
        kind: 'internal',
        message: `chunk ${task.chunk + 1} failed ${MAX_DELIVERIES} times: ${(error as Error).message}`,
      },
    };
    await cluster.js.publish(doneSubject(task.job), encode(failed)).catch(() => undefined);
    msg.term();
    return failed;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * Segments one chunk; a user error (a chunk that does not decode, a model that does not fit) is
 * the job's answer, not a reason to try again elsewhere.
 */
async function segmentChunk(
  cluster: Cluster,
  task: ChunkTask,
  id: string,
  options: ClusterWorkerOptions,
  pools: ChunkPools,
  modelFile: ModelFile,
): Promise<ChunkDone> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'deeplab-stream-chunk-'));
  try {
    const input = path.join(dir, 'chunk.mkv');
    await cluster.getFile(task.input, input);
    const modelPath = await modelFile(task.model);
    const { run } = task;
    const out = {
      frames: path.join(dir, 'frames.jsonl'),
      masks: path.join(dir, 'masks'),
      video: path.join(dir, 'overlay.mp4'),
    };
    let framesOut: number;
    try {
      const summary = await segmentVideo({
        ...planOptionsOf(run, modelPath, "the job's model settings"),
        input,
        device: options.device,
        framesJsonPath: out.frames,
        ...(run.masksRle ? { masksRle: true } : {}),
        ...(task.outputs.masks ? { masksDir: out.masks } : {}),
        ...(task.outputs.video ? { outputPath: out.video } : {}),
        // The cores split as `segment` splits them: inference workers side by side, one thread each on two cores.
        batchSize: run.batchSize,
        workers: Math.min(2, options.threads),
        threadsPerWorker: Math.max(1, Math.floor(options.threads / Math.min(2, options.threads))),
        ...(run.opacity !== undefined ? { opacity: run.opacity } : {}),
        ...(run.overlayStyle ? { overlayStyle: run.overlayStyle } : {}),
        ...(run.legend !== undefined ? { legend: run.legend } : {}),
        ...(run.encoderPreset ? { encoderPreset: run.encoderPreset } : {}),
        ...(run.crf
          ? {
              crf: {
                params: run.crf.params,
                ...(run.crf.warmStart ? { warmStart: run.crf.warmStart } : {}),
                workers: run.crf.warmStart ? 1 : Math.min(2, options.threads),
              },
            }
          : {}),
        ...(run.strict ? { strict: true } : {}),
        signal: options.signal,
        poolFor: (plan) => pools.poolFor(task, plan),
        onWarning: (message) => options.onLog?.(`warning: job ${task.job} chunk ${task.chunk + 1}: ${message}`),
      });
      framesOut = summary.framesOut;
    } catch (error) {
      if (!isUserError(error) || error instanceof CancelledError) throw error;
      const { kind, message } = toErrorEnvelope(error);
      return { ok: false, job: task.job, chunk: task.chunk, worker: id, error: { kind, message } };
    }
    const base = `${task.job}/out-${String(task.chunk).padStart(5, '0')}`;
    await cluster.putFile(`${base}.jsonl`, out.frames);
    if (task.outputs.masks) {
      const masks = readdirSync(out.masks)
        .filter((f) => /^frame_\d+\.png$/.test(f))
        .sort();
      await cluster.putBytes(`${base}.masks`, bundleFiles(masks.map((f) => path.join(out.masks, f))));
    }
    if (task.outputs.video) await cluster.putFile(`${base}.mp4`, out.video);
    return {
      ok: true,
      job: task.job,
      chunk: task.chunk,
      worker: id,
      frames: framesOut,
      objects: {
        frames: `${base}.jsonl`,
        ...(task.outputs.masks ? { masks: `${base}.masks` } : {}),
        ...(task.outputs.video ? { video: `${base}.mp4` } : {}),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
