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
import { type AxisTaps, cachedTaps } from '../core/bilinearTaps.js';
import type { ScoreMap } from '../core/frames.js';
import { imageNative, planar, tapArguments } from './imageNative.js';

export type { ScoreMap } from '../core/frames.js';

/** Output taps of a score map along x and y: its own geometry, whatever the output size. */
export function scoreTaps(
  scores: ScoreMap,
  outWidth: number,
  outHeight: number,
): { readonly xs: AxisTaps; readonly ys: AxisTaps } {
  return {
    xs: cachedTaps(scores.width, outWidth, scores.alignedTo?.width),
    ys: cachedTaps(scores.height, outHeight, scores.alignedTo?.height),
  };
}

/**
 * Scores of the classes not in `shown` pushed far below any other (in place, this map's cells only):
 * they never win a pixel, upsampled or averaged, and their softmax is 0. Finite, so bilinear weights
 * of 0 stay 0.
 *
 *   C×h×w (or h×w×C) scores, shown [0, 15]  →  every other channel at −1e30
 */
export function keepClasses(scores: ScoreMap, shown: readonly number[]): ScoreMap {
  const keep = new Uint8Array(scores.classes);
  for (const c of shown) keep[c] = 1;
  const cells = scores.width * scores.height;
  const { data, offset } = scores;
  for (let c = 0; c < scores.classes; c++) {
    if (keep[c]) continue;
    if (scores.layout === 'NCHW') data.fill(-1e30, offset + c * cells, offset + (c + 1) * cells);
    else for (let p = 0; p < cells; p++) data[offset + p * scores.classes + c] = -1e30;
  }
  return scores;
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
 * The labels whose score comes within `gap` of the best at some low-resolution position: the
 * others never reach a softmax of exp(gap) there (softmax_c ≤ exp(s_c − max s)).
 */
function labelsWithin(scores: ScoreMap, gap: number): Int32Array {
  const { data, offset, classes, height, width, layout } = scores;
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const closest = new Float64Array(classes).fill(-Infinity);
  for (let p = 0; p < height * width; p++) {
    const base = offset + p * pixelStride;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) {
      const v = data[base + c * classStride]!;
      if (v > max) max = v;
    }
    for (let c = 0; c < classes; c++) {
      const d = data[base + c * classStride]! - max;
      if (d > closest[c]!) closest[c] = d;
    }
  }
  return Int32Array.from({ length: classes }, (_, c) => c).filter((c) => closest[c]! >= gap);
}

/**
 * The classes that can still be the argmax somewhere inside one low-resolution cell (corner rows
 * y, y+1 and columns x, x+1, clamped), computed the first time a boundary run meets the cell: a
 * class whose largest corner is below another's smallest corner never wins. Interior cells (all four
 * corners agree) never ask, so real frames pay for their boundaries only. With a negative `margin`,
 * the classes whose score can come within `margin` of the best anywhere in the cell.
 */
class CellCandidates {
  private readonly list: Uint8Array;
  /** Candidates per cell; 255: not computed yet. */
  private readonly count: Uint8Array;
  private readonly lo: Float32Array;
  private readonly hi: Float32Array;

  /** The labels considered at all (default: every one). */
  private readonly labels: Int32Array;

  constructor(
    private readonly scores: ScoreMap,
    private readonly margin = 0,
    labels?: Int32Array,
  ) {
    const cells = scores.height * scores.width;
    this.labels = labels ?? Int32Array.from({ length: scores.classes }, (_, c) => c);
    this.list = new Uint8Array(cells * scores.classes);
    this.count = new Uint8Array(cells).fill(255);
    this.lo = new Float32Array(scores.classes);
    this.hi = new Float32Array(scores.classes);
  }

