/**
 * Sliding-window inference: a frame larger than the model's input is cut into overlapping windows,
 * each seen at about the model's native resolution (a pedestrian 60 px tall stays 60 px, instead of
 * 25 after squeezing the whole frame into 257×257); the windows' scores are blended where they
 * overlap — weights falling off towards each window's edge — onto one grid, then upsampled and
 * argmaxed once like a single output.
 *
 *   tileWindows(768, 576, { cols: 4, rows: 3 }, 0.25) → 12 windows of 236×230 px, 25% overlap
 *   blendWindows([{ scores, window, input }, …], 768, 576) → ScoreMap (NHWC) over the whole frame
 */
import type { FrameWindow, ScoreMap, WindowScores } from '../core/frames.js';

export type TileGrid = 'auto' | { readonly cols: number; readonly rows: number };

/** Windows per axis so each is about `native` pixels with `overlap` shared between neighbours (1 when the frame fits). */
function countFor(frame: number, native: number, overlap: number): number {
  if (frame <= native) return 1;
  return Math.ceil((frame / native - overlap) / (1 - overlap));
}

/** The grid `auto` chooses: windows about the model's input size, `overlap` shared; 1×1 when the frame is no larger than the model's input. */
export function autoGrid(
  frameWidth: number,
  frameHeight: number,
  modelWidth: number,
  modelHeight: number,
  overlap: number,
): { cols: number; rows: number } {
  return { cols: countFor(frameWidth, modelWidth, overlap), rows: countFor(frameHeight, modelHeight, overlap) };
}

/** Start and length of `count` windows along an axis of `size` pixels, neighbours sharing `overlap` of a window. */
function axisWindows(size: number, count: number, overlap: number): { start: number; length: number }[] {
  if (count === 1) return [{ start: 0, length: size }];
  const length = Math.min(size, Math.ceil(size / (count - (count - 1) * overlap)));
  const step = (size - length) / (count - 1);
  return Array.from({ length: count }, (_, i) => ({ start: Math.round(i * step), length }));
}

export function tileWindows(
  frameWidth: number,
  frameHeight: number,
  grid: { cols: number; rows: number },
  overlap: number,
): FrameWindow[] {
  const xs = axisWindows(frameWidth, grid.cols, overlap);
  const ys = axisWindows(frameHeight, grid.rows, overlap);
  return ys.flatMap((y) => xs.map((x) => ({ x: x.start, y: y.start, width: x.length, height: y.length })));
}

/**
 * A window's blending weight along one axis at position t ∈ (0, 1): a tent, highest in the middle,
 * never 0 (a frame's edge is covered by one window only, at its edge).
 */
function tent(t: number): number {
  return Math.max(1e-3, 1 - Math.abs(2 * t - 1));
}

/** Along one axis, the grid points a window covers: each one's score taps and its tent weight. */
interface WindowAxis {
  readonly first: number;
  readonly low: Int32Array;
  readonly high: Int32Array;
  readonly frac: Float32Array;
  readonly weight: Float32Array;
}

/**
 * Grid point g of `points` over `frame` pixels sits at frame coordinate (g + ½)·frame/points − ½
 * (half-pixel); the window [start, start + length) takes the points inside it, resized to `input`
 * pixels (half-pixel) whose scores (`scores` of them) align corners with the input or not.
 */
function windowAxis(
  points: number,
  frame: number,
  start: number,
  length: number,
  input: number,
  scores: number,
  aligned: boolean,
): WindowAxis {
  const step = frame / points;
  const first = Math.max(0, Math.ceil(start / step - 0.5));
  const last = Math.min(points - 1, Math.ceil((start + length) / step - 0.5) - 1);
  const n = Math.max(0, last - first + 1);
  const axis = {
    first,
    low: new Int32Array(n),
    high: new Int32Array(n),
    frac: new Float32Array(n),
    weight: new Float32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const x = (first + i + 0.5) * step - 0.5;
    const u = Math.min(input - 1, Math.max(0, (x - start + 0.5) * (input / length) - 0.5));
    const raw = aligned ? (input > 1 ? (u * (scores - 1)) / (input - 1) : 0) : (u + 0.5) * (scores / input) - 0.5;
    const s = Math.min(scores - 1, Math.max(0, raw));
    const low = Math.floor(s);
    axis.low[i] = low;
    axis.high[i] = Math.min(low + 1, scores - 1);
    axis.frac[i] = s - low;
    axis.weight[i] = tent((x - start + 0.5) / length);
  }
  return axis;
}

