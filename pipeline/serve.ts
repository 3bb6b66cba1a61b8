/**
 * The live run: several inputs segmented at once and pushed to browsers over WebSockets.
 *
 *   LiveStream × N ─▶ startLivePipeline (livePipeline.ts: credits, batches across streams, shared
 *     workers, latest wins, CRF per stream) ─▶ ViewerSink ─▶ ViewerHub ─▶ sockets
 */
import type { TileGrid } from '../model/tiles.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CrfSettings, crfParamsFor } from '../crf/crfParams.js';
import type { ModelOverrides } from '../model/modelOverrides.js';
import type { Device } from '../model/device.js';
import { startHttpServer, type RunningHttpServer } from '../server/httpServer.js';
import { LiveMetrics } from '../server/metrics.js';
import { ViewerHub } from '../server/viewerHub.js';
import { ViewerSink } from '../server/viewerSink.js';
import type { StreamDescription } from '../server/wireFormat.js';
import { UsageError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import type { NatsTarget } from '../cluster/natsSecurity.js';
import type { InputKey } from '../cluster/sealedInput.js';
import { parseLiveInput, type LiveInput } from '../sources/liveInputs.js';
import { LiveStream, type LiveStreamOptions } from '../sources/liveStream.js';
import { liveCrfScale, type LivePipeline, startLivePipeline } from './livePipeline.js';
import { type LiveRelay, startLiveRelay } from '../cluster/liveRelay.js';
import { runSettingsFor } from '../cluster/runSettings.js';
import { planRun } from './runPlan.js';

export interface ServeOptions {
  readonly inputs: readonly string[];
  /** Pace files at their frame rate and let them drop frames like live inputs. */
  readonly realtime?: boolean;
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  /** Host names the server answers to besides IP addresses, localhost and `host` (DNS rebinding). */
  readonly allowedHosts?: readonly string[];
  /** WebSocket viewers at most (default 64). */
  readonly maxViewers?: number;
  readonly modelPath: string;
  readonly modelOverrides?: ModelOverrides;
  readonly device: Device;
  readonly workers: number;
  readonly threadsPerWorker: number;
  readonly batchSize: number;
  readonly batchWaitMs?: number;
  readonly inputSize?: readonly [number, number];
  /** Sliding-window inference (`--tiles`) and the windows' overlap. */
  readonly tiles?: TileGrid;
  readonly tileOverlap?: number;
  /** CRF parameters for streams whose CRF is on; `on` is the state each stream starts in. */
  readonly crf: { readonly on: boolean; readonly params: CrfSettings; readonly warmStart?: { readonly iterations: number; readonly sceneCut: number }; readonly workers?: number };
  readonly viewers?: { readonly maxQueuedFrames?: number; readonly maxBufferedBytes?: number; readonly heartbeatMs?: number };
  readonly reconnect?: LiveStreamOptions;
  /** One line per event worth telling (stream status changes). */
  readonly log?: (line: string) => void;
  /** Run the streams on the workers of this NATS cluster (`worker --nats`) instead of here. */
  readonly nats?: NatsTarget;
  /** With `nats`: seals inputs' credentials for the workers (sealedInput.ts). */
  readonly inputKey?: InputKey;
}

export interface LiveServer {
  readonly url: string;
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  /** The streams segmented in this process (none with `nats`: the workers run them). */
  readonly streams: readonly LiveStream[];
  readonly streamIds: readonly string[];
  readonly hub: ViewerHub;
  readonly metrics: LiveMetrics;
  /** Rejects if the pipeline fails (a worker crash); resolves when every input has ended. */
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

/** viewer/ beside pipeline/ in the source tree, or two levels up from dist/pipeline/. */
function viewerDir(): string {
  for (const relative of ['../viewer/', '../../viewer/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error('the viewer files (viewer/index.html) are missing from this installation');
}

export async function startLiveServer(options: ServeOptions): Promise<LiveServer> {
  const { batchSize, batchWaitMs = 5, log = () => {} } = options;
  if (options.inputs.length === 0) throw new UsageError('serve needs at least one input (a file, testsrc, rtsp://…, http(s)://… or camera:N)');
  const taken = new Set<string>();
  const inputs: LiveInput[] = options.inputs.map((spec) => {
    const input = parseLiveInput(spec, { takenIds: taken, ...(options.realtime ? { realtime: true } : {}) });
    taken.add(input.id);
    return input;
  });
  // A file that is missing or undecodable is a mistake on the command line, not an outage (a
  // cluster's workers open their inputs themselves, on their machines).
  if (!options.nats) await Promise.all(inputs.filter((i) => i.kind === 'file').map((i) => i.open()));
  // Every check of flags against the model before any worker starts; streams batch together.
  const plan = await planRun({
    modelPath: options.modelPath, batchSize, mixedSizes: true, crf: options.crf.on,
    ...(options.modelOverrides ? { modelOverrides: options.modelOverrides } : {}),
    ...(options.inputSize ? { inputSize: options.inputSize } : {}),
    ...(options.tiles ? { tiles: options.tiles } : {}),
    ...(options.tileOverlap !== undefined ? { tileOverlap: options.tileOverlap } : {}),
  });
  const { descriptor, crfAvailable } = plan;
  for (const note of plan.notes) log(`note: ${note}`);
  const { params: crfParams, description: crfDescription } = crfParamsFor({ scale: liveCrfScale(descriptor.classes), ...options.crf.params }, descriptor.crf);
  if (crfAvailable && options.crf.on) log(`note: ${crfDescription}`);

  const metrics = new LiveMetrics(() => hub.pendingBytes);
  const crfOn = new Set<string>(options.crf.on ? inputs.map((i) => i.id) : []);
  const streams = options.nats ? [] : inputs.map((input) => new LiveStream(input, options.reconnect));
  let relay: LiveRelay | null = null;
  const remoteDescription = (input: LiveInput): StreamDescription => {
    const status = relay?.status(input.id);
    const message = status?.stale ? `its worker ${status.worker} stopped; waiting for another` : status?.message;
    return {
      id: input.id, input: input.shown, kind: input.kind, status: !status ? 'waiting for a worker' : status.stale ? 'outage' : status.status, ...(message ? { message } : {}),
      width: status?.width ?? 0, height: status?.height ?? 0, crf: crfOn.has(input.id), dropped: status?.dropped ?? 0, fps: metrics.streamFps(input.id),
    };
  };
  const describeStreams = (): StreamDescription[] =>
    options.nats
      ? inputs.map(remoteDescription)
      : streams.map((s) => ({
          id: s.id, input: s.input.shown, kind: s.input.kind, status: s.status, ...(s.statusMessage ? { message: s.statusMessage } : {}),
          width: s.width, height: s.height, crf: crfOn.has(s.id), dropped: s.dropped, fps: metrics.streamFps(s.id),
        }));
  const hub = new ViewerHub({
    ...options.viewers,
    hello: () => ({
      type: 'hello',
      serverTime: Date.now(),
      classes: descriptor.classNames.map((name, c) => ({ name, color: [descriptor.palette[c * 3]!, descriptor.palette[c * 3 + 1]!, descriptor.palette[c * 3 + 2]!] as const })),
      crfAvailable,
      streams: describeStreams(),
    }),
  });
  // A cluster's workers encode frames only while someone watches: told when that changes.
  const viewersNow = (n: number, changed: boolean) => {
    metrics.viewersConnected(n);
    if (changed) relay?.viewersChanged().catch((error: unknown) => log(`the cluster did not hear that viewers came or went (${(error as Error).message})`));
  };
  hub.on('connected', (n) => viewersNow(n, n === 1));
  hub.on('disconnected', (n) => viewersNow(n, n === 0));
  hub.on('dropped', (stream, count) => metrics.framesDropped(stream, 'viewer', count));
  hub.on('rejected', () => metrics.controlMessageRejected());
  hub.on('control', (message) => {
    if (message.type !== 'crf' || !crfAvailable || !inputs.some((i) => i.id === message.streamId)) return;
    if (message.on) crfOn.add(message.streamId);
    else crfOn.delete(message.streamId);
    relay?.setCrf(message.streamId).catch((error: unknown) => log(`stream ${message.streamId}: the CRF switch did not reach the cluster (${(error as Error).message})`));
    log(`stream ${message.streamId}: CRF ${message.on ? 'on' : 'off'} (asked by a viewer)`);
    hub.broadcast({ type: 'streams', streams: describeStreams() });
  });
  for (const stream of streams) {
    stream.on('dropped', () => metrics.framesDropped(stream.id, 'source'));
    stream.on('status', (status, message) => {
      if (status === 'outage') metrics.sourceOutage(stream.id);
      log(`stream ${stream.id}: ${status}${message ? `: ${message}` : ''}`);
      hub.broadcast({ type: 'streams', streams: describeStreams() });
    });
  }

  /** The same trouble of a stream is told once, not once per frame. */
  const told = new Set<string>();
  const logOnce = (line: string) => {
    if (told.has(line)) return;
    told.add(line);
    log(line);
  };
  // A file served without --realtime keeps every frame, in order: with several inference workers a
  // frame finishing after a newer one would be dropped as stale, so such a run uses one.
  const lossless = inputs.filter((i) => !i.latestWins);
  const workers = lossless.length > 0 ? 1 : options.workers;
  const threadsPerWorker = lossless.length > 0 ? options.workers * options.threadsPerWorker : options.threadsPerWorker;
  if (lossless.length > 0 && options.workers > 1 && !options.nats) {
    log(`note: ${lossless.map((i) => i.id).join(', ')} keep${lossless.length === 1 ? 's' : ''} every frame (no --realtime): one inference worker, on ${threadsPerWorker} threads`);
  }
  let pipeline: LivePipeline | null = null;
  let http: RunningHttpServer | null = null;
  // Drop counts and fps change all the time: viewers get them once a second.
  const statsTimer = setInterval(() => {
    if (hub.viewerCount > 0) hub.broadcast({ type: 'streams', streams: describeStreams() });
  }, 1000).unref();
  const close = async () => {
    clearInterval(statsTimer);
    await pipeline?.close();
    await relay?.close();
    for (const stream of streams) stream.close();
    await http?.close();
  };
  try {
    if (options.nats) {
      relay = await startLiveRelay({
        nats: options.nats, inputs, realtime: Boolean(options.realtime), modelPath: options.modelPath,
        run: runSettingsFor({ ...options, batchSize, crf: { params: options.crf.params, ...(options.crf.warmStart ? { warmStart: options.crf.warmStart } : {}) } }),
        crfOn: (id) => crfOn.has(id), hub, metrics, log,
        ...(options.inputKey ? { inputKey: options.inputKey } : {}),
        onStatus: () => hub.broadcast({ type: 'streams', streams: describeStreams() }),
      });
    } else pipeline = await startLivePipeline(streams, {
      plan, device: options.device, workers, threadsPerWorker, batchSize, batchWaitMs,
      crf: { params: crfParams, enabledFor: (id) => crfOn.has(id), ...(options.crf.warmStart ? { warmStart: options.crf.warmStart } : {}), ...(options.crf.workers ? { workers: options.crf.workers } : {}) },
      sink: new ViewerSink(hub, (error, segmentation) => {
        metrics.framesDropped(segmentation.frame.streamId, 'error');
        logOnce(`stream ${segmentation.frame.streamId}: a frame could not be encoded for the viewers (${error instanceof Error ? error.message : String(error)})`);
      }),
      onPublished: (segmentation) => metrics.framePublished(segmentation),
      onDropped: (stream, place, count) => metrics.framesDropped(stream, place, count),
      log,
    });
    http = await listen(options, hub, metrics, () => ({ status: 'ok', viewers: hub.viewerCount, streams: describeStreams() }));
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url: http.url, provider: pipeline?.provider ?? `workers of ${redactSecrets(options.nats?.url ?? '')}`, fallbackReason: pipeline?.fallbackReason, streams, streamIds: inputs.map((i) => i.id), hub, metrics,
    // A cluster's streams never end here: their workers come and go.
    finished: pipeline?.finished ?? new Promise<void>(() => {}),
    close,
  };
}

/** The HTTP server: viewer page, WebSocket, /metrics, /healthz; a port or host that cannot be had is a usage error. */
async function listen(options: ServeOptions, hub: ViewerHub, metrics: LiveMetrics, health: () => Record<string, unknown>): Promise<RunningHttpServer> {
  return startHttpServer({
    host: options.host,
    port: options.port,
    ...(options.token ? { token: options.token } : {}),
    ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
    ...(options.maxViewers ? { maxViewers: options.maxViewers } : {}),
    viewerDir: viewerDir(),
    hub,
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    health,
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') throw new UsageError(`port ${options.port} on ${options.host} is in use: pick another with --port`);
    if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') throw new UsageError(`cannot listen on ${options.host}: not an address of this machine (--host)`);
    if (error.code === 'EACCES') throw new UsageError(`not allowed to listen on port ${options.port}: use one above 1023`);
    throw error;
  });
}
