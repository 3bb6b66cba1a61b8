/** `deeplab-stream crf` end to end on generated DeepLab-like data. */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deeplabLikeCase } from '../../../bench/crfCases.js';
import { readNpyFloat32, writeNpyFloat32 } from '../../../io/npy.js';
import { runCli, tempDir } from '../../helpers/fixtures.js';

const tmp = tempDir('dls-crf-');
const [W, H, C] = [64, 48, 5];
const scene = deeplabLikeCase(W, H, C, 3, 6);
const file = (name: string) => path.join(tmp.dir, name);

function writeRgbPng(name: string, rgb: Uint8Array, width = W, height = H): string {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb);
  writeFileSync(file(name), PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
  return file(name);
}

function readLabels(name: string): Uint8Array {
  const png = PNG.sync.read(readFileSync(file(name)));
  return Uint8Array.from({ length: png.width * png.height }, (_, p) => png.data[p * 4]!);
}

const accuracy = (labels: Uint8Array) =>
  labels.reduce((n, l, p) => n + (l === scene.truth[p] ? 1 : 0), 0) / labels.length;

beforeAll(() => {
  writeRgbPng('image.png', scene.image);
  writeFileSync(file('probs.npy'), writeNpyFloat32([H, W, C], scene.probabilities));
  // The same image as a binary PPM, and the probabilities as C×H×W.
  writeFileSync(
    file('image.ppm'),
    Buffer.concat([Buffer.from(`P6\n# generated\n${W} ${H}\n255\n`), Buffer.from(scene.image)]),
  );
  const chw = new Float32Array(W * H * C);
  for (let p = 0; p < W * H; p++) for (let c = 0; c < C; c++) chw[c * W * H + p] = scene.probabilities[p * C + c]!;
  writeFileSync(file('probs_chw.npy'), writeNpyFloat32([C, H, W], chw));
});
afterAll(() => tmp.cleanup());

