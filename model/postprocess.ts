/**
 * Model scores → label map at frame resolution: bilinear upsampling of the logits (as DeepLab
 * does) followed by argmax, without materialising the upsampled C×H×W volume.
 *
 *   scores [C, h, w] or [h, w, C] (a view into the batch output)  →  labels Uint8Array H×W
 *
 * Two exact shortcuts:
 * - if the four low-resolution neighbours of an output pixel share their argmax l, any convex
 *   combination of them also has its maximum at l: no interpolation at all;
 * - elsewhere, an interpolated score lies between the smallest and largest of its four corners,
 *   so a class whose largest corner is below some class's smallest corner can never win: per
 *   low-resolution cell only the few remaining candidates are interpolated.
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

/**
 * For every low-resolution cell (corner rows y, y+1 and columns x, x+1, clamped), the classes that
 * can still be the argmax somewhere inside it. Returns a flat list, `classes` slots per cell.
 */
function cellCandidates(scores: ScoreMap): { list: Uint8Array; count: Uint8Array } {
  const { data, offset, classes, height, width, layout } = scores;
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const cells = height * width;
  const list = new Uint8Array(cells * classes);
  const count = new Uint8Array(cells);
  const lo = new Float32Array(classes);
  const hi = new Float32Array(classes);
  for (let y = 0; y < height; y++) {
    const y1 = Math.min(y + 1, height - 1);
    for (let x = 0; x < width; x++) {
      const x1 = Math.min(x + 1, width - 1);
      const b00 = offset + (y * width + x) * pixelStride;
      const b01 = offset + (y * width + x1) * pixelStride;
      const b10 = offset + (y1 * width + x) * pixelStride;
      const b11 = offset + (y1 * width + x1) * pixelStride;
      let floor = -Infinity;
      for (let c = 0; c < classes; c++) {
        const k = c * classStride;
        const a = data[b00 + k]!;
        const b = data[b01 + k]!;
        const d = data[b10 + k]!;
        const e = data[b11 + k]!;
        const min = Math.min(a, b, d, e);
        lo[c] = min;
        hi[c] = Math.max(a, b, d, e);
        if (min > floor) floor = min;
      }
      const cell = y * width + x;
      let n = 0;
      for (let c = 0; c < classes; c++) if (hi[c]! >= floor) list[cell * classes + n++] = c;
      count[cell] = n;
    }
  }
  return { list, count };
}

/** Runs of output columns that share their low-resolution left neighbour: [start, end) per run. */
function columnRuns(low: Int32Array): Int32Array {
  const bounds: number[] = [0];
  for (let x = 1; x < low.length; x++) if (low[x] !== low[x - 1]) bounds.push(x);
  bounds.push(low.length);
  return Int32Array.from(bounds);
}

export function labelsFromScores(scores: ScoreMap, outWidth: number, outHeight: number): LabelMap {
  const { data, offset, classes, height, width, layout } = scores;
  if (classes > 256) throw new RangeError(`${classes} classes do not fit an 8-bit label map`);
  const low = lowResArgmax(scores);
  let candidates: { list: Uint8Array; count: Uint8Array } | null = null; // built on the first boundary cell
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const runs = columnRuns(xs.low);
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const labels = new Uint8Array(outWidth * outHeight);
  // Per candidate of a cell: its score at the run's left (a) and right (b) neighbour column.
  const a = new Float64Array(classes);
  const slope = new Float64Array(classes);
  const ids = new Uint8Array(classes);

  for (let y = 0; y < outHeight; y++) {
    const y0 = ys.low[y]!;
    const y1 = ys.high[y]!;
    const fy = ys.weight[y]!;
    const gy = 1 - fy;
    const row0 = y0 * width;
    const row1 = y1 * width;
    const outRow = y * outWidth;
    for (let r = 0; r + 1 < runs.length; r++) {
      const start = runs[r]!;
      const end = runs[r + 1]!;
      const x0 = xs.low[start]!;
      const x1 = xs.high[start]!;
      const l = low[row0 + x0]!;
      if (low[row0 + x1] === l && low[row1 + x0] === l && low[row1 + x1] === l) {
        labels.fill(l, outRow + start, outRow + end);
        continue;
      }
      // Along this run y is fixed, so each class's score is a line in fx: a + slope·fx. The
      // label is the upper envelope of those lines, walked from left to right.
      candidates ??= cellCandidates(scores);
      const cell = row0 + x0;
      const n = candidates.count[cell]!;
      const b00 = offset + (row0 + x0) * pixelStride;
      const b01 = offset + (row0 + x1) * pixelStride;
      const b10 = offset + (row1 + x0) * pixelStride;
      const b11 = offset + (row1 + x1) * pixelStride;
      for (let i = 0; i < n; i++) {
        const c = candidates.list[cell * classes + i]!;
        const k = c * classStride;
        const left = gy * data[b00 + k]! + fy * data[b10 + k]!;
        const right = gy * data[b01 + k]! + fy * data[b11 + k]!;
        ids[i] = c;
        a[i] = left;
        slope[i] = right - left;
      }
      let fx = xs.weight[start]!;
      let best = 0;
      for (let i = 1; i < n; i++) if (a[i]! + slope[i]! * fx > a[best]! + slope[best]! * fx) best = i;
      let switchAt = Infinity;
      let next = -1;
      const findSwitch = (from: number) => {
        switchAt = Infinity;
        next = -1;
        for (let i = 0; i < n; i++) {
          const ds = slope[i]! - slope[best]!;
          if (ds <= 0) continue;
          const t = (a[best]! - a[i]!) / ds;
          if (t >= from && (t < switchAt || (t === switchAt && slope[i]! > slope[next]!))) {
            switchAt = t;
            next = i;
          }
        }
      };
      findSwitch(fx);
      for (let x = start; x < end; x++) {
        fx = xs.weight[x]!;
        while (fx > switchAt) {
          best = next;
          findSwitch(switchAt);
        }
        labels[outRow + x] = ids[best]!;
      }
    }
  }
  const classPixels = new Uint32Array(classes);
  for (let p = 0; p < labels.length; p++) classPixels[labels[p]!]! += 1;
  return { labels, classPixels };
}

