/**
 * The live server: the viewer page, /healthz, /metrics and the viewers' WebSockets over a back end
 * that runs the streams (server/liveBackend.ts) — here or on a cluster; nothing below depends on which.
 *
 *   back end ─frames─▶ ViewerHub ─▶ sockets        viewers ─control─▶ ViewerHub ─▶ back end (CRF switch)
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { startHttpServer, type RunningHttpServer } from './httpServer.js';
import type { LiveBackend, LiveBackendFactory } from './liveBackend.js';
import { LiveMetrics } from './metrics.js';
import { ViewerHub } from './viewerHub.js';

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
}

export interface LiveServer {
  readonly url: string;
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  readonly streamIds: readonly string[];
  readonly hub: ViewerHub;
  readonly metrics: LiveMetrics;
  /** Rejects if the pipeline fails (a worker crash); resolves when every input has ended. */
  readonly finished: Promise<void>;
  close(): Promise<void>;
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
  const describeStreams = () => backend?.describeStreams() ?? [];
  const metrics = new LiveMetrics(() => hub.pendingBytes);
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
  const streamsChanged = () => hub.broadcast({ type: 'streams', streams: describeStreams() });
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
    await backend?.close();
    await http?.close();
  };
  try {
    backend = await options.backend({ hub, metrics, streamsChanged, log });
    http = await listen(options, hub, metrics, () => ({
      status: 'ok',
      viewers: hub.viewerCount,
      streams: describeStreams(),
    }));
  } catch (error) {
    await close();
    throw error;
  }
  const { provider, fallbackReason, streamIds, finished } = backend;
  return { url: http.url, provider, fallbackReason, streamIds, hub, metrics, finished, close };
}

/** The HTTP server: viewer page, WebSocket, /metrics, /healthz; a port or host that cannot be had is a usage error. */
async function listen(
  options: LiveServerOptions,
  hub: ViewerHub,
  metrics: LiveMetrics,
  health: () => Record<string, unknown>,
): Promise<RunningHttpServer> {
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
    if (error.code === 'EADDRINUSE')
      throw new UsageError(`port ${options.port} on ${options.host} is in use: pick another with --port`);
    if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
      throw new UsageError(`cannot listen on ${options.host}: not an address of this machine (--host)`);
    if (error.code === 'EACCES')
      throw new UsageError(`not allowed to listen on port ${options.port}: use one above 1023`);
    throw error;
  });
}
