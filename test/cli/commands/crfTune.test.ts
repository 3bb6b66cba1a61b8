/**
 * crf-tune end to end on a labelled set made here: the "model" passes the picture's colours through
 * as three class scores, blurred and shifted 3 px to the right — its boundaries miss the colour
 * edges the labels follow, and the CRF's appearance kernel pulls them back.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../../model/onnxGraph.js';
import { runCli, tempDir } from '../../helpers/fixtures.js';

const tmp = tempDir('dls-tune-');
const images = path.join(tmp.dir, 'images');
const labels = path.join(tmp.dir, 'labels');
const [W, H] = [32, 24];

function writePng(file: string, colorType: 0 | 2, pixel: (x: number, y: number) => number[]): void {
  const png = new PNG({ width: W, height: H, colorType, inputColorType: colorType, inputHasAlpha: false });
  const channels = colorType === 0 ? 1 : 3;
  png.data = Buffer.alloc(W * H * channels);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) png.data.set(pixel(x, y), (y * W + x) * channels);
  writeFileSync(file, PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false }));
}

/** Scores = each colour channel averaged over the columns x−4…x−2: a blur and a 3 px shift to the right. */
function shiftedColourModel(): string {
  const g = new OnnxGraphBuilder();
  const x = g.input('image', [1, 3, H, W]);
  const kernel = new Float32Array(3 * 9).fill(0);
  for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) kernel[c * 9 + k] = 1 / 3; // taps x−4…x−2 of 9 centred on x
  const y = g.node1(
    'Conv',
    [x, g.constantFloat(kernel, [3, 1, 1, 9], 'shift')],
    [
      OnnxGraphBuilder.ints('kernel_shape', [1, 9]),
      OnnxGraphBuilder.ints('pads', [0, 4, 0, 4]),
      OnnxGraphBuilder.int('group', 3),
    ],
  );
  g.rename(g.node1('Mul', [y, g.constantFloat(new Float32Array([4]), [1], 'gain')]), 'scores');
  g.output('scores', [1, 3, H, W]);
  const file = path.join(tmp.dir, 'shifted.onnx');
  writeFileSync(file, g.toBytes('shifted_colours'));
  return file;
}

let model = '';
beforeAll(() => {
  mkdirSync(images);
  mkdirSync(labels);
  model = shiftedColourModel();
  // Three pictures: red | blue split at different columns, one with a green band; labels follow the colours.
  const scenes: ((x: number, y: number) => 0 | 1 | 2)[] = [
    (x) => (x < 12 ? 0 : 2),
    (x) => (x < 20 ? 2 : 0),
    (x, y) => (y < 8 ? 1 : x < 16 ? 0 : 2),
  ];
  const colour = [
    [230, 20, 20],
    [20, 230, 20],
    [20, 20, 230],
  ];
  scenes.forEach((scene, i) => {
    writePng(path.join(images, `s${i}.png`), 2, (x, y) => colour[scene(x, y)]!);
    writePng(path.join(labels, `s${i}.png`), 0, (x, y) => [scene(x, y)]);
  });
  writeFileSync(`${model}.json`, JSON.stringify({ classes: ['red', 'green', 'blue'] }));
});
afterAll(() => tmp.cleanup());

describe('deeplab-stream crf-tune', () => {
  it('searches coarse to fine, reports every set, and writes the best into the sidecar, keeping what was there', async () => {
    const r = await runCli([
      'crf-tune',
      '--images',
      images,
      '--labels',
      labels,
      '--model',
      model,
      '--device',
      'cpu',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      baseline: number;
      vocKernels: number;
      best: { kernels: unknown; mIoU: number };
      tried: { mIoU: number; stage: string; kernels: unknown }[];
      sidecar: string;
    };
    expect(summary.tried.filter((t) => t.stage === 'coarse')).toHaveLength(64);
    expect(summary.tried.filter((t) => t.stage === 'fine').length).toBeGreaterThan(0);
    // The best is the best of what was tried, and the CRF mends the model's shifted boundaries.
    expect(summary.best.mIoU).toBe(Math.max(...summary.tried.map((t) => t.mIoU)));
    expect(summary.baseline).toBeLessThan(0.9);
    expect(summary.best.mIoU).toBeGreaterThan(summary.baseline + 0.05);
    expect(summary.best.mIoU).toBeGreaterThanOrEqual(summary.vocKernels);
    const sidecar = JSON.parse(readFileSync(`${model}.json`, 'utf8')) as { classes: string[]; crf: unknown };
    expect(sidecar.classes).toEqual(['red', 'green', 'blue']);
    expect(sidecar.crf).toEqual(summary.best.kernels);
    // eval with --crf on now uses them, and says so.
    const e = await runCli([
      'eval',
      '--images',
      images,
      '--labels',
      labels,
      '--model',
      model,
      '--device',
      'cpu',
      '--crf',
      'on',
      '--json',
    ]);
    expect(e.stderr).toMatch(/note: CRF w1 .* \(the model's tuned kernels\)/);
    expect((JSON.parse(e.stdout) as { crf: { mIoU: number } }).crf.mIoU).toBeCloseTo(summary.best.mIoU, 9);
  });

  it('--no-write leaves no sidecar; bad input is one line, exit ≠ 0, nothing written', async () => {
    const bare = path.join(tmp.dir, 'bare.onnx');
    writeFileSync(bare, readFileSync(model));
    const r = await runCli([
      'crf-tune',
      '--images',
      images,
      '--labels',
      labels,
      '--model',
      bare,
      '--device',
      'cpu',
      '--classes',
      path.join(tmp.dir, 'missing.txt'),
      '--no-write',
    ]);
    expect(r.code).toBe(64);
    const ok = await runCli([
      'crf-tune',
      '--images',
      images,
      '--labels',
      labels,
      '--model',
      bare,
      '--device',
      'cpu',
      '--no-write',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^best: w1 \S+ σα \S+ σβ \S+, w2 3 σγ 3: mIoU/m);
    expect(ok.stdout).toMatch(/not written \(--no-write\)/);
    expect(existsSync(`${bare}.json`)).toBe(false);
    const noLabels = await runCli([
      'crf-tune',
      '--images',
      images,
      '--labels',
      path.join(tmp.dir, 'nowhere'),
      '--model',
      bare,
      '--device',
      'cpu',
    ]);
    expect(noLabels.code).toBe(2);
    expect(noLabels.stderr.trim()).toMatch(/^error: --labels .*nowhere does not exist$/);
    expect(existsSync(`${bare}.json`)).toBe(false);
  });
});
