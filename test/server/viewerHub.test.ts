import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ViewerHubOptions } from '../../server/viewerHub.js';
import { connect, hubOnServer as startHub, until, type HubServer } from '../helpers/hubServer.js';

const started: HubServer[] = [];

/**
 * A full garbage collection, so memory measured after it is what stays referenced (vitest runs
 * without --expose-gc: `global.gc` was undefined and the growth below counted frames not yet
 * collected — 67.8 MB against the 64 MB bound once, on a slow minute).
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

async function hubOnServer(options: Omit<ViewerHubOptions, 'hello'> = {}): Promise<HubServer> {
  const running = await startHub(options);
  started.push(running);
  return running;
}

afterEach(async () => {
  for (const running of started.splice(0)) await running.close();
});

describe('ViewerHub', () => {
  it('fans one message out to every subscribed viewer, and honours subscribe', async () => {
    const { hub, wsUrl } = await hubOnServer();
    const a = await connect(wsUrl);
    const b = await connect(wsUrl);
    await until(() => hub.viewerCount === 2);
    b.socket.send(JSON.stringify({ type: 'subscribe', streams: ['cam'] }));
    await until(() => a.texts.length === 1 && b.texts.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    hub.publish('testsrc', Buffer.from('one'));
    hub.publish('cam', Buffer.from('two'));
    await until(() => a.frames.length === 2 && b.frames.length === 1);
    expect(a.frames.map(String)).toEqual(['one', 'two']);
    expect(b.frames.map(String)).toEqual(['two']);
    a.socket.close();
    b.socket.close();
  });

  it('keeps memory bounded for a viewer that stops reading, drops its oldest frames, and still feeds a fast viewer', async () => {
    const maxBufferedBytes = 4 << 20;
    const { hub, wsUrl } = await hubOnServer({ maxQueuedFrames: 2, maxBufferedBytes });
    const slow = await connect(wsUrl);
    const fast = await connect(wsUrl, {}, false);
    await until(() => hub.viewerCount === 2);
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing more
    const frameBytes = 1 << 20;
    const frames = 200; // 200 MiB if anything queued them all
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    let peakBuffered = 0;
    for (let i = 0; i < frames; i++) {
      const message = Buffer.alloc(frameBytes, i & 255);
      hub.publish('testsrc', message);
      peakBuffered = Math.max(peakBuffered, hub.bufferedBytes);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => fast.frames.length > 0 && fast.frames.at(-1)![0] === ((frames - 1) & 255));
    collectGarbage();
    const growth = process.memoryUsage().arrayBuffers - before;
    expect(peakBuffered).toBeLessThanOrEqual(maxBufferedBytes * 2 + 2 * frameBytes);
    expect(hub.dropped).toBeGreaterThan(frames / 2);
    // What stays referenced: the slow viewer's socket buffer and queue, not 400 frames.
    expect(growth).toBeLessThan(64 * frameBytes);
    slow.socket.terminate();
    fast.socket.close();
  });

  it('closes a viewer that stops answering pings', async () => {
    const { hub, wsUrl } = await hubOnServer({ heartbeatMs: 100 });
    const deaf = await connect(wsUrl, { autoPong: false });
    const alive = await connect(wsUrl);
    await until(() => hub.viewerCount === 2);
    const [code] = (await once(deaf.socket, 'close')) as [number];
    expect(code).toBe(1006); // terminated, no closing handshake
    await new Promise((r) => setTimeout(r, 350));
    expect(alive.socket.readyState).toBe(WebSocket.OPEN);
    expect(hub.viewerCount).toBe(1);
    alive.socket.close();
  });

  it('answers a malformed control message with an error message, and pings with pongs', async () => {
    const { wsUrl } = await hubOnServer();
    const viewer = await connect(wsUrl);
    viewer.socket.send('not json');
    viewer.socket.send(JSON.stringify({ type: 'ping', t0: 5 }));
    await until(() => viewer.texts.length >= 3);
    expect(viewer.texts[1]).toMatchObject({ type: 'error' });
    expect(viewer.texts[2]).toMatchObject({ type: 'pong', t0: 5 });
    viewer.socket.close();
  });
});
