import { afterEach, describe, expect, it } from 'vitest';
import { WebhookSender, webhookSignature } from '../../server/webhookSender.js';
import type { ZoneEvent } from '../../zones/zoneTracker.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/zoneScene.js';

const event = (frame: number): ZoneEvent => ({
  type: frame % 2 ? 'zone.free' : 'zone.occupied',
  stream: 'cam',
  zone: 'door',
  classes: ['person'],
  share: 0.5,
  at: new Date(frame * 100).toISOString(),
  frame,
});

let receiver: WebhookReceiver | null = null;
let sender: WebhookSender | null = null;
afterEach(async () => {
  sender?.close();
  await receiver?.close();
});

async function until(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('WebhookSender (a real receiver on 127.0.0.1)', () => {
  it('retries a receiver that fails, then delivers every event in order, signed', async () => {
    receiver = await startWebhookReceiver();
    receiver.mode = 'fail';
    let dropped = 0;
    sender = new WebhookSender({
      url: receiver.url,
      secret: 's3cret',
      initialBackoffMs: 20,
      onDropped: (n) => (dropped += n),
      log: () => {},
    });
    for (let i = 0; i < 5; i++) sender.send(event(i));
    await until(() => receiver!.refused >= 2);
    receiver.mode = 'ok';
    await until(() => receiver!.received.length === 5);
    expect(receiver.received.map((r) => (JSON.parse(r.body) as ZoneEvent).frame)).toEqual([0, 1, 2, 3, 4]);
    for (const r of receiver.received)
      expect(r.headers['x-deeplab-signature']).toBe(webhookSignature(r.body, 's3cret'));
    expect(dropped).toBe(0);
  });

  it('gives up on a receiver that hangs or answers 500 forever, counts what it lost, and never holds the caller', async () => {
    receiver = await startWebhookReceiver();
    receiver.mode = 'hang';
    let dropped = 0;
    const lines: string[] = [];
    sender = new WebhookSender({
      url: receiver.url,
      attempts: 2,
      timeoutMs: 100,
      initialBackoffMs: 10,
      maxQueued: 3,
      onDropped: (n) => (dropped += n),
      log: (line) => lines.push(line),
    });
    const started = performance.now();
    for (let i = 0; i < 10; i++) sender.send(event(i));
    expect(performance.now() - started).toBeLessThan(50); // sending is queueing
    // Ten events, three queued at most: seven fell off the queue, and each sent one times out twice.
    await until(() => dropped === 10);
    expect(lines).toEqual([
      expect.stringMatching(/^webhook: an event was not delivered after 2 tries \(no answer in time\)/),
    ]);
    receiver.mode = 'fail';
    sender.send(event(11));
    await until(() => dropped === 11);
    expect(receiver.received).toEqual([]);
  });
});
