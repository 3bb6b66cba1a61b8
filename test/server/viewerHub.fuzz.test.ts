/**
 * Hostile viewers against a real hub on a real server: generated messages of every shape, binary
 * and oversized messages, connection storms, viewers that never read. After each, the server still
 * answers /healthz and a well-behaved viewer still receives frames.
 */
import { once } from 'node:events';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ViewerHubOptions } from '../../server/viewerHub.js';
import { connect, hubOnServer as startHub, until, type HubServer } from '../helpers/hubServer.js';

const started: HubServer[] = [];
async function hubOnServer(options: Omit<ViewerHubOptions, 'hello'> = {}, maxViewers?: number): Promise<HubServer> {
  const running = await startHub(options, maxViewers === undefined ? {} : { maxViewers });
  started.push(running);
  return running;
}
afterEach(async () => {
  for (const running of started.splice(0)) await running.close();
});

/** The server still serves: /healthz answers and a fresh viewer gets the next frame. */
async function stillServing({ hub, server, wsUrl }: HubServer): Promise<void> {
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status).toBe(200);
  const normal = await connect(wsUrl, {}, false);
  await until(() => normal.texts.length >= 1, 5000, 'hello');
  hub.publish('testsrc', Buffer.from([42]));
  await until(() => normal.frames.length === 1, 5000, 'a frame for a normal viewer');
  normal.socket.close();
  await once(normal.socket, 'close');
}

const closeOf = async (socket: WebSocket): Promise<{ code: number; reason: string }> => {
  const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
};

describe('ViewerHub under hostile viewers', () => {
  it('survives generated JSON of every shape: answers each with an error or its effect, never crashes', async () => {
    const running = await hubOnServer({ maxBadMessages: 1_000_000 });
    const rejected: string[] = [];
    running.hub.on('rejected', (reason) => rejected.push(reason));
    const hostile = await connect(running.wsUrl);
    const messages = fc.sample(
      fc.oneof(
        fc.jsonValue(),
        fc.record(
          {
            type: fc.constantFrom('subscribe', 'crf', 'pause', 'ping'),
            streams: fc.jsonValue(),
            streamId: fc.jsonValue(),
            on: fc.jsonValue(),
            paused: fc.jsonValue(),
            t0: fc.jsonValue(),
          },
          { requiredKeys: ['type'] },
        ),
      ),
      { numRuns: 500, seed: 20261201 },
    );
    for (const message of messages) hostile.socket.send(JSON.stringify(message) ?? 'undefined');
    for (const raw of [
      'null',
      '{"type":"subscribe","streams":5}',
      '{"type":"subscribe","streams":{}}',
      '{"type":"subscribe","streams":true}',
      'not json',
      '\u0000\uffff',
    ])
      hostile.socket.send(raw);
    hostile.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await until(
      () =>
        hostile.texts.filter((t) => t.type === 'error' || t.type === 'pong').length >= rejected.length &&
        rejected.length >= 8,
      10_000,
      'replies to every message',
    );
    expect(hostile.socket.readyState).toBe(WebSocket.OPEN);
    // Its last valid subscribe/pause may have muted it: put it back, then check everyone is served.
    hostile.socket.send(JSON.stringify({ type: 'pause', paused: false }));
    hostile.socket.send(JSON.stringify({ type: 'subscribe', streams: '*' }));
    await stillServing(running);
    await until(() => hostile.frames.length === 1, 5000, 'the hostile viewer served again once well-formed');
  });

  it('closes a viewer that keeps sending malformed messages with 1008, and counts them', async () => {
    const running = await hubOnServer({ maxBadMessages: 10 });
    let rejected = 0;
    running.hub.on('rejected', () => (rejected += 1));
    const hostile = await connect(running.wsUrl);
    const closed = closeOf(hostile.socket);
    for (let i = 0; i < 50; i++) hostile.socket.send('null');
    expect(await closed).toEqual({ code: 1008, reason: 'too many malformed control messages' });
    expect(rejected).toBeGreaterThanOrEqual(10);
    await stillServing(running);
  });

  it('closes a viewer whose message is over the size limit with 1009', async () => {
    const running = await hubOnServer();
    const hostile = await connect(running.wsUrl);
    const closed = closeOf(hostile.socket);
    hostile.socket.send(JSON.stringify({ type: 'ping', t0: 1, pad: 'x'.repeat(1 << 20) }));
    expect((await closed).code).toBe(1009);
    await stillServing(running);
  });

  it('closes only the viewer whose handler failed (1011)', async () => {
    const running = await hubOnServer();
    running.hub.on('control', () => {
      throw new Error('a bug in a control handler');
    });
    const unlucky = await connect(running.wsUrl);
    const closed = closeOf(unlucky.socket);
    unlucky.socket.send(JSON.stringify({ type: 'crf', streamId: 'testsrc', on: true }));
    expect((await closed).code).toBe(1011);
    await stillServing(running);
  });

  it('holds a viewer that never reads but floods pings and unsolicited pongs within its cap, then closes it at the heartbeat', async () => {
    const maxBufferedBytes = 256 * 1024;
    const running = await hubOnServer({ maxBufferedBytes, heartbeatMs: 1500 });
    const hostile = await connect(running.wsUrl, { autoPong: false });
    (hostile.socket as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing more
    const closed = closeOf(hostile.socket);
    let peak = 0;
    let open = true;
    void closed.then(() => (open = false));
    const frame = Buffer.alloc(64 * 1024, 7);
    for (let round = 0; round < 400 && open; round++) {
      for (let i = 0; i < 20; i++) hostile.socket.send(JSON.stringify({ type: 'ping', t0: round * 20 + i }));
      hostile.socket.pong(Buffer.alloc(100, 1));
      running.hub.publish('testsrc', frame);
      running.hub.broadcast({ type: 'streams', streams: [] });
      peak = Math.max(peak, running.hub.pendingBytes);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Unsent bytes under the cap (one frame may cross it) plus its queue of two frames.
    expect(peak).toBeLessThanOrEqual(maxBufferedBytes + 3 * frame.length + 1024);
    expect((await closed).code).toBe(1006); // terminated at the heartbeat: its own pongs did not count
    await stillServing(running);
  });

  it('survives a connection storm beyond --max-viewers: the extra ones get 503, the rest are served', async () => {
    const running = await hubOnServer({}, 20);
    const outcomes = await Promise.all(
      Array.from(
        { length: 120 },
        () =>
          new Promise<string>((resolve) => {
            const socket = new WebSocket(running.wsUrl);
            socket.on('unexpected-response', (_req, res) => {
              resolve(String(res.statusCode));
              socket.terminate();
            });
            socket.on('open', () => {
              resolve('open');
              // Half leave at once without a closing handshake, half close politely.
              if (Math.random() < 0.5) socket.terminate();
              else socket.close();
            });
            socket.on('error', () => resolve('error'));
          }),
      ),
    );
    expect(outcomes.filter((o) => o === 'open').length).toBeGreaterThanOrEqual(20);
    expect(outcomes.filter((o) => o !== 'open' && o !== '503')).toEqual([]);
    await until(() => running.hub.viewerCount === 0, 5000, 'every storm viewer gone');
    // Half-open TCP connections that never finish a handshake do not count as viewers either.
    const { port } = new URL(running.server.url);
    const { connect: tcp } = await import('node:net');
    const halfOpen = Array.from({ length: 30 }, () =>
      tcp(Number(port), '127.0.0.1')
        .on('error', () => {})
        .end('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const socket of halfOpen) socket.destroy();
    await stillServing(running);
  });
});