  /** Fills `list` from `cell * classes` (cell = y·width + x) and returns how many there are. */
  of(y: number, x: number): number {
    const { data, offset, classes, height, width, layout } = this.scores;
    const cell = y * width + x;
    const start = cell * classes;
    const known = this.count[cell]!;
    if (known !== 255) return known;
    const x1 = Math.min(x + 1, width - 1);
    const y1 = Math.min(y + 1, height - 1);
    const classStride = layout === 'NCHW' ? height * width : 1;
    const pixelStride = layout === 'NCHW' ? 1 : classes;
    const b00 = offset + cell * pixelStride;
    const b01 = offset + (y * width + x1) * pixelStride;
    const b10 = offset + (y1 * width + x) * pixelStride;
    const b11 = offset + (y1 * width + x1) * pixelStride;
    const { lo, hi, list, labels } = this;
    const considered = labels.length;
    let floor = -Infinity;
    for (let i = 0; i < considered; i++) {
      const k = labels[i]! * classStride;
      const a = data[b00 + k]!;
      const b = data[b01 + k]!;
      const d = data[b10 + k]!;
      const e = data[b11 + k]!;
      // Comparisons, not Math.min/max of four: this loop runs for every cell of a soft score map.
      const minAB = a < b ? a : b;
      const minDE = d < e ? d : e;
      const maxAB = a < b ? b : a;
      const maxDE = d < e ? e : d;
      const min = minAB < minDE ? minAB : minDE;
      lo[i] = min;
      hi[i] = maxAB < maxDE ? maxDE : maxAB;
      if (min > floor) floor = min;
    }
    let n = 0;
    const bar = floor + this.margin;
    for (let i = 0; i < considered; i++) if (hi[i]! >= bar) list[start + n++] = labels[i]!;
    this.count[cell] = n;
    return n;
  }

  at(index: number): number {
    return this.list[index]!;
  }
}

/** Runs of output columns that share their low-resolution left neighbour: [start, end) per run. */
function columnRuns(low: Int32Array): Int32Array {
  const bounds: number[] = [0];
  for (let x = 1; x < low.length; x++) if (low[x] !== low[x - 1]) bounds.push(x);
  bounds.push(low.length);
  return Int32Array.from(bounds);
}

/**
 * Labels at the size asked from a score map. In C where `npm run build:native` built the image addon
 * (model/native/labels.c: this algorithm step for step, in the same double arithmetic, the same bytes;
 * ~4× faster — a street scene's boundaries cost 3 ms a frame here), else in JavaScript.
 */
export function labelsFromScores(scores: ScoreMap, outWidth: number, outHeight: number): LabelMap {
  const native = imageNative();
  if (!native) return labelsFromScoresInJavaScript(scores, outWidth, outHeight);
  const { data, offset, classes, height, width, layout } = scores;
  if (classes > 256) throw new RangeError(`${classes} classes do not fit an 8-bit label map`);
  const { xs, ys } = scoreTaps(scores, outWidth, outHeight);
  const labels = new Uint8Array(outWidth * outHeight);
  const classPixels = new Uint32Array(classes);
  native.labelsFromScores(
    data,
    offset,
    classes,
    height,
    width,
    planar(layout),
    outWidth,
    outHeight,
    ...tapArguments(xs, ys),
    labels,
    classPixels,
  );
  return { labels, classPixels };
}

