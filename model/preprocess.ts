/**
 * Frame → model input: bilinear resize (half-pixel centres, as TF and PyTorch resize) and
 * per-channel normalisation, written straight into the model's layout.
 *
 *   rgb24 HWC Uint8Array (W×H)  →  Float32Array [3, h, w] (NCHW) or [h, w, 3] (NHWC)
 *   value = (pixel / 255 − mean[c]) / std[c]
 */
import { type AxisTaps, cachedTaps } from '../core/bilinearTaps.js';
import type { FrameWindow, ModelInput, TensorLayout } from '../core/frames.js';
import { imageNative, planar, tapArguments } from './imageNative.js';
import { takeInputBuffer } from './inputBuffers.js';

export type Layout = TensorLayout;

export interface Normalization {
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

type Affine = readonly [number, number, number, number, number, number];

/**
 * /255, −mean and /std folded into one multiply-add per channel: [scale0, scale1, scale2, shift0,
 * shift1, shift2], the same doubles for the JavaScript and the native path.
 */
function normalizationAffine({ mean, std }: Normalization): Affine {
  const scale = (c: 0 | 1 | 2) => 1 / (255 * std[c]);
  const shift = (c: 0 | 1 | 2) => -mean[c] / std[c];
  return [scale(0), scale(1), scale(2), shift(0), shift(1), shift(2)];
}

/**
 * Native where `npm run build:native` built model/native/normalize.c (the same bits; 768×576 →
 * 257×257: 0.45 vs 0.76 ms warm, 0.65 vs 1.25 ms a frame inside `segment`), else
 * preprocessRgbInJavaScript.
 */
export function preprocessRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  layout: Layout,
  norm: Normalization,
  out: Float32Array = new Float32Array(3 * outWidth * outHeight),
): Float32Array {
  const native = imageNative();
  if (!native) return preprocessRgbInJavaScript(rgb, width, height, outWidth, outHeight, layout, norm, out);
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  native.preprocessRgb(
    rgb,
    width,
    height,
    out,
    outWidth,
    outHeight,
    planar(layout),
    ...tapArguments(xs, ys),
    Float64Array.from(normalizationAffine(norm)),
  );
  return out;
}

export function preprocessRgbInJavaScript(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  layout: Layout,
  norm: Normalization,
  out: Float32Array = new Float32Array(3 * outWidth * outHeight),
): Float32Array {
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const [s0, s1, s2, h0, h1, h2] = normalizationAffine(norm);
  const plane = outWidth * outHeight;
  const rowBytes = width * 3;
  // Where channel c of output pixel p goes: NCHW planes, or interleaved NHWC.
  const [o1, o2, step] = layout === 'NCHW' ? [plane, 2 * plane, 1] : [1, 2, 3];
  const { low: xLow, high: xHigh, weight: xWeight } = xs;
  for (let y = 0; y < outHeight; y++) {
    const r0 = ys.low[y]! * rowBytes;
    const r1 = ys.high[y]! * rowBytes;
    const fy = ys.weight[y]!;
    const gy = 1 - fy;
    let q = y * outWidth * step;
    for (let x = 0; x < outWidth; x++, q += step) {
      const a = r0 + xLow[x]! * 3;
      const b = r0 + xHigh[x]! * 3;
      const c = r1 + xLow[x]! * 3;
      const d = r1 + xHigh[x]! * 3;
      const fx = xWeight[x]!;
      const w00 = (1 - fx) * gy;
      const w01 = fx * gy;
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      out[q] = (rgb[a]! * w00 + rgb[b]! * w01 + rgb[c]! * w10 + rgb[d]! * w11) * s0 + h0;
      out[q + o1] = (rgb[a + 1]! * w00 + rgb[b + 1]! * w01 + rgb[c + 1]! * w10 + rgb[d + 1]! * w11) * s1 + h1;
      out[q + o2] = (rgb[a + 2]! * w00 + rgb[b + 2]! * w01 + rgb[c + 2]! * w10 + rgb[d + 2]! * w11) * s2 + h2;
    }
  }
  return out;
}