describe('deeplab-stream crf', () => {
  it('refines the labels, writes Q, and reports its timings', async () => {
    const r = await runCli([
      'crf',
      '--image',
      file('image.png'),
      '--probs',
      file('probs.npy'),
      '--out',
      file('labels.png'),
      '--q-out',
      file('q.npy'),
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(Object.keys(JSON.parse(r.stdout))).toEqual(['ms_setup', 'ms_inference', 'ms_total', 'frames']);
    const labels = readLabels('labels.png');
    const argmax = Uint8Array.from({ length: W * H }, (_, p) => {
      let best = 0;
      for (let c = 1; c < C; c++) if (scene.probabilities[p * C + c]! > scene.probabilities[p * C + best]!) best = c;
      return best;
    });
    expect(accuracy(labels)).toBeGreaterThan(accuracy(argmax));
    const q = readNpyFloat32(readFileSync(file('q.npy')), 'q.npy');
    expect(q.shape).toEqual([H, W, C]);
    for (let p = 0; p < W * H; p += 97)
      expect(q.data.subarray(p * C, p * C + C).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  it('gives the same labels from a PPM and a C×H×W .npy with --chw', async () => {
    await runCli(['crf', '--image', file('image.png'), '--probs', file('probs.npy'), '--out', file('a.png')]);
    const r = await runCli([
      'crf',
      '--image',
      file('image.ppm'),
      '--probs',
      file('probs_chw.npy'),
      '--chw',
      '--out',
      file('b.png'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.compare(Buffer.from(readLabels('a.png')), Buffer.from(readLabels('b.png')))).toBe(0);
  });

  it('runs a sequence with --frames and --warm-start', async () => {
    for (let i = 0; i < 3; i++) {
      writeRgbPng(`seq_${i}.png`, scene.image);
      writeFileSync(file(`seq_${i}.npy`), writeNpyFloat32([H, W, C], scene.probabilities));
    }
    const r = await runCli([
      'crf',
      '--image',
      file('seq_%d.png'),
      '--probs',
      file('seq_%d.npy'),
      '--out',
      file('out_%d.png'),
      '--frames',
      '3',
      '--warm-start',
      '--iters',
      '3',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).frames).toBe(3);
    expect(['out_0.png', 'out_1.png', 'out_2.png'].every((f) => existsSync(file(f)))).toBe(true);
  });

  it('reads and writes zero- and space-padded printf patterns (%05d, %3d) as C does', async () => {
    for (let i = 0; i < 2; i++) {
      writeRgbPng(`frame_${String(i).padStart(5, '0')}.png`, scene.image);
      writeFileSync(file(`p_${String(i).padStart(3, ' ')}.npy`), writeNpyFloat32([H, W, C], scene.probabilities));
    }
    const r = await runCli([
      'crf',
      '--image',
      file('frame_%05d.png'),
      '--probs',
      file('p_%3d.npy'),
      '--out',
      file('labels_%05d.png'),
      '--frames',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(['labels_00000.png', 'labels_00001.png'].every((f) => existsSync(file(f)))).toBe(true);
  });

  const bad: [string, () => void, RegExp][] = [
    [
      'float64 probabilities',
      () => {
        const f64 = writeNpyFloat32([H, W, C], scene.probabilities);
        const text = Buffer.from(f64).toString('latin1').replace("'<f4'", "'<f8'");
        writeFileSync(file('bad.npy'), Buffer.from(text, 'latin1'));
      },
      /holds <f8 values; the CRF needs float32/,
    ],
    [
      'a size that does not match the image',
      () => writeFileSync(file('bad.npy'), writeNpyFloat32([H, W - 1, C], new Float32Array(H * (W - 1) * C).fill(0.2))),
      /is 63x48 .* but the image is 64x48/,
    ],
    [
      'NaN',
      () =>
        writeFileSync(
          file('bad.npy'),
          writeNpyFloat32(
            [H, W, C],
            scene.probabilities.map((v, i) => (i === 7 ? NaN : v)),
          ),
        ),
      /holds NaN at pixel \(1, 0\), label 2/,
    ],
    [
      'negative values (logits)',
      () =>
        writeFileSync(
          file('bad.npy'),
          writeNpyFloat32(
            [H, W, C],
            scene.probabilities.map((v) => v - 0.5),
          ),
        ),
      /negative value .* pass probabilities \(a softmax\), not logits/,
    ],
    [
      'more labels than a PNG holds',
      () => writeFileSync(file('bad.npy'), writeNpyFloat32([H, W, 300], new Float32Array(H * W * 300).fill(1 / 300))),
      /300 labels; the 8-bit label PNG holds at most 256/,
    ],
    [
      'infinite probabilities',
      () =>
        writeFileSync(
          file('bad.npy'),
          writeNpyFloat32(
            [H, W, C],
            scene.probabilities.map((v, i) => (i === C ? Infinity : v)),
          ),
        ),
      /holds infinity at pixel \(1, 0\), label 0: pass finite probabilities/,
    ],
    [
      'a negative shape',
      () =>
        writeFileSync(
          file('bad.npy'),
          Buffer.from(
            Buffer.from(writeNpyFloat32([H, W, C], scene.probabilities))
              .toString('latin1')
              .replace(`(${H}, ${W}, ${C})`, `(${H}, -${W}, ${C})`),
            'latin1',
          ),
        ),
      /malformed \.npy header: shape \(48, -64, 5\)/,
    ],
    ['a file that is not .npy', () => writeFileSync(file('bad.npy'), 'hello'), /is not a \.npy file/],
    [
      'a pixel whose probabilities are all 0',
      () =>
        writeFileSync(
          file('bad.npy'),
          writeNpyFloat32(
            [H, W, C],
            scene.probabilities.map((v, i) => (Math.floor(i / C) === W + 2 ? 0 : v)),
          ),
        ),
      /pixel \(2, 1\) has probabilities summing to 0/,
    ],
    [
      'a file shorter than its header says',
      () => writeFileSync(file('bad.npy'), writeNpyFloat32([H, W, C], scene.probabilities).subarray(0, 1000)),
      /is truncated: its header promises 15360 values/,
    ],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what} with one clear line and no output`, async () => {
      make();
      const r = await runCli([
        'crf',
        '--image',
        file('image.png'),
        '--probs',
        file('bad.npy'),
        '--out',
        file('never.png'),
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(existsSync(file('never.png'))).toBe(false);
    });
  }

  it('checks C×H×W probabilities (read and transposed on the main thread) as it checks H×W×C', async () => {
    const chw = new Float32Array(W * H * C);
    for (let p = 0; p < W * H; p++)
      for (let c = 0; c < C; c++) chw[c * W * H + p] = p === W + 1 && c === 3 ? NaN : scene.probabilities[p * C + c]!;
    writeFileSync(file('bad_chw.npy'), writeNpyFloat32([C, H, W], chw));
    const r = await runCli([
      'crf',
      '--image',
      file('image.png'),
      '--probs',
      file('bad_chw.npy'),
      '--chw',
      '--out',
      file('never.png'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/holds NaN at pixel \(1, 1\), label 3/);
    expect(existsSync(file('never.png'))).toBe(false);
  });

  it('rejects a kernel σ too small for the lattice (it failed with an internal error)', async () => {
    writeFileSync(file('ok.npy'), writeNpyFloat32([H, W, C], scene.probabilities));
    const r = await runCli([
      'crf',
      '--image',
      file('image.png'),
      '--probs',
      file('ok.npy'),
      '--out',
      file('never.png'),
      '--bi-xy',
      '1e-9',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--bi-xy takes a σ of at least 0\.01/);
    expect(existsSync(file('never.png'))).toBe(false);
  });

  it('rejects an empty image', async () => {
    writeFileSync(file('empty.ppm'), 'P6\n0 0\n255\n');
    const r = await runCli([
      'crf',
      '--image',
      file('empty.ppm'),
      '--probs',
      file('probs.npy'),
      '--out',
      file('never.png'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: .*empty\.ppm is an empty image \(0x0\)$/);
    expect(readdirSync(tmp.dir).some((f) => f.startsWith('never'))).toBe(false);
  });

  it('gives the same labels on one core and on two (--threads) for a frame big enough to split', async () => {
    const [w, h, c] = [320, 240, 4];
    const big = deeplabLikeCase(w, h, c, 5, 8);
    writeRgbPng('big.png', big.image, w, h);
    writeFileSync(file('big.npy'), writeNpyFloat32([h, w, c], big.probabilities));
    const run = (threads: number) =>
      runCli([
        'crf',
        '--image',
        file('big.png'),
        '--probs',
        file('big.npy'),
        '--out',
        file(`big-${threads}.png`),
        '--threads',
        String(threads),
      ]);
    const [one, two] = [await run(1), await run(2)];
    expect([one.code, two.code]).toEqual([0, 0]);
    const labels = (name: string) => PNG.sync.read(readFileSync(file(name))).data.filter((_, i) => i % 4 === 0);
    const [a, b] = [labels('big-1.png'), labels('big-2.png')];
    expect(a.length).toBe(w * h);
    const differ = a.reduce((n, l, i) => n + (l === b[i] ? 0 : 1), 0);
    expect(differ).toBeLessThanOrEqual(2); // float summation order only
  });

  it('with --stdin answers one JSON line per request, as it comes, keeps serving after a bad one, and gives the one-shot labels', async () => {
    const oneShot = await runCli([
      'crf',
      '--image',
      file('image.png'),
      '--probs',
      file('probs.npy'),
      '--out',
      file('one-shot.png'),
    ]);
    expect(oneShot.code).toBe(0);
    let child: ChildProcess | undefined;
    const done = runCli(['crf', '--stdin'], { stdin: true, onSpawn: (c) => (child = c) });
    const lines = createInterface({ input: child!.stdout! })[Symbol.asyncIterator]();
    const ask = async (request: unknown) => {
      child!.stdin!.write(`${typeof request === 'string' ? request : JSON.stringify(request)}\n`);
      return JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
    };
    // Each answer comes before the next request is sent: a caller can go image by image.
    const first = await ask({ image: file('image.png'), probs: file('probs.npy'), out: file('served-1.png') });
    expect(first).toMatchObject({ ok: true, out: file('served-1.png') });
    expect(typeof first['ms']).toBe('number');
    expect(await ask('{"image": ')).toMatchObject({ ok: false, error: expect.stringMatching(/^not a JSON object/) });
    expect(await ask({ image: file('absent.png'), probs: file('probs.npy'), out: file('never-served.png') })).toEqual({
      ok: false,
      error: `image not found: ${file('absent.png')}`,
    });
    expect(await ask({ image: file('image.png'), probs: file('probs.npy') })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/needs "image", "probs" and "out".*out/),
    });
    expect(await ask('x'.repeat(1_500_000))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^a request line of 1500000 bytes is longer than/),
    });
    expect(
      await ask({
        image: file('image.ppm'),
        probs: file('probs_chw.npy'),
        chw: true,
        out: file('served-2.png'),
        q_out: file('served-2-q.npy'),
      }),
    ).toMatchObject({ ok: true });
    child!.stdin!.end();
    const end = await done;
    expect(end.code).toBe(2); // some requests failed
    expect(end.stderr).toBe('');
    expect(readLabels('served-1.png')).toEqual(readLabels('one-shot.png'));
    expect(readLabels('served-2.png')).toEqual(readLabels('one-shot.png'));
    expect(readNpyFloat32(readFileSync(file('served-2-q.npy')), 'q').shape).toEqual([H, W, C]);
    expect(existsSync(file('never-served.png'))).toBe(false);
  });

  it('refuses --stdin with an image of its own, and no image without it', async () => {
    const both = await runCli(['crf', '--stdin', '--image', file('image.png')]);
    expect(both.code).toBe(64);
    expect(both.stderr.trim()).toMatch(/^error: --stdin takes the images from its requests/);
    const neither = await runCli(['crf', '--probs', file('probs.npy')]);
    expect(neither.code).toBe(64);
    expect(neither.stderr.trim()).toBe(
      'error: crf needs --image, --probs and --out (or --stdin, to take them one request per line)',
    );
  });

  it('on two cores (a file read and checked in two halves) names the first bad pixel and refuses a short file', async () => {
    const [w, h, c] = [320, 240, 4];
    const big = deeplabLikeCase(w, h, c, 5, 8);
    writeRgbPng('big2.png', big.image, w, h);
    const run = (probs: string) =>
      runCli(['crf', '--image', file('big2.png'), '--probs', probs, '--out', file('never-big.png'), '--threads', '2']);
    const at = (x: number, y: number, label: number) => (y * w + x) * c + label;
    // Only in the second half; then in both halves (the first half's is the one named).
    const late = big.probabilities.slice();
    late[at(10, 200, 1)] = NaN;
    writeFileSync(file('late.npy'), writeNpyFloat32([h, w, c], late));
    const both = late.slice();
    for (let k = 0; k < c; k++) both[at(7, 30, k)] = 0;
    writeFileSync(file('both.npy'), writeNpyFloat32([h, w, c], both));
    writeFileSync(file('short.npy'), writeNpyFloat32([h, w, c], big.probabilities).subarray(0, 300_000));
    const [lateRun, bothRun, shortRun] = [
      await run(file('late.npy')),
      await run(file('both.npy')),
      await run(file('short.npy')),
    ];
    expect([lateRun.code, bothRun.code, shortRun.code]).toEqual([2, 2, 2]);
    expect(lateRun.stderr.trim()).toMatch(/holds NaN at pixel \(10, 200\), label 1/);
    expect(bothRun.stderr.trim()).toMatch(/pixel \(7, 30\) has probabilities summing to 0/);
    expect(shortRun.stderr.trim()).toMatch(/is truncated/);
    expect(existsSync(file('never-big.png'))).toBe(false);
  });
});
