import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../model/onnxGraph.js';
import { runCli, tempDir } from '../helpers/fixtures.js';

/**
 * A labelled set whose mIoU is known by hand. The "model" passes the normalised RGB through as
 * three class scores, so red pixels are class 0, green 1, blue 2.
 *   image a: left half red, right half blue; labels: left 0 (top row 255 = ignored), right top 2, right bottom 1
 *   image b: all green; labels: all 1
 * Confusion: class 0 TP 28; class 1 TP 64, FN 16; class 2 TP 16, FP 16
 * IoU: 1, 64/80 = 0.8, 16/32 = 0.5 → mIoU 0.7667; pixel accuracy 108/124.
 */
const tmp = tempDir('dls-eval-');
const images = path.join(tmp.dir, 'images');
const labels = path.join(tmp.dir, 'labels');
const model = path.join(tmp.dir, 'rgb-classes.onnx');

function writePng(file: string, colorType: 0 | 2, pixel: (x: number, y: number) => number[]): void {
  const png = new PNG({ width: 8, height: 8, colorType, inputColorType: colorType, inputHasAlpha: false });
  const channels = colorType === 0 ? 1 : 3;
  png.data = Buffer.alloc(64 * channels);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) png.data.set(pixel(x, y), (y * 8 + x) * channels);
  writeFileSync(file, PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false }));
}

beforeAll(() => {
  mkdirSync(images);
  mkdirSync(labels);
  const g = new OnnxGraphBuilder();
  const x = g.input('image', [1, 3, 8, 8]);
  g.rename(x, 'scores');
  g.output('scores', [1, 3, 8, 8]);
  writeFileSync(model, g.toBytes('rgb_classes'));
  writePng(path.join(images, 'a.png'), 2, (x) => (x < 4 ? [255, 0, 0] : [0, 0, 255]));
  writePng(path.join(labels, 'a.png'), 0, (x, y) => [x < 4 ? (y === 0 ? 255 : 0) : y < 4 ? 2 : 1]);
  writePng(path.join(images, 'b.png'), 2, () => [0, 255, 0]);
  writePng(path.join(labels, 'b.png'), 0, () => [1]);
});
afterAll(() => tmp.cleanup());

describe('deeplab-stream eval', () => {
  it('computes the VOC-protocol mIoU of a labelled set', async () => {
    const r = await runCli([
      'eval',
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
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout);
    expect(summary.images).toBe(2);
    expect(summary.perClass.map((c: { iou: number }) => c.iou)).toEqual([
      expect.closeTo(1, 9),
      expect.closeTo(0.8, 9),
      expect.closeTo(0.5, 9),
    ]);
    expect(summary.mIoU).toBeCloseTo(2.3 / 3, 9);
    expect(summary.pixelAccuracy).toBeCloseTo(108 / 124, 9);
    expect(summary.perClass.map((c: { pixels: number }) => c.pixels)).toEqual([28, 80, 16]);
  });

  it('prints a per-class table with class names from --classes', async () => {
    const names = path.join(tmp.dir, 'names.txt');
    writeFileSync(names, 'red\ngreen\nblue\n');
    const r = await runCli([
      'eval',
      '--images',
      images,
      '--labels',
      labels,
      '--model',
      model,
      '--device',
      'cpu',
      '--classes',
      names,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/green\s+80\.00\s+80/);
    expect(r.stdout).toMatch(/mIoU\s+76\.67 %/);
  });

  it('with --crf on also scores the CRF-refined labels (confident, edge-aligned labels survive it)', async () => {
    const r = await runCli([
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
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.mIoU).toBeCloseTo(2.3 / 3, 9);
    expect(summary.crf.perClass.map((c: { iou: number }) => c.iou)).toEqual([
      expect.closeTo(1, 9),
      expect.closeTo(0.8, 9),
      expect.closeTo(0.5, 9),
    ]);
    const table = await runCli([
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
    ]);
    expect(table.stdout).toMatch(/IoU % {2}\+CRF %/);
    expect(table.stdout).toMatch(/with CRF: mIoU\s+76\.67 %/);
  });

  it('passes the CRF kernel flags to the CRF: an overwhelming smoothness kernel washes the small class out', async () => {
    const r = await runCli([
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
      '--crf-pos-w',
      '1000',
      '--crf-pos-xy',
      '200',
      '--crf-bi-w',
      '0',
      '--crf-scale',
      '0.5',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.mIoU).toBeCloseTo(2.3 / 3, 9); // the network's labels are unchanged
    expect(summary.crf.mIoU).toBeLessThan(summary.mIoU - 0.1);
  });

  it('fails clearly when a label map is missing or of another size', async () => {
    writePng(path.join(images, 'c.png'), 2, () => [0, 0, 0]);
    const missing = await runCli(['eval', '--images', images, '--labels', labels, '--model', model, '--device', 'cpu']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toMatch(/^error: no label map for .*c\.png: expected .*labels\/c\.png$/);
  });
});
