/**
 * Sliding-window inference: a frame larger than the model's input is cut into overlapping windows,
 * each seen at about the model's native resolution (a pedestrian 60 px tall stays 60 px, instead of
 * 25 after squeezing the whole frame into 257×257); the windows' scores are blended where they
 * overlap — weights falling off towards each window's edge — onto one grid, then upsampled and
 * argmaxed once like a single output.
 *
 *   tileWindows(768, 576, { cols: 4, rows: 3 }, 0.25) → 12 windows of 236×230 px, 25% overlap
 *   blendWindows([{ scores, window }, …]) → ScoreMap (NHWC) over the whole frame
 */
import type { FrameWindow } from '../core/frames.js';
import type { ScoreMap } from './postprocess.js';

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

/**
 * The windows' scores blended onto one grid over the whole frame, at the windows' own output
 * resolution: each window's score map is laid on the grid as it is (its origin rounded to the nearest
 * grid point, so never resampled), and each grid point is the tent-weighted mean of the windows
 * covering it. The windows form a grid, so the weights' sum is a product of two sums along the axes,
 * and each axis' tents are normalised once up front. The grid spans the frame; labels are upsampled
 * from it like a single output's. `reuse`: a buffer from the previous frame to write into (no fresh
 * 40 MB to fault in per frame).
 */
export function blendWindows(
  maps: readonly { readonly scores: ScoreMap; readonly window: FrameWindow }[],
  reuse?: Float32Array,
): ScoreMap {
  const first = maps[0]!.scores;
  const { classes, width: sw, height: sh } = first;
  // Grid points per frame pixel: the windows share one size and one output size.
  const scaleX = sw / maps[0]!.window.width;
  const scaleY = sh / maps[0]!.window.height;
  const originsX = maps.map(({ window }) => Math.round(window.x * scaleX));
  const originsY = maps.map(({ window }) => Math.round(window.y * scaleY));
  const width = Math.max(...originsX) + sw;
  const height = Math.max(...originsY) + sh;
  const size = classes * width * height;
  const sum = reuse && reuse.length >= size ? reuse.subarray(0, size).fill(0) : new Float32Array(size);
  const normalX = normalisedTents([...new Set(originsX)], sw, width);
  const normalY = normalisedTents([...new Set(originsY)], sh, height);
  for (let i = 0; i < maps.length; i++) {
    const gx0 = originsX[i]!;
    const gy0 = originsY[i]!;
    accumulateWindow(maps[i]!.scores, gx0, gy0, width, normalX.get(gx0)!, normalY.get(gy0)!, sum);
  }
  return { data: sum, offset: 0, classes, height, width, layout: 'NHWC' };
}

/** Per window origin along an axis: its tent over its `length` points divided by all windows' tents there (they sum to 1 at every point). */
function normalisedTents(origins: readonly number[], length: number, extent: number): Map<number, Float32Array> {
  const tents = Float32Array.from({ length }, (_, i) => tent((i + 0.5) / length));
  const total = new Float32Array(extent);
  for (const origin of origins) for (let i = 0; i < length; i++) total[origin + i]! += tents[i]!;
  return new Map(origins.map((origin) => [origin, tents.map((t, i) => t / total[origin + i]!)]));
}

/** Adds one window's weighted scores into the grid (NHWC) at (gx0, gy0). */
function accumulateWindow(
  scores: ScoreMap,
  gx0: number,
  gy0: number,
  gridWidth: number,
  wx: Float32Array,
  wy: Float32Array,
  sum: Float32Array,
): void {
  const { data, offset, classes, height: sh, width: sw, layout } = scores;
  // NHWC (TensorFlow's exports) reads each pixel's classes in a row; NCHW strides by a plane.
  const classStride = layout === 'NCHW' ? sh * sw : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  for (let y = 0; y < sh; y++) {
    const row = (gy0 + y) * gridWidth + gx0;
    for (let x = 0; x < sw; x++) {
      const w = wx[x]! * wy[y]!;
      const out = (row + x) * classes;
      const from = offset + (y * sw + x) * pixelStride;
      if (classStride === 1) for (let c = 0; c < classes; c++) sum[out + c]! += w * data[from + c]!;
      else for (let c = 0; c < classes; c++) sum[out + c]! += w * data[from + c * classStride]!;
    }
  }
}
