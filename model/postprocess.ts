/**
 * Model scores → label map at frame resolution: bilinear upsampling of the logits (as DeepLab
 * does) followed by argmax, without materialising the upsampled C×H×W volume.
 *
 *   scores [C, h, w] or [h, w, C] (a view into the batch output)  →  labels Uint8Array H×W
 *
 * Exact shortcut: if the four low-resolution neighbours of an output pixel share their argmax l,
 * any convex combination of them also has its maximum at l, so only pixels near a label boundary
 * need all C channels interpolated.
 */
import { cachedTaps } from './preprocess.js';
import type { Layout } from './preprocess.js';

export interface ScoreMap {
  readonly data: Float32Array;
  /** Offset of this frame's scores in `data` (batch outputs share one buffer). */
  readonly offset: number;
  readonly classes: number;
  readonly height: number;
  readonly width: number;
  readonly layout: Layout;
}

export interface LabelMap {
  readonly labels: Uint8Array;
  readonly classPixels: Uint32Array;
}

/** Argmax over classes at every low-resolution position. */
function lowResArgmax(scores: ScoreMap): Uint8Array {
  const { data, offset, classes, height, width, layout } = scores;
  const plane = height * width;
  const classStride = layout === 'NCHW' ? plane : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const best = new Uint8Array(plane);
  for (let p = 0; p < plane; p++) {
    const base = offset + p * pixelStride;
    let bestC = 0;
    let bestV = data[base]!;
    for (let c = 1; c < classes; c++) {
      const v = data[base + c * classStride]!;
      if (v > bestV) {
        bestV = v;
        bestC = c;
      }
    }
    best[p] = bestC;
  }
  return best;
}

export function labelsFromScores(scores: ScoreMap, outWidth: number, outHeight: number): LabelMap {
  const { data, offset, classes, height, width, layout } = scores;
  if (classes > 256) throw new RangeError(`${classes} classes do not fit an 8-bit label map`);
  const low = lowResArgmax(scores);
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const labels = new Uint8Array(outWidth * outHeight);
  const classPixels = new Uint32Array(classes);

  for (let y = 0; y < outHeight; y++) {
    const y0 = ys.low[y]!;
    const y1 = ys.high[y]!;
    const fy = ys.weight[y]!;
    const row0 = y0 * width;
    const row1 = y1 * width;
    const outRow = y * outWidth;
    for (let x = 0; x < outWidth; x++) {
      const x0 = xs.low[x]!;
      const x1 = xs.high[x]!;
      const l = low[row0 + x0]!;
      let label = l;
      if (low[row0 + x1] !== l || low[row1 + x0] !== l || low[row1 + x1] !== l) {
        const fx = xs.weight[x]!;
        const w00 = (1 - fx) * (1 - fy);
        const w01 = fx * (1 - fy);
        const w10 = (1 - fx) * fy;
        const w11 = fx * fy;
        const b00 = offset + (row0 + x0) * pixelStride;
        const b01 = offset + (row0 + x1) * pixelStride;
        const b10 = offset + (row1 + x0) * pixelStride;
        const b11 = offset + (row1 + x1) * pixelStride;
        let bestV = -Infinity;
        for (let c = 0; c < classes; c++) {
          const k = c * classStride;
          const v = data[b00 + k]! * w00 + data[b01 + k]! * w01 + data[b10 + k]! * w10 + data[b11 + k]! * w11;
          if (v > bestV) {
            bestV = v;
            label = c;
          }
        }
      }
      labels[outRow + x] = label;
      classPixels[label]! += 1;
    }
  }
  return { labels, classPixels };
}
