/** The `segment` command end to end: the built CLI, real ffmpeg, real onnxruntime workers. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSegmentFixture } from '../../helpers/segmentFixture.js';
import { cliPath, countFrames, runCli, writeClip } from '../../helpers/fixtures.js';
import { WARM_START_ITERATIONS } from '../../../crf/crfProtocol.js';

const fixture = useSegmentFixture();
const { tmp, dir, fast } = fixture;
let model: string;
let clip: string;
beforeAll(() => ({ model, clip } = fixture));

describe('deeplab-stream segment', () => {
  it('is lossless and ordered for any batch size and worker count', async () => {
    const runs = [
      { name: 'b1w1', flags: ['--batch', '1', '--workers', '1'] },
      { name: 'b4w2', flags: ['--batch', '4', '--workers', '2', '--threads', '1'] },
      { name: 'b5w3', flags: ['--batch', '5', '--workers', '3', '--threads', '1'] },
    ];
    const results: { lines: { index: number; pixels: Record<string, number> }[]; masks: Buffer[] }[] = [];
    for (const run of runs) {
      const out = dir(run.name);
      const r = await runCli([
        'segment',
        clip,
        '--model',
        model,
        ...fast,
        ...run.flags,
        '-o',
        path.join(out, 'seg.mp4'),
        '--masks',
        path.join(out, 'masks'),
        '--frames-json',
        path.join(out, 'frames.jsonl'),
        '--json',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout);
      expect(summary).toMatchObject({
        framesIn: 23,
        framesOut: 23,
        model: { inputShape: [Number(run.flags[1]), 3, 49, 81], classes: 21 },
      });
      expect(Object.keys(summary.msPerStage)).toEqual(
        expect.arrayContaining(['decode', 'preprocess', 'infer', 'postprocess', 'write']),
      );
      const lines = readFileSync(path.join(out, 'frames.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.index)).toEqual(Array.from({ length: 23 }, (_, i) => i));
      expect(readdirSync(path.join(out, 'masks')).sort()).toEqual(
        Array.from({ length: 23 }, (_, i) => `frame_${String(i).padStart(6, '0')}.png`),
      );
      expect(await countFrames(path.join(out, 'seg.mp4'))).toBe(23);
      results.push({
        lines,
        masks: readdirSync(path.join(out, 'masks'))
          .sort()
          .map((f) => readFileSync(path.join(out, 'masks', f))),
      });
    }
    // The clip moves, so per-frame results differ; identical sequences across runs prove the order.
    expect(new Set(results[0]!.lines.map((l) => JSON.stringify(l.pixels))).size).toBeGreaterThan(5);
    for (const other of results.slice(1)) {
      expect(other.lines).toEqual(results[0]!.lines);
      other.masks.forEach((m, i) => expect(Buffer.compare(m, results[0]!.masks[i]!)).toBe(0));
    }
  });

  it('keeps the real timing of variable-frame-rate input: ptsMs from the stream, and an output video with the same frame times', async () => {
    const out = dir('vfr');
    const vfr = path.join(tmp.dir, 'vfr.mp4');
    // 10 frames 40 ms apart, then 10 frames 200 ms apart: a nominal rate fits neither.
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x96:rate=25',
      '-vf',
      "setpts='if(lt(N,10),N*0.04,0.4+(N-10)*0.2)/TB'",
      '-fps_mode',
      'vfr',
      '-frames:v',
      '20',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      vfr,
    ]);
    const frameTimes = (file: string) =>
      execFileSync(
        'ffprobe',
        ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file],
        {
          encoding: 'utf8',
        },
      )
        .split('\n')
        .filter((t) => t.trim() !== '')
        .map((t) => Math.round(Number(t.replace(/,.*$/, '')) * 1000));
    const expected = [
      ...Array.from({ length: 10 }, (_, i) => i * 40),
      ...Array.from({ length: 10 }, (_, i) => 400 + i * 200),
    ];
    expect(frameTimes(vfr)).toEqual(expected);
    const r = await runCli([
      'segment',
      vfr,
      '--model',
      model,
      ...fast,
      '-o',
      path.join(out, 'vfr.seg.mp4'),
      '--frames-json',
      path.join(out, 'f.jsonl'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(path.join(out, 'f.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ptsMs: number });
    expect(lines.map((l) => l.ptsMs)).toEqual(expected);
    expect(frameTimes(path.join(out, 'vfr.seg.mp4'))).toEqual(expected);
  });

  it('writes mask PNGs whose pixel values are the class indices', async () => {
    const out = dir('maskvalues');
    const r = await runCli([
      'segment',
      clip,
      '--model',
      model,
      ...fast,
      '--masks',
      out,
      '--frames-json',
      path.join(out, 'f.jsonl'),
    ]);
    expect(r.code).toBe(0);
    const first = JSON.parse(readFileSync(path.join(out, 'f.jsonl'), 'utf8').split('\n')[0]!);
    const gray = execFileSync('ffmpeg', [
      '-v',
      'error',
      '-i',
      path.join(out, 'frame_000000.png'),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'gray',
      '-',
    ]);
    const counts = new Map<number, number>();
    for (const v of gray) counts.set(v, (counts.get(v) ?? 0) + 1);
    const { VOC_CLASSES } = await import('../../../model/palette.js');
    const fromPng = Object.fromEntries([...counts].map(([label, n]) => [VOC_CLASSES[label], n]));
    expect(fromPng).toEqual(first.pixels);
  });

  it('handles odd frame sizes (the encoder pads to even)', async () => {
    const odd = await writeClip(tmp.dir, 'odd.mp4', {
      width: 161,
      height: 91,
      frames: 7,
      codecArgs: ['-c:v', 'libx264', '-pix_fmt', 'yuv444p'],
    });
    const out = path.join(dir('odd'), 'odd.mp4');
    const r = await runCli(['segment', odd, '--model', model, ...fast, '-o', out]);
    expect(r.code).toBe(0);
    expect(await countFrames(out)).toBe(7);
  });

  it('segments a still image into an image, and an image sequence', async () => {
    const seqDir = dir('seq');
    await writeClip(seqDir, 'img_%03d.png', { width: 64, height: 48, frames: 5, codecArgs: [] });
    const out = dir('stills');
    const still = await runCli([
      'segment',
      path.join(seqDir, 'img_001.png'),
      '--model',
      model,
      ...fast,
      '-o',
      path.join(out, 'one.png'),
      '--json',
    ]);
    expect(still.code).toBe(0);
    expect(JSON.parse(still.stdout).framesOut).toBe(1);
    expect(existsSync(path.join(out, 'one.png'))).toBe(true);
    const seq = await runCli([
      'segment',
      path.join(seqDir, 'img_%03d.png'),
      '--model',
      model,
      ...fast,
      '--frames-json',
      path.join(out, 'seq.jsonl'),
      '--json',
    ]);
    expect(seq.code).toBe(0);
    expect(JSON.parse(seq.stdout).framesOut).toBe(5);
    const pattern = dir('pattern-out');
    const images = await runCli([
      'segment',
      path.join(seqDir, 'img_%03d.png'),
      '--model',
      model,
      ...fast,
      '-o',
      path.join(pattern, 'seg_%03d.png'),
    ]);
    expect(images.code).toBe(0);
    expect(readdirSync(pattern).sort()).toEqual([
      'seg_001.png',
      'seg_002.png',
      'seg_003.png',
      'seg_004.png',
      'seg_005.png',
    ]);
  });
});

describe('deeplab-stream segment --crf on', () => {
  it('refines every frame with the dense CRF, in order, warm-started', async () => {
    const out = dir('crf');
    const r = await runCli([
      'segment',
      clip,
      '--model',
      model,
      ...fast,
      '--crf',
      'on',
      '--crf-warm-start',
      '--crf-iters',
      '5',
      '--frames-json',
      path.join(out, 'f.jsonl'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      framesIn: 23,
      framesOut: 23,
      crf: { iterations: 5, warmStartIterations: WARM_START_ITERATIONS },
    });
    expect(summary.msPerStage.crf).toBeGreaterThan(0);
    const lines = readFileSync(path.join(out, 'f.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.index)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    // The CRF smooths: fewer distinct labels survive than in the raw random-weight output.
    const plain = await runCli([
      'segment',
      clip,
      '--model',
      model,
      ...fast,
      '--frames-json',
      path.join(out, 'g.jsonl'),
    ]);
    expect(plain.code).toBe(0);
    const raw = readFileSync(path.join(out, 'g.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const classesIn = (rows: { pixels: object }[]) => rows.reduce((n, row) => n + Object.keys(row.pixels).length, 0);
    expect(classesIn(lines)).toBeLessThan(classesIn(raw));
  });
});

describe('progress', () => {
  it('draws a progress bar with frames, fps and ETA on a terminal', async () => {
    const out = dir('tty');
    // `script` gives the CLI a pseudo-terminal, as a user's shell would.
    const command = [
      process.execPath,
      cliPath,
      'segment',
      clip,
      '--model',
      model,
      ...fast,
      '--frames-json',
      path.join(out, 'f.jsonl'),
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const text = execFileSync('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, DEEPLAB_STREAM_CACHE: tmp.dir },
      encoding: 'utf8',
    });
    expect(text).toMatch(/23\/23 frames \| [\d.]+ fps \| ETA/);
  });
});

describe('Ctrl-C', () => {
  it('stops ffmpeg and the workers and removes partial output', async () => {
    const long = await writeClip(tmp.dir, 'long.mp4', { width: 320, height: 240, frames: 3000, fps: 30 });
    const out = dir('sigint');
    let pid = 0;
    const result = await runCli(
      [
        'segment',
        long,
        '--model',
        model,
        '--device',
        'cpu',
        '-o',
        path.join(out, 'x.mp4'),
        '--masks',
        path.join(out, 'm'),
        '--frames-json',
        path.join(out, 'f.jsonl'),
      ],
      {
        onSpawn: (child) => {
          pid = child.pid!;
          // Interrupt once masks are being written: the run is well under way.
          const poll = setInterval(() => {
            const partial = readdirSync(out).find(
              (f) => f.includes('partial') && !f.endsWith('.mp4') && !f.endsWith('.jsonl'),
            );
            if (partial && readdirSync(path.join(out, partial)).length > 3) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          }, 20);
        },
      },
    );
    expect(result.code, `signal ${result.signal}, stderr: ${result.stderr}`).toBe(130);
    expect(result.stderr.trim()).toMatch(/^error: interrupted/);
    expect(readdirSync(out)).toEqual([]);
    const ffmpegLeft = execFileSync('ps', ['-eo', 'args'])
      .toString()
      .split('\n')
      .filter((l) => l.includes('ffmpeg') && l.includes(out));
    expect(ffmpegLeft).toEqual([]);
    expect(pid).toBeGreaterThan(0);
  });
});