/** `labelsFromScores` without the addon. */
export function labelsFromScoresInJavaScript(scores: ScoreMap, outWidth: number, outHeight: number): LabelMap {
  const { data, offset, classes, height, width, layout } = scores;
  if (classes > 256) throw new RangeError(`${classes} classes do not fit an 8-bit label map`);
  const low = lowResArgmax(scores);
  let candidates: CellCandidates | null = null; // made on the first boundary cell
  const { xs, ys } = scoreTaps(scores, outWidth, outHeight);
  const runs = columnRuns(xs.low);
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const labels = new Uint8Array(outWidth * outHeight);
  const classPixels = new Uint32Array(classes);
  // Per candidate of a cell: its score at the run's left (a) and right (b) neighbour column.
  const a = new Float64Array(classes);
  const slope = new Float64Array(classes);
  const ids = new Uint8Array(classes);
  // Output rows between the same two source rows differ only in their boundary runs: the first
  // such row is worked out run by run (interior runs filled, boundary runs remembered); the
  // next ones copy it and redo the boundary runs alone.
  const boundaryRuns = new Int32Array(runs.length);
  let boundaryCount = 0;
  const interiorPixels = new Float64Array(classes);
  let lastY0 = -1;
  let lastY1 = -1;

  /** Along a boundary run y is fixed, so each candidate's score is a line in fx: the label is their upper envelope, walked left to right. */
  const boundaryRun = (r: number, y0: number, y1: number, fy: number, outRow: number) => {
    const start = runs[r]!;
    const end = runs[r + 1]!;
    const x0 = xs.low[start]!;
    const x1 = xs.high[start]!;
    const gy = 1 - fy;
    candidates ??= new CellCandidates(scores);
    const n = candidates.of(y0, x0);
    const first = (y0 * width + x0) * classes;
    const b00 = offset + (y0 * width + x0) * pixelStride;
    const b01 = offset + (y0 * width + x1) * pixelStride;
    const b10 = offset + (y1 * width + x0) * pixelStride;
    const b11 = offset + (y1 * width + x1) * pixelStride;
    for (let i = 0; i < n; i++) {
      const c = candidates.at(first + i);
      const k = c * classStride;
      const left = gy * data[b00 + k]! + fy * data[b10 + k]!;
      const right = gy * data[b01 + k]! + fy * data[b11 + k]!;
      ids[i] = c;
      a[i] = left;
      slope[i] = right - left;
    }
    const fx = xs.weight[start]!;
    let best = 0;
    for (let i = 1; i < n; i++) if (a[i]! + slope[i]! * fx > a[best]! + slope[best]! * fx) best = i;
    let x = start;
    let from = fx;
    // Where (fx) the best line is overtaken next, and by which: no closure, as this runs ~10k times a frame on a street scene.
    for (;;) {
      let switchAt = Infinity;
      let next = -1;
      for (let i = 0; i < n; i++) {
        const ds = slope[i]! - slope[best]!;
        if (ds <= 0) continue;
        const t = (a[best]! - a[i]!) / ds;
        if (t >= from && (t < switchAt || (t === switchAt && slope[i]! > slope[next]!))) {
          switchAt = t;
          next = i;
        }
      }
      const label = ids[best]!;
      let filled = 0;
      for (; x < end && xs.weight[x]! <= switchAt; x++, filled++) labels[outRow + x] = label;
      classPixels[label]! += filled;
      if (x >= end) break;
      best = next;
      from = switchAt;
    }
  };

  for (let y = 0; y < outHeight; y++) {
    const y0 = ys.low[y]!;
    const y1 = ys.high[y]!;
    const fy = ys.weight[y]!;
    const outRow = y * outWidth;
    if (y0 === lastY0 && y1 === lastY1) {
      labels.copyWithin(outRow, outRow - outWidth, outRow);
      for (let c = 0; c < classes; c++) classPixels[c]! += interiorPixels[c]!;
      for (let i = 0; i < boundaryCount; i++) boundaryRun(boundaryRuns[i]!, y0, y1, fy, outRow);
      continue;
    }
    lastY0 = y0;
    lastY1 = y1;
    boundaryCount = 0;
    interiorPixels.fill(0);
    const row0 = y0 * width;
    const row1 = y1 * width;
    for (let r = 0; r + 1 < runs.length; r++) {
      const start = runs[r]!;
      const end = runs[r + 1]!;
      const x0 = xs.low[start]!;
      const x1 = xs.high[start]!;
      const l = low[row0 + x0]!;
      if (low[row0 + x1] === l && low[row1 + x0] === l && low[row1 + x1] === l) {
        // Runs are a few pixels long: a loop beats a call into TypedArray.prototype.fill.
        for (let x = outRow + start, stop = outRow + end; x < stop; x++) labels[x] = l;
        interiorPixels[l]! += end - start;
        continue;
      }
      boundaryRuns[boundaryCount++] = r;
      boundaryRun(r, y0, y1, fy, outRow);
    }
    for (let c = 0; c < classes; c++) classPixels[c]! += interiorPixels[c]!;
  }
  return { labels, classPixels };
}

/** A label whose score is this far (in logits) below the best has probability under 1e-4 there: 0, not computed. */
const OUT_OF_PLAY = Math.log(1e-4);