/** Mirrors a prepared input left-right in place (test-time flip). */
export function mirrorHorizontally<T extends Float32Array | Uint8Array>(
  data: T,
  width: number,
  height: number,
  layout: Layout,
): T {
  const [planes, step] = layout === 'NCHW' ? [3, 1] : [1, 3];
  const rowLength = width * step;
  for (let plane = 0; plane < planes; plane++) {
    for (let y = 0; y < height; y++) {
      const row = plane * width * height + y * rowLength;
      for (let left = 0, right = width - 1; left < right; left++, right--) {
        for (let c = 0; c < step; c++) {
          const a = row + left * step + c;
          const b = row + right * step + c;
          const t = data[a]!;
          data[a] = data[b]!;
          data[b] = t;
        }
      }
    }
  }
  return data;
}

/** One axis's taps in fixed point for the uint8 resize: source offsets times `step`, weights of 11 bits. */
interface FixedTaps {
  readonly low: Int32Array;
  readonly high: Int32Array;
  readonly weight: Int32Array;
}

const WEIGHT_BITS = 11;
const WEIGHT_ONE = 1 << WEIGHT_BITS;
const fixedCache = [new WeakMap<AxisTaps, FixedTaps>(), new WeakMap<AxisTaps, FixedTaps>()] as const;

function fixedTaps(taps: AxisTaps, step: 1 | 3): FixedTaps {
  const cache = fixedCache[step === 1 ? 0 : 1];
  let fixed = cache.get(taps);
  if (!fixed) {
    fixed = {
      low: Int32Array.from(taps.low, (i) => i * step),
      high: Int32Array.from(taps.high, (i) => i * step),
      weight: Int32Array.from(taps.weight, (w) => Math.round(w * WEIGHT_ONE)),
    };
    cache.set(taps, fixed);
  }
  return fixed;
}

/** The taps of a uint8 resize (x offsets in bytes) and the bytes it fills. */
function fixedResize(
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  out: Uint8Array = new Uint8Array(3 * outWidth * outHeight),
): { xs: FixedTaps; ys: FixedTaps; out: Uint8Array } {
  return {
    xs: fixedTaps(cachedTaps(width, outWidth), 3),
    ys: fixedTaps(cachedTaps(height, outHeight), 1),
    out,
  };
}

/**
 * Resized raw pixels for models that take uint8 input (they normalise in the graph): the bilinear
 * resize of `preprocessRgb`, separable and in fixed point (11-bit weights, rounded half up; within
 * one level of the float path). Native where `npm run build:native` built model/native/resize.c
 * (~5× faster: the resize was the largest cost beside inference for the fast int8 models), else the
 * same integers in JavaScript.
 */
export function resizeRgbUint8(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  layout: Layout,
  into?: Uint8Array,
): Uint8Array {
  const native = imageNative();
  if (!native) return resizeRgbUint8InJavaScript(rgb, width, height, outWidth, outHeight, layout, into);
  const { xs, ys, out } = fixedResize(width, height, outWidth, outHeight, into);
  native.resizeRgbUint8(rgb, width, height, out, outWidth, outHeight, planar(layout), ...tapArguments(xs, ys));
  return out;
}

