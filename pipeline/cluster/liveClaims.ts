/**
 * A worker's live streams (`serve --nats`): every third of the lease's time to live it renews the
 * leases of the streams it runs, lets go of those no longer asked for (or whose lease it lost),
 * and claims at most one stream nobody holds (the lease is created atomically: one owner). Each
 * owned stream runs its own live pipeline; its frames go to deeplab.live.<stream>, its status to
 * deeplab.status.<stream>, its per-frame results to deeplab.results.<stream>.
 *
 *   tick: renew owned leases ─▶ stop the lost ─▶ claim one free stream ─▶ startLivePipeline ─▶ ClusterFrameSink
 */
import type { KV } from '@nats-io/kv';
import type { Segmentation } from '../../core/frames.js';
import type { SegmentationSink } from '../../core/sink.js';
import { crfParamsFor } from '../../model/crf/crfParams.js';
import { parseOverrides } from '../../model/modelOverrides.js';
import type { Device } from '../../model/device.js';
import { encodeFrameMessage, epochMs } from '../../server/wireFormat.js';
import { liveCrfScale, type LivePipeline, startLivePipeline } from '../livePipeline.js';
import { planRun } from '../runPlan.js';
import { parseLiveInput } from '../sources/liveInputs.js';
import { LiveStream } from '../sources/liveStream.js';
import type { Cluster } from './natsCluster.js';
import { encode, type FrameResult, leaseTtlMs, liveSubject, type LiveTask, parseLiveTask, resultsSubject, statusSubject } from './protocol.js';

export interface LiveClaimsOptions {
  readonly id: string;
  readonly device: Device;
  readonly threads: number;
  /** Streams this worker runs at most. */
  readonly maxStreams: number;
  readonly modelFile: (model: LiveTask['model']) => Promise<string>;
  readonly log: (line: string) => void;
}

const REFUSED_RETRY_MS = 30_000;

interface OwnedStream {
  readonly stream: LiveStream;
  readonly pipeline: LivePipeline;
  readonly statusTimer: NodeJS.Timeout;
  revision: number;
  crfOn: boolean;
  watched: boolean;
}

/** Publishes each segmented frame for the server's viewers (while it has any), and its class counts for dashboards. */
class ClusterFrameSink implements SegmentationSink {
  readonly name = 'cluster';

  constructor(
    private readonly cluster: Cluster,
    private readonly worker: string,
    private readonly classNames: readonly string[],
    /** Whether the server has viewers: the JPEG and the frame message are skipped otherwise. */
    private readonly watched: () => boolean,
    private readonly onLost: (error: unknown) => void,
  ) {}

  async write(segmentation: Segmentation): Promise<void> {
    const { frame } = segmentation;
    if (this.watched()) this.cluster.connection.publish(liveSubject(frame.streamId), await encodeFrameMessage(segmentation));
    const pixels: Record<string, number> = {};
    segmentation.classPixels.forEach((count, c) => {
      if (count > 0) pixels[this.classNames[c] ?? `class_${c}`] = count;
    });
    const result: FrameResult = {
      stream: frame.streamId, index: frame.index, capturedAt: epochMs(frame.capturedAt), inferredAt: epochMs(segmentation.inferredAt),
      width: frame.width, height: frame.height, crf: segmentation.crf !== undefined, pixels,
      stageMs: Object.fromEntries(Object.entries(segmentation.timings).map(([stage, ms]) => [stage, Math.round(ms * 100) / 100])), worker: this.worker,
    };
    // A result the broker did not take (it is away for a moment) is lost, not the stream.
    await this.cluster.js.publish(resultsSubject(frame.streamId), encode(result)).catch((error: unknown) => this.onLost(error));
  }

  async flush(): Promise<void> {}
  commit(): void {}
  async abort(): Promise<void> {}
}

