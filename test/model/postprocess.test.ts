import { describe, expect, it } from 'vitest';
import { bilinearTaps } from '../../model/preprocess.js';
import { labelsFromScores } from '../../model/postprocess.js';
import { seededRandom } from '../../model/onnxGraph.js';
import type { Layout } from '../../model/preprocess.js';

/** The plain definition: upsample every class bilinearly, then argmax. */
function bruteForce(data: Float32Array, classes: number, h: number, w: number, layout: Layout, outW: number, outH: number): Uint8Array {
  const at = (c: number, y: number, x: number) => (layout === 'NCHW' ? data[c * h * w + y * w + x]! : data[(y * w + x) * classes + c]!);
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

describe('labelsFromScores', () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    it(`matches upsample-then-argmax exactly (${layout}, smooth and noisy scores)`, () => {
      const random = seededRandom(3);
      const [classes, h, w, outW, outH] = [5, 9, 13, 101, 67];
      // Smooth fields give large uniform regions (the shortcut path); noise gives many boundaries.
      const data = new Float32Array(classes * h * w).map((_, i) => Math.sin(i * 0.37) * 2 + random());
      const { labels, classPixels } = labelsFromScores({ data, offset: 0, classes, height: h, width: w, layout }, outW, outH);
      expect(Array.from(labels)).toEqual(Array.from(bruteForce(data, classes, h, w, layout, outW, outH)));
      expect(classPixels.reduce((a, b) => a + b, 0)).toBe(outW * outH);
      expect(classPixels.filter((n) => n > 0).length).toBeGreaterThan(1);
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
