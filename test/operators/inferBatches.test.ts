import { firstValueFrom, from, Subject, tap, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { describeModel, IMAGENET_NORMALIZATION } from '../../model/descriptor.js';
import { InferencePool } from '../../model/inferencePool.js';
import { preprocessRgb } from '../../model/preprocess.js';
import { inferBatches } from '../../operators/inferBatches.js';
import type { PreparedFrame } from '../../core/frames.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';

const [W, H, IW, IH] = [48, 32, 65, 49];

function prepared(index: number): PreparedFrame {
  const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * (index + 3) * 7) & 255);
  return {
    frame: { streamId: 's', index, ptsMs: index * 40, width: W, height: H, rgb, capturedAt: 0, decodeMs: 0 },
    inputs: [
      { data: preprocessRgb(rgb, W, H, IW, IH, 'NCHW', IMAGENET_NORMALIZATION), width: IW, height: IH, flipped: false },
    ],
    preprocessMs: 0,
    preparedAt: performance.now(),
  };
}

describe('inferBatches on real onnxruntime workers', () => {
  const tmp = tempDir();
  let pool: InferencePool;
  beforeAll(async () => {
    const modelPath = writeModel(tmp.dir, { classes: 7 });
    pool = await InferencePool.forModel(describeModel(readFileSync(modelPath)), {
      workers: 2,
      threads: 1,
      modelPath,
      device: { kind: 'cpu' },
    });
  });
  afterAll(async () => {
    await pool.close();
    tmp.cleanup();
  });

  it('runs a batch whose frames have different model inputs (a stream with its own tiles) as one request per kind', async () => {
    /** The frame as two windows (left and right halves) instead of one input. */
    const windowed = (index: number): PreparedFrame => {
      const p = prepared(index);
      const half = { x: 0, y: 0, width: W / 2, height: H };
      const input = (x: number) => ({ ...p.inputs[0]!, data: p.inputs[0]!.data.slice(), window: { ...half, x } });
      return { ...p, inputs: [input(0), input(W / 2)] };
    };
    const mixed = await firstValueFrom(
      from([[prepared(0), windowed(1), prepared(2), windowed(3)]]).pipe(inferBatches(pool), toArray()),
    );
    expect(mixed.map((s) => s.frame.index).sort()).toEqual([0, 1, 2, 3]);
    const alone = await firstValueFrom(from([[prepared(0)], [windowed(1)]]).pipe(inferBatches(pool), toArray()));
    for (const s of alone) {
      const inMixed = mixed.find((m) => m.frame.index === s.frame.index)!;
      expect(Buffer.compare(Buffer.from(s.labels), Buffer.from(inMixed.labels))).toBe(0);
    }
  });

  it('gives every frame a label map at frame size, the same whether batched or not', async () => {
    const batched = await firstValueFrom(
      from(
        [
          [0, 1, 2],
          [3, 4],
        ].map((b) => b.map(prepared)),
      ).pipe(inferBatches(pool), toArray()),
    );
    const single = await firstValueFrom(
      from([0, 1, 2, 3, 4].map((i) => [prepared(i)])).pipe(inferBatches(pool), toArray()),
    );
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

  it('with onBatchError: the frames of a batch whose worker stopped are reported and skipped, the rest go on', async () => {
    const modelPath = writeModel(tmp.dir, { classes: 7 }, 'crash.onnx');
    const crashing = await InferencePool.forModel(describeModel(readFileSync(modelPath)), {
      workers: 1,
      threads: 1,
      modelPath,
      device: { kind: 'cpu' },
    });
    try {
      const batches = new Subject<PreparedFrame[]>();
      const skipped: number[] = [];
      const emitted: number[] = [];
      const done = firstValueFrom(
        batches.pipe(
          inferBatches(crashing, { onBatchError: (_error, batch) => skipped.push(...batch.map((p) => p.frame.index)) }),
          tap((s) => emitted.push(s.frame.index)),
          toArray(),
        ),
      );
      // The worker exits after batch 0 (its own close message) with batch 1 waiting in its queue.
      const worker = () =>
        (crashing as unknown as { workers: { workers: import('node:worker_threads').Worker[] } }).workers.workers[0]!;
      batches.next([prepared(0)]);
      await expect.poll(() => emitted).toEqual([0]);
      worker().postMessage({ type: 'close' });
      batches.next([prepared(1)]);
      await new Promise((r) => setTimeout(r, 200));
      batches.next([prepared(2)]);
      batches.complete();
      const out = await done;
      expect(out.map((s) => s.frame.index)).toEqual([0, 2]); // 2 on the replacement
      expect(skipped).toEqual([1]);
      // Without onBatchError the same loss ends the stream with the error (offline: nothing may go missing).
      const strict = new Subject<PreparedFrame[]>();
      const failed = firstValueFrom(strict.pipe(inferBatches(crashing), toArray()));
      worker().postMessage({ type: 'close' });
      strict.next([prepared(3)]);
      await expect(failed).rejects.toThrow(/an inference worker stopped/);
    } finally {
      await crashing.close();
    }
  });
});
