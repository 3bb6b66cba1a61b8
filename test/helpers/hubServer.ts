/** A ViewerHub behind a real HTTP server on 127.0.0.1, and raw viewers for the server-side tests. */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from '../../server/httpServer.js';
import { ViewerHub, type ViewerHubOptions } from '../../server/viewerHub.js';
import { tempDir } from './fixtures.js';

export interface HubServer {
  readonly hub: ViewerHub;
  readonly server: RunningHttpServer;
  readonly wsUrl: string;
  close(): Promise<void>;
}

export async function hubOnServer(
  options: Omit<ViewerHubOptions, 'hello'> = {},
  serverOptions: Partial<Pick<HttpServerOptions, 'maxViewers'>> = {},
): Promise<HubServer> {
  const { dir, cleanup } = tempDir();
  mkdirSync(path.join(dir, 'viewer'));
  writeFileSync(path.join(dir, 'viewer', 'index.html'), '');
  const hub = new ViewerHub({ ...options, hello: () => ({ type: 'streams', streams: [] }) });
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    viewerDir: path.join(dir, 'viewer'),
    hub,
    ...serverOptions,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    health: () => ({ status: 'ok', viewers: hub.viewerCount }),
  });
  return {
    hub,
    server,
    wsUrl: `${server.url.replace('http', 'ws')}/ws`,
    close: async () => {
      await server.close();
      cleanup();
    },
  };
}

export interface RawViewer {
  readonly socket: WebSocket;
  readonly frames: Buffer[];
  readonly texts: { type: string; [key: string]: unknown }[];
}

/** A viewer; with `keepFrames: false` it keeps only each frame's first byte (for big-message tests). */
export async function connect(
  url: string,
  options: WebSocket.ClientOptions = {},
  keepFrames = true,
): Promise<RawViewer> {
  const socket = new WebSocket(url, options);
  const frames: Buffer[] = [];
  const texts: { type: string }[] = [];
  socket.on('message', (data: Buffer, isBinary) =>
    isBinary
      ? frames.push(keepFrames ? data : Buffer.from(data.subarray(0, 1)))
      : texts.push(JSON.parse(data.toString()) as { type: string }),
  );
  await once(socket, 'open');
  return { socket, frames, texts };
}

export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
