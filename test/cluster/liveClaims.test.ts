/**
 * `serve --nats` with `worker --nats` processes on a real NATS JetStream server: a live stream is
 * run by one worker, its frames reach the server's viewers and /metrics, its per-frame results go
 * to deeplab.results.<stream>; when its worker is killed it moves to another within seconds.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kvm } from '@nats-io/kv';
import {
  encode,
  LIVE_BUCKET,
  parseLiveTask,
  RESULTS_STREAM,
  streamToken,
  type FrameResult,
} from '../../cluster/protocol.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';
import { type ServeProcess, startServe, TestViewer } from '../helpers/liveServer.js';
import {
  NATS_SERVER,
  type NatsServer,
  startNatsServer,
  killWorkers,
  startWorker,
  type WorkerProcess,
} from '../helpers/natsServer.js';

if (!NATS_SERVER)
  console.warn(
    'skipping the live cluster tests: nats-server is not installed (bash .ci/install installs it from Debian)',
  );

describe.skipIf(!NATS_SERVER)('serve --nats: live streams on worker processes', () => {
  const { dir, cleanup } = tempDir('dls-cluster-live-');
  let model: string;
  let server: NatsServer | null = null;
  let serve: ServeProcess | null = null;
  let viewer: TestViewer | null = null;
  const workers: WorkerProcess[] = [];
  /** Leases of a second and a half: a dead worker's stream is free again within about that. */
  const env = { DEEPLAB_STREAM_LEASE_TTL: '1.5' };

  /** A NATS server, two workers, `serve testsrc --nats` and a viewer of it. */
  const streamOnTwoWorkers = async () => {
    const nats = (server = await startNatsServer());
    workers.push(startWorker(nats.url, env), startWorker(nats.url, env));
    const served = (serve = await startServe(['testsrc:160x96@10', '--model', model, '--nats', nats.url], env));
    return { server: nats, serve: served, viewer: await TestViewer.connect(`${served.url}/ws`) };
  };

  beforeAll(() => {
    model = writeModel(dir, { classes: 3, seed: 9 });
  });

  afterEach(async () => {
    viewer?.close();
    await serve?.stop();
    await killWorkers(workers);
    await server?.stop();
    [server, serve, viewer] = [null, null, null];
  });
  afterAll(cleanup);

  it('runs a stream on one worker: frames reach the viewer and /metrics, results reach deeplab.results.<stream>', async () => {
    ({ server, serve, viewer } = await streamOnTwoWorkers());
    await viewer.until((v) => v.frames.length >= 5, 30_000, 'five frames from the cluster');
    const frame = viewer.frames.at(-1)!;
    expect(frame.header.streamId).toBe('testsrc');
    expect([frame.header.width, frame.header.height]).toEqual([160, 96]);
    expect(frame.labels.length).toBe(160 * 96);
    // Exactly one worker took it.
    expect(workers.filter((w) => /stream testsrc: taken/.test(w.log()))).toHaveLength(1);
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(Number(/deeplab_frames_total\{stream="testsrc"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5);
    const health = (await (await fetch(`${serve.url}/healthz`)).json()) as {
      streams: { id: string; status: string; width: number }[];
    };
    expect(health.streams[0]).toMatchObject({ id: 'testsrc', status: 'live', width: 160 });

    const nc = await connect({ servers: server.url });
    try {
      const results = await jetstream(nc).consumers.get(RESULTS_STREAM, { filter_subjects: 'deeplab.results.testsrc' });
      const first = (await results.next({ expires: 5000 }))!.json<FrameResult>();
      expect(first).toMatchObject({ stream: 'testsrc', width: 160, height: 96, crf: false });
      expect(Object.values(first.pixels).reduce((a, b) => a + b, 0)).toBe(160 * 96);
      expect(first.stageMs['infer']).toBeGreaterThan(0);

      // Nobody watching: the worker stops making and sending frames; results go on.
      viewer.close();
      viewer = null;
      await new Promise((resolve) => setTimeout(resolve, 2000)); // the server tells; the worker reads it within a tick
      const count = async (subject: string) => {
        const sub = nc.subscribe(subject);
        let n = 0;
        const counting = (async () => {
          for await (const _ of sub) n += 1;
        })();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        sub.unsubscribe();
        await counting;
        return n;
      };
      const [frames, resultsSeen] = await Promise.all([
        count('deeplab.live.testsrc'),
        count('deeplab.results.testsrc'),
      ]);
      expect(frames).toBe(0);
      expect(resultsSeen).toBeGreaterThan(5);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it('stops the streams of a server killed with SIGKILL once their tasks expire', async () => {
    ({ server, serve, viewer } = await streamOnTwoWorkers());
    await viewer.until((v) => v.frames.length >= 2, 30_000, 'frames');
    const owner = workers.find((w) => /stream testsrc: taken/.test(w.log()))!;
    await serve.stop('SIGKILL');
    // Tasks live three lease lifetimes (4.5 s here) unless their server puts them again.
    await owner.waitFor(/stream testsrc: no longer asked for; stopped/, 15_000);
  }, 60_000);

  it('moves a stream whose worker was killed with SIGKILL to another worker within a few seconds', async () => {
    ({ server, serve, viewer } = await streamOnTwoWorkers());
    await viewer.until((v) => v.frames.length >= 3, 30_000, 'frames before the failover');
    const owner = workers.find((w) => /stream testsrc: taken/.test(w.log()))!;
    const other = workers.find((w) => w !== owner)!;
    owner.child.kill('SIGKILL');
    await owner.exited;
    const killedAt = Date.now();
    const before = viewer.frames.length;
    await other.waitFor(/stream testsrc: taken/, 10_000);
    await viewer.until((v) => v.frames.length >= before + 5, 10_000, 'frames from the second worker');
    const gapMs = Date.now() - killedAt;
    expect(gapMs).toBeLessThan(8000);
    await serve.waitForLog(/stream testsrc: live on worker/);
  }, 60_000);

  it('keeps its streams while a claim takes three lease lifetimes (a camera slow to answer); no stream ever has two publishers', async () => {
    ({ server, serve, viewer } = await streamOnTwoWorkers());
    await viewer.until((v) => v.frames.length >= 3, 30_000, 'frames');
    const owner = workers.find((w) => /stream testsrc: taken/.test(w.log()))!;
    const nc = await connect({ servers: server.url });
    // A camera that answers after 4.5 s (three lease lifetimes), then with nothing a decoder reads.
    const slow = http.createServer((_request, response) => void setTimeout(() => response.writeHead(404).end(), 4500));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const publishers = new Map<string, Set<string>>();
    const results = nc.subscribe('deeplab.results.*');
    void (async () => {
      for await (const m of results) {
        const r = m.json<FrameResult>();
        publishers.set(r.stream, (publishers.get(r.stream) ?? new Set()).add(r.worker));
      }
    })();
    try {
      const tasks = await new Kvm(jetstream(nc)).open(LIVE_BUCKET);
      const existing = parseLiveTask((await tasks.get(streamToken('testsrc')))!.value);
      // A second stream, as a second server would ask for it: both workers claim it, each for 4.5 s.
      const input = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/camera.mjpeg`;
      await tasks.put(streamToken('slowcam'), encode({ ...existing, stream: 'slowcam', input, server: 'test:1' }));
      const before = viewer.frames.length;
      await Promise.all(workers.map((w) => w.waitFor(/stream slowcam: cannot run it here/, 20_000)));
      // Frames kept coming through both claims, from the one owner.
      expect(viewer.frames.length).toBeGreaterThan(before + 30);
      expect(owner.log()).not.toMatch(/lost its lease/);
      expect(workers.filter((w) => /stream testsrc: taken/.test(w.log()))).toEqual([owner]);
      expect([...(publishers.get('testsrc') ?? [])]).toHaveLength(1);
    } finally {
      results.unsubscribe();
      slow.close();
      await nc.close();
    }
  }, 60_000);
});
