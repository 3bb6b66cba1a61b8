/**
 * The live path: `serve testsrc` (640x360 at 30 fps, the default model) as a child process, watched
 * by real Chromium. Delivered fps and end-to-end latency (captured on the server → drawn on the
 * viewer's canvas) come from the page; dropped frames from /metrics. Fan-out: the server's published
 * fps with 1 and with 10 WebSocket viewers (plain ws clients that read every byte, alternated
 * 1, 10, 1, 10 so drift on this shared machine hits both alike).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { median } from './benchUtil.js';

interface Serve {
  readonly child: ChildProcess;
  readonly url: string;
  stop(): Promise<void>;
}

async function startServe(cli: string, args: readonly string[]): Promise<Serve> {
  const child = spawn(process.execPath, [cli, 'serve', ...args, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      const match = /^serving .* on (http:\/\/[^/\s]+)/m.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
  });
  return {
    child,
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function counter(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').at(-1));
  return total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

export interface LiveRow {
  /** What ran: `serve` with these arguments. */
  readonly label: string;
  readonly args: readonly string[];
  readonly deliveredFps: number;
  readonly publishedFps: number;
  readonly droppedPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly samples: number;
}

/** Each case: `serve ARGS` watched by one Chromium page (the first stream) for `seconds` after a warm-up. */
export async function measureLiveCases(
  cli: string,
  cases: readonly { label: string; args: readonly string[] }[],
  seconds: number,
  say: (line: string) => void,
): Promise<LiveRow[]> {
  const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!executablePath) throw new Error('the live benchmark needs Chromium (bash .ci/install installs it)');
  const browser = await chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
    ],
  });
  const rows: LiveRow[] = [];
  try {
    for (const { label, args } of cases) {
      const serve = await startServe(cli, args);
      try {
        const page = await browser.newPage();
        await page.goto(`${serve.url}/`);
        await page.waitForFunction(
          () => (globalThis as unknown as { viewerStats: { framesDrawn: number } }).viewerStats.framesDrawn > 10,
          undefined,
          {
            timeout: 90_000,
          },
        );
        await sleep(3000); // warm-up: JIT, CRF warm start
        type Stats = { framesDrawn: number; recentLatencies: number[] };
        const read = () => page.evaluate(() => (globalThis as unknown as { viewerStats: Stats }).viewerStats);
        const before = await read();
        const [published0, dropped0] = [
          await counter(serve.url, 'deeplab_frames_total{'),
          await counter(serve.url, 'deeplab_frames_dropped_total{'),
        ];
        const started = performance.now();
        await sleep(seconds * 1000);
        const after = await read();
        const elapsed = (performance.now() - started) / 1000;
        const [published1, dropped1] = [
          await counter(serve.url, 'deeplab_frames_total{'),
          await counter(serve.url, 'deeplab_frames_dropped_total{'),
        ];
        const drawn = after.framesDrawn - before.framesDrawn;
        const latencies = after.recentLatencies.slice(-drawn);
        const row: LiveRow = {
          label,
          args,
          deliveredFps: Math.round((drawn / elapsed) * 10) / 10,
          publishedFps: Math.round(((published1 - published0) / elapsed) * 10) / 10,
          droppedPerSecond: Math.round(((dropped1 - dropped0) / elapsed) * 10) / 10,
          p50Ms: Math.round(percentile(latencies, 50)),
          p95Ms: Math.round(percentile(latencies, 95)),
          samples: latencies.length,
        };
        rows.push(row);
        say(
          `  ${label}: drawn ${row.deliveredFps} fps (published ${row.publishedFps}, all streams), dropped ${row.droppedPerSecond}/s, latency p50 ${row.p50Ms} ms, p95 ${row.p95Ms} ms (${row.samples} frames)`,
        );
        await page.close();
      } finally {
        await serve.stop();
      }
    }
  } finally {
    await browser.close();
  }
  return rows;
}

export async function benchLive(options: {
  cli: string;
  seconds: number;
  say: (line: string) => void;
}): Promise<{ rows: LiveRow[]; fanOut: { oneViewerFps: number; tenViewersFps: number; ratio: number } }> {
  const { cli, seconds, say } = options;
  say(`\n## live: serve testsrc 640x360@30, default model, ${seconds} s per case, viewer in Chromium`);
  const cases = [null, 1, 0.5, 0.25].map((crfScale) => ({
    label: crfScale === null ? 'CRF off' : `CRF on at scale ${crfScale}`,
    args: [
      'testsrc:640x360@30',
      '--crf',
      crfScale === null ? 'off' : 'on',
      ...(crfScale === null ? [] : ['--crf-scale', String(crfScale)]),
    ],
  }));
  const rows = await measureLiveCases(cli, cases, seconds, say);

  const serve = await startServe(cli, ['testsrc:640x360@30']);
  const fps: Record<1 | 10, number[]> = { 1: [], 10: [] };
  try {
    for (const viewers of [1, 10, 1, 10] as const) {
      const sockets = await Promise.all(
        Array.from({ length: viewers }, async () => {
          const socket = new WebSocket(`${serve.url.replace('http', 'ws')}/ws`);
          socket.on('message', () => {});
          await once(socket, 'open');
          return socket;
        }),
      );
      await sleep(1500);
      const published0 = await counter(serve.url, 'deeplab_frames_total{');
      const started = performance.now();
      await sleep((seconds * 1000) / 2);
      fps[viewers].push((await counter(serve.url, 'deeplab_frames_total{')) - published0);
      fps[viewers][fps[viewers].length - 1]! /= (performance.now() - started) / 1000;
      for (const socket of sockets) socket.terminate();
    }
  } finally {
    await serve.stop();
  }
  const one = median(fps[1]);
  const ten = median(fps[10]);
  const fanOut = {
    oneViewerFps: Math.round(one * 10) / 10,
    tenViewersFps: Math.round(ten * 10) / 10,
    ratio: Math.round((ten / one) * 1000) / 1000,
  };
  say(
    `  fan-out: ${fanOut.oneViewerFps} fps with 1 viewer, ${fanOut.tenViewersFps} fps with 10 (ratio ${fanOut.ratio}; goal ≥ 0.9)`,
  );
  return { rows, fanOut };
}
