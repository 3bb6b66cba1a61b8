import { defer, finalize, firstValueFrom, from, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { deeplabLikeCase } from '../../bench/crfCases.js';
import { CrfRunner } from '../../crf/crfRunner.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { type CrfBackend, refineWithCrf } from '../../operators/refineWithCrf.js';
import type { Segmentation } from '../../core/frames.js';

const runner = CrfRunner.start();
afterAll(() => runner.close());

/** The real worker-thread CRF, recording the iterations each frame ran. */
function recording(): CrfBackend & { iterations: number[] } {
  const iterations: number[] = [];
  return {
    iterations,
    run: async (job) => {
      const reply = await runner.run(job);
      iterations.push(reply.iterations);
      return reply;
    },
  };
}

const [W, H, C] = [48, 36, 3];

/** A square moving right over a two-tone background; scores are noisy, stride-8-like. */
function movingSquare(index: number, streamId = 's'): { segmentation: Segmentation; truth: Uint8Array } {
  const scene = deeplabLikeCase(W, H, C, 100, 3); // the same noise every frame: only the square moves
  const image = new Uint8Array(W * H * 3);
  const truth = new Uint8Array(W * H);
  const probabilities = new Float32Array(W * H * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const inSquare = x >= 8 + index * 2 && x < 24 + index * 2 && y >= 10 && y < 26;
      truth[p] = inSquare ? 2 : x < W / 2 ? 0 : 1;
      image.set(inSquare ? [230, 200, 40] : x < W / 2 ? [40, 60, 150] : [60, 150, 70], p * 3);
      // Borrow the noise of the generated case, around the true label.
      for (let c = 0; c < C; c++)
        probabilities[p * C + c] = (c === truth[p] ? 1.2 : 0) + scene.probabilities[p * C + c]!;
      const sum = probabilities.subarray(p * C, p * C + C).reduce((a, b) => a + b, 0);
      for (let c = 0; c < C; c++) probabilities[p * C + c]! /= sum;
    }
  }
  const argmax = Uint8Array.from({ length: W * H }, (_, p) => {
    const row = probabilities.subarray(p * C, p * C + C);
    return row.indexOf(Math.max(...row));
  });
  return {
    truth,
    segmentation: {
      frame: { streamId, index, ptsMs: index * 40, width: W, height: H, rgb: image, capturedAt: 0, decodeMs: 0 },
      labels: argmax,
      classPixels: new Uint32Array(C),
      probabilities,
      inferredAt: 0,
      timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, crf: 0, write: 0 },
    },
  };
}

