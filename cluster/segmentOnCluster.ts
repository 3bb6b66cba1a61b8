/**
 * `segment IN --nats URL`: the offline run spread over the cluster's workers. The input is cut at
 * keyframes into chunks (no re-encoding), each chunk and the model go to the object store, one task
 * per chunk goes on the work queue; the results come back in any order and are written in order,
 * as each next chunk arrives: frames JSON renumbered and re-timed, masks renamed, chunk videos
 * joined by stream copy at the end. What a local run writes, every frame once, in order; nothing
 * is presented as complete until all of it is (partial files, as everywhere). A chunk delivered
 * twice (its first worker was presumed dead) is taken once. The CRF's warm start begins anew at
 * each chunk.
 *
 *   input ─split─▶ chunks ─put─▶ object store ◀─get─ workers ─put─▶ outputs ─▶ ChunkDone (any order)
 *     ─▶ in order: frames JSON, masks, chunk videos ─▶ concat ─▶ committed
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConsumerMessages } from '@nats-io/jetstream';
import { CancelledError, ClusterError, fromErrorEnvelope, InputError, UsageError } from '../core/errors.js';
import { DAMAGED_FRAMES_TOLERATED } from '../sources/ffmpegFrameSource.js';
import { probeInput } from '../io/ffmpeg.js';
import { planSegmentRun, type SegmentOptions } from '../pipeline/segmentVideo.js';
import { type Cluster, openCluster } from './natsCluster.js';
import type { NatsTarget } from './natsSecurity.js';
import {
  CHUNK_STREAM,
  type ChunkDone,
  chunkSubject,
  type ChunkTask,
  DONE_STREAM,
  doneSubject,
  encode,
  MAX_DELIVERIES,
  parseChunkDone,
  parseMaxDeliveriesAdvisory,
  WORKER_CONSUMER,
} from './protocol.js';
import { ClusterOutputs } from './clusterOutputs.js';
import { runSettingsFor } from './runSettings.js';
import { splitAtKeyframes, type VideoChunk } from './splitVideo.js';

export interface ClusterSegmentOptions extends Omit<
  SegmentOptions,
  'workers' | 'threadsPerWorker' | 'batchWaitMs' | 'device' | 'onStart' | 'onFrame'
> {
  readonly nats: NatsTarget;
  /** About how long each chunk is (cut at the first keyframe after). */
  readonly chunkSeconds: number;
  readonly onChunks?: (total: number) => void;
  readonly onChunkDone?: (done: number, total: number) => void;
}

export interface ClusterSegmentSummary {
  readonly input: string;
  readonly framesOut: number;
  readonly chunks: number;
  /** Processes that delivered chunks (host:pid). */
  readonly workers: readonly string[];
  /** Results that came twice (a chunk given to a second worker while the first still finished it). */
  readonly duplicates: number;
  readonly wallMs: number;
  readonly outputs: { readonly video?: string; readonly masks?: string; readonly framesJson?: string };
}

