/**
 * The live path: `serve testsrc` (640x360 at 30 fps, the default model) as a child process, watched
 * by real Chromium. Delivered fps and end-to-end latency (captured on the server → drawn on the
 * viewer's canvas) come from the page; dropped frames from /metrics. Fan-out: the server's published
 * fps with 1 and with 10 WebSocket viewers (plain ws clients that read every byte, alternated
 * 1, 10, 1, 10 so drift on this shared machine hits both alike).
 */
import { NEAR_FRAME_300, pedestriansMarked } from './vtestPedestrians.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { once } from 'node:events';
import puppeteer from 'puppeteer-core';
import WebSocket from 'ws';
import { splitFrameMessage } from '../server/wireFormat.js';
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
  /** What the viewers were sent against offline `segment`'s masks of the same frames (cases that ask). */
  readonly agreement?: LabelAgreement;
}

export interface LabelAgreement {
  readonly frames: number;
  /** Share of pixels with the same label. */
  readonly pixels: number;
  /** IoU of the person classes (person, rider). */
  readonly personIoU: number;
  /** vtest.avi: frame 300's six pedestrians marked in each frame sent near it (bench/vtestPedestrians.ts). */
  readonly pedestriansNear300?: readonly number[];
}

export interface LiveCase {
  readonly label: string;
  readonly args: readonly string[];
  /** Compare the labels sent with these offline masks (`frame_NNNNNN.png`, one per input frame). */
  readonly offlineMasks?: string;
  /** Measure until the viewer has drawn past this frame index (vtest.avi: its pedestrians at 300), not `seconds`. */
  readonly untilFrame?: number;
}

/** A plain WebSocket viewer that keeps every frame message, to compare the labels sent with offline masks. */
async function labelWatcher(url: string) {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { headers: { origin: url } });
  const frames: Buffer[] = [];
  let classes: string[] = [];
  socket.on('message', (data: Buffer, binary: boolean) => {
    if (binary) frames.push(data);
    else {
      const message = JSON.parse(data.toString()) as { type: string; classes?: { name: string }[] };
      if (message.type === 'hello') classes = (message.classes ?? []).map((c) => c.name);
    }
  });
  await once(socket, 'open');
  return {
    /** Stops watching and compares every frame received with its offline mask. */
    compare(masksDir: string): LabelAgreement {
      socket.terminate();
      const person = ['person', 'rider'].map((n) => classes.indexOf(n)).filter((i) => i >= 0);
      let [same, all, inter, union, compared] = [0, 0, 0, 0, 0];
      const pedestrians: number[] = [];
      for (const data of frames) {
        const message = splitFrameMessage(data);
        if (!message) continue;
        const { header, packedLabels } = message;
        const file = path.join(masksDir, `frame_${String(header.index).padStart(6, '0')}.png`);
        if (!existsSync(file)) continue;
        const sent = inflateRawSync(packedLabels);
        if (header.width === 768 && header.height === 576 && Math.abs(header.index - 300) <= NEAR_FRAME_300)
          pedestrians.push(pedestriansMarked(sent, header.width, person));
        const offline = PNG.sync.read(readFileSync(file)).data;
        compared += 1;
        for (let p = 0; p < sent.length; p++) {
          const [a, b] = [sent[p]!, offline[p * 4]!];
          all += 1;
          if (a === b) same += 1;
          const [pa, pb] = [person.includes(a), person.includes(b)];
          if (pa && pb) inter += 1;
          if (pa || pb) union += 1;
        }
      }
      return {
        frames: compared,
        pixels: all ? same / all : NaN,
        personIoU: union ? inter / union : NaN,
        ...(pedestrians.length > 0 ? { pedestriansNear300: pedestrians } : {}),
      };
    },
  };
}

/** Each case: `serve ARGS` watched by one Chromium page (the first stream) for `seconds` after a warm-up. */
export async function measureLiveCases(
  cli: string,
  cases: readonly LiveCase[],
  seconds: number,
  say: (line: string) => void,
): Promise<LiveRow[]> {
  const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!executablePath) throw new Error('the live benchmark needs Chromium (bash .ci/install installs it)');
  const browser = await puppeteer.launch({
    browser: 'chrome',
    executablePath,
    headless: true,
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
    for (const { label, args, offlineMasks, untilFrame } of cases) {
      const serve = await startServe(cli, args);
      try {
        const page = await browser.newPage();
        await page.goto(`${serve.url}/`);
        await page.waitForFunction(
          () => (globalThis as unknown as { viewerStats: { framesDrawn: number } }).viewerStats.framesDrawn > 10,
          { timeout: 90_000 },
        );
        await sleep(3000); // warm-up: JIT, CRF warm start
        type Stats = { framesDrawn: number; recentLatencies: number[] };
        const read = () => page.evaluate(() => (globalThis as unknown as { viewerStats: Stats }).viewerStats);
        const before = await read();
        const [published0, dropped0] = [
          await counter(serve.url, 'deeplab_frames_total{'),
          await counter(serve.url, 'deeplab_frames_dropped_total{'),
        ];
        const watcher = offlineMasks ? await labelWatcher(serve.url) : null;
        const started = performance.now();
        if (untilFrame === undefined) await sleep(seconds * 1000);
        else
          await page.waitForFunction(
            (last: number) =>
              ((globalThis as unknown as { viewerStats: { lastIndex: number | null } }).viewerStats.lastIndex ?? 0) >
              last,
            { timeout: 300_000, polling: 200 },
            untilFrame,
          );
        const agreement = watcher?.compare(offlineMasks!);
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
          ...(agreement ? { agreement } : {}),
        };
        rows.push(row);
        say(
          `  ${label}: drawn ${row.deliveredFps} fps (published ${row.publishedFps}, all streams), dropped ${row.droppedPerSecond}/s, latency p50 ${row.p50Ms} ms, p95 ${row.p95Ms} ms (${row.samples} frames)${agreement ? `; labels sent = offline segment's on ${(agreement.pixels * 100).toFixed(2)}% of pixels, person IoU ${agreement.personIoU.toFixed(3)} (${agreement.frames} frames)${agreement.pedestriansNear300 ? `; pedestrians of frame 300 marked (of 6) in the frames sent near it: ${agreement.pedestriansNear300.join(', ')}` : ''}` : ''}`,
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
