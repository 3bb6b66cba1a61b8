import { describe, expect, it } from 'vitest';
import { accumulateScores, averageScores } from '../../model/multiScale.js';
import { seededRandom } from '../../model/onnxGraph.js';
import type { ScoreMap } from '../../model/postprocess.js';

const random = seededRandom(5);
const map = (classes: number, height: number, width: number, layout: 'NCHW' | 'NHWC' = 'NCHW'): ScoreMap => ({
  data: Float32Array.from({ length: classes * height * width }, () => random()),
  offset: 0,
  classes,
  height,
  width,
  layout,
});

describe('multi-scale score averaging', () => {
  it('resampling to the same grid is the identity, mirroring twice too', () => {
    const m = map(3, 4, 5);
    const once = new Float32Array(60);
    accumulateScores(m, 5, 4, false, 1, once);
    expect(Array.from(once)).toEqual(Array.from(m.data).map((v) => expect.closeTo(v, 6)));
    const mirrored = new Float32Array(60);
    accumulateScores(m, 5, 4, true, 1, mirrored);
    const back = new Float32Array(60);
    accumulateScores({ ...m, data: mirrored }, 5, 4, true, 1, back);
    expect(Array.from(back)).toEqual(Array.from(m.data).map((v) => expect.closeTo(v, 6)));
    expect(mirrored[0]).toBeCloseTo(m.data[4]!, 6); // row 0: x 0 ← x 4
  });

  it('averages on the largest grid, reading NHWC as well', () => {
    const small = map(2, 2, 3, 'NHWC');
    const large = map(2, 4, 6);
    const avg = averageScores([
      { scores: small, flipped: false },
      { scores: large, flipped: false },
    ]);
    expect([avg.classes, avg.height, avg.width, avg.layout]).toEqual([2, 4, 6, 'NCHW']);
    const upsampled = new Float32Array(48);
    accumulateScores(small, 6, 4, false, 1, upsampled);
    for (let i = 0; i < 48; i++) expect(avg.data[i]).toBeCloseTo((upsampled[i]! + large.data[i]!) / 2, 5);
  });
});