/** `resizeRgbUint8` without the addon: the same arithmetic, the same bytes. */
export function resizeRgbUint8InJavaScript(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  layout: Layout,
  into?: Uint8Array,
): Uint8Array {
  const { xs, ys, out } = fixedResize(width, height, outWidth, outHeight, into);
  const rowLength = outWidth * 3;
  const rowBytes = width * 3;
  const plane = outWidth * outHeight;
  // The two source rows the current output row lies between, interpolated along x once each.
  let upper = new Int32Array(rowLength);
  let lower = new Int32Array(rowLength);
  let upperRow = -1;
  let lowerRow = -1;
  const alongX = (row: number, into: Int32Array) => {
    const base = row * rowBytes;
    for (let x = 0, q = 0; x < outWidth; x++, q += 3) {
      const a = base + xs.low[x]!;
      const b = base + xs.high[x]!;
      const w = xs.weight[x]!;
      const v = WEIGHT_ONE - w;
      into[q] = rgb[a]! * v + rgb[b]! * w;
      into[q + 1] = rgb[a + 1]! * v + rgb[b + 1]! * w;
      into[q + 2] = rgb[a + 2]! * v + rgb[b + 2]! * w;
    }
  };
  const half = 1 << (2 * WEIGHT_BITS - 1);
  const shift = 2 * WEIGHT_BITS;
  for (let y = 0; y < outHeight; y++) {
    const top = ys.low[y]!;
    const bottom = ys.high[y]!;
    if (upperRow !== top) {
      if (lowerRow === top) {
        [upper, lower] = [lower, upper];
        upperRow = top;
        lowerRow = -1;
      } else {
        alongX(top, upper);
        upperRow = top;
      }
    }
    if (lowerRow !== bottom) {
      alongX(bottom, lower);
      lowerRow = bottom;
    }
    const w = ys.weight[y]!;
    const v = WEIGHT_ONE - w;
    if (layout === 'NHWC') {
      for (let i = 0, q = y * rowLength; i < rowLength; i++, q++)
        out[q] = (upper[i]! * v + lower[i]! * w + half) >> shift;
    } else {
      for (let x = 0, i = 0, q = y * outWidth; x < outWidth; x++, i += 3, q++) {
        out[q] = (upper[i]! * v + lower[i]! * w + half) >> shift;
        out[q + plane] = (upper[i + 1]! * v + lower[i + 1]! * w + half) >> shift;
        out[q + 2 * plane] = (upper[i + 2]! * v + lower[i + 2]! * w + half) >> shift;
      }
    }
  }
  return out;
}

/** The pixels of one window of a frame (rgb24, rows not padded). */
export function cropRgb(rgb: Uint8Array, width: number, window: FrameWindow): Uint8Array {
  const out = new Uint8Array(window.width * window.height * 3);
  for (let y = 0; y < window.height; y++) {
    const from = ((window.y + y) * width + window.x) * 3;
    out.set(rgb.subarray(from, from + window.width * 3), y * window.width * 3);
  }
  return out;
}

/** One model input for a frame (or its `spec.window`): resized, normalised (float32) or raw (uint8), mirrored when asked. */
export function prepareModelInput(
  frameRgb: Uint8Array,
  frameWidth: number,
  frameHeight: number,
  spec: { readonly width: number; readonly height: number; readonly flipped: boolean; readonly window?: FrameWindow },
  layout: Layout,
  normalization: Normalization,
  inputType: 'float32' | 'uint8',
): ModelInput {
  const { window } = spec;
  const rgb = window ? cropRgb(frameRgb, frameWidth, window) : frameRgb;
  const [width, height] = window ? [window.width, window.height] : [frameWidth, frameHeight];
  const values = spec.width * spec.height * 3;
  const recycled = takeInputBuffer(inputType === 'uint8' ? values : values * 4);
  const data =
    inputType === 'uint8'
      ? resizeRgbUint8(rgb, width, height, spec.width, spec.height, layout, recycled && new Uint8Array(recycled))
      : preprocessRgb(
          rgb,
          width,
          height,
          spec.width,
          spec.height,
          layout,
          normalization,
          recycled ? new Float32Array(recycled) : undefined,
        );
  return {
    data: spec.flipped ? mirrorHorizontally(data, spec.width, spec.height, layout) : data,
    width: spec.width,
    height: spec.height,
    flipped: spec.flipped,
    ...(window ? { window } : {}),
  };
}
