/**
 * The quantized DeepLabs by name: fetched from a local HTTP server standing in for their published
 * addresses (serving ../shared/models), checked, imported into QDQ form and run on real pictures.
 * The street model finds the pedestrians of vtest.avi frame 300 in one run; the VOC models see
 * the cat; the ADE20K models give their 151 / 32 classes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogEntry, type DownloadSource } from '../../model/catalog.js';
import { VOC_CLASSES } from '../../model/palette.js';
import { repoRoot, runCli, tempDir } from '../helpers/fixtures.js';

const shared = path.resolve(repoRoot, '../shared');
/** Published file name → the copy in ../shared/models (MLPerf's is kept under a longer name there). */
const SHARED_NAMES: Record<string, string> = {
  'deeplabv3_mnv2_ade20k_uint8.tflite': 'mlperf_deeplabv3_mnv2_ade20k_uint8.tflite',
};
const haveShared =
  existsSync(path.join(shared, 'models', 'coral_deeplabv3_mnv2_pascal_quant.tflite')) &&
  existsSync(path.join(shared, 'media', 'vtest.avi'));
if (!haveShared)
  console.warn(
    `skipping the quantized catalogue models: ${shared}/models and /media are absent (the team's shared folder beside the repository)`,
  );

/** Connected regions of `label` in a label map (4-neighbour) with at least `minPixels` pixels. */
function regions(labels: Uint8Array, width: number, label: number, minPixels: number): number {
  const seen = new Uint8Array(labels.length);
  let count = 0;
  for (let start = 0; start < labels.length; start++) {
    if (labels[start] !== label || seen[start]) continue;
    let size = 0;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      size += 1;
      const x = p % width;
      for (const q of [p - width, p + width, x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1]) {
        if (q >= 0 && q < labels.length && !seen[q] && labels[q] === label) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    if (size >= minPixels) count += 1;
  }
  return count;
}

describe.skipIf(!haveShared)('the quantized DeepLabs by name', () => {
  const { dir, cleanup } = tempDir('dls-quantized-');
  const cache = path.join(dir, 'cache');
  let server: http.Server;
  let mirror = '';
  let frame300 = '';

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      const name = decodeURIComponent((request.url ?? '').slice(1));
      const file = path.join(shared, 'models', SHARED_NAMES[name] ?? name);
      if (name.includes('/') || !existsSync(file)) return void response.writeHead(404).end();
      const body = readFileSync(file);
      response.writeHead(200, { 'content-length': String(body.length) }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    frame300 = path.join(dir, 'vtest300.png');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-i',
      path.join(shared, 'media', 'vtest.avi'),
      '-vf',
      'select=eq(n\\,300)',
      '-frames:v',
      '1',
      frame300,
    ]);
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    cleanup();
  });

  /** `segment IMAGE --model NAME` through the mirror: the frame's class pixel counts and its label map. */
  const segment = async (model: string, image: string) => {
    const out = path.join(dir, `${model}-${path.basename(image, '.png')}`);
    const r = await runCli(['segment', image, '--model', model, '--frames-json', `${out}.jsonl`, '--masks', out], {
      env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: mirror },
    });
    expect(r.code, r.stderr).toBe(0);
    const frame = JSON.parse(readFileSync(`${out}.jsonl`, 'utf8')) as {
      width: number;
      height: number;
      pixels: Record<string, number>;
    };
    const png = PNG.sync.read(readFileSync(path.join(out, 'frame_000000.png')));
    const labels = Uint8Array.from({ length: png.width * png.height }, (_, i) => png.data[i * 4]!);
    return { ...frame, labels };
  };

  it('deeplab-cityscapes marks the pedestrians of vtest.avi frame 300 in one run (no tiles)', async () => {
    const { pixels, labels, width } = await segment('deeplab-cityscapes', frame300);
    expect(pixels['person']).toBeGreaterThan(10_000);
    expect(pixels['road']).toBeGreaterThan(50_000);
    // Six pedestrians, two of them close together: at least five separate person regions of a pedestrian's size.
    expect(regions(labels, width, 11, 300)).toBeGreaterThanOrEqual(5);
    const source = catalogEntry('deeplab-cityscapes')!.source as DownloadSource;
    expect(existsSync(path.join(cache, source.file))).toBe(true);
  }, 60_000);

  it.each(['deeplabv3-voc-513', 'deeplabv3-voc-513-small'])(
    '%s sees the cat',
    async (model) => {
      const { pixels, width, height } = await segment(model, path.join(shared, 'media', 'chelsea.png'));
      expect((pixels['cat'] ?? 0) / (width * height)).toBeGreaterThan(0.6);
    },
    60_000,
  );

  it('the ADE20K models give their classes: people and road on the street frame', async () => {
    const coarse = await segment('deeplabv3plus-ade20k-32', frame300);
    expect(coarse.pixels['person']).toBeGreaterThan(5_000);
    expect(coarse.labels.reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(32);
    const fine = await segment('deeplabv3plus-ade20k', frame300);
    expect((fine.pixels['person'] ?? 0) + (fine.pixels['road'] ?? 0)).toBeGreaterThan(20_000);
  }, 90_000);

  it('eval scores a model of another label set on the VOC photos through a class map', async () => {
    const voc = path.join(shared, 'voc-train');
    const r = await runCli(
      [
        'eval',
        '--images',
        path.join(voc, 'images'),
        '--labels',
        path.join(voc, 'labels'),
        '--model',
        'deeplab-cityscapes',
        '--class-map',
        'cityscapes',
        '--json',
      ],
      { env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: mirror } },
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { perClass: { name: string; iou: number | null }[] };
    expect(summary.perClass.map((c) => c.name)).toEqual([...VOC_CLASSES]);
    // The street model knows people and motorbikes, and nothing of cats or sofas.
    expect(summary.perClass.find((c) => c.name === 'person')!.iou).toBeGreaterThan(0.25);
    expect(summary.perClass.find((c) => c.name === 'cat')!.iou).toBe(0);
  }, 90_000);
});