export async function segmentOnCluster(options: ClusterSegmentOptions): Promise<ClusterSegmentSummary> {
  const started = performance.now();
  const { signal } = options;
  if (!options.outputPath && !options.masksDir && !options.framesJsonPath)
    throw new UsageError('nothing to write: give -o, --masks or --frames-json');
  const info = await probeInput(options.input);
  if (info.isStillImage || !existsSync(options.input))
    throw new UsageError(
      `--nats cuts a video file into chunks; ${options.input} is ${info.isStillImage ? 'a still image' : 'an image sequence'}: run it without --nats`,
    );
  // Every check of flags against the model here, before anything is sent.
  const plan = await planSegmentRun(options);
  for (const note of plan.notes) options.onNote?.(note);
  if (options.crf?.warmStart) options.onNote?.('the CRF warm start begins anew at each chunk');

  const outputs = new ClusterOutputs(options);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'deeplab-stream-job-'));
  const job = `j${Date.now().toString(36)}${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  let cluster: Cluster | null = null;
  let subscription: ConsumerMessages | null = null;
  try {
    cluster = await openCluster(options.nats, {
      role: 'client',
      name: `deeplab-stream segment ${path.basename(options.input)}`,
    });
    const chunks = await splitAtKeyframes(options.input, scratch, options.chunkSeconds);
    options.onChunks?.(chunks.length);
    const model = await cluster.putModel(options.modelPath);
    // Results are read from the start of the job's subject: nothing a worker says is missed.
    const results = await cluster.js.consumers.get(DONE_STREAM, { filter_subjects: doneSubject(job) });
    subscription = await results.consume();
    const run = runSettingsFor(options);
    // A chunk whose every delivery died with its worker (killed, out of memory) is given up by the server.
    const givenUp = new Map<number, number>();
    const deadLetters = cluster.connection.subscribe(
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${CHUNK_STREAM}.${WORKER_CONSUMER}`,
    );
    const abandoned = (async () => {
      for await (const advisory of deadLetters) {
        // Anyone who may publish may have sent it: only a well-formed advisory for one of this job's chunks counts.
        let seq: number;
        try {
          const parsed = parseMaxDeliveriesAdvisory(advisory.data);
          if (parsed.stream !== CHUNK_STREAM || parsed.consumer !== WORKER_CONSUMER) continue;
          seq = parsed.stream_seq;
        } catch {
          continue;
        }
        // Only the NATS server itself publishes on $JS.EVENT.> where the broker's permissions are set (docs/cluster.md).
        const chunk = givenUp.get(seq);
        if (chunk !== undefined)
          return new ClusterError(
            `chunk ${chunk + 1} of ${chunks.length} was given to ${MAX_DELIVERIES} workers and each stopped before finishing it (killed, or out of memory?): see the workers' logs`,
          );
      }
      return null;
    })();
    for (const [i, chunk] of chunks.entries()) {
      if (signal?.aborted) throw new CancelledError();
      const input = `${job}/in-${String(i).padStart(5, '0')}.mkv`;
      await cluster.putFile(input, chunk.file);
      rmSync(chunk.file, { force: true });
      const task: ChunkTask = {
        job,
        chunk: i,
        chunks: chunks.length,
        input,
        model,
        outputs: { video: Boolean(options.outputPath), masks: Boolean(options.masksDir) },
        run,
      };
      givenUp.set((await cluster.js.publish(chunkSubject(job), encode(task))).seq, i);
    }
    const taskSeq = new Map([...givenUp].map(([seq, chunk]) => [chunk, seq]));
    const collected = await collect(cluster, job, subscription, chunks, outputs, options, abandoned, taskSeq);
    deadLetters.unsubscribe();
    // Each chunk's decoder cannot tell a damaged input (a chunk declares no frame count): the whole can.
    const missing = info.frameCountDeclared && info.frameCount !== null ? info.frameCount - collected.frames : 0;
    if (missing > 0) {
      const held = `the chunks held ${collected.frames} of the ${info.frameCount} frames its container declares`;
      if (options.strict || missing > Math.max(1, Math.floor(info.frameCount! * DAMAGED_FRAMES_TOLERATED)))
        throw new InputError(
          `${options.input} is truncated or damaged: ${held}; re-download or re-encode it${options.strict ? ' (--strict)' : ''}`,
        );
      options.onWarning?.(
        `${options.input} is slightly damaged: ${held}; the rest were processed — --strict refuses such files`,
      );
    }
    await outputs.commit(scratch);
    return {
      input: options.input,
      framesOut: collected.frames,
      chunks: chunks.length,
      workers: [...collected.workers],
      duplicates: collected.duplicates,
      wallMs: Math.round(performance.now() - started),
      outputs: outputs.paths,
    };
  } catch (error) {
    outputs.discard();
    throw error;
  } finally {
    subscription?.stop();
    if (cluster) await forgetJob(cluster, job);
    await cluster?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Results as workers send them; outputs written as soon as the next chunk in order is there.
 * Stops at the first failed chunk (its worker's one line), at Ctrl-C, or when the server is lost.
 */
/** Whether a chunk's task is still on the work queue (no worker acknowledged or gave it up yet); null when the server did not answer. */
async function queued(cluster: Cluster, seq: number): Promise<boolean | null> {
  return cluster.jsm.streams.getMessage(CHUNK_STREAM, { seq }).then(
    (message) => message !== null,
    () => null,
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function collect(
  cluster: Cluster,
  job: string,
  messages: ConsumerMessages,
  chunks: readonly VideoChunk[],
  outputs: ClusterOutputs,
  o: ClusterSegmentOptions,
  abandoned: Promise<ClusterError | null>,
  taskSeq: ReadonlyMap<number, number>,
) {
  const arrived = new Map<number, Extract<ChunkDone, { ok: true }>>();
  const workers = new Set<string>();
  let next = 0;
  let frames = 0;
  let duplicates = 0;
  let ignored = 0;
  /** Set when collecting ends (done or failed): the checks of failures still waiting stop. */
  let finished = false;
  /** The stream sequence of the last result read, for the checks of failures below. */
  let readSeq = 0;
  let failJob: (error: Error) => void = () => {};
  const stop = new Promise<never>((_, reject) => {
    failJob = reject;
    o.signal?.addEventListener('abort', () => reject(new CancelledError()), { once: true });
    void cluster.lost.then((error) => error && reject(error));
    void abandoned.then((error) => error && reject(error));
  });
  stop.catch(() => undefined);
  const settled = (chunk: number) => chunk < next || arrived.has(chunk);
  /**
   * A failure counts only when it comes from the worker that held the chunk. That worker says
   * so, then acknowledges the chunk's task, which takes it off the work queue; and a worker that
   * finished it said so before too. So: once the task is off the queue and every result said
   * until then is read, a chunk still without its result failed. A failure said by anyone else
   * while the chunk is worked on changes nothing.
   */
  const checkFailure = async (done: Extract<ChunkDone, { ok: false }>) => {
    const seq = taskSeq.get(done.chunk);
    if (seq === undefined) return;
    const over = () => finished || settled(done.chunk);
    // A question the server did not answer (busy, reconnecting) is asked again: no answer is no evidence.
    while ((await queued(cluster, seq)) !== false) {
      if (over()) return;
      await sleep(250);
    }
    let last = null;
    while (
      !(last = await cluster.jsm.streams.getMessage(DONE_STREAM, { last_by_subj: doneSubject(job) }).catch(() => null))
    ) {
      if (over()) return;
      await sleep(250);
    }
    while (readSeq < last.seq && !over()) await sleep(50);
    if (over()) return;
    // A user error (a chunk that does not decode, a model that does not fit) is the job's answer.
    failJob(
      done.error.kind !== 'internal'
        ? fromErrorEnvelope(done.error, `chunk ${done.chunk + 1}`)
        : new ClusterError(
            `chunk ${done.chunk + 1} of ${chunks.length} failed on worker ${done.worker}: ${done.error.message}`,
          ),
    );
  };
  const iterator = messages[Symbol.asyncIterator]();
  try {
    while (next < chunks.length) {
      const step = await Promise.race([iterator.next(), stop]);
      if (step.done)
        throw new ClusterError(`the results of the job stopped coming from the NATS server at ${cluster.url}`);
      readSeq = step.value.seq;
      let done: ChunkDone;
      try {
        done = parseChunkDone(step.value.data);
        if (done.job !== job || done.chunk >= chunks.length) throw new Error('for another job or chunk');
      } catch (error) {
        // Anyone who may publish on the broker may have sent it: it is not a reason to stop the job.
        o.onWarning?.(
          `ignored a result on the job's subject (${(error as Error).message}): are all workers the same version as this client?`,
        );
        ignored += 1;
        continue;
      }
      if (!done.ok) {
        if (settled(done.chunk)) ignored += 1;
        else void checkFailure(done).catch((error: unknown) => failJob(error as Error));
        continue;
      }
      if (settled(done.chunk)) {
        duplicates += 1;
        continue;
      }
      arrived.set(done.chunk, done);
      workers.add(done.worker);
      for (let ready = arrived.get(next); ready; ready = arrived.get(next)) {
        // Still in `arrived` while it is written: a forged failure checked meanwhile must find it settled.
        frames += await outputs.append(cluster, ready, frames, chunks[next]!.startSeconds - chunks[0]!.startSeconds);
        arrived.delete(next);
        next += 1;
        o.onChunkDone?.(next, chunks.length);
      }
    }
  } finally {
    finished = true;
  }
  if (ignored > 0)
    o.onWarning?.(
      `${ignored} message(s) on the job's subject were not this job's results and were ignored: is someone else publishing on the broker?`,
    );
  return { frames, workers, duplicates };
}

/** The job's objects and messages removed (expiry removes them too, if this process dies first). */
async function forgetJob(cluster: Cluster, job: string): Promise<void> {
  try {
    await cluster.jsm.streams.purge(CHUNK_STREAM, { filter: chunkSubject(job) });
    await cluster.jsm.streams.purge(DONE_STREAM, { filter: doneSubject(job) });
    const names: string[] = [];
    for (const entry of await cluster.objects.list()) if (entry.name.startsWith(`${job}/`)) names.push(entry.name);
    for (const name of names) await cluster.objects.delete(name);
  } catch {
    // The server is gone: the job's expiry removes what is left.
  }
}
