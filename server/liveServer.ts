/**
 * The live server: the viewer page, /healthz, /metrics and the viewers' WebSockets over a back end
 * that runs the streams (server/liveBackend.ts) — here or on a cluster; nothing below depends on which.
 *
 *   back end ─frames─▶ ViewerHub ─▶ sockets        viewers ─control─▶ ViewerHub ─▶ back end (CRF switch)
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { parseZones, type ZoneSpec } from '../zones/zoneSpec.js';
import { EventStream } from './eventStream.js';
import { startHttpServer, type RunningHttpServer } from './httpServer.js';
import type { LiveBackend, LiveBackendFactory } from './liveBackend.js';
import { LiveMetrics } from './metrics.js';
import { readState, StateWriter } from './stateFile.js';
import { streamsApi, tilesOf } from './streamsApi.js';
import { ViewerHub } from './viewerHub.js';
import type { StreamDescription } from './wireFormat.js';
import { WebhookSender } from './webhookSender.js';
import { ZoneBoard } from './zoneBoard.js';

export interface LiveServerOptions {
  readonly backend: LiveBackendFactory;
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  /** Host names the server answers to besides IP addresses, localhost and `host` (DNS rebinding). */
  readonly allowedHosts?: readonly string[];
  /** WebSocket viewers at most (default 64). */
  readonly maxViewers?: number;
  readonly viewers?: {
    readonly maxQueuedFrames?: number;
    readonly maxBufferedBytes?: number;
    readonly heartbeatMs?: number;
  };
  /** One line per event worth telling (stream status changes). */
  readonly log?: (line: string) => void;
  /** Why an input asked for over the API may not be opened here; absent: any may. */
  readonly refuseInput?: (spec: string) => string | undefined;
  /** Zones per stream id at the start (`--zones`), checked against the model. */
  readonly zones?: Readonly<Record<string, unknown>>;
  /** Keeps the streams added over the API and every stream's zones across restarts (`--state`). */
  readonly stateFile?: string;
  /** Zone events POSTed here too (`--webhook`, `--webhook-secret`). */
  readonly webhook?: { readonly url: string; readonly secret?: string };
  readonly events?: { readonly maxBufferedBytes?: number; readonly heartbeatMs?: number };
  /** Streams at most, counting those added over the API (default 32). */
  readonly maxStreams?: number;
  /** Where the back end writes event clips (`--clips`): served at /api/clips/<name>. */
  readonly clipsDir?: string;
}

export interface LiveServer {
  readonly url: string;
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  readonly streamIds: readonly string[];
  readonly hub: ViewerHub;
  readonly metrics: LiveMetrics;
  readonly zones: ZoneBoard;
  /** Rejects if the pipeline fails (a worker crash); resolves when every input has ended. */
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

/** The viewer's libraries, from their packages: nothing to build, nothing fetched from elsewhere. */
function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    '/vendor/uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
    '/vendor/uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
  };
}

