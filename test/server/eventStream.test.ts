/** /api/events' fan-out on a real HTTP server: a reader that stops reading loses its own events only, counted. */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStream } from '../../server/eventStream.js';
import type { ZoneEvent } from '../../zones/zoneTracker.js';
import { readEvents } from '../helpers/zoneScene.js';

const event = (frame: number): ZoneEvent => ({
  type: 'zone.occupied',
  stream: 'cam',
  // Many classes make each event about 10 KiB, so that a stalled reader's socket fills fast.
  zone: 'z'.repeat(60),
  classes: Array.from({ length: 400 }, (_, i) => `a-class-of-the-model-${i}`),
  share: 0.5,
  at: new Date(frame).toISOString(),
  frame,
});

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

describe('EventStream', () => {
  it('drops events for a reader that stopped reading, and only for it; the other gets every one', async () => {
    let dropped = 0;
    const events = new EventStream({ maxBufferedBytes: 256 * 1024, onDropped: (n) => (dropped += n) });
    const server = createServer((request, response) => events.add(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => {
      events.close();
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    // The stalled reader: a raw socket that sends the request and never reads.
    const stalled = net.connect(port, '127.0.0.1');
    await once(stalled, 'connect');
    stalled.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    stalled.pause();
    closers.push(() => stalled.destroy());
    const reader = await readEvents(`http://127.0.0.1:${port}/api/events`);
    closers.push(reader.close);
    while (events.readerCount < 2) await new Promise((r) => setTimeout(r, 10));
    const total = 3000;
    for (let i = 0; i < total; i++) {
      events.publish(event(i));
      // The live reader keeps up (it has read everything so far every 10 events, 100 KiB); the stalled one never reads.
      if (i % 10 === 9) {
        const until = Date.now() + 5000;
        while (reader.events.length < i + 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 1));
      }
    }
    const end = Date.now() + 10_000;
    while (reader.events.length < total && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(reader.events.map((e) => e.frame)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(dropped).toBeGreaterThan(1000); // the stalled one's, counted
    expect(dropped).toBeLessThan(total);
  });
});
