import { describe, expect, it } from 'vitest';
import { bilinearTaps } from '../../core/bilinearTaps.js';
import { imageNative } from '../../model/imageNative.js';
import { keepClasses, labelsFromScores, labelsFromScoresInJavaScript } from '../../model/postprocess.js';
import { seededRandom } from '../../model/onnxGraph.js';
import type { Layout } from '../../model/preprocess.js';

/** The plain definition: upsample every class bilinearly, then argmax. */
function bruteForce(
  data: Float32Array,
  classes: number,
  h: number,
  w: number,
  layout: Layout,
  outW: number,
  outH: number,
): Uint8Array {
  const at = (c: number, y: number, x: number) =>
    layout === 'NCHW' ? data[c * h * w + y * w + x]! : data[(y * w + x) * classes + c]!;
  const xs = bilinearTaps(w, outW);
  const ys = bilinearTaps(h, outH);
  const labels = new Uint8Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let best = -Infinity;
      for (let c = 0; c < classes; c++) {
        const fy = ys.weight[y]!;
        const fx = xs.weight[x]!;
        const top = at(c, ys.low[y]!, xs.low[x]!) * (1 - fx) + at(c, ys.low[y]!, xs.high[x]!) * fx;
        const bottom = at(c, ys.high[y]!, xs.low[x]!) * (1 - fx) + at(c, ys.high[y]!, xs.high[x]!) * fx;
        const v = top * (1 - fy) + bottom * fy;
        if (v > best) {
          best = v;
          labels[y * outW + x] = c;
        }
      }
    }
  }
  return labels;
}

function countLabels(labels: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of labels) counts[l]! += 1;
  return counts;
}

// The addon's labels where it was built (the default), and the JavaScript ones.
describe.each([
  ['labelsFromScores', labelsFromScores],
  ['labelsFromScores in JavaScript', labelsFromScoresInJavaScript],
] as const)('%s', (_, labelsFromScores) => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    it(`matches upsample-then-argmax exactly (${layout}, smooth and noisy scores)`, () => {
      const random = seededRandom(3);
      const [classes, h, w, outW, outH] = [5, 9, 13, 101, 67];
      // Smooth fields give large uniform regions (the shortcut path); noise gives many boundaries.
      const data = new Float32Array(classes * h * w).map((_, i) => Math.sin(i * 0.37) * 2 + random());
      const { labels, classPixels } = labelsFromScores(
        { data, offset: 0, classes, height: h, width: w, layout },
        outW,
        outH,
      );
      expect(Array.from(labels)).toEqual(Array.from(bruteForce(data, classes, h, w, layout, outW, outH)));
      expect(Array.from(classPixels)).toEqual(countLabels(labels, classes));
      expect(classPixels.filter((n) => n > 0).length).toBeGreaterThan(1);
    });

    it(`matches it at a large upscale, where output rows share their source rows (${layout})`, () => {
      const random = seededRandom(11);
      // As DeepLab's 257² scores to 768×576: ~3 output rows per source row, boundaries here and there.
      const [classes, h, w, outW, outH] = [6, 17, 17, 97, 83];
      const data = new Float32Array(classes * h * w).map((_, i) => Math.sin(i * 0.05) * 3 + 0.3 * random());
      const { labels, classPixels } = labelsFromScores(
        { data, offset: 0, classes, height: h, width: w, layout },
        outW,
        outH,
      );
      expect(Array.from(labels)).toEqual(Array.from(bruteForce(data, classes, h, w, layout, outW, outH)));
      expect(Array.from(classPixels)).toEqual(countLabels(labels, classes));
    });
  }

  it('reads one frame out of a batch by offset', () => {
    const a = new Float32Array([0, 1, 1, 0]); // 2 classes, 1×2: labels [1, 0]
    const b = new Float32Array([1, 0, 0, 1]); // labels [0, 1]
    const batch = new Float32Array([...a, ...b]);
    const second = labelsFromScores({ data: batch, offset: 4, classes: 2, height: 1, width: 2, layout: 'NCHW' }, 2, 1);
    expect(Array.from(second.labels)).toEqual([0, 1]);
  });
});

