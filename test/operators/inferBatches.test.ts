import { firstValueFrom, from, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { describeModel, IMAGENET_NORMALIZATION } from '../../model/descriptor.js';
import { InferencePool } from '../../model/inferencePool.js';
import { preprocessRgb } from '../../model/preprocess.js';
import { inferBatches } from '../../operators/inferBatches.js';
import type { PreparedFrame } from '../../pipeline/frames.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';

const [W, H, IW, IH] = [48, 32, 65, 49];

function prepared(index: number): PreparedFrame {
  const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * (index + 3) * 7) & 255);
  return {
    frame: { streamId: 's', index, ptsMs: index * 40, width: W, height: H, rgb, capturedAt: 0, decodeMs: 0 },
    inputs: [{ data: preprocessRgb(rgb, W, H, IW, IH, 'NCHW', IMAGENET_NORMALIZATION), width: IW, height: IH, flipped: false }],
    preprocessMs: 0,
    preparedAt: performance.now(),
  };
}

describe('inferBatches on real onnxruntime workers', () => {
  const tmp = tempDir();
  let pool: InferencePool;
  beforeAll(async () => {
    const modelPath = writeModel(tmp.dir, { classes: 7 });
    pool = await InferencePool.forModel(describeModel(readFileSync(modelPath)), { workers: 2, threads: 1, modelPath, device: { kind: 'cpu' } });
  });
  afterAll(async () => {
    await pool.close();
    tmp.cleanup();
  });

  it('gives every frame a label map at frame size, the same whether batched or not', async () => {
    const batched = await firstValueFrom(from([[0, 1, 2], [3, 4]].map((b) => b.map(prepared))).pipe(inferBatches(pool), toArray()));
    const single = await firstValueFrom(from([0, 1, 2, 3, 4].map((i) => [prepared(i)])).pipe(inferBatches(pool), toArray()));
    expect(batched.map((s) => s.frame.index).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const s of batched) {
      expect(s.labels.length).toBe(W * H);
      expect(Math.max(...s.labels)).toBeLessThan(7);
      expect(s.classPixels.reduce((a, b) => a + b, 0)).toBe(W * H);
      const same = single.find((t) => t.frame.index === s.frame.index)!;
      expect(Buffer.compare(Buffer.from(s.labels), Buffer.from(same.labels))).toBe(0);
      expect(s.timings.infer).toBeGreaterThan(0);
    }
    // Different inputs give different maps: the labels come from the frames, not a constant.
    expect(Buffer.compare(Buffer.from(batched[0]!.labels), Buffer.from(batched[1]!.labels))).not.toBe(0);
  });

  it('reports the provider it runs on', () => {
    expect(pool.provider).toBe('cpu');
    expect(pool.workerCount).toBe(2);
    expect(pool.size).toBeGreaterThanOrEqual(2);
  });
});