/** viewer/ beside server/ in the source tree, or two levels up from dist/server/. */
function viewerDir(): string {
  for (const relative of ['../viewer/', '../../viewer/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error('the viewer files (viewer/index.html) are missing from this installation');
}

export async function startLiveServer(options: LiveServerOptions): Promise<LiveServer> {
  const log = options.log ?? (() => {});
  let backend: LiveBackend | null = null;
  const describeStreams = (): StreamDescription[] =>
    (backend?.describeStreams() ?? []).map((s) => ({ ...s, zones: board.states(s.id) }));
  const metrics = new LiveMetrics(() => hub.pendingBytes);
  const board = new ZoneBoard(metrics);
  const events = new EventStream({ ...options.events, onDropped: (n) => metrics.eventsDroppedBy('sse', n) });
  const webhook = options.webhook
    ? new WebhookSender({
        ...options.webhook,
        onDropped: (n) => metrics.eventsDroppedBy('webhook', n),
        log,
      })
    : null;
  board.on('event', (told) => {
    const clip = told.type === 'zone.occupied' ? backend?.clipFor?.(told) : undefined;
    const event = clip ? { ...told, clip } : told;
    log(
      `stream ${event.stream}: zone ${event.zone} ${event.type === 'zone.occupied' ? 'occupied' : 'free'} (share ${event.share.toFixed(3)}, frame ${event.frame})`,
    );
    events.publish(event);
    webhook?.send(event);
    backend?.publishEvent?.(event);
  });
  const hub = new ViewerHub({
    ...options.viewers,
    hello: () => ({
      type: 'hello',
      serverTime: Date.now(),
      classes: backend?.classes ?? [],
      crfAvailable: backend?.crfAvailable ?? false,
      streams: describeStreams(),
    }),
  });
  /** Streams seen ended or failed: their occupied zones were told free once. */
  const over = new Set<string>();
  const streamsChanged = () => {
    const streams = describeStreams();
    for (const s of streams) {
      const ended = s.status === 'ended' || s.status === 'failed';
      if (ended && !over.has(s.id)) board.ended(s.id);
      if (ended) over.add(s.id);
      else over.delete(s.id);
    }
    hub.broadcast({ type: 'streams', streams });
  };
  const viewersNow = (n: number, changed: boolean) => {
    metrics.viewersConnected(n);
    if (changed) backend?.watchedChanged(n > 0);
  };
  hub.on('connected', (n) => viewersNow(n, n === 1));
  hub.on('disconnected', (n) => viewersNow(n, n === 0));
  hub.on('dropped', (stream, count) => metrics.framesDropped(stream, 'viewer', count));
  hub.on('rejected', () => metrics.controlMessageRejected());
  hub.on('control', (message) => {
    if (message.type !== 'crf' || !backend?.setCrf(message.streamId, message.on)) return;
    log(`stream ${message.streamId}: CRF ${message.on ? 'on' : 'off'} (asked by a viewer)`);
    streamsChanged();
  });
  // Drop counts and fps change all the time: viewers get them once a second.
  const statsTimer = setInterval(() => {
    if (hub.viewerCount > 0) streamsChanged();
  }, 1000).unref();
  let http: RunningHttpServer | null = null;
  const close = async () => {
    clearInterval(statsTimer);
    events.close();
    webhook?.close();
    await backend?.close();
    await http?.close();
  };
  const state = options.stateFile ? new StateWriter(options.stateFile, log) : null;
  /** Streams named on the command line: the state file keeps their zones, not the streams. */
  let commandLine = new Set<string>();
  const saveState = () => {
    if (!state || !backend) return;
    const running = backend.describeStreams();
    void state.write({
      version: 1,
      streams: running.map((s) => ({
        id: s.id,
        input: backend!.inputOf(s.id) ?? s.input,
        added: !commandLine.has(s.id),
        crf: s.crf,
        ...(s.classesShown ? { classesShown: [...s.classesShown] } : {}),
        ...(s.tiles ? { tiles: s.tiles === 'auto' ? 'auto' : `${s.tiles.cols}x${s.tiles.rows}` } : {}),
        zones: board.zonesOf(s.id),
      })),
    });
  };
  try {
    const saved = options.stateFile ? readState(options.stateFile) : null;
    backend = await options.backend({
      hub,
      metrics,
      streamsChanged,
      log,
      zonesMeasured: (stream, frame, capturedAt, shares) => board.measured(stream, frame, capturedAt, shares),
    });
    const running = backend;
    commandLine = new Set(running.streamIds);
    const classNames = running.classes.map((c) => c.name);
    const setZones = (stream: string, zones: readonly ZoneSpec[]) => {
      board.set(stream, zones);
      running.setZones(stream, zones);
    };
    const applyZones = (stream: string, value: unknown, what: string) =>
      setZones(stream, parseZones(value, classNames, what));
    for (const [stream, zones] of Object.entries(options.zones ?? {})) {
      if (!commandLine.has(stream))
        throw new UsageError(
          `--zones: there is no stream ${stream} (the streams: ${[...commandLine].join(', ') || 'none'})`,
        );
      applyZones(stream, zones, `--zones ${stream}`);
    }
    // What the state file says comes back; a stream that cannot is told and left out, the rest start.
    for (const saved_ of saved?.streams ?? []) {
      try {
        if (saved_.added && !running.streamIds.includes(saved_.id))
          await running.addStream({
            id: saved_.id,
            input: saved_.input,
            ...(saved_.crf !== undefined ? { crf: saved_.crf } : {}),
            ...(saved_.classesShown ? { classesShown: saved_.classesShown } : {}),
            ...(saved_.tiles ? { tiles: tilesOf(saved_.tiles) } : {}),
          });
        if (running.streamIds.includes(saved_.id) && saved_.zones !== undefined && !options.zones?.[saved_.id])
          applyZones(saved_.id, saved_.zones, `--state ${options.stateFile} ${saved_.id}`);
      } catch (error) {
        log(`--state: stream ${saved_.id} not restored (${(error as Error).message})`);
      }
    }
    http = await listen(
      options,
      hub,
      metrics,
      () => ({
        status: 'ok',
        viewers: hub.viewerCount,
        streams: describeStreams(),
      }),
      streamsApi({
        backend: () => running,
        board,
        describeStreams,
        setZones,
        events,
        refuseInput: options.refuseInput ?? (() => undefined),
        maxStreams: options.maxStreams ?? 32,
        ...(options.clipsDir ? { clipsDir: options.clipsDir } : {}),
        changed: saveState,
        log,
      }),
    );
    saveState();
  } catch (error) {
    await close();
    throw error;
  }
  const { provider, fallbackReason, streamIds, finished } = backend;
  return { url: http.url, provider, fallbackReason, streamIds, hub, metrics, zones: board, finished, close };
}

/** The HTTP server: viewer page, WebSocket, /metrics, /healthz; a port or host that cannot be had is a usage error. */
async function listen(
  options: LiveServerOptions,
  hub: ViewerHub,
  metrics: LiveMetrics,
  health: () => Record<string, unknown>,
  api: (request: IncomingMessage, response: ServerResponse) => Promise<void>,
): Promise<RunningHttpServer> {
  return startHttpServer({
    host: options.host,
    port: options.port,
    ...(options.token ? { token: options.token } : {}),
    ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
    ...(options.maxViewers ? { maxViewers: options.maxViewers } : {}),
    viewerDir: viewerDir(),
    vendorFiles: vendorFiles(),
    hub,
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    health,
    api,
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE')
      throw new UsageError(`port ${options.port} on ${options.host} is in use: pick another with --port`);
    if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
      throw new UsageError(`cannot listen on ${options.host}: not an address of this machine (--host)`);
    if (error.code === 'EACCES')
      throw new UsageError(`not allowed to listen on port ${options.port}: use one above 1023`);
    throw error;
  });
}