describe('labelsFromScores in C (model/native/labels.c)', () => {
  const addon = imageNative();
  it.skipIf(!addon).each([
    ['NHWC', 19, 33, 33, 768, 576, true, 0.3],
    ['NCHW', 21, 33, 33, 500, 375, true, 2],
    ['NHWC', 151, 17, 23, 130, 97, false, 1],
    ['NCHW', 3, 5, 4, 9, 7, false, 0],
  ] as const)(
    'gives the JavaScript labels and counts, byte for byte (%s, %i classes, %i×%i → %i×%i, aligned %s, noise %f)',
    (layout, classes, h, w, outW, outH, aligned, noise) => {
      const random = seededRandom(classes * 7 + h);
      // Smooth fields, noise, and (noise 0) whole plateaus of tied scores: every branch, ties included.
      const data = new Float32Array(2 + classes * h * w).map((_, i) =>
        noise === 0 ? Math.round(Math.sin(i * 0.7)) : Math.sin(i * 0.05) * 3 + noise * random(),
      );
      const scores = {
        data,
        offset: 2,
        classes,
        height: h,
        width: w,
        layout,
        ...(aligned ? { alignedTo: { width: 513, height: 513 } } : {}),
      };
      const native = labelsFromScores(scores, outW, outH);
      const javascript = labelsFromScoresInJavaScript(scores, outW, outH);
      expect(Buffer.from(native.labels).equals(Buffer.from(javascript.labels))).toBe(true);
      expect(Array.from(native.classPixels)).toEqual(Array.from(javascript.classPixels));
    },
  );

  it.skipIf(!addon)('refuses taps outside the score map instead of reading past it', () => {
    const taps = (n: number, at: number) => Int32Array.from({ length: n }, () => at);
    const weights = new Float32Array(2);
    const call = (xHigh: number, classPixels = 2) =>
      addon!.labelsFromScores(
        new Float32Array(2 * 3 * 3),
        0,
        2,
        3,
        3,
        0,
        2,
        2,
        taps(2, 0),
        taps(2, xHigh),
        weights,
        taps(2, 0),
        taps(2, 0),
        weights,
        new Uint8Array(4),
        new Uint32Array(classPixels),
      );
    expect(() => call(2)).not.toThrow();
    expect(() => call(3)).toThrow(TypeError);
    expect(() => call(2, 3)).toThrow(TypeError);
  });
});

