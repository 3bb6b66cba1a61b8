/**
 * The broker is a second front door: a stranger on the same NATS server (a test client here)
 * publishes what a real server or worker would never send. Workers open only what their operator
 * allows, a job survives forged failures and advisories, a server counts and ignores what is not
 * its streams', credentials never travel or print, and a stream id has one server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  encode,
  LIVE_BUCKET,
  type LiveTask,
  OBJECT_BUCKET,
  streamToken,
  type StreamStatus,
} from '../../cluster/protocol.js';
import { runCli, tempDir, writeClip, writeModel } from '../helpers/fixtures.js';
import { type ServeProcess, startServe } from '../helpers/liveServer.js';
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
    'skipping the hostile-broker tests: nats-server is not installed (bash .ci/install installs it from Debian)',
  );

describe.skipIf(!NATS_SERVER)('a stranger on the broker', () => {
  const { dir, cleanup } = tempDir('dls-hostile-');
  let model: string;
  let modelObject: string;
  let clip: string;
  let server: NatsServer | null = null;
  let serve: ServeProcess | null = null;
  let stranger: NatsConnection | null = null;
  const workers: WorkerProcess[] = [];
  const env = { DEEPLAB_STREAM_LEASE_TTL: '1.5', DEEPLAB_STREAM_ACK_WAIT: '1.5' };

  beforeAll(async () => {
    model = writeModel(dir, { classes: 3, seed: 4 });
    modelObject = `models/${createHash('sha256').update(readFileSync(model)).digest('hex')}.onnx`;
    clip = await writeClip(dir, 'clip.mp4', {
      frames: 100,
      codecArgs: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p'],
    });
  }, 60_000);

  afterEach(async () => {
    await stranger?.close();
    await serve?.stop();
    await killWorkers(workers);
    await server?.stop();
    [server, serve, stranger] = [null, null, null];
  });
  afterAll(cleanup);

  const task = (stream: string, input: string, extra: Partial<LiveTask> = {}): LiveTask => ({
    stream,
    input,
    realtime: true,
    model: { object: modelObject },
    run: { batchSize: 1 },
    crfOn: false,
    watched: true,
    server: 'stranger:1',
    ...extra,
  });

  /** Puts live tasks in the bucket by hand, as anyone on the broker could; resolves with each stream's first status. */
  const putTasks = async (nc: NatsConnection, tasks: readonly LiveTask[]) => {
    const statuses = new Map<string, StreamStatus>();
    const sub = nc.subscribe('deeplab.status.*');
    const frames = nc.subscribe('deeplab.live.*');
    let framesSeen = 0;
    void (async () => {
      for await (const m of sub) {
        const status = m.json<StreamStatus>();
        if (!statuses.has(status.stream)) statuses.set(status.stream, status);
      }
    })();
    void (async () => {
      for await (const _ of frames) framesSeen += 1;
    })();
    const kv = await new Kvm(jetstream(nc)).create(LIVE_BUCKET, { history: 1, ttl: 4500 });
    for (const t of tasks) await kv.put(streamToken(t.stream), encode(t));
    return {
      statuses,
      framesSeen: () => framesSeen,
      until: async (check: () => boolean, what: string, timeoutMs = 20_000) => {
        const end = Date.now() + timeoutMs;
        while (!check()) {
          if (Date.now() > end)
            throw new Error(
              `never: ${what}; statuses ${JSON.stringify([...statuses.values()])}; workers:\n${workers.map((w) => w.log()).join('\n')}`,
            );
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      stop: () => {
        sub.unsubscribe();
        frames.unsubscribe();
      },
    };
  };

  it('cannot make a worker open local files, a cache:tcp:// address or an oversized run; the refusals name no path', async () => {
    server = await startNatsServer();
    workers.push(startWorker(server.url, env));
    await workers[0]!.waitFor(/waiting for chunks/);
    stranger = await connect({ servers: server.url });
    const tasks = [
      task('passwd', '/etc/passwd'),
      task('shadow', 'file:///etc/shadow'),
      task('cache', 'cache:tcp://127.0.0.1:9/a%d.png'),
      task('camera', 'camera:0'),
      task('huge', 'testsrc:64x48@5', { run: { batchSize: 64, inputSize: [8192, 8192], scales: [0.5, 1, 1.5, 2] } }),
    ];
    const seen = await putTasks(stranger, tasks);
    await seen.until(() => seen.statuses.size === tasks.length, 'a status for every task');
    seen.stop();
    const message = (id: string) => seen.statuses.get(id)?.message;
    expect(message('passwd')).toBe('refused: inputs of kind file are not allowed on this worker');
    expect(message('shadow')).toBe('refused: inputs of kind file are not allowed on this worker');
    expect(message('cache')).toBe('refused: inputs of kind file are not allowed on this worker');
    expect(message('camera')).toBe('refused: inputs of kind camera are not allowed on this worker');
    expect(message('huge')).toMatch(
      /^refused: the run asks for more than this worker allows: input size 8192x8192 .*batch 64 \(cap 16, --max-batch\)$/,
    );
    expect(seen.framesSeen()).toBe(0);
    expect(workers[0]!.log()).not.toMatch(/taken|\/etc\/|cache:tcp/);
  }, 60_000);

  it('cannot slip a worker a model that is not what its name says, or one over its size cap; nothing partial stays in its cache', async () => {
    server = await startNatsServer();
    const cache = path.join(dir, 'worker-cache');
    workers.push(startWorker(server.url, { ...env, DEEPLAB_STREAM_CACHE: cache }, ['--max-model-mb', '1']));
    await workers[0]!.waitFor(/waiting for chunks/);
    stranger = await connect({ servers: server.url });
    const objects = await new Objm(jetstream(stranger)).create(OBJECT_BUCKET);
    // Named after one model's bytes, holding another's; and a model of 2 MiB.
    const lying = `models/${createHash('sha256').update('another model').digest('hex')}.onnx`;
    await objects.putBlob({ name: lying }, readFileSync(model));
    const big = randomBytes(2 << 20);
    const bigName = `models/${createHash('sha256').update(big).digest('hex')}.onnx`;
    await objects.putBlob({ name: bigName }, big);
    const seen = await putTasks(stranger, [
      task('lying', 'testsrc:64x48@5', { model: { object: lying } }),
      task('big', 'testsrc:64x48@5', { model: { object: bigName } }),
      task('badname', 'testsrc:64x48@5', { model: { object: 'models/../../etc/x.onnx' } }),
    ]);
    await seen.until(() => seen.statuses.has('lying') && seen.statuses.has('big'), 'refusals of both models');
    seen.stop();
    expect(seen.statuses.get('lying')?.message).toMatch(
      /^cannot run it here \(models\/[0-9a-f]{64}\.onnx in the object store does not match its name \(sha256 [0-9a-f]{64}\)\)$/,
    );
    expect(seen.statuses.get('big')?.message).toBe(
      "cannot run it here (the model is 2.0 MiB, over this worker's cap of 1.0 MiB (--max-model-mb))",
    );
    expect(seen.statuses.has('badname')).toBe(false); // not even a task: its model's name is malformed
    expect(readdirSync(path.join(cache, 'cluster'))).toEqual([]);
    expect(workers[0]!.log()).not.toMatch(/: taken/);
  }, 60_000);

  it('opens a file only under the directory its operator named', async () => {
    server = await startNatsServer();
    const outside = path.join(path.dirname(dir), `${path.basename(dir)}-outside.mp4`);
    writeFileSync(outside, readFileSync(clip));
    workers.push(startWorker(server.url, env, ['--allow-inputs', `testsrc,file:${dir}`, '--model', model]));
    await workers[0]!.waitFor(/waiting for chunks/);
    stranger = await connect({ servers: server.url });
    const seen = await putTasks(stranger, [task('inside', clip), task('outside', outside)]);
    await seen.until(
      () => seen.framesSeen() >= 3 && seen.statuses.has('outside'),
      'frames of the allowed file and a refusal of the other',
    );
    seen.stop();
    expect(seen.statuses.get('outside')?.message).toBe(
      'refused: this file is outside the directories allowed on this worker',
    );
    expect(workers[0]!.log()).toMatch(/stream inside: taken/);
  }, 60_000);

  it('cannot end a job with forged failures or a malformed advisory', async () => {
    server = await startNatsServer();
    workers.push(startWorker(server.url, env));
    stranger = await connect({ servers: server.url });
    const nc = stranger;
    let forged = 0;
    const chunks = nc.subscribe('deeplab.chunks.>');
    void (async () => {
      for await (const m of chunks) {
        const job = m.subject.split('.')[2]!;
        // A failure for every chunk of the job, before any worker could answer, and garbage where the NATS server's advisories go.
        for (let chunk = 0; chunk < 4; chunk++) {
          nc.publish(
            `deeplab.done.${job}`,
            encode({ ok: false, job, chunk, worker: 'stranger:1', error: { kind: 'InputError', message: 'forged' } }),
          );
          forged += 1;
        }
        nc.publish('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.DEEPLAB_CHUNKS.deeplab-workers', 'not json');
        nc.publish(
          '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.DEEPLAB_CHUNKS.deeplab-workers',
          JSON.stringify({ stream: 'DEEPLAB_CHUNKS', consumer: 'deeplab-workers' }),
        );
        nc.publish(`deeplab.done.${job}`, 'not json');
      }
    })();
    const out = path.join(dir, 'forged');
    const r = await runCli(
      [
        'segment',
        clip,
        '--model',
        model,
        '--nats',
        server.url,
        '--chunk-seconds',
        '1',
        '--frames-json',
        `${out}.jsonl`,
        '--json',
      ],
      {
        env,
      },
    );
    chunks.unsubscribe();
    expect(r.code, r.stderr).toBe(0);
    expect(forged).toBeGreaterThanOrEqual(4);
    expect((JSON.parse(r.stdout) as { framesOut: number }).framesOut).toBe(100);
    expect(readFileSync(`${out}.jsonl`, 'utf8').trim().split('\n')).toHaveLength(100);
    expect(r.stderr).toMatch(/were not this job's results and were ignored/);
  }, 90_000);

  it("still fails a job in one line on a genuine failure: a run over the worker's caps", async () => {
    server = await startNatsServer();
    workers.push(startWorker(server.url, env, ['--max-batch', '2']));
    const r = await runCli(
      [
        'segment',
        clip,
        '--model',
        model,
        '--nats',
        server.url,
        '--chunk-seconds',
        '1',
        '--batch',
        '4',
        '--frames-json',
        path.join(dir, 'over.jsonl'),
      ],
      { env },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(
      /^error: .*refused: the run asks for more than this worker allows: batch 4 \(cap 2, --max-batch\)$/,
    );
  }, 60_000);

  it('cannot feed a server frames, statuses or results of streams it does not show, nor inflate its drop count', async () => {
    server = await startNatsServer();
    workers.push(startWorker(server.url, env));
    serve = await startServe(['testsrc:160x96@10', '--model', model, '--nats', server.url], env);
    await serve.waitForLog(/stream testsrc: live on worker/);
    stranger = await connect({ servers: server.url });
    stranger.publish('deeplab.live.other', new Uint8Array(16));
    stranger.publish('deeplab.results.other', encode({ stream: 'other' } as never));
    stranger.publish('deeplab.results.testsrc', 'not json');
    stranger.publish(
      'deeplab.status.testsrc',
      encode({ stream: 'testsrc', worker: 'stranger:1', status: 'live', width: 160, height: 96, dropped: 1e12 }),
    );
    await stranger.flush();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? NaN);
    expect(value(/deeplab_cluster_messages_ignored_total\{reason="unknown_stream"\} (\d+)/)).toBeGreaterThanOrEqual(2);
    expect(value(/deeplab_cluster_messages_ignored_total\{reason="malformed"\} (\d+)/)).toBeGreaterThanOrEqual(1);
    expect(value(/deeplab_frames_dropped_total\{stream="testsrc",place="source"\} (\d+)/)).toBeLessThan(10_000);
    expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('never sees a camera password: sealed in the task, redacted in every log; a worker without the key refuses it', async () => {
    server = await startNatsServer();
    const camera = 'rtsp://admin:hunter2@127.0.0.1:9/live';
    const refused = await runCli(['serve', camera, '--model', model, '--nats', server.url, '--port', '0'], { env });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /^error: rtsp:\/\/\*\*\*@127\.0\.0\.1:9\/live: its credentials would travel .*--input-key FILE/m,
    );
    expect(refused.stderr).not.toContain('hunter2');

    const key = path.join(dir, 'input.key');
    writeFileSync(key, 'a-shared-secret-of-some-length\n');
    const keyless = startWorker(server.url, env);
    workers.push(keyless);
    serve = await startServe([camera, '--model', model, '--nats', server.url, '--input-key', key], env);
    await keyless.waitFor(
      /stream 127\.0\.0\.1-9-live: refused: the input's credentials are sealed with a key this worker was not given/,
    );
    const keyed = startWorker(server.url, env, ['--input-key', key]);
    workers.push(keyed);
    // It has the key: it opens the camera (there is none on port 9) and says why it cannot, address redacted.
    await keyed.waitFor(/stream 127\.0\.0\.1-9-live: cannot run it here \(.*rtsp:\/\/\*\*\*@127\.0\.0\.1:9\/live/);
    stranger = await connect({ servers: server.url });
    const kv = await new Kvm(jetstream(stranger)).open(LIVE_BUCKET);
    const entry = await kv.get(streamToken('127.0.0.1-9-live'));
    const stored = new TextDecoder().decode(entry!.value);
    expect(stored).toContain('rtsp://***@127.0.0.1:9/live');
    expect(stored).not.toContain('hunter2');
    expect(stored).not.toContain('admin');
    for (const text of [keyless.log(), keyed.log(), serve.stderr()]) expect(text).not.toContain('hunter2');
  }, 60_000);

  it('gives a stream id to one server: a second asking for it is refused in one line', async () => {
    server = await startNatsServer();
    serve = await startServe(['testsrc:160x96@10', '--model', model, '--nats', server.url], env);
    const second = await runCli(['serve', 'testsrc:160x96@10', '--model', model, '--nats', server.url, '--port', '0'], {
      env,
    });
    expect(second.code).not.toBe(0);
    expect(second.stderr.trim()).toMatch(
      /^error: stream testsrc is already served on the cluster by serve [^ ]+:\d+: stop that server first \(a server killed outright lets go of it within 4\.5 s\)$/,
    );
  }, 60_000);
});
