/**
 * Soak: one `serve` process for many minutes, as a long-running server lives. Inputs: `testsrc`
 * (640x360@30, watched by one WebSocket viewer that reads every byte) and an HTTP stream served
 * here that plays a short clip and ends, so the server keeps reporting an outage and reopening it.
 * Meanwhile viewers connect and disconnect in a loop. Sampled from /proc and /metrics: the server's
 * RSS, open file descriptors (handles), threads (workers), and the testsrc stream's published fps.
 *
 * Pass: RSS growth after warm-up < 10%, fps flat (last minute vs first after warm-up), and after
 * the cycles the handles and threads back at their warm baseline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync, createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  readonly atS: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly threads: number;
  readonly published: number;
  readonly outages: number;
}

function procStats(pid: number): { rssMb: number; fds: number; threads: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return {
    rssMb: Math.round(field('VmRSS') / 1024),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    threads: field('Threads'),
  };
}

async function counter(url: string, name: string, label?: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (!label || line.includes(label))) total += Number(line.split(' ').at(-1));
  return total;
}

export interface SoakResult {
  readonly minutes: number;
  readonly warmUpS: number;
  readonly rssGrowthPct: number;
  readonly fpsFirstMinute: number;
  readonly fpsLastMinute: number;
  readonly viewerCycles: number;
  readonly outages: number;
  readonly baseline: { rssMb: number; fds: number; threads: number };
  readonly end: { rssMb: number; fds: number; threads: number };
  readonly samples: readonly Sample[];
}

export async function benchSoak(options: {
  cli: string;
  clip: string;
  minutes: number;
  viewerCycles: number;
  say: (line: string) => void;
}): Promise<SoakResult> {
  const { cli, clip, minutes, viewerCycles, say } = options;
  say(
    `\n## soak: serve testsrc + an HTTP stream that keeps ending, ${minutes} min, ${viewerCycles} viewer connect/disconnect cycles`,
  );
  const size = statSync(clip).size;
  const http = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': size });
    createReadStream(clip).pipe(response);
  }).listen(0, '127.0.0.1');
  await once(http, 'listening');
  const httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/ending.ts`;

  const child: ChildProcess = spawn(process.execPath, [cli, 'serve', 'testsrc:640x360@30', httpUrl, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-20_000);
      const match = /^serving .* on (http:\/\/[^/\s]+)/m.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
  });
  const pid = child.pid!;
  const viewer = new WebSocket(`${url.replace('http', 'ws')}/ws`);
  viewer.on('message', () => {});
  await once(viewer, 'open');
  viewer.send(JSON.stringify({ type: 'subscribe', streams: ['testsrc'] }));

  const started = performance.now();
  const samples: Sample[] = [];
  const sample = async () => {
    const s: Sample = {
      atS: Math.round((performance.now() - started) / 1000),
      ...procStats(pid),
      published: await counter(url, 'deeplab_frames_total{', 'stream="testsrc"'),
      outages: await counter(url, 'deeplab_source_outages_total{'),
    };
    samples.push(s);
    return s;
  };

  // Viewer cycles run alongside the soak, a few at a time, each a full handshake and close.
  let cycles = 0;
  const cycling = (async () => {
    while (cycles < viewerCycles) {
      await Promise.all(
        Array.from({ length: 5 }, async () => {
          const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`);
          socket.on('message', () => {});
          socket.on('error', () => {});
          await once(socket, 'open');
          await sleep(20);
          socket.close();
          await once(socket, 'close');
          cycles += 1;
        }),
      );
    }
  })();

  const warmUpS = Math.min(60, minutes * 15);
  await sleep(warmUpS * 1000);
  const warm = await sample();
  say(`  after ${warmUpS} s warm-up: RSS ${warm.rssMb} MB, ${warm.fds} fds, ${warm.threads} threads`);
  const end = started + minutes * 60_000;
  while (performance.now() < end) {
    await sleep(Math.min(30_000, Math.max(0, end - performance.now())));
    const s = await sample();
    say(
      `  ${s.atS} s: RSS ${s.rssMb} MB, ${s.fds} fds, ${s.threads} threads, ${s.outages} outages, ${cycles} viewer cycles`,
    );
  }
  await cycling;
  // Let the last closes and reconnects settle before reading the end state.
  await sleep(5000);
  const last = await sample();
  viewer.terminate();
  child.kill('SIGTERM');
  await once(child, 'exit');
  http.close();

  const fpsOver = (fromS: number, toS: number) => {
    const a = samples.filter((s) => s.atS >= fromS)[0]!;
    const b = [...samples].reverse().find((s) => s.atS <= toS)!;
    return Math.round(((b.published - a.published) / Math.max(1, b.atS - a.atS)) * 10) / 10;
  };
  const totalS = last.atS;
  const result: SoakResult = {
    minutes,
    warmUpS,
    rssGrowthPct: Math.round(((last.rssMb - warm.rssMb) / warm.rssMb) * 1000) / 10,
    fpsFirstMinute: fpsOver(warmUpS, warmUpS + 60),
    fpsLastMinute: fpsOver(totalS - 65, totalS),
    viewerCycles: cycles,
    outages: last.outages,
    baseline: { rssMb: warm.rssMb, fds: warm.fds, threads: warm.threads },
    end: { rssMb: last.rssMb, fds: last.fds, threads: last.threads },
    samples,
  };
  say(
    `  RSS ${warm.rssMb} → ${last.rssMb} MB (${result.rssGrowthPct}%; goal < 10%), fps ${result.fpsFirstMinute} → ${result.fpsLastMinute}, fds ${warm.fds} → ${last.fds}, threads ${warm.threads} → ${last.threads}, ${cycles} viewer cycles, ${last.outages} outages`,
  );
  return result;
}