/**
 * Probabilities for the CRF at the size asked (its own: the frame's times its scale): bilinearly
 * upsampled scores through a softmax (HWC, N×C). Per low-resolution cell only the labels in play are
 * computed — those whose score can come within OUT_OF_PLAY of the best there; softmax_c ≤ exp(s_c −
 * max s), and an interpolated score lies between its corners, so every label left out is below 1e-4
 * and is 0; with `pruneBelow` (the CRF's), so is every label that never comes near it anywhere. Scores that are already probabilities go through the softmax too, as DeepLab feeds the CRF
 * from its logits; a one-channel mask becomes [1 − p, p] (p = sigmoid of a logit).
 */
export function probabilitiesFromScores(
  scores: ScoreMap,
  outWidth: number,
  outHeight: number,
  mask?: { threshold: number },
  options: { readonly pruneBelow?: number } = {},
): Float32Array {
  const { data, offset, classes, height, width, layout } = scores;
  const { xs, ys } = scoreTaps(scores, outWidth, outHeight);
  const runs = columnRuns(xs.low);
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const outClasses = mask ? 2 : classes;
  const out = new Float32Array(outWidth * outHeight * outClasses);
  // Labels the CRF will prune anyway (never reaching `pruneBelow`) are left at 0: a margin of e²
  // keeps those that approach it between the low-resolution points.
  const pruneBelow = options.pruneBelow ?? 0;
  const inPlay = new CellCandidates(
    scores,
    OUT_OF_PLAY,
    !mask && pruneBelow > 0 ? labelsWithin(scores, Math.log(pruneBelow) - 2) : undefined,
  );
  // Per label in play of the current cell: its scores at the four corners.
  const k00 = new Float64Array(classes);
  const k01 = new Float64Array(classes);
  const k10 = new Float64Array(classes);
  const k11 = new Float64Array(classes);
  const ids = new Int32Array(classes);
  const v = new Float64Array(classes);
  for (let y = 0; y < outHeight; y++) {
    const y0 = ys.low[y]!;
    const r0 = y0 * width;
    const r1 = ys.high[y]! * width;
    const fy = ys.weight[y]!;
    for (let r = 0; r + 1 < runs.length; r++) {
      const runStart = runs[r]!;
      const runEnd = runs[r + 1]!;
      const x0 = xs.low[runStart]!;
      const x1 = xs.high[runStart]!;
      const b00 = offset + (r0 + x0) * pixelStride;
      const b01 = offset + (r0 + x1) * pixelStride;
      const b10 = offset + (r1 + x0) * pixelStride;
      const b11 = offset + (r1 + x1) * pixelStride;
      let n = 1;
      if (mask) ids[0] = 0;
      else {
        const count = inPlay.of(y0, x0);
        const start = (y0 * width + x0) * classes;
        n = count;
        for (let i = 0; i < n; i++) ids[i] = inPlay.at(start + i);
      }
      for (let i = 0; i < n; i++) {
        const k = ids[i]! * classStride;
        k00[i] = data[b00 + k]!;
        k01[i] = data[b01 + k]!;
        k10[i] = data[b10 + k]!;
        k11[i] = data[b11 + k]!;
      }
      for (let x = runStart; x < runEnd; x++) {
        const fx = xs.weight[x]!;
        const p = (y * outWidth + x) * outClasses;
        let max = -Infinity;
        for (let i = 0; i < n; i++) {
          const top = k00[i]! + (k01[i]! - k00[i]!) * fx;
          const bottom = k10[i]! + (k11[i]! - k10[i]!) * fx;
          const value = top + (bottom - top) * fy;
          v[i] = value;
          if (value > max) max = value;
        }
        if (mask) {
          const fg = mask.threshold === 0 ? 1 / (1 + Math.exp(-v[0]!)) : Math.min(1, Math.max(0, v[0]!));
          out[p] = 1 - fg;
          out[p + 1] = fg;
          continue;
        }
        let sum = 0;
        for (let i = 0; i < n; i++) sum += v[i] = Math.exp(v[i]! - max);
        const inverse = 1 / sum;
        for (let i = 0; i < n; i++) out[p + ids[i]!] = v[i]! * inverse;
      }
    }
  }
  return out;
}