describe('refineWithCrf', () => {
  it('refines every frame in order and counts the refined labels', async () => {
    const frames = [0, 1, 2].map((i) => movingSquare(i));
    const out = await firstValueFrom(
      from(frames.map((f) => f.segmentation)).pipe(
        refineWithCrf(recording(), { params: DEEPLAB_VOC_PARAMS, classes: C }),
        toArray(),
      ),
    );
    expect(out.map((s) => s.frame.index)).toEqual([0, 1, 2]);
    out.forEach((s, i) => {
      const accuracy = (labels: Uint8Array) => labels.reduce((n, l, p) => n + (l === frames[i]!.truth[p] ? 1 : 0), 0);
      expect(accuracy(s.labels)).toBeGreaterThanOrEqual(accuracy(frames[i]!.segmentation.labels));
      expect(s.classPixels.reduce((a, b) => a + b, 0)).toBe(W * H);
      expect(s.probabilities).toBeUndefined();
      expect(s.timings.crf).toBeGreaterThan(0);
    });
  });

  it('warm-starts moving-shape frames with fewer iterations and agrees with cold 10-iteration runs', async () => {
    const frames = [0, 1, 2, 3, 4].map((i) => movingSquare(i));
    const warmBackend = recording();
    const warm = await firstValueFrom(
      from(frames.map((f) => movingSquare(f.segmentation.frame.index).segmentation)).pipe(
        refineWithCrf(warmBackend, {
          params: DEEPLAB_VOC_PARAMS,
          classes: C,
          warmStart: { iterations: 3, sceneCut: 0.3 },
        }),
        toArray(),
      ),
    );
    const cold = await firstValueFrom(
      from(frames.map((f) => f.segmentation)).pipe(
        refineWithCrf(recording(), { params: DEEPLAB_VOC_PARAMS, classes: C }),
        toArray(),
      ),
    );
    expect(warmBackend.iterations).toEqual([10, 3, 3, 3, 3]);
    // Each refined frame says how it started and how much of it was recomputed.
    expect(warm[0]!.crf).toEqual({ warm: false, activeShare: 1 });
    for (const s of warm.slice(1)) {
      expect(s.crf!.warm).toBe(true);
      expect(s.crf!.activeShare).toBeGreaterThan(0);
      expect(s.crf!.activeShare).toBeLessThan(0.5);
    }
    expect(cold.every((s) => s.crf!.warm === false && s.crf!.activeShare === 1)).toBe(true);
    for (let i = 0; i < frames.length; i++) {
      const agree = warm[i]!.labels.reduce((n, l, p) => n + (l === cold[i]!.labels[p] ? 1 : 0), 0);
      expect(agree / (W * H)).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('starts cold again on a scene cut and on a new stream', async () => {
    const backend = recording();
    const a = movingSquare(0).segmentation;
    const b = movingSquare(1).segmentation;
    const cut = {
      ...movingSquare(2).segmentation,
      probabilities: movingSquare(2).segmentation.probabilities!.map((_, i) => (i % C === 1 ? 0.98 : 0.01)),
    };
    const other = movingSquare(3, 'other').segmentation;
    await firstValueFrom(
      from([a, b, cut, other]).pipe(
        refineWithCrf(backend, { params: DEEPLAB_VOC_PARAMS, classes: C, warmStart: { iterations: 3, sceneCut: 0.3 } }),
        toArray(),
      ),
    );
    expect(backend.iterations).toEqual([10, 3, 10, 10]);
  });

  it('keeps what it knows of a stream per subscription: a resubscribed pipeline starts cold', async () => {
    const backend = recording();
    const restarts: boolean[] = [];
    const tracking: CrfBackend = { run: (job) => (restarts.push(job.warmStart!.restart), backend.run(job)) };
    let next = 0;
    // A live source that goes on numbering across restarts, as LiveStream does.
    const frames$ = defer(() =>
      from([next, next + 1].map((i) => movingSquare(i).segmentation)).pipe(finalize(() => (next += 2))),
    );
    const refined$ = frames$.pipe(
      refineWithCrf(tracking, { params: DEEPLAB_VOC_PARAMS, classes: C, warmStart: { iterations: 3, sceneCut: 0.3 } }),
    );
    const first = await firstValueFrom(refined$.pipe(toArray()));
    const second = await firstValueFrom(refined$.pipe(toArray()));
    expect(second.map((s) => s.frame.index)).toEqual([2, 3]);
    expect(restarts).toEqual([true, false, true, false]);
    expect([...first, ...second].map((s) => s.crf!.warm)).toEqual([false, true, false, true]);
  });

  it("with two CRF workers: the same labels, in order, and each stream's warm start kept on its worker", async () => {
    const two = CrfRunner.start(2);
    try {
      expect(two.size).toBe(2);
      const frames = [0, 1, 2, 3].flatMap((i) => [
        movingSquare(i, 'a').segmentation,
        movingSquare(i, 'b').segmentation,
      ]);
      const copy = () => frames.map((f) => ({ ...f, probabilities: f.probabilities!.slice() }));
      const iterations: string[] = [];
      const backend: CrfBackend = {
        run: async (job) => {
          const reply = await two.run(job);
          iterations.push(`${job.warmStart!.streamId}${reply.iterations}`);
          return reply;
        },
      };
      const options = { params: DEEPLAB_VOC_PARAMS, classes: C, warmStart: { iterations: 3, sceneCut: 0.3 } };
      const parallel = await firstValueFrom(from(copy()).pipe(refineWithCrf(backend, options), toArray()));
      const serial = await firstValueFrom(from(copy()).pipe(refineWithCrf(runner, options), toArray()));
      expect(parallel.map((s) => `${s.frame.streamId}${s.frame.index}`)).toEqual(
        frames.map((s) => `${s.frame.streamId}${s.frame.index}`),
      );
      expect(iterations.filter((i) => i.startsWith('a'))).toEqual(['a10', 'a3', 'a3', 'a3']);
      expect(iterations.filter((i) => i.startsWith('b'))).toEqual(['b10', 'b3', 'b3', 'b3']);
      parallel.forEach((s, i) => expect(Buffer.compare(Buffer.from(s.labels), Buffer.from(serial[i]!.labels))).toBe(0));
    } finally {
      await two.close();
    }
  });
});
