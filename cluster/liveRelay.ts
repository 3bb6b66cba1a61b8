/**
 * `serve --nats URL`: the server side of live streams run by the cluster's workers. It asks for
 * each stream (a LiveTask in the `deeplab-live` bucket, the model in the object store), relays the
 * frames workers publish on deeplab.live.<stream> to its viewers unchanged (workers send them only
 * while it has viewers), counts every frame's result (deeplab.results.<stream>) in /metrics, and keeps each stream's
 * last status (deeplab.status.<stream>) for the viewers and /healthz. A status older than two
 * lease lifetimes means the owner died and the stream waits for the next worker. The tasks are put
 * again every lease lifetime and expire after three: a server killed outright leaves no stream
 * running on the workers for long.
 *
 *   serve ─LiveTask─▶ KV ◀─lease─ worker ─frames─▶ deeplab.live.<stream> ─▶ relay ─▶ ViewerHub ─▶ sockets
 */
import os from 'node:os';
import type { Subscription } from '@nats-io/transport-node';
import { ClusterError, UsageError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import type { LiveMetrics } from '../server/metrics.js';
import type { ViewerHub } from '../server/viewerHub.js';
import { splitFrameMessage } from '../server/wireFormat.js';
import type { LiveInput } from '../sources/liveInputs.js';
import { type Cluster, openCluster } from './natsCluster.js';
import type { NatsTarget } from './natsSecurity.js';
import {
  encode,
  eventsSubject,
  type FrameResult,
  leaseTtlMs,
  type LiveTask,
  parseFrameResult,
  parseLiveTask,
  parseStreamStatus,
  type RunSettings,
  streamToken,
  type StreamStatus,
} from './protocol.js';
import { hasCredentials, type InputKey, sealInput } from './sealedInput.js';
import type { ZoneShares } from '../zones/zoneShares.js';
import type { ZoneSpec } from '../zones/zoneSpec.js';
import type { ZoneEvent } from '../zones/zoneTracker.js';

export interface LiveRelayOptions {
  readonly nats: NatsTarget;
  readonly inputs: readonly LiveInput[];
  readonly modelPath: string;
  /** The run settings of a stream's task (the server's, with the stream's own classes shown). */
  readonly runOf: (streamId: string) => RunSettings;
  readonly crfOn: (streamId: string) => boolean;
  /** The zones the stream's worker measures (checked by the server; [] for none). */
  readonly zonesOf: (streamId: string) => readonly ZoneSpec[];
  /** A frame's zone shares, as its worker measured them. */
  readonly onZones: (stream: string, frame: number, capturedAt: number, shares: readonly ZoneShares[]) => void;
  /** Seals inputs with credentials for the workers (required when an input has any). */
  readonly inputKey?: InputKey;
  readonly hub: ViewerHub;
  readonly metrics: LiveMetrics;
  /** A stream's status changed (tell the viewers). */
  readonly onStatus: () => void;
  readonly log: (line: string) => void;
}

export interface RemoteStatus extends StreamStatus {
  /** The owner has not been heard from for two lease lifetimes. */
  readonly stale: boolean;
}

export interface LiveRelay {
  /** The streams asked for now. */
  readonly inputs: readonly LiveInput[];
  status(streamId: string): RemoteStatus | undefined;
  /** Asks the cluster for one more stream: UsageError when another server holds its id. */
  add(input: LiveInput): Promise<void>;
  /** Stops asking for a stream; false when this relay has none by that id. */
  remove(streamId: string): Promise<boolean>;
  /** The stream's task again (CRF, zones): its worker reads it within a lease tick. */
  update(streamId: string): Promise<void>;
  /** A zone event on deeplab.events.<stream>. */
  publishEvent(event: ZoneEvent): void;
  /** The first viewer came or the last one left: the workers start or stop sending frames. */
  viewersChanged(): Promise<void>;
  close(): Promise<void>;
}

/** A FrameResult as checked (a malformed one is null). */
function frameResult(bytes: Uint8Array): FrameResult | null {
  try {
    return parseFrameResult(bytes);
  } catch {
    return null;
  }
}

/** A live source delivers at most this many frames a second: a status claiming more drops than that is not believed past it. */
const MAX_DROPS_PER_SECOND = 300;

export async function startLiveRelay(o: LiveRelayOptions): Promise<LiveRelay> {
  const cluster: Cluster = await openCluster(o.nats, {
    role: 'server',
    persistent: true,
    name: `deeplab-stream serve ${os.hostname()}:${process.pid}`,
    log: o.log,
  });
  const subscriptions: Subscription[] = [];
  const statuses = new Map<string, { status: StreamStatus; at: number }>();
  const server = `${os.hostname()}:${process.pid}`;
  try {
    const inputs: LiveInput[] = [];
    const sealed = new Map<string, string>();
    const model = await cluster.putModel(o.modelPath);
    const { tasks } = await cluster.liveStores();
    const taskFor = (input: LiveInput): LiveTask => {
      const sealedInput = sealed.get(input.id);
      const zones = o.zonesOf(input.id);
      return {
        stream: input.id,
        input: input.shown,
        ...(sealedInput ? { sealedInput } : {}),
        // Files named on serve's command line follow --realtime; those added over its API are always live.
        realtime: input.latestWins,
        model,
        run: o.runOf(input.id),
        crfOn: o.crfOn(input.id),
        watched: o.hub.viewerCount > 0,
        server,
        ...(zones.length > 0 ? { zones: [...zones] } : {}),
      };
    };
    // Each task is this server's alone: created where there is none, then updated at the revision it wrote.
    const revisions = new Map<string, number>();
    /** The serve process that holds a stream's task (null: none does; its task expired meanwhile). */
    const holderOf = async (key: string): Promise<string | null> => {
      const entry = await tasks.get(key).catch(() => null);
      if (entry?.operation !== 'PUT') return null;
      try {
        return parseLiveTask(entry.value).server;
      } catch {
        return 'an unknown process';
      }
    };
    const byToken = new Map<string, string>();
    const add = async (input: LiveInput) => {
      if (hasCredentials(input.spec)) {
        if (!o.inputKey)
          throw new UsageError(
            `${input.shown}: its credentials would travel to the workers readable by every client of the broker; give serve and its workers the same --input-key FILE (any secret: openssl rand -hex 32 > input.key)`,
          );
        sealed.set(input.id, sealInput(input.spec, o.inputKey));
      }
      const key = streamToken(input.id);
      try {
        revisions.set(input.id, await tasks.create(key, encode(taskFor(input))));
      } catch {
        const holder = await holderOf(key);
        if (holder !== null) {
          sealed.delete(input.id);
          throw new UsageError(
            `stream ${input.id} is already served on the cluster by serve ${holder}: stop that server first (a server killed outright lets go of it within ${(3 * leaseTtlMs()) / 1000} s)`,
          );
        }
        revisions.set(input.id, await tasks.create(key, encode(taskFor(input))));
      }
      inputs.push(input);
      byToken.set(key, input.id);
    };
    for (const input of o.inputs) await add(input);
    const update = async (input: LiveInput) => {
      const revision = revisions.get(input.id);
      if (revision === undefined) return;
      try {
        revisions.set(input.id, await tasks.update(streamToken(input.id), encode(taskFor(input)), revision));
      } catch (error) {
        revisions.delete(input.id);
        o.log(
          `stream ${input.id}: its task on the cluster was changed or removed by another process (${redactSecrets((error as Error).message)}); this server no longer asks for it`,
        );
      }
    };
    const updateAll = () => Promise.all(inputs.map(update));
    // The tasks expire unless put again: renewed every lease lifetime while this server runs.
    const renewal = setInterval(() => void updateAll(), leaseTtlMs());
    const ignored = (reason: string) => o.metrics.clusterMessageIgnored(reason);
    // Anyone on the broker may publish on these subjects: what is not one of this server's streams,
    // or not well formed, is ignored and counted (deeplab_cluster_messages_ignored_total).
    const subscribe = (subject: string) => {
      const subscription = cluster.connection.subscribe(subject);
      subscriptions.push(subscription);
      return subscription;
    };
    const frames = subscribe('deeplab.live.*');
    const status = subscribe('deeplab.status.*');
    // Every segmented frame's result, watched or not: what /metrics counts, as for local streams.
    const results = subscribe('deeplab.results.*');
    const streamOf = (subject: string) => byToken.get(subject.slice(subject.lastIndexOf('.') + 1));
    void (async () => {
      for await (const message of frames) {
        const id = streamOf(message.subject);
        if (id === undefined) {
          ignored('unknown_stream');
          continue;
        }
        const header = splitFrameMessage(message.data)?.header;
        // Workers are trusted no further than their frame's header: a stream of ours, well formed.
        if (!header || header.streamId !== id) ignored('malformed');
        else o.hub.publish(id, Buffer.from(message.data));
      }
    })();
    void (async () => {
      for await (const message of results) {
        const id = streamOf(message.subject);
        const result = id === undefined ? null : frameResult(message.data);
        if (id === undefined) ignored('unknown_stream');
        else if (!result || result.stream !== id) ignored('malformed');
        else {
          o.metrics.frameRelayed(id, result);
          if (result.zones) o.onZones(id, result.index, result.capturedAt, result.zones);
        }
      }
    })();
    void (async () => {
      for await (const message of status) {
        const id = streamOf(message.subject);
        if (id === undefined) {
          ignored('unknown_stream');
          continue;
        }
        let parsed: StreamStatus;
        try {
          parsed = parseStreamStatus(message.data);
          if (parsed.stream !== id) throw new Error('another stream');
        } catch {
          ignored('malformed');
          continue;
        }
        const known = statuses.get(id);
        const previous = known?.status;
        const now = Date.now();
        statuses.set(id, { status: parsed, at: now });
        // The worker's drop count (source and stale, since it took the stream) into this server's counters,
        // no more than a source could have dropped since its last word.
        const sameOwner = previous?.worker === parsed.worker;
        const plausible = MAX_DROPS_PER_SECOND * Math.max(1, (now - (known?.at ?? now)) / 1000);
        o.metrics.framesDropped(
          id,
          'source',
          Math.min(plausible, Math.max(0, parsed.dropped - (sameOwner ? previous.dropped : 0))),
        );
        if (parsed.status === 'outage' && !(sameOwner && previous.status === 'outage')) o.metrics.sourceOutage(id);
        if (previous?.status !== parsed.status || previous.worker !== parsed.worker) {
          o.log(
            `stream ${id}: ${parsed.status} on worker ${parsed.worker}${parsed.message ? `: ${parsed.message}` : ''}`,
          );
          o.onStatus();
        }
      }
    })();
    const remove = async (id: string) => {
      const at = inputs.findIndex((i) => i.id === id);
      if (at < 0) return false;
      inputs.splice(at, 1);
      byToken.delete(streamToken(id));
      sealed.delete(id);
      statuses.delete(id);
      const revision = revisions.get(id);
      revisions.delete(id);
      // Its worker stops it at its next lease tick. Only a task still this server's.
      if (revision !== undefined) await tasks.delete(streamToken(id), { previousSeq: revision }).catch(() => undefined);
      return true;
    };
    return {
      inputs,
      add,
      remove,
      update: async (id) => {
        const input = inputs.find((i) => i.id === id);
        if (input) await update(input);
      },
      publishEvent: (event) => {
        if (byToken.has(streamToken(event.stream)))
          cluster.connection.publish(eventsSubject(event.stream), encode(event));
      },
      status: (id) => {
        const known = statuses.get(id);
        return known ? { ...known.status, stale: Date.now() - known.at > 2 * leaseTtlMs() } : undefined;
      },
      viewersChanged: async () => {
        await updateAll();
      },
      close: async () => {
        clearInterval(renewal);
        for (const s of subscriptions) s.unsubscribe();
        // Streams no longer asked for: their workers stop them at their next lease tick.
        for (const input of [...inputs]) await remove(input.id);
        await cluster.close();
      },
    };
  } catch (error) {
    await cluster.close();
    throw error instanceof ClusterError || error instanceof UsageError
      ? error
      : new ClusterError(
          `the NATS server at ${redactSecrets(o.nats.url)} refused the live streams (${redactSecrets((error as Error).message)})`,
        );
  }
}
