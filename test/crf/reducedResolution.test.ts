import { describe, expect, it } from 'vitest';
import type { WarmStartState } from '../../crf/warmStart.js';
import { deeplabLikeCase } from '../../bench/crfCases.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { resizeInterleaved, runCrf } from '../../crf/reducedResolution.js';

describe('CRF at reduced resolution', () => {
  it('resizes interleaved maps bilinearly (identity at the same size, averages when halving)', () => {
    const values = Float32Array.from({ length: 4 * 2 * 2 }, (_, i) => i);
    expect(Array.from(resizeInterleaved(values, 2, 4, 2, 4, 2))).toEqual(Array.from(values));
    const half = resizeInterleaved(values, 2, 4, 2, 2, 1);
    // Pixel (0,0) of the half-size map averages pixels (0..1, 0..1): channel 0 values 0, 2, 8, 10.
    expect(half[0]).toBeCloseTo(5, 5);
  });

  it('at scale 0.5 agrees with the full-resolution labels on a DeepLab-like frame', () => {
    const scene = deeplabLikeCase(160, 120, 6, 4, 6);
    const full = runCrf(scene.image, 160, 120, scene.probabilities, 6, DEEPLAB_VOC_PARAMS);
    const half = runCrf(scene.image, 160, 120, scene.probabilities, 6, { ...DEEPLAB_VOC_PARAMS, scale: 0.5 });
    expect(half.labels).toHaveLength(160 * 120);
    expect(half.q).toHaveLength(160 * 120 * 6);
    const agree = half.labels.reduce((n, l, p) => n + (l === full.labels[p] ? 1 : 0), 0) / half.labels.length;
    expect(agree).toBeGreaterThan(0.97);
  });

  it('gives the same labels without the full-size Q (labelsOnly) as the argmax of it', () => {
    const scene = deeplabLikeCase(120, 90, 5, 8, 6);
    const params = { ...DEEPLAB_VOC_PARAMS, scale: 0.5 };
    const withQ = runCrf(scene.image, 120, 90, scene.probabilities, 5, params);
    const labelsOnly = runCrf(scene.image, 120, 90, scene.probabilities, 5, params, { labelsOnly: true });
    expect(labelsOnly.q).toBeNull();
    const differ = labelsOnly.labels.reduce((n, l, p) => n + (l === withQ.labels[p] ? 0 : 1), 0);
    expect(differ).toBeLessThanOrEqual(2); // float rounding on exact ties only
  });

  it('warm-starts from the state of the previous frame and starts cold on a scene cut', () => {
    const a = deeplabLikeCase(96, 64, 4, 11);
    const cut = deeplabLikeCase(96, 64, 4, 12);
    const state: WarmStartState = { previous: null };
    const settings = { iterations: 3, sceneCut: 0.3 };
    const params = { ...DEEPLAB_VOC_PARAMS, scale: 0.5 };
    const run = (scene: typeof a) =>
      runCrf(scene.image, 96, 64, scene.probabilities, 4, params, { warmStart: { settings, state } });
    expect(run(a)).toMatchObject({ warm: false, iterations: 10 });
    expect(state.video).toBeDefined(); // the stream's incremental engine (WebAssembly is built for tests)
    expect(run(a)).toMatchObject({ warm: true, iterations: 3 });
    expect(run(cut)).toMatchObject({ warm: false, iterations: 10 });
  });

  it('warm-starts from the previous Q without the incremental engine (symmetric normalisation: TypeScript)', () => {
    const a = deeplabLikeCase(48, 32, 4, 11);
    const cut = deeplabLikeCase(48, 32, 4, 12);
    const state: WarmStartState = { previous: null };
    const params = { ...DEEPLAB_VOC_PARAMS, normalization: 'symmetric' as const };
    const run = (scene: typeof a) =>
      runCrf(scene.image, 48, 32, scene.probabilities, 4, params, {
        warmStart: { settings: { iterations: 3, sceneCut: 0.3 }, state },
      });
    const first = run(a);
    expect(first).toMatchObject({ warm: false, iterations: 10 });
    expect(state.video).toBeUndefined();
    expect(state.previous!.q).toEqual(first.q);
    const second = run(a);
    expect(second).toMatchObject({ warm: true, iterations: 3 });
    expect(second.labels.reduce((n, l, p) => n + (l === first.labels[p] ? 1 : 0), 0) / (48 * 32)).toBeGreaterThan(0.99);
    expect(run(cut)).toMatchObject({ warm: false, iterations: 10 });
  });
});
