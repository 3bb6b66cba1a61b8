/**
 * What zones and events cost the live path: one `serve testsrc:768x576@120` (the default model,
 * CPU-bound: every millisecond on the main thread shows in its frame rate), its published fps with
 * no zones and with 20 zones, switched over the API on the same server and alternated (none, 20,
 * none, 20, …) so that drift on this shared machine hits both alike. An SSE reader and the /metrics
 * scrape run throughout. Beside it, the measure's own time per frame (20 zones on a 768×576 label map).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { zoneMeasure } from '../zones/zoneShares.js';
import type { ZoneSpec } from '../zones/zoneSpec.js';
import { median } from './benchUtil.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 20 zones of a quarter of the frame each, spread over it: each frame reads 5 frames' worth of pixels. */
export function twentyZones(): ZoneSpec[] {
  return Array.from({ length: 20 }, (_, i) => {
    const x = (i % 5) * 0.125;
    const y = Math.floor(i / 5) * 0.125;
    return {
      name: `zone-${i}`,
      polygon: [
        [x, y],
        [x + 0.5, y],
        [x + 0.5, y + 0.5],
        [x + 0.25, y + 0.6],
        [x, y + 0.5],
      ],
      classes: ['person'],
      minShare: 0.02,
      minSeconds: 0.5,
    };
  });
}

async function frames(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/deeplab_frames_total\{stream="testsrc"\} (\d+)/.exec(text)?.[1] ?? 0);
}

/** The ring buffer of event clips for one stream: its encoder's memory and the disk its segments take. */
async function clipRingCost(cli: string, say: (line: string) => void) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dls-bench-clips-'));
  const zones = JSON.stringify({ testsrc: twentyZones().slice(0, 1) });
  const child = spawn(
    process.execPath,
    [cli, 'serve', 'testsrc:768x576@25', '--port', '0', '--clips', dir, '--clip-pre', '5', '--zones', zones],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        stderr += text;
        if (/^serving /m.test(stderr)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
    });
    await sleep(15_000);
    const encoders = execFileSync('pgrep', ['-P', String(child.pid), '-f', 'segment_list'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
    const rssMb = encoders
      .map((pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024)
      .reduce((a, b) => a + b, 0);
    const diskMb = Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) / 1024;
    const result = { encoders: encoders.length, encoderRssMb: Math.round(rssMb), diskMb: Math.round(diskMb * 10) / 10 };
    say(
      `  clip ring (768x576 at 25 fps, --clip-pre 5): ${result.encoders} encoder, ${result.encoderRssMb} MB resident, ${result.diskMb} MB of segments on disk`,
    );
    return result;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchZones(options: {
  cli: string;
  seconds: number;
  rounds: number;
  say: (line: string) => void;
}) {
  const { cli, seconds, rounds, say } = options;
  say(
    `\n## zones: serve testsrc:768x576@120, default model, no zones vs 20 zones, ${rounds}× ${seconds} s each, alternated`,
  );
  const child: ChildProcess = spawn(process.execPath, [cli, 'serve', 'testsrc:768x576@120', '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      const match = /^serving .* on (http:\/\/[^/\s]+)/m.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
  });
  const events = new AbortController();
  let eventBytes = 0;
  try {
    const sse = await fetch(`${url}/api/events`, { signal: events.signal });
    void (async () => {
      try {
        for await (const chunk of sse.body as unknown as AsyncIterable<Uint8Array>) eventBytes += chunk.length;
      } catch {
        // closed
      }
    })();
    const fps: Record<'none' | 'twenty', number[]> = { none: [], twenty: [] };
    await sleep(3000); // warm up
    for (let round = 0; round < rounds; round++) {
      for (const which of ['none', 'twenty'] as const) {
        const put = await fetch(`${url}/api/streams/testsrc/zones`, {
          method: 'PUT',
          body: JSON.stringify(which === 'none' ? [] : twentyZones()),
        });
        if (put.status !== 200) throw new Error(`PUT zones: ${put.status} ${await put.text()}`);
        await sleep(1000);
        const n0 = await frames(url);
        const t0 = performance.now();
        await sleep(seconds * 1000);
        fps[which].push(((await frames(url)) - n0) / ((performance.now() - t0) / 1000));
      }
    }
    const none = median(fps.none);
    const twenty = median(fps.twenty);
    // The measure alone, on a label map with a person in it.
    const labels = new Uint8Array(768 * 576);
    for (let y = 200; y < 500; y++) labels.fill(1, y * 768 + 300, y * 768 + 420);
    const measure = zoneMeasure(twentyZones(), ['background', 'person']);
    for (let i = 0; i < 20; i++) measure(labels, 768, 576);
    const t0 = performance.now();
    const n = 200;
    for (let i = 0; i < n; i++) measure(labels, 768, 576);
    const measureMs = (performance.now() - t0) / n;
    const result = {
      fpsNoZones: Math.round(none * 10) / 10,
      fpsTwentyZones: Math.round(twenty * 10) / 10,
      cost: Math.round((1 - twenty / none) * 1000) / 1000,
      measureMsPerFrame: Math.round(measureMs * 1000) / 1000,
      eventBytes,
      rounds: fps,
    };
    Object.assign(result, { clipRing: await clipRingCost(cli, say) });
    say(
      `  ${result.fpsNoZones} fps without zones, ${result.fpsTwentyZones} fps with 20 (cost ${(result.cost * 100).toFixed(1)}%; goal ≤ 3%); the measure alone ${result.measureMsPerFrame} ms a frame`,
    );
    return result;
  } finally {
    events.abort();
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}
