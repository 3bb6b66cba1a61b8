/**
 * The dashboard's API with `serve --nats`: a stream added over REST goes to a worker, its zones
 * travel in the task and are measured there, and the server's events reach SSE and
 * deeplab.events.<stream> on the broker; deleting the stream stops it on the worker.
 */
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FrameResult } from '../../cluster/protocol.js';
import { decodeCocoRle } from '../../io/cocoRle.js';
import { tempDir } from '../helpers/fixtures.js';
import { type ServeProcess, startServe } from '../helpers/liveServer.js';
import {
  killWorkers,
  NATS_SERVER,
  type NatsServer,
  startNatsServer,
  startWorker,
  type WorkerProcess,
} from '../helpers/natsServer.js';
import { LOWER_RIGHT, readEvents, writeColourModel, writeZoneClip } from '../helpers/zoneScene.js';

describe.skipIf(!NATS_SERVER)('the dashboard API on a cluster (serve --nats, worker --nats)', () => {
  const { dir, cleanup } = tempDir('dls-cluster-dashboard-');
  let model: string;
  let clip: string;
  let server: NatsServer | null = null;
  let serve: ServeProcess | null = null;
  const workers: WorkerProcess[] = [];
  const env = { DEEPLAB_STREAM_LEASE_TTL: '1.5' };

  beforeAll(async () => {
    model = writeColourModel(dir);
    // The square comes at 4 s: time for a worker to take the stream first.
    clip = await writeZoneClip(dir, 'late.mp4', { seconds: 9, enter: 4, leave: 6 });
  });
  afterEach(async () => {
    await serve?.stop();
    await killWorkers(workers);
    await server?.stop();
    [server, serve] = [null, null];
  });
  afterAll(cleanup);

  it('measures a stream added over REST on its worker and tells its zone events on SSE and the broker', async () => {
    server = await startNatsServer();
    workers.push(startWorker(server.url, env, ['--allow-inputs', `file:${dir}`, '--model', model]));
    serve = await startServe(
      ['--no-test-pattern', '--model', model, '--nats', server.url, '--allow-inputs', `file:${dir}`, '--masks-rle'],
      env,
    );
    const nc = await connect({ servers: server.url });
    const onBroker: { type: string; frame: number }[] = [];
    const subscription = nc.subscribe('deeplab.events.door');
    void (async () => {
      for await (const m of subscription) onBroker.push(m.json());
    })();
    const sse = await readEvents(`${serve.url}/api/events`);
    const results: FrameResult[] = [];
    const resultSubscription = nc.subscribe('deeplab.results.door');
    void (async () => {
      for await (const m of resultSubscription) results.push(m.json());
    })();

    try {
      const zone = { name: 'corner', polygon: LOWER_RIGHT, classes: ['person'], minShare: 0.1, minSeconds: 0.5 };
      const added = await fetch(`${serve.url}/api/streams`, {
        method: 'POST',
        // Its own windows: they run where the picture changed, on the worker too.
        body: JSON.stringify({ id: 'door', input: clip, zones: [zone], tiles: '2x1' }),
      });
      expect(added.status, await added.clone().text()).toBe(201);
      const end = Date.now() + 30_000;
      while (sse.events.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(
        sse.events.map((e) => e.type),
        `${serve.stderr()}\n${workers[0]!.log()}`,
      ).toEqual(['zone.occupied', 'zone.free']);
      expect(sse.events[0]!.frame).toBeGreaterThanOrEqual(44);
      expect(sse.events[0]!.frame).toBeLessThanOrEqual(48);
      expect(workers[0]!.log()).toMatch(/stream door: taken/);
      await new Promise((r) => setTimeout(r, 200));
      expect(onBroker.map((e) => [e.type, e.frame])).toEqual(sse.events.map((e) => [e.type, e.frame]));
      // The results carry the zone's shares and, with --masks-rle, the masks: they decode to the pixel counts.
      const withPerson = results.find((r) => r.pixels['person'])!;
      expect(results.every((r) => typeof r.scoresAgeMs === 'number')).toBe(true);
      expect(await (await fetch(`${serve.url}/metrics`)).text()).toMatch(
        /^deeplab_scores_age_seconds\{stream="door"\} /m,
      );
      expect(withPerson.zones![0]!.share).toBeGreaterThan(0.35);
      for (const [name, rle] of Object.entries(withPerson.masks!))
        expect(decodeCocoRle(rle).reduce((a, b) => a + b, 0)).toBe(withPerson.pixels[name]);
      expect((await fetch(`${serve.url}/api/streams/door`, { method: 'DELETE' })).status).toBe(204);
      await workers[0]!.waitFor(/stream door: no longer asked for; stopped/);
    } finally {
      sse.close();
      subscription.unsubscribe();
      resultSubscription.unsubscribe();
      await nc.close();
    }
  }, 60_000);
});
