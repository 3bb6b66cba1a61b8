/**
 * A worker's live streams (`serve --nats`). Two timers, each a third of the lease's time to live:
 *
 *   renew: every owned lease updated at the revision this worker wrote (a lease it lost stops its
 *          stream, and nothing of it is deleted); the task read again (CRF on/off, watched)
 *   claim: at most one stream nobody holds — checked against this worker's rules (inputPolicy.ts,
 *          runLimits.ts), its model fetched, its plan made and its input probed, and only then the
 *          lease created (atomically: one owner) and the pipeline started
 *
 * so a slow claim (a big model, a camera slow to answer) never delays a renewal, and a stream
 * never has two publishers. Each owned stream's frames go to deeplab.live.<stream>, its status to
 * deeplab.status.<stream>, its per-frame results to deeplab.results.<stream>.
 */
import type { KV } from '@nats-io/kv';
import { redactSecrets } from '../core/redact.js';
import { crfParamsFor } from '../crf/crfParams.js';
import type { Device } from '../model/device.js';
import { liveCrfScale, type LivePipeline, startLivePipeline } from '../pipeline/livePipeline.js';
import { planRun, type RunPlan } from '../pipeline/runPlan.js';
import { planOptionsOf } from './runSettings.js';
import { type LiveInput, type OpenedInput, parseLiveInput } from '../sources/liveInputs.js';
import { LiveStream } from '../sources/liveStream.js';
import { LiveStreamSet } from '../sources/liveStreamSet.js';
import { checkInput, type InputPolicy } from '../sources/inputPolicy.js';
import { zoneMeasure } from '../zones/zoneShares.js';
import { parseZones } from '../zones/zoneSpec.js';
import type { Cluster } from './natsCluster.js';
import { ClusterFrameSink, type ZoneMeasure } from './clusterFrameSink.js';
import { encode, leaseTtlMs, type LiveTask, parseLiveTask, statusSubject, type StreamStatus } from './protocol.js';
import { checkRunLimits, type RunLimits } from './runLimits.js';
import { openSealedInput, type InputKey } from './sealedInput.js';

export interface LiveClaimsOptions {
  readonly id: string;
  readonly device: Device;
  readonly threads: number;
  /** Streams this worker runs at most. */
  readonly maxStreams: number;
  /** What this worker's operator lets a task open, and how big a run it may ask for. */
  readonly inputs: InputPolicy;
  readonly limits: RunLimits;
  /** The key serve seals input credentials with (`--input-key`), if this worker has it. */
  readonly inputKey: InputKey | undefined;
  readonly modelFile: (model: LiveTask['model']) => Promise<string>;
  /** Redacts what it is given (the worker's log): statuses published on the broker are redacted here. */
  readonly log: (line: string) => void;
}

const REFUSED_RETRY_MS = 30_000;

interface OwnedStream {
  readonly task: LiveTask;
  /** The lease's revision as this worker last wrote it: every update and delete is conditional on it. */
  revision: number;
  crfOn: boolean;
  watched: boolean;
  /** The task's zones as JSON (to see them change) and their measure (null: none, or not valid for this model). */
  zonesKey: string;
  zones: ZoneMeasure | null;
  readonly classNames: readonly string[];
  /** Set once the pipeline runs (the lease is renewed from the moment it is taken). */
  running: {
    readonly stream: LiveStream;
    readonly pipeline: LivePipeline;
    readonly statusTimer: NodeJS.Timeout;
  } | null;
}

/** Everything a stream needs before its lease is taken: nothing here publishes. */
interface PreparedStream {
  readonly task: LiveTask;
  readonly plan: RunPlan;
  readonly input: LiveInput;
}

/** An input opened once to probe it: the stream's first open takes that, later ones (reconnects) open anew. */
function preOpened(input: LiveInput, opened: OpenedInput): LiveInput {
  let first: OpenedInput | null = opened;
  return {
    ...input,
    open: () => {
      const ready = first;
      first = null;
      return ready ? Promise.resolve(ready) : input.open();
    },
  };
}