describe('probabilitiesFromScores', () => {
  it('is the softmax of the bilinearly upsampled scores, and agrees with the labels', async () => {
    const { probabilitiesFromScores } = await import('../../model/postprocess.js');
    const random = seededRandom(8);
    const [classes, h, w, outW, outH] = [4, 5, 6, 23, 17];
    const data = Float32Array.from({ length: classes * h * w }, () => random() * 4);
    const map = { data, offset: 0, classes, height: h, width: w, layout: 'NCHW' as const };
    const probs = probabilitiesFromScores(map, outW, outH);
    const { labels } = labelsFromScores(map, outW, outH);
    for (let p = 0; p < outW * outH; p++) {
      const row = probs.subarray(p * classes, p * classes + classes);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(row.indexOf(Math.max(...row))).toBe(labels[p]);
    }
  });

  it('computes the labels in play only: one far below everywhere is 0, the rest within 1e-5 of the exact softmax', async () => {
    const { probabilitiesFromScores } = await import('../../model/postprocess.js');
    const random = seededRandom(5);
    const [classes, h, w] = [4, 5, 6];
    // Class 2 stays 12 logits below the others everywhere (its softmax < 1e-5); the others mix.
    const data = Float32Array.from({ length: classes * h * w }, (_, i) =>
      Math.floor(i / (h * w)) === 2 ? -12 : random() * 3,
    );
    const probs = probabilitiesFromScores({ data, offset: 0, classes, height: h, width: w, layout: 'NCHW' }, w, h);
    for (let p = 0; p < w * h; p++) {
      const exps = Array.from({ length: classes }, (_, c) => Math.exp(data[c * h * w + p]!));
      const sum = exps.reduce((a, b) => a + b, 0);
      expect(probs[p * classes + 2]).toBe(0);
      for (const c of [0, 1, 3]) expect(Math.abs(probs[p * classes + c]! - exps[c]! / sum)).toBeLessThan(1e-5);
    }
  });

  it('turns a one-channel mask into [1 − p, p], through a sigmoid for logits', async () => {
    const { probabilitiesFromScores } = await import('../../model/postprocess.js');
    const map = {
      data: Float32Array.from([0.2, 0.9]),
      offset: 0,
      classes: 1,
      height: 1,
      width: 2,
      layout: 'NHWC' as const,
    };
    expect(Array.from(probabilitiesFromScores(map, 2, 1, { threshold: 0.5 }))).toEqual([
      expect.closeTo(0.8, 6),
      expect.closeTo(0.2, 6),
      expect.closeTo(0.1, 6),
      expect.closeTo(0.9, 6),
    ]);
    const logits = { ...map, data: Float32Array.from([0, 100]) };
    expect(Array.from(probabilitiesFromScores(logits, 2, 1, { threshold: 0 }))).toEqual([
      expect.closeTo(0.5, 6),
      expect.closeTo(0.5, 6),
      expect.closeTo(0, 6),
      expect.closeTo(1, 6),
    ]);
  });

  it("upsamples scores that align corners with their model input (DeepLab's geometry) to where that input puts them", () => {
    // Two classes over 9 columns; class 1 wins from score column 0.5 on. With aligned corners over a
    // 33-pixel input, column 0.5 is input pixel 2, frame pixel 4.5 at 66 wide; read half-pixel it would be 6.8.
    const [w, h] = [9, 3];
    const data = new Float32Array(w * h * 2);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(y * w + x) * 2 + 1] = x - 0.5;
    const scores = { data, offset: 0, classes: 2, height: h, width: w, layout: 'NHWC' as const };
    const firstWinner = (labels: Uint8Array) => labels.subarray(0, 66).indexOf(1);
    expect(firstWinner(labelsFromScores({ ...scores, alignedTo: { width: 33, height: 33 } }, 66, 10).labels)).toBe(5);
    expect(firstWinner(labelsFromScores(scores, 66, 10).labels)).toBe(7);
  });
});

describe('keepClasses', () => {
  it('leaves the shown classes to win, in either layout, and only within its own map', () => {
    // 3 classes × 2×2 cells; class 2 wins everywhere until it is not shown.
    const nchw = Float32Array.from([0, 0, 0, 0, 1, 0.5, 1, 0.5, 5, 5, 5, 5]);
    const padded = new Float32Array(16);
    padded.set(nchw, 4);
    const map = { data: padded, offset: 4, classes: 3, width: 2, height: 2, layout: 'NCHW' as const };
    keepClasses(map, [0, 1]);
    expect(Array.from(padded.subarray(0, 4))).toEqual([0, 0, 0, 0]); // another frame's cells untouched
    expect(Array.from(labelsFromScores(map, 2, 2).labels)).toEqual([1, 1, 1, 1]);
    const nhwc = Float32Array.from([0, 1, 5, 0, 0.5, 5, 0, 1, 5, 0, 0.5, 5]);
    const hwc = { data: nhwc, offset: 0, classes: 3, width: 2, height: 2, layout: 'NHWC' as const };
    keepClasses(hwc, [0, 1]);
    expect(Array.from(labelsFromScores(hwc, 2, 2).labels)).toEqual([1, 1, 1, 1]);
    expect(nhwc[2]).toBe(Math.fround(-1e30));
  });
});
