/**
 * Sliding-window inference end to end: a generated model that sees a fine texture only at its
 * native resolution, and a frame where that texture covers a small patch — lost when the whole frame
 * is squeezed into the model's input, found window by window.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../../model/onnxGraph.js';
import { readLabelPng } from '../../../io/labelImage.js';
import { runCli, tempDir } from '../../helpers/fixtures.js';

const tmp = tempDir('dls-tiles-');
afterAll(() => tmp.cleanup());

/**
 * 32×32 in, two classes out at 32×32: background scores 1 everywhere; "texture" scores |2×2 checker
 * filter| of the picture, high only on a one-pixel checkerboard (which a 4:1 downscale turns grey).
 */
function textureModel(): string {
  const g = new OnnxGraphBuilder(3);
  const x = g.input('image', [1, 3, 32, 32]);
  const kernel = new Float32Array(12);
  for (let c = 0; c < 3; c++) kernel.set([1, -1, -1, 1], c * 4);
  const response = g.node1(
    'Conv',
    [x, g.constantFloat(kernel, [1, 3, 2, 2], 'checker')],
    [OnnxGraphBuilder.ints('kernel_shape', [2, 2]), OnnxGraphBuilder.ints('pads', [0, 0, 1, 1])],
  );
  const texture = g.node1('Abs', [response]);
  const one = g.node1('Add', [
    g.node1('Mul', [texture, g.constantFloat(new Float32Array([0]), [1], 'zero')]),
    g.constantFloat(new Float32Array([1]), [1], 'one'),
  ]);
  g.rename(g.node1('Concat', [one, texture], [OnnxGraphBuilder.int('axis', 1)]), 'scores');
  g.output('scores', [1, 2, 32, 32]);
  const file = path.join(tmp.dir, 'texture.onnx');
  writeFileSync(file, g.toBytes('texture'));
  return file;
}

/**
 * A 128×128 grey picture with a 14×14 one-pixel checkerboard at (69, 41): the 4:1 downscale samples
 * pixel pairs (4i+1, 4i+2), all inside the patch, each pair one black and one white: grey.
 */
function patchImage(): string {
  const rgb = Buffer.alloc(128 * 128 * 3, 128);
  for (let y = 41; y < 55; y++)
    for (let x = 69; x < 83; x++) rgb.fill((x + y) % 2 ? 255 : 0, (y * 128 + x) * 3, (y * 128 + x) * 3 + 3);
  const raw = path.join(tmp.dir, 'patch.rgb');
  writeFileSync(raw, rgb);
  const png = path.join(tmp.dir, 'patch.png');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '128x128', '-i', raw, png]);
  return png;
}

describe('--tiles', () => {
  const model = textureModel();
  const image = patchImage();

  async function segment(extra: string[], name: string): Promise<{ texture: number; labels: Uint8Array }> {
    const masks = path.join(tmp.dir, name);
    const json = `${masks}.jsonl`;
    const r = await runCli([
      'segment',
      image,
      '--model',
      model,
      '--device',
      'cpu',
      '--classes',
      path.join(tmp.dir, 'names.txt'),
      '--masks',
      masks,
      '--frames-json',
      json,
      ...extra,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const stats = JSON.parse(readFileSync(json, 'utf8')) as { pixels: Record<string, number> };
    return { texture: stats.pixels['texture'] ?? 0, labels: readLabelPng(path.join(masks, 'frame_000000.png')).labels };
  }

  it('finds a small textured patch window by window that the whole frame squeezed into the model loses', async () => {
    writeFileSync(path.join(tmp.dir, 'names.txt'), 'background\ntexture\n');
    const whole = await segment([], 'whole');
    expect(whole.texture).toBe(0);
    const tiled = await segment(['--tiles', 'auto'], 'tiled');
    expect(tiled.texture).toBeGreaterThan(120);
    // Where: on the patch (a pixel or two of blur at its border), nowhere else.
    for (let y = 0; y < 128; y++) {
      for (let x = 0; x < 128; x++) {
        if (tiled.labels[y * 128 + x] === 1)
          expect(x >= 67 && x < 85 && y >= 39 && y < 57, `texture at (${x}, ${y})`).toBe(true);
      }
    }
    const grid = await segment(['--tiles', '4x4', '--tile-overlap', '0'], 'grid');
    expect(grid.texture).toBeGreaterThan(120);
  });

  it('refuses bad grids and overlaps, and tiles with scales, in one line', async () => {
    const cases: [string[], RegExp][] = [
      [['--tiles', '0x2'], /--tiles.*takes auto or COLSxROWS from 1x1 to 16x16, such as 3x2, got "0x2"/],
      [['--tiles', 'many'], /got "many"/],
      [['--tiles', 'auto', '--tile-overlap', '0.95'], /--tile-overlap.*takes a share of a window from 0 to 0.9/],
      [['--tiles', 'auto', '--flip'], /--tiles cannot be combined with --scales or --flip/],
    ];
    for (const [flags, message] of cases) {
      const r = await runCli([
        'segment',
        image,
        '--model',
        model,
        '--device',
        'cpu',
        '--frames-json',
        path.join(tmp.dir, 'x.jsonl'),
        ...flags,
      ]);
      expect(r.code, flags.join(' ')).toBe(64);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