/**
 * A one-channel mask → labels: bilinear upsampling of the value, then foreground (1) where it
 * exceeds `threshold`. Same result as two-class argmax with a constant background score.
 */
export function labelsFromMask(values: Float32Array, offset: number, height: number, width: number, threshold: number, outWidth: number, outHeight: number): LabelMap {
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const labels = new Uint8Array(outWidth * outHeight);
  let foreground = 0;
  for (let y = 0; y < outHeight; y++) {
    const r0 = offset + ys.low[y]! * width;
    const r1 = offset + ys.high[y]! * width;
    const fy = ys.weight[y]!;
    const outRow = y * outWidth;
    for (let x = 0; x < outWidth; x++) {
      const x0 = xs.low[x]!;
      const x1 = xs.high[x]!;
      const fx = xs.weight[x]!;
      const top = values[r0 + x0]! + (values[r0 + x1]! - values[r0 + x0]!) * fx;
      const bottom = values[r1 + x0]! + (values[r1 + x1]! - values[r1 + x0]!) * fx;
      if (top + (bottom - top) * fy > threshold) {
        labels[outRow + x] = 1;
        foreground += 1;
      }
    }
  }
  return { labels, classPixels: Uint32Array.from([labels.length - foreground, foreground]) };
}

/** An argmaxed label output (any integer type) → labels at frame size, nearest neighbour. */
export function labelsFromIndices(values: ArrayLike<number | bigint>, offset: number, height: number, width: number, classes: number, outWidth: number, outHeight: number): LabelMap {
  const labels = new Uint8Array(outWidth * outHeight);
  const classPixels = new Uint32Array(classes);
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outHeight));
    for (let x = 0; x < outWidth; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outWidth));
      const label = Number(values[offset + sy * width + sx]);
      if (!(label >= 0 && label < classes)) throw new RangeError(`the model output label ${label}, but only ${classes} classes are named: pass --classes with the model's class list`);
      labels[y * outWidth + x] = label;
      classPixels[label]! += 1;
    }
  }
  return { labels, classPixels };
}

/**
 * Probabilities at frame resolution for the CRF: bilinearly upsampled scores through a softmax
 * (HWC, N×C). Scores that are already probabilities go through the softmax too, as DeepLab feeds
 * the CRF from its logits; a one-channel mask becomes [1 − p, p] (p = sigmoid of a logit).
 */
export function probabilitiesFromScores(scores: ScoreMap, outWidth: number, outHeight: number, mask?: { threshold: number }): Float32Array {
  const { data, offset, classes, height, width, layout } = scores;
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const outClasses = mask ? 2 : classes;
  const out = new Float32Array(outWidth * outHeight * outClasses);
  const v = new Float64Array(classes);
  for (let y = 0; y < outHeight; y++) {
    const r0 = ys.low[y]! * width;
    const r1 = ys.high[y]! * width;
    const fy = ys.weight[y]!;
    for (let x = 0; x < outWidth; x++) {
      const x0 = xs.low[x]!;
      const x1 = xs.high[x]!;
      const fx = xs.weight[x]!;
      const p = (y * outWidth + x) * outClasses;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        const k = offset + c * classStride;
        const top = data[k + (r0 + x0) * pixelStride]! * (1 - fx) + data[k + (r0 + x1) * pixelStride]! * fx;
        const bottom = data[k + (r1 + x0) * pixelStride]! * (1 - fx) + data[k + (r1 + x1) * pixelStride]! * fx;
        v[c] = top * (1 - fy) + bottom * fy;
        max = Math.max(max, v[c]!);
      }
      if (mask) {
        const fg = mask.threshold === 0 ? 1 / (1 + Math.exp(-v[0]!)) : Math.min(1, Math.max(0, v[0]!));
        out[p] = 1 - fg;
        out[p + 1] = fg;
        continue;
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += v[c] = Math.exp(v[c]! - max);
      for (let c = 0; c < classes; c++) out[p + c] = v[c]! / sum;
    }
  }
  return out;
}
