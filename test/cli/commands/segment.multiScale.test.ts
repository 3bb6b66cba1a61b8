/** `segment --scales/--flip` end to end, with a model whose right answer is known. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../../model/onnxGraph.js';
import { argmaxModelBytes, runCli, tempDir, writeClip, writeModel } from '../../helpers/fixtures.js';

// The model passes the normalised RGB through as three class scores (dynamic size): mirroring
// its input mirrors its output, so --flip must not change a single label.
const tmp = tempDir('dls-ms-');
const rgbModel = path.join(tmp.dir, 'rgb.onnx');
let clip: string;
beforeAll(async () => {
  const g = new OnnxGraphBuilder();
  const x = g.input('image', ['batch', 3, 'height', 'width']);
  g.rename(x, 'scores');
  g.output('scores', ['batch', 3, 'height', 'width']);
  writeFileSync(rgbModel, g.toBytes('rgb_classes'));
  clip = await writeClip(tmp.dir, 'clip.mp4', { width: 96, height: 64, frames: 4 });
});
afterAll(() => tmp.cleanup());

async function run(
  name: string,
  extra: string[],
): Promise<{ summary: { model: { scales: number[]; flip: boolean } }; lines: string[] }> {
  const json = path.join(tmp.dir, `${name}.jsonl`);
  const r = await runCli([
    'segment',
    clip,
    '--model',
    rgbModel,
    '--device',
    'cpu',
    '--input-size',
    '97x65',
    '--frames-json',
    json,
    '--json',
    ...extra,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return { summary: JSON.parse(r.stdout), lines: readFileSync(json, 'utf8').trim().split('\n') };
}

describe('multi-scale and flipped inference', () => {
  it("--flip leaves a mirror-symmetric model's labels unchanged", async () => {
    const plain = await run('plain', []);
    const flipped = await run('flip', ['--flip']);
    expect(flipped.summary.model.flip).toBe(true);
    expect(flipped.lines).toEqual(plain.lines);
  });

  it('--scales averages the scales and reports them; labels stay close to single scale', async () => {
    const plain = await run('plain2', []);
    const multi = await run('multi', ['--scales', '0.5,0.75,1']);
    expect(multi.summary.model.scales).toEqual([0.5, 0.75, 1]);
    const pixels = (line: string) => JSON.parse(line).pixels as Record<string, number>;
    for (let i = 0; i < plain.lines.length; i++) {
      const a = pixels(plain.lines[i]!);
      const b = pixels(multi.lines[i]!);
      const moved = Object.keys({ ...a, ...b }).reduce((sum, k) => sum + Math.abs((a[k] ?? 0) - (b[k] ?? 0)), 0) / 2;
      expect(moved / (96 * 64)).toBeLessThan(0.1);
    }
  });

  it('refuses --scales on a model with a fixed input size', async () => {
    const fixed = writeModel(tmp.dir, { inputSize: [65, 65] }, 'fixed.onnx');
    const r = await runCli([
      'segment',
      clip,
      '--model',
      fixed,
      '--device',
      'cpu',
      '--scales',
      '0.5,1',
      '--frames-json',
      path.join(tmp.dir, 'x.jsonl'),
    ]);
    expect(r.code).toBe(64);
    expect(r.stderr.trim()).toMatch(/^error: --scales needs a model with a dynamic input size/);
  });
});

describe('models that take uint8 pixels and output argmaxed labels', () => {
  it('segments with them end to end (nearest-neighbour label upsampling)', async () => {
    const model = path.join(tmp.dir, 'argmax.onnx');
    writeFileSync(model, argmaxModelBytes());
    // Left half red (label 0), right half blue (label 2).
    const image = path.join(tmp.dir, 'halves.png');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'color=c=red:s=16x16,pad=32:16:0:0:blue',
      '-frames:v',
      '1',
      image,
    ]);
    const json = path.join(tmp.dir, 'halves.jsonl');
    const r = await runCli([
      'segment',
      image,
      '--model',
      model,
      '--device',
      'cpu',
      '--input-size',
      '32x16',
      '--frames-json',
      json,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(json, 'utf8')).pixels).toEqual({ background: 256, bicycle: 256 });
    const refused = await runCli([
      'segment',
      image,
      '--model',
      model,
      '--device',
      'cpu',
      '--flip',
      '--frames-json',
      json,
    ]);
    expect(refused.stderr.trim()).toMatch(/^error: --scales and --flip average scores/);
  });
});
