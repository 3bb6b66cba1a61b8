/** `segment --frames-json --masks-rle`: each frame's masks as COCO RLE, exactly the labels the mask PNGs hold. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCocoRle } from '../../../io/cocoRle.js';
import { readLabelPng } from '../../../io/labelImage.js';
import { runCli, tempDir } from '../../helpers/fixtures.js';
import { writeColourModel, writeZoneClip } from '../../helpers/zoneScene.js';

describe('segment --masks-rle', () => {
  const { dir, cleanup } = tempDir('dls-rle-');
  let model: string;
  let clip: string;
  beforeAll(async () => {
    model = writeColourModel(dir);
    clip = await writeZoneClip(dir, 'short.mp4', { seconds: 2.5, enter: 0.3, leave: 1.5 });
  });
  afterAll(cleanup);

  it('writes masks that decode to exactly the labels of the mask PNGs, and the pixel counts beside them', async () => {
    const frames = path.join(dir, 'frames.jsonl');
    const masks = path.join(dir, 'masks');
    const r = await runCli([
      'segment',
      clip,
      '--model',
      model,
      '--frames-json',
      frames,
      '--masks-rle',
      '--masks',
      masks,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(frames, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(25);
    const names = ['background', 'person', 'car'];
    let withPerson = 0;
    for (const line of lines) {
      const row = JSON.parse(line) as {
        index: number;
        width: number;
        height: number;
        pixels: Record<string, number>;
        masks: Record<string, { size: [number, number]; counts: string }>;
      };
      expect(Object.keys(row.masks)).toEqual(Object.keys(row.pixels));
      const png = readLabelPng(path.join(masks, `frame_${String(row.index).padStart(6, '0')}.png`));
      for (const [name, rle] of Object.entries(row.masks)) {
        expect(rle.size).toEqual([row.height, row.width]);
        const mask = decodeCocoRle(rle);
        const c = names.indexOf(name);
        let n = 0;
        mask.forEach((v, i) => {
          if (v !== (png.labels[i] === c ? 1 : 0)) throw new Error(`frame ${row.index} ${name}: pixel ${i} differs`);
          n += v;
        });
        expect(n).toBe(row.pixels[name]);
      }
      if (row.masks['person']) withPerson += 1;
    }
    expect(withPerson).toBeGreaterThanOrEqual(10);
  }, 60_000);

  it('refuses --masks-rle without --frames-json in one line', async () => {
    const r = await runCli(['segment', clip, '--model', model, '--masks-rle', '-o', path.join(dir, 'x.mp4')]);
    expect(r.code).toBe(64);
    expect(r.stderr.trim()).toBe(
      "error: --masks-rle writes each frame's masks into the frames JSON: give --frames-json FILE too",
    );
  });
});
