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
import { ClusterError } from '../../core/errors.js';
import type { LiveMetrics } from '../../server/metrics.js';
import type { ViewerHub } from '../../server/viewerHub.js';
import type { LiveInput } from '../sources/liveInputs.js';
import { type Cluster, openCluster } from './natsCluster.js';
import { encode, leaseTtlMs, type LiveTask, parseStreamStatus, type RunSettings, streamToken, type StreamStatus } from './protocol.js';

export interface LiveRelayOptions {
  readonly url: string;
  readonly inputs: readonly LiveInput[];
  readonly realtime: boolean;
  readonly modelPath: string;
  readonly run: RunSettings;
  readonly crfOn: (streamId: string) => boolean;
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
  status(streamId: string): RemoteStatus | undefined;
  /** A viewer switched the stream's CRF: its worker reads the task again within a lease tick. */
  setCrf(streamId: string): Promise<void>;
  /** The first viewer came or the last one left: the workers start or stop sending frames. */
  viewersChanged(): Promise<void>;
  close(): Promise<void>;
}

/** The frame message's JSON header (u32 LE length, then UTF-8 JSON): its stream, or null when malformed. */
function frameHeader(bytes: Uint8Array): { streamId: string } | null {
  if (bytes.length < 4) return null;
  const length = Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0);
  if (length > 65536 || 4 + length > bytes.length) return null;
  try {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length))) as { streamId?: unknown };
    return typeof header.streamId === 'string' ? { streamId: header.streamId } : null;
  } catch {
    return null;
  }
}

/** A FrameResult's times, as much as /metrics needs (a malformed one is skipped). */
function frameResult(bytes: Uint8Array): { capturedAt: number; stageMs: Record<string, number> } | null {
  try {
    const result = JSON.parse(new TextDecoder().decode(bytes)) as { capturedAt?: unknown; stageMs?: unknown };
    if (typeof result.capturedAt !== 'number' || typeof result.stageMs !== 'object' || result.stageMs === null) return null;
    return { capturedAt: result.capturedAt, stageMs: result.stageMs as Record<string, number> };
  } catch {
    return null;
  }
}

export async function startLiveRelay(o: LiveRelayOptions): Promise<LiveRelay> {
  const cluster: Cluster = await openCluster(o.url, { persistent: true, name: `deeplab-stream serve ${os.hostname()}:${process.pid}`, log: o.log });
  const subscriptions: Subscription[] = [];
  const statuses = new Map<string, { status: StreamStatus; at: number }>();
  const byToken = new Map(o.inputs.map((i) => [streamToken(i.id), i.id]));
  try {
    const model = await cluster.putModel(o.modelPath);
    const { tasks } = await cluster.liveStores();
    const taskFor = (input: LiveInput): LiveTask => ({ stream: input.id, input: input.spec, realtime: o.realtime, model, run: o.run, crfOn: o.crfOn(input.id), watched: o.hub.viewerCount > 0, server: `${os.hostname()}:${process.pid}` });
    for (const input of o.inputs) {
      const existing = await tasks.get(streamToken(input.id));
      if (existing?.operation === 'PUT') o.log(`note: stream ${input.id} was already asked for on the cluster; this server takes it over`);
      await tasks.put(streamToken(input.id), encode(taskFor(input)));
    }
    // The tasks expire unless put again: renewed every lease lifetime while this server runs.
    const renewal = setInterval(() => {
      void Promise.all(o.inputs.map((input) => tasks.put(streamToken(input.id), encode(taskFor(input))))).catch((error: unknown) => o.log(`the cluster did not take the streams' renewal (${(error as Error).message})`));
    }, leaseTtlMs());
    const frames = cluster.connection.subscribe('deeplab.live.*');
    const status = cluster.connection.subscribe('deeplab.status.*');
    // Every segmented frame's result, watched or not: what /metrics counts, as for local streams.
    const results = cluster.connection.subscribe('deeplab.results.*');
    subscriptions.push(frames, status, results);
    void (async () => {
      for await (const message of frames) {
        const id = byToken.get(message.subject.slice('deeplab.live.'.length));
        const header = id === undefined ? null : frameHeader(message.data);
        // Workers are trusted no further than their frame's header: a stream of ours, well formed.
        if (id === undefined || !header || header.streamId !== id) continue;
        o.hub.publish(id, Buffer.from(message.data));
      }
    })();
    void (async () => {
      for await (const message of results) {
        const id = byToken.get(message.subject.slice('deeplab.results.'.length));
        const result = id === undefined ? null : frameResult(message.data);
        if (id !== undefined && result) o.metrics.frameRelayed(id, result);
      }
    })();
    void (async () => {
      for await (const message of status) {
        const id = byToken.get(message.subject.slice('deeplab.status.'.length));
        if (id === undefined) continue;
        let parsed: StreamStatus;
        try {
          parsed = parseStreamStatus(message.data);
        } catch {
          continue;
        }
        const previous = statuses.get(id)?.status;
        statuses.set(id, { status: parsed, at: Date.now() });
        // The worker's drop count (source and stale, since it took the stream) into this server's counters.
        const sameOwner = previous?.worker === parsed.worker;
        o.metrics.framesDropped(id, 'source', Math.max(0, parsed.dropped - (sameOwner ? previous.dropped : 0)));
        if (parsed.status === 'outage' && !(sameOwner && previous.status === 'outage')) o.metrics.sourceOutage(id);
        if (previous?.status !== parsed.status || previous.worker !== parsed.worker) {
          o.log(`stream ${id}: ${parsed.status} on worker ${parsed.worker}${parsed.message ? `: ${parsed.message}` : ''}`);
          o.onStatus();
        }
      }
    })();
    return {
      status: (id) => {
        const known = statuses.get(id);
        return known ? { ...known.status, stale: Date.now() - known.at > 2 * leaseTtlMs() } : undefined;
      },
      setCrf: async (id) => {
        const input = o.inputs.find((i) => i.id === id);
        if (input) await tasks.put(streamToken(id), encode(taskFor(input)));
      },
      viewersChanged: async () => {
        await Promise.all(o.inputs.map((input) => tasks.put(streamToken(input.id), encode(taskFor(input)))));
      },
      close: async () => {
        clearInterval(renewal);
        for (const s of subscriptions) s.unsubscribe();
        // Streams no longer asked for: their workers stop them at their next lease tick.
        for (const input of o.inputs) await tasks.delete(streamToken(input.id)).catch(() => undefined);
        await cluster.close();
      },
    };
  } catch (error) {
    await cluster.close();
    throw error instanceof ClusterError ? error : new ClusterError(`the NATS server at ${o.url} refused the live streams (${(error as Error).message})`);
  }
}

