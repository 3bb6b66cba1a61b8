/**
 * Scale-out on this machine (`npm run bench -- cluster`), a real NATS server with JetStream on
 * 127.0.0.1 and real worker processes:
 * - `segment --nats` with one worker process (2 threads) vs `segment` alone on the same 2 cores,
 *   the real DeepLab on vtest.avi (a generated clip where the shared folder is absent), alternating;
 * - two worker processes of one thread each vs one;
 * - the broker alone: object store put + get (MB/s) and task messages published + taken (per second),
 *   the figures the on-paper scaling in BENCHMARKS.md is worked out from.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { median, runMeasured } from './benchUtil.js';
import { realMaterial } from './realModelBench.js';

export interface ClusterBenchOptions {
  readonly root: string;
  readonly cli: string;
  readonly work: string;
  readonly rounds: number;
  readonly say: (line: string) => void;
  /** A clip to use where the real material is absent. */
  readonly fallbackClip: () => Promise<string>;
}

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as net.AddressInfo;
      s.close(() => resolve(p));
    });
  });
  const store = mkdtempSync(path.join(os.tmpdir(), 'bench-nats-'));
  const child = spawn('nats-server', ['-js', '-sd', store, '-a', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()).includes('Server is ready') && resolve());
    child.once('exit', () => reject(new Error(`nats-server exited: ${log}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(store, { recursive: true, force: true });
    },
  };
}

function startWorkers(cli: string, url: string, count: number, threads: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, [cli, 'worker', '--nats', url, '--threads', String(threads)], { stdio: 'ignore' }),
  );
}

async function stopWorkers(workers: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          w.once('exit', resolve);
          w.kill('SIGINT');
        }),
    ),
  );
}

/** Object store and work-queue throughput of the broker alone (one client, 4 MB objects, 1 kB tasks). */
async function brokerThroughput(url: string, say: (line: string) => void): Promise<Record<string, number>> {
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const objects = await new Objm(js).create('bench-objects');
  const blob = new Uint8Array(4 << 20).map((_, i) => (i * 2654435761) >>> 24);
  const count = 16;
  let t0 = performance.now();
  for (let i = 0; i < count; i++) await objects.putBlob({ name: `o${i}` }, blob);
  const putMBps = (count * blob.length) / 2 ** 20 / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < count; i++) await objects.getBlob(`o${i}`);
  const getMBps = (count * blob.length) / 2 ** 20 / ((performance.now() - t0) / 1000);
  await jsm.streams.add({ name: 'BENCH_TASKS', subjects: ['bench.tasks'], retention: RetentionPolicy.Workqueue });
  await jsm.consumers.add('BENCH_TASKS', { durable_name: 'w', ack_policy: AckPolicy.Explicit });
  const task = new TextEncoder().encode(JSON.stringify({ payload: 'x'.repeat(1000) }));
  const tasks = 2000;
  t0 = performance.now();
  await Promise.all(Array.from({ length: tasks }, () => js.publish('bench.tasks', task)));
  const publishPerS = tasks / ((performance.now() - t0) / 1000);
  const consumer = await js.consumers.get('BENCH_TASKS', 'w');
  t0 = performance.now();
  for (let i = 0; i < tasks; i++) (await consumer.next())!.ack();
  const takePerS = tasks / ((performance.now() - t0) / 1000);
  // Live frames: 40 kB messages (a 640×360 JPEG and its labels) through core NATS to one subscriber.
  const frame = blob.subarray(0, 40_000);
  const frames = 5000;
  const sub = nc.subscribe('bench.live');
  const received = (async () => {
    let n = 0;
    for await (const _ of sub) if (++n === frames) break;
  })();
  t0 = performance.now();
  for (let i = 0; i < frames; i++) nc.publish('bench.live', frame);
  await received;
  const framesPerS = frames / ((performance.now() - t0) / 1000);
  await nc.close();
  say(
    `  live frames relayed (40 kB, core NATS, one subscriber): ${framesPerS.toFixed(0)}/s = ${((framesPerS * 40_000) / 2 ** 20).toFixed(0)} MB/s`,
  );
  say(
    `  broker alone: object put ${putMBps.toFixed(0)} MB/s, get ${getMBps.toFixed(0)} MB/s (4 MB objects); tasks published ${publishPerS.toFixed(0)}/s, taken one at a time + acked ${takePerS.toFixed(0)}/s`,
  );
  return { putMBps, getMBps, publishPerS, takePerS, framesPerS };
}

export async function benchCluster(o: ClusterBenchOptions): Promise<Record<string, unknown> | null> {
  const { cli, work, say } = o;
  say('\n## scale-out on NATS JetStream (segment --nats, worker processes on this machine)');
  try {
    execFileSync('sh', ['-c', 'command -v nats-server'], { stdio: 'ignore' });
  } catch {
    say('  skipped: nats-server is not installed (bash .ci/install installs it)');
    return null;
  }
  const real = realMaterial(o.root, work, say);
  const [input, modelArgs, label] = real
    ? [
        real.video,
        ['--model', real.model],
        'the real DeepLab v3 on vtest.avi (795 frames, keyframes every ~20 s: 4 chunks)',
      ]
    : [await o.fallbackClip(), [], 'the default model on a generated clip'];
  say(`  ${label}; -o video + --frames-json, whole processes, ${o.rounds} alternating rounds, medians`);
  const server = await startServer();
  try {
    const out = (name: string) => [
      '-o',
      path.join(work, `${name}.mp4`),
      '--frames-json',
      path.join(work, `${name}.jsonl`),
    ];
    const local = async () => {
      const r = await runMeasured(process.execPath, [
        cli,
        'segment',
        input,
        ...modelArgs,
        ...out('cluster-local'),
        '--json',
      ]);
      if (r.code !== 0) throw new Error(r.stderr);
      return r.wallMs;
    };
    const onCluster = async (count: number, threads: number) => {
      const workers = startWorkers(cli, server.url, count, threads);
      try {
        const r = await runMeasured(process.execPath, [
          cli,
          'segment',
          input,
          ...modelArgs,
          '--nats',
          server.url,
          ...out(`cluster-${count}`),
          '--json',
        ]);
        if (r.code !== 0) throw new Error(r.stderr);
        return r.wallMs;
      } finally {
        await stopWorkers(workers);
      }
    };
    const times: Record<string, number[]> = { local: [], one: [], oneSingleThread: [], two: [] };
    for (let r = 0; r < o.rounds; r++) {
      times['local']!.push(await local());
      times['one']!.push(await onCluster(1, 2));
      times['oneSingleThread']!.push(await onCluster(1, 1));
      times['two']!.push(await onCluster(2, 1));
    }
    const same =
      readFileSync(path.join(work, 'cluster-local.jsonl'), 'utf8') ===
      readFileSync(path.join(work, 'cluster-1.jsonl'), 'utf8');
    const m = (k: string) => median(times[k]!) / 1000;
    const frames = readFileSync(path.join(work, 'cluster-local.jsonl'), 'utf8').split('\n').filter(Boolean).length;
    say(
      `  segment alone (2 cores): ${m('local').toFixed(1)} s (${(frames / m('local')).toFixed(1)} fps); --nats, 1 worker × 2 threads: ${m('one').toFixed(1)} s → ${(m('local') / m('one')).toFixed(2)} of segment alone (goal ≥ 0.8)`,
    );
    say(
      `  --nats, 1 worker × 1 thread: ${m('oneSingleThread').toFixed(1)} s; 2 workers × 1 thread: ${m('two').toFixed(1)} s → ×${(m('oneSingleThread') / m('two')).toFixed(2)}`,
    );
    say(
      `  frames JSON of the cluster run ${same ? 'byte-identical to' : 'DIFFERENT from'} the local run's (${frames} frames)`,
    );
    const broker = await brokerThroughput(server.url, say);
    return {
      input: label,
      frames,
      seconds: Object.fromEntries(Object.keys(times).map((k) => [k, m(k)])),
      clusterOverLocal: m('local') / m('one'),
      twoOverOne: m('oneSingleThread') / m('two'),
      framesJsonIdentical: same,
      broker,
    };
  } finally {
    await server.stop();
  }
}