export class LiveClaims {
  private readonly owned = new Map<string, OwnedStream>();
  /** Streams this worker could not or would not run, and until when it leaves them to others. */
  private readonly refused = new Map<string, number>();
  private renewTimer: NodeJS.Timeout | null = null;
  private claimTimer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> = Promise.resolve();
  private claiming: Promise<void> = Promise.resolve();
  /** A claim is under way (model fetch, plan, probe): the next tick does not start another. */
  private claimInProgress = false;
  private stopped = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly o: LiveClaimsOptions,
  ) {}

  start(): void {
    const every = leaseTtlMs() / 3;
    const report = (error: unknown) => this.o.log(`live streams: ${(error as Error).message}`);
    this.renewTimer = setInterval(() => {
      this.renewing = this.renewing.then(() => this.renew()).catch(report);
    }, every);
    this.claimTimer = setInterval(() => {
      // A claim still in progress is not started twice; renewals go on beside it.
      if (this.claimInProgress) return;
      this.claimInProgress = true;
      this.claiming = this.claimOne()
        .catch(report)
        .finally(() => (this.claimInProgress = false));
    }, every);
  }

  get streams(): number {
    return this.owned.size;
  }

  /** Stops every owned stream and gives its lease back (another worker takes it at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.claimTimer) clearInterval(this.claimTimer);
    await Promise.all([this.renewing, this.claiming]);
    const { leases } = await this.cluster.liveStores();
    for (const key of [...this.owned.keys()]) await this.release(key, leases);
  }

  private async renew(): Promise<void> {
    const { tasks, leases } = await this.cluster.liveStores();
    for (const [key, owned] of this.owned) {
      try {
        owned.revision = await leases.update(key, this.o.id, owned.revision);
      } catch {
        this.o.log(`stream ${owned.task.stream}: lost its lease; stopped`);
        await this.release(key, leases, false);
        continue;
      }
      const entry = await tasks.get(key);
      if (!entry || entry.operation !== 'PUT') {
        this.o.log(`stream ${owned.task.stream}: no longer asked for; stopped`);
        await this.release(key, leases);
        continue;
      }
      try {
        const current = parseLiveTask(entry.value);
        if (
          current.stream !== owned.task.stream ||
          current.input !== owned.task.input ||
          current.model.object !== owned.task.model.object
        )
          throw new Error('it asks for another input or model now');
        owned.crfOn = current.crfOn;
        owned.watched = current.watched;
        this.takeZones(owned, current);
      } catch (error) {
        this.o.log(`stream ${owned.task.stream}: its task changed (${(error as Error).message}); stopped`);
        await this.release(key, leases);
      }
    }
  }

  private async claimOne(): Promise<void> {
    if (this.stopped || this.owned.size >= this.o.maxStreams) return;
    const { tasks, leases } = await this.cluster.liveStores();
    const keys: string[] = [];
    for await (const key of await tasks.keys()) keys.push(key);
    // Workers look at the streams in different orders, so that they spread out.
    for (const key of keys.sort(() => Math.random() - 0.5)) {
      if (this.owned.has(key) || (this.refused.get(key) ?? 0) > Date.now()) continue;
      const lease = await leases.get(key).catch(() => null);
      if (lease && lease.operation === 'PUT') continue; // another worker holds it
      const entry = await tasks.get(key);
      if (!entry || entry.operation !== 'PUT') continue;
      let task: LiveTask;
      try {
        task = parseLiveTask(entry.value);
      } catch (error) {
        this.o.log(`stream ${key}: not taken (${(error as Error).message})`);
        this.refused.set(key, Date.now() + REFUSED_RETRY_MS);
        continue;
      }
      const prepared = await this.prepare(key, task);
      if (!prepared || this.stopped) return;
      await this.take(key, prepared, leases);
      return; // one new stream per claim
    }
  }

  /** Says in the stream's status why this worker does not run it, and leaves it to others for a while. */
  private refuse(key: string, task: LiveTask, message: string): void {
    this.o.log(`stream ${task.stream}: ${message}; left to another worker`);
    const status: StreamStatus = {
      stream: task.stream,
      worker: this.o.id,
      status: 'failed',
      message,
      width: 0,
      height: 0,
      dropped: 0,
    };
    this.cluster.connection.publish(statusSubject(task.stream), encode(status));
    this.refused.set(key, Date.now() + REFUSED_RETRY_MS);
  }

  /** The rules, the model, the plan and the input — all before the lease; null when refused or failed (said). */
  private async prepare(key: string, task: LiveTask): Promise<PreparedStream | null> {
    let spec: string;
    try {
      spec = openSealedInput(task, this.o.inputKey);
    } catch (error) {
      this.refuse(key, task, (error as Error).message);
      return null;
    }
    const allowed = checkInput(spec, this.o.inputs);
    if ('refused' in allowed) {
      this.refuse(key, task, allowed.refused);
      return null;
    }
    const over = checkRunLimits(task.run, this.o.limits);
    if (over) {
      this.refuse(key, task, over);
      return null;
    }
    try {
      const { run } = task;
      const modelPath = await this.o.modelFile(task.model);
      const planned = planOptionsOf(run, modelPath, "the stream's model settings");
      // A live stream runs one scale, unflipped, whatever its task says.
      const plan = await planRun({
        ...planned,
        scales: undefined,
        flip: undefined,
        batchSize: run.batchSize,
        mixedSizes: true,
        crf: Boolean(run.crf),
      });
      const input = { ...parseLiveInput(spec, { realtime: task.realtime }), id: task.stream };
      return { task, plan, input: preOpened(input, await input.open()) };
    } catch (error) {
      this.refuse(key, task, `cannot run it here (${redactSecrets((error as Error).message)})`);
      return null;
    }
  }

  private async take(key: string, prepared: PreparedStream, leases: KV): Promise<void> {
    const { task, plan, input } = prepared;
    let revision: number;
    try {
      revision = await leases.create(key, this.o.id);
    } catch {
      await input.open().then(
        (opened) => opened.release(),
        () => undefined,
      );
      return; // another worker took it while this one prepared
    }
    const owned: OwnedStream = {
      task,
      revision,
      crfOn: task.crfOn,
      watched: task.watched,
      zonesKey: '',
      zones: null,
      classNames: plan.descriptor.classNames,
      running: null,
    };
    this.takeZones(owned, task);
    this.owned.set(key, owned);
    try {
      const { run } = task;
      const stream = new LiveStream(input);
      const { descriptor } = plan;
      const { params } = crfParamsFor({ scale: liveCrfScale(descriptor.classes), ...run.crf?.params }, descriptor.crf);
      let dropped = 0;
      let toldLost = false;
      const lostResults = (error: unknown) => {
        if (!toldLost)
          this.o.log(
            `stream ${task.stream}: results not taken by the broker (${(error as Error).message}); the stream goes on, its results are lost until the broker is back`,
          );
        toldLost = true;
      };
      const pipeline = await startLivePipeline(new LiveStreamSet([stream]), {
        plan,
        device: this.o.device,
        workers: 1,
        threadsPerWorker: this.o.threads,
        batchSize: run.batchSize,
        batchWaitMs: 5,
        ...(run.tileRefresh ? { windowRefresh: run.tileRefresh } : {}),
        crf: {
          params,
          enabledFor: () => owned.crfOn,
          ...(run.crf?.warmStart ? { warmStart: run.crf.warmStart } : {}),
          workers: 1,
        },
        sink: new ClusterFrameSink(
          this.cluster,
          this.o.id,
          descriptor.classNames,
          () => owned.watched,
          () => owned.zones,
          Boolean(run.masksRle),
          (error) => lostResults(error),
        ),
        onPublished: () => {},
        onDropped: (_stream, _place, count) => (dropped += count),
        log: (line) => this.o.log(`stream ${task.stream}: ${line}`),
      });
      const publishStatus = () =>
        this.cluster.connection.publish(
          statusSubject(task.stream),
          encode({
            stream: task.stream,
            worker: this.o.id,
            status: stream.status,
            ...(stream.statusMessage ? { message: stream.statusMessage } : {}),
            width: stream.width,
            height: stream.height,
            dropped: stream.dropped + dropped,
          }),
        );
      stream.on('status', (status, message) => {
        this.o.log(`stream ${task.stream}: ${status}${message ? `: ${message}` : ''}`);
        publishStatus();
      });
      owned.running = { stream, pipeline, statusTimer: setInterval(publishStatus, 1000) };
      if (!this.owned.has(key)) {
        // The lease was lost while the pipeline started: the renewal let go of it already.
        await this.stopRunning(owned);
        return;
      }
      this.o.log(`stream ${task.stream}: taken (${input.shown})`);
      void pipeline.finished.catch((error: unknown) =>
        this.o.log(`stream ${task.stream}: stopped (${(error as Error).message})`),
      );
    } catch (error) {
      this.refuse(key, task, `cannot run it here (${redactSecrets((error as Error).message)})`);
      await this.release(key, leases);
    }
  }

  /** The task's zones, when they changed: measured from the next frame on (a list this model cannot measure is told, and none are). */
  private takeZones(owned: OwnedStream, task: LiveTask): void {
    const key = JSON.stringify(task.zones ?? []);
    if (key === owned.zonesKey) return;
    owned.zonesKey = key;
    owned.zones = null;
    const { classNames } = owned;
    if (!task.zones || task.zones.length === 0) return;
    try {
      owned.zones = zoneMeasure(parseZones(task.zones, classNames, `stream ${task.stream}`), classNames);
    } catch (error) {
      this.o.log(`${(error as Error).message}; its zones are not measured`);
    }
  }

  private async stopRunning(owned: OwnedStream): Promise<void> {
    const running = owned.running;
    owned.running = null;
    if (!running) return;
    clearInterval(running.statusTimer);
    await running.pipeline.close();
  }

  /** Stops the stream; `ours`: the lease is deleted too — only at the revision this worker wrote. */
  private async release(key: string, leases: KV, ours = true): Promise<void> {
    const owned = this.owned.get(key);
    this.owned.delete(key);
    if (!owned) return;
    await this.stopRunning(owned);
    if (ours) await leases.delete(key, { previousSeq: owned.revision }).catch(() => undefined);
  }
}