/**
 * Blend-grid points per score step of a window: the grid resamples scores that are upsampled again
 * to the frame, and each resampling smooths small objects away — at 2, a pedestrian's pixels agree
 * with a blend at frame resolution to an IoU of 0.97 (0.92 at 1).
 */
const BLEND_DENSITY = 2;

/**
 * The windows' scores blended onto one grid over the whole frame, at twice the windows' own score
 * density (a 33×33 map of a 236-pixel window: a point every 3.6 pixels): each window is sampled
 * (bilinear, in its own geometry: frame → input half-pixel, input → scores aligned or half-pixel)
 * at the grid points inside it, and each point is the tent-weighted mean of the windows covering
 * it. The grid is a half-pixel map of the frame: labels are upsampled from it like a single output.
 */
export function blendWindows(maps: readonly WindowScores[], frameWidth: number, frameHeight: number): ScoreMap {
  const { scores: first, window: firstWindow } = maps[0]!;
  const { classes } = first;
  const width = Math.min(frameWidth, Math.ceil((BLEND_DENSITY * frameWidth * first.width) / firstWindow.width));
  const height = Math.min(frameHeight, Math.ceil((BLEND_DENSITY * frameHeight * first.height) / firstWindow.height));
  const sum = new Float32Array(classes * width * height);
  const total = new Float32Array(width * height);
  for (const { scores, window, input } of maps) {
    const aligned = scores.alignedTo !== undefined;
    const xs = windowAxis(width, frameWidth, window.x, window.width, input.width, scores.width, aligned);
    const ys = windowAxis(height, frameHeight, window.y, window.height, input.height, scores.height, aligned);
    accumulateWindow(scores, xs, ys, width, sum, total);
  }
  for (let p = 0; p < width * height; p++) {
    const w = total[p]!;
    for (let c = 0; c < classes; c++) sum[p * classes + c]! /= w;
  }
  return { data: sum, offset: 0, classes, height, width, layout: 'NHWC' };
}

/** Adds one window's weighted, resampled scores (and its weights) into the grid (NHWC). */
function accumulateWindow(
  scores: ScoreMap,
  xs: WindowAxis,
  ys: WindowAxis,
  gridWidth: number,
  sum: Float32Array,
  total: Float32Array,
): void {
  const { data, offset, classes, height: sh, width: sw, layout } = scores;
  // NHWC (TensorFlow's exports) reads each pixel's classes in a row; NCHW strides by a plane.
  const classStride = layout === 'NCHW' ? sh * sw : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  for (let j = 0; j < ys.low.length; j++) {
    const r0 = offset + ys.low[j]! * sw * pixelStride;
    const r1 = offset + ys.high[j]! * sw * pixelStride;
    const fy = ys.frac[j]!;
    const row = (ys.first + j) * gridWidth + xs.first;
    for (let i = 0; i < xs.low.length; i++) {
      const w = xs.weight[i]! * ys.weight[j]!;
      const fx = xs.frac[i]!;
      const w00 = w * (1 - fx) * (1 - fy);
      const w01 = w * fx * (1 - fy);
      const w10 = w * (1 - fx) * fy;
      const w11 = w * fx * fy;
      const a = r0 + xs.low[i]! * pixelStride;
      const b = r0 + xs.high[i]! * pixelStride;
      const d = r1 + xs.low[i]! * pixelStride;
      const e = r1 + xs.high[i]! * pixelStride;
      const point = row + i;
      total[point]! += w;
      const out = point * classes;
      for (let c = 0; c < classes; c++) {
        const k = c * classStride;
        sum[out + c]! += w00 * data[a + k]! + w01 * data[b + k]! + w10 * data[d + k]! + w11 * data[e + k]!;
      }
    }
  }
}
