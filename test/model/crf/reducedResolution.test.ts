import { describe, expect, it } from 'vitest';
import { deeplabLikeCase } from '../../../bench/crfCases.js';
import { DEEPLAB_VOC_PARAMS } from '../../../model/crf/denseCrf.js';
import { resizeInterleaved, runCrf } from '../../../model/crf/reducedResolution.js';

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
});
