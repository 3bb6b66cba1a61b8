/**
 * `segment --nats` and `worker --nats` against a real NATS server with JetStream and real worker
 * processes: a chunked run writes what a local run writes; a worker killed mid-chunk loses nothing;
 * a worker stopped with Ctrl-C hands its chunk back; a lost broker fails the run cleanly; a client
 * that dies leaves nothing behind once its job expires.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { CHUNK_STREAM, OBJECT_BUCKET } from '../../cluster/protocol.js';
import { countFrames, runCli, tempDir, writeClip, writeModel } from '../helpers/fixtures.js';
import {
  NATS_SERVER,
  type NatsServer,
  startNatsServer,
  killWorkers,
  startWorker,
  type WorkerProcess,
} from '../helpers/natsServer.js';

if (!NATS_SERVER)
  console.warn('skipping the cluster tests: nats-server is not installed (bash .ci/install installs it from Debian)');

describe.skipIf(!NATS_SERVER)('segment --nats with worker processes on a real NATS JetStream server', () => {
  const { dir, cleanup } = tempDir('dls-cluster-');
  let model: string;
  let clip: string;
  let local: { frames: string; masks: Map<string, string> };
  let server: NatsServer | null = null;
  const workers: WorkerProcess[] = [];
  /** Short deadlines, so that a dead worker's chunk comes back within the test. */
  const env = { DEEPLAB_STREAM_ACK_WAIT: '1.5' };

  const masksOf = (masks: string) =>
    new Map(
      readdirSync(masks)
        .sort()
        .map((f) => [f, readFileSync(path.join(masks, f)).toString('base64')]),
    );
  const segmentArgs = (out: string, url: string) => [
    'segment',
    clip,
    '--model',
    model,
    '--nats',
    url,
    '--chunk-seconds',
    '1',
    '--frames-json',
    `${out}.jsonl`,
    '--masks',
    `${out}-masks`,
    '-o',
    `${out}.mp4`,
  ];
  const expectLocalOutputs = async (out: string) => {
    expect(readFileSync(`${out}.jsonl`, 'utf8')).toBe(local.frames);
    expect(masksOf(`${out}-masks`)).toEqual(local.masks);
    expect(await countFrames(`${out}.mp4`)).toBe(100);
  };

  beforeAll(async () => {
    model = writeModel(dir, { classes: 4, seed: 5 });
    // Four seconds with a keyframe every second: four chunks of about a second.
    clip = await writeClip(dir, 'clip.mp4', {
      frames: 100,
      codecArgs: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p'],
    });
    const r = await runCli([
      'segment',
      clip,
      '--model',
      model,
      '--frames-json',
      path.join(dir, 'local.jsonl'),
      '--masks',
      path.join(dir, 'local-masks'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    local = {
      frames: readFileSync(path.join(dir, 'local.jsonl'), 'utf8'),
      masks: masksOf(path.join(dir, 'local-masks')),
    };
    expect(local.masks.size).toBe(100);
  }, 60_000);

  afterEach(async () => {
    await killWorkers(workers);
    await server?.stop();
    server = null;
  });
  afterAll(cleanup);

  it('writes what a local run writes, every frame once and in order, from chunks done by two workers', async () => {
    server = await startNatsServer();
    workers.push(startWorker(server.url, env), startWorker(server.url, env));
    const out = path.join(dir, 'two');
    const r = await runCli([...segmentArgs(out, server.url), '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { chunks: number; framesOut: number; workers: string[] };
    expect(summary.chunks).toBe(4);
    expect(summary.framesOut).toBe(100);
    await expectLocalOutputs(out);
  }, 90_000);

  it('gives the chunk of a worker killed with SIGKILL in the middle of it to another: nothing lost, nothing twice', async () => {
    server = await startNatsServer();
    const doomed = startWorker(server.url, env);
    workers.push(doomed);
    const out = path.join(dir, 'killed');
    const run = runCli(segmentArgs(out, server.url), { env });
    await doomed.waitFor(/chunk 1\/4: started/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    expect(doomed.log()).not.toMatch(/chunk 1\/4: done/);
    const rescuer = startWorker(server.url, env);
    workers.push(rescuer);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(rescuer.log()).toMatch(/chunk 1\/4: started \(delivery 2\)/);
    await expectLocalOutputs(out);
  }, 90_000);

  it('fails in one line when every delivery of a chunk dies with its worker', async () => {
    server = await startNatsServer();
    const out = path.join(dir, 'cursed');
    const run = runCli(segmentArgs(out, server.url), { env });
    for (let delivery = 1; delivery <= 5; delivery++) {
      const doomed = startWorker(server.url, env);
      await doomed.waitFor(new RegExp(`started \\(delivery ${delivery}\\)`));
      doomed.child.kill('SIGKILL');
      await doomed.exited;
    }
    // The server gives the chunk up when it would deliver it a sixth time: to a worker asking for work.
    workers.push(startWorker(server.url, env));
    const r = await run;
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/error: chunk 1 of 4 was given to 5 workers and each stopped before finishing it/);
    expect(readdirSync(dir).filter((f) => f.includes('cursed'))).toEqual([]);
  }, 90_000);

  it('has a worker stopped with Ctrl-C hand its chunk back at once', async () => {
    server = await startNatsServer();
    const stopping = startWorker(server.url, { DEEPLAB_STREAM_ACK_WAIT: '60' });
    workers.push(stopping);
    const out = path.join(dir, 'handed');
    const run = runCli(segmentArgs(out, server.url), { env: { DEEPLAB_STREAM_ACK_WAIT: '60' } });
    await stopping.waitFor(/chunk 1\/4: started/);
    stopping.child.kill('SIGINT');
    expect(await stopping.exited).toBe(0);
    expect(stopping.log()).toMatch(/chunk 1\/4: handed back/);
    // Its deadline is a minute: only the hand-back lets another worker have it now.
    const next = startWorker(server.url, { DEEPLAB_STREAM_ACK_WAIT: '60' });
    workers.push(next);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    await expectLocalOutputs(out);
  }, 90_000);

  it('says in one line that the broker is gone, exits non-zero and leaves no output', async () => {
    server = await startNatsServer();
    const out = path.join(dir, 'broker-lost');
    const run = runCli(segmentArgs(out, server.url), { env }); // no worker: it waits for results
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await server.stop();
    server = null;
    const r = await run;
    expect(r.code).toBe(69);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toHaveLength(1);
    expect(r.stderr).toMatch(/error: lost the NATS server at nats:\/\/127\.0\.0\.1:\d+/);
    expect(readdirSync(dir).filter((f) => f.includes('broker-lost'))).toEqual([]);
  }, 60_000);

  it('says in one line when there is no broker to reach', async () => {
    const r = await runCli(segmentArgs(path.join(dir, 'nobody'), 'nats://127.0.0.1:9'));
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(
      /^error: cannot reach the NATS server at nats:\/\/127\.0\.0\.1:9 .*start one with JetStream/m,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(dir, 'nobody.jsonl'))).toBe(false);
  }, 30_000);

  it('leaves nothing on the server once the job of a client killed with SIGKILL expires', async () => {
    server = await startNatsServer();
    const ttl = { ...env, DEEPLAB_STREAM_JOB_TTL: '3' };
    const out = path.join(dir, 'orphan');
    let pid = 0;
    const run = runCli(segmentArgs(out, server.url), { env: ttl, onSpawn: (child) => (pid = child.pid!) });
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const queued = async () =>
        jsm.streams.info(CHUNK_STREAM).then(
          (i) => i.state.messages,
          () => 0,
        );
      for (let i = 0; i < 100 && (await queued()) < 4; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await queued()).toBe(4);
      process.kill(pid, 'SIGKILL');
      await run;
      const objects = await new Objm(nc).open(OBJECT_BUCKET);
      expect((await objects.list()).length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 4500));
      expect(await queued()).toBe(0);
      expect(await objects.list()).toEqual([]);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it('refuses a still image with --nats in one line', async () => {
    const png = path.join(dir, 'still.png');
    await writeClip(dir, 'still.png', { frames: 1, codecArgs: [] });
    const r = await runCli([
      'segment',
      png,
      '--model',
      model,
      '--nats',
      'nats://127.0.0.1:9',
      '--frames-json',
      path.join(dir, 'still.jsonl'),
    ]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/error: --nats cuts a video file into chunks; .* is a still image: run it without --nats/);
  }, 30_000);
});