export class LiveClaims {
  private readonly owned = new Map<string, OwnedStream>();
  /** Streams this worker could not run (their input or model failed here), and until when it leaves them to others. */
  private readonly refused = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly cluster: Cluster,
    private readonly o: LiveClaimsOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.tick()).catch((error: unknown) => this.o.log(`live streams: ${(error as Error).message}`));
    }, leaseTtlMs() / 3);
  }

  get streams(): number {
    return this.owned.size;
  }

  /** Stops every owned stream and gives its lease back (another worker takes it at once). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    const { leases } = await this.cluster.liveStores();
    for (const key of [...this.owned.keys()]) await this.release(key, leases);
  }

  private async tick(): Promise<void> {
    const { tasks, leases } = await this.cluster.liveStores();
    for (const [key, owned] of this.owned) {
      const entry = await tasks.get(key);
      if (!entry || entry.operation !== 'PUT') {
        this.o.log(`stream ${owned.stream.id}: no longer asked for; stopped`);
        await this.release(key, leases);
        continue;
      }
      try {
        owned.revision = await leases.update(key, this.o.id, owned.revision);
      } catch {
        this.o.log(`stream ${owned.stream.id}: lost its lease; stopped`);
        await this.release(key, leases, false);
        continue;
      }
      try {
        const current = parseLiveTask(entry.value);
        owned.crfOn = current.crfOn;
        owned.watched = current.watched;
      } catch (error) {
        this.o.log(`stream ${owned.stream.id}: its task is malformed now (${(error as Error).message}); stopped`);
        await this.release(key, leases);
      }
    }
    if (this.owned.size >= this.o.maxStreams) return;
    const keys: string[] = [];
    for await (const key of await tasks.keys()) keys.push(key);
    // Workers look at the streams in different orders, so that they spread out.
    for (const key of keys.sort(() => Math.random() - 0.5)) {
      if (this.owned.has(key) || (this.refused.get(key) ?? 0) > Date.now()) continue;
      let revision: number;
      try {
        revision = await leases.create(key, this.o.id);
      } catch {
        continue; // another worker holds it
      }
      await this.run(key, revision, tasks, leases);
      return; // one new stream per tick
    }
  }

  private async run(key: string, revision: number, tasks: KV, leases: KV): Promise<void> {
    const entry = await tasks.get(key);
    let task: LiveTask;
    try {
      if (!entry || entry.operation !== 'PUT') throw new Error('no longer asked for');
      task = parseLiveTask(entry.value);
    } catch (error) {
      this.o.log(`stream ${key}: not taken (${(error as Error).message})`);
      await leases.delete(key).catch(() => undefined);
      return;
    }
    try {
      const { run } = task;
      const modelPath = await this.o.modelFile(task.model);
      const plan = await planRun({
        modelPath, batchSize: run.batchSize, mixedSizes: true, crf: Boolean(run.crf),
        ...(run.modelOverrides !== undefined ? { modelOverrides: parseOverrides(run.modelOverrides, "the stream's model settings") } : {}),
        ...(run.inputSize ? { inputSize: run.inputSize } : {}),
        ...(run.tiles ? { tiles: run.tiles } : {}),
        ...(run.tileOverlap !== undefined ? { tileOverlap: run.tileOverlap } : {}),
      });
      const input = { ...parseLiveInput(task.input, { realtime: task.realtime }), id: task.stream };
      // A GStreamer launch line can do anything on this machine (write files, open ports): not from the network.
      if (input.kind === 'gstreamer') throw new Error('gst: pipelines are not taken from the cluster; run that input with a serve of its own on this machine');
      if (input.kind === 'file') await input.open();
      const stream = new LiveStream(input);
      const { descriptor } = plan;
      const { params } = crfParamsFor({ scale: liveCrfScale(descriptor.classes), ...run.crf?.params }, descriptor.crf);
      let dropped = 0;
      let toldLost = false;
      const lostResults = (error: unknown) => {
        if (!toldLost) this.o.log(`stream ${task.stream}: results not taken by the broker (${(error as Error).message}); the stream goes on, its results are lost until the broker is back`);
        toldLost = true;
      };
      const owned: Partial<OwnedStream> & Pick<OwnedStream, 'crfOn' | 'revision' | 'watched'> = { revision, crfOn: task.crfOn, watched: task.watched };
      const pipeline = await startLivePipeline([stream], {
        plan, device: this.o.device, workers: 1, threadsPerWorker: this.o.threads, batchSize: run.batchSize, batchWaitMs: 5,
        crf: { params, enabledFor: () => owned.crfOn, ...(run.crf?.warmStart ? { warmStart: run.crf.warmStart } : {}), workers: 1 },
        sink: new ClusterFrameSink(this.cluster, this.o.id, descriptor.classNames, () => owned.watched, (error) => lostResults(error)),
        onPublished: () => {},
        onDropped: (_stream, _place, count) => (dropped += count),
        log: (line) => this.o.log(`stream ${task.stream}: ${line}`),
      });
      const publishStatus = () =>
        this.cluster.connection.publish(statusSubject(task.stream), encode({
          stream: task.stream, worker: this.o.id, status: stream.status, ...(stream.statusMessage ? { message: stream.statusMessage } : {}),
          width: stream.width, height: stream.height, dropped: stream.dropped + dropped,
        }));
      stream.on('status', (status, message) => {
        this.o.log(`stream ${task.stream}: ${status}${message ? `: ${message}` : ''}`);
        publishStatus();
      });
      this.owned.set(key, Object.assign<typeof owned, Omit<OwnedStream, 'revision' | 'crfOn' | 'watched'>>(owned, { stream, pipeline, statusTimer: setInterval(publishStatus, 1000) }));
      this.o.log(`stream ${task.stream}: taken (${task.input})`);
      void pipeline.finished.catch((error: unknown) => this.o.log(`stream ${task.stream}: stopped (${(error as Error).message})`));
    } catch (error) {
      const message = (error as Error).message;
      this.o.log(`stream ${task.stream}: cannot run it here (${message}); left to another worker`);
      this.cluster.connection.publish(statusSubject(task.stream), encode({ stream: task.stream, worker: this.o.id, status: 'failed', message, width: 0, height: 0, dropped: 0 }));
      this.refused.set(key, Date.now() + REFUSED_RETRY_MS);
      await leases.delete(key).catch(() => undefined);
    }
  }

  private async release(key: string, leases: KV, ours = true): Promise<void> {
    const owned = this.owned.get(key);
    this.owned.delete(key);
    if (owned) {
      clearInterval(owned.statusTimer);
      await owned.pipeline.close();
    }
    if (ours) await leases.delete(key).catch(() => undefined);
  }
}
