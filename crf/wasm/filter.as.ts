// Permutohedral filtering over linear memory: splat, blur along each lattice direction, and
// slice + mean-field update. Rows interleave channels with a stride that is a multiple of 4, so every
// inner step is one f32x4 multiply-add.
import { exp4, lanesMax, lanesSum } from './lanes.as';

/**
 * Splat: lattice[offset] += weight · values[point] for every point's d+1 corners, the lattice zeroed
 * first (vertex slot 0 included). A scatter in point order: the values are read once, in order, and
 * neighbouring points mostly share vertices, so the read-modify-writes stay in cache. (A gather by
 * vertex reads the values of a bilateral vertex's points from all over the image: 1.5× slower.)
 */
export function splat(points: i32, d1: i32, stride: i32, offsets: usize, weights: usize, values: usize, lattice: usize, latticeFloats: i32): void {
  memory.fill(lattice, 0, <usize>latticeFloats << 2);
  // A copy of the loop per row width up to 24 channels: the chunk count folds to a constant (×1.3).
  const chunks = stride >> 2;
  if (chunks == 1) splatRows(1, points, d1, stride, offsets, weights, values, lattice);
  else if (chunks == 2) splatRows(2, points, d1, stride, offsets, weights, values, lattice);
  else if (chunks == 3) splatRows(3, points, d1, stride, offsets, weights, values, lattice);
  else if (chunks == 4) splatRows(4, points, d1, stride, offsets, weights, values, lattice);
  else if (chunks == 5) splatRows(5, points, d1, stride, offsets, weights, values, lattice);
  else if (chunks == 6) splatRows(6, points, d1, stride, offsets, weights, values, lattice);
  else splatRows(0, points, d1, stride, offsets, weights, values, lattice);
}

/** The splat loop; `fixed` is the row's chunk count when it is at most 6 (a constant after inlining), else 0. */
// @ts-ignore: decorator
@inline function splatRows(fixed: i32, points: i32, d1: i32, stride: i32, offsets: usize, weights: usize, values: usize, lattice: usize): void {
  const rowBytes = <usize>stride << 2;
  for (let p = 0; p < points; p++) splatPointRows(fixed, p, d1, rowBytes, offsets, weights, values + <usize>p * rowBytes, lattice);
}

/** Adds point p's row (at `src`) into the lattice at its d+1 corners. */
// @ts-ignore: decorator
@inline export function splatPointRows(fixed: i32, p: i32, d1: i32, rowBytes: usize, offsets: usize, weights: usize, src: usize, lattice: usize): void {
  const corners = <usize>(p * d1) << 2;
  // Up to six vectors (24 channels) of the point's values in registers per pass over its corners.
  for (let block: usize = 0; block < rowBytes; block += 96) {
    const chunks = fixed > 0 ? fixed : <i32>Math.min(6, (rowBytes - block) >> 4);
    const at = src + block;
    const zero = f32x4.splat(0);
    const q0 = v128.load(at);
    const q1 = chunks > 1 ? v128.load(at, 16) : zero;
    const q2 = chunks > 2 ? v128.load(at, 32) : zero;
    const q3 = chunks > 3 ? v128.load(at, 48) : zero;
    const q4 = chunks > 4 ? v128.load(at, 64) : zero;
    const q5 = chunks > 5 ? v128.load(at, 80) : zero;
    for (let r = 0; r < d1; r++) {
      const k = corners + (<usize>r << 2);
      const w = f32x4.splat(load<f32>(weights + k));
      const o = lattice + <usize>load<i32>(offsets + k) * rowBytes + block;
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(w, q0)));
      if (chunks > 1) v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(w, q1)), 16);
      if (chunks > 2) v128.store(o, f32x4.add(v128.load(o, 32), f32x4.mul(w, q2)), 32);
      if (chunks > 3) v128.store(o, f32x4.add(v128.load(o, 48), f32x4.mul(w, q3)), 48);
      if (chunks > 4) v128.store(o, f32x4.add(v128.load(o, 64), f32x4.mul(w, q4)), 64);
      if (chunks > 5) v128.store(o, f32x4.add(v128.load(o, 80), f32x4.mul(w, q5)), 80);
    }
  }
}

/**
 * The splat of a column of ones (rows of 4 floats, lane 0): the lattice zeroed, then each point's
 * barycentric weights added at its corners — a kernel's normalisation, without a values buffer.
 */
export function splatOnes(points: i32, d1: i32, offsets: usize, weights: usize, lattice: usize, latticeFloats: i32): void {
  memory.fill(lattice, 0, <usize>latticeFloats << 2);
  const corners = points * d1;
  for (let k = 0; k < corners; k++) {
    const at = <usize>k << 2;
    const o = lattice + (<usize>load<i32>(offsets + at) << 4);
    store<f32>(o, load<f32>(o) + load<f32>(weights + at));
  }
}

/**
 * scale[p] = 1 / (Σ alpha·weight · ones[corner] + 1e-20) for points [first, last): NORMALIZE_AFTER's
 * factor from a blurred column of ones (rows of 4 floats), the sum in f32 as `slice` makes it and
 * the reciprocal in f64.
 */
export function normaliseAll(first: i32, last: i32, d1: i32, offsets: usize, weights: usize, ones: usize, alpha: f32, scale: usize): void {
  for (let p = first; p < last; p++) {
    let total: f32 = 0;
    for (let r = 0; r < d1; r++) {
      const k = <usize>(p * d1 + r) << 2;
      total += (load<f32>(weights + k) * alpha) * load<f32>(ones + (<usize>load<i32>(offsets + k) << 4));
    }
    store<f32>(scale + (<usize>p << 2), <f32>(1.0 / (<f64>total + 1e-20)));
  }
}

/** dst[i] += src[i] for `floats` floats (a multiple of 4): two threads' splats summed. */
export function addInto(dst: usize, src: usize, floats: i32): void {
  for (let i = 0; i < floats; i += 4) {
    const at = <usize>i << 2;
    v128.store(dst + at, f32x4.add(v128.load(dst + at), v128.load(src + at)));
  }
}

/**
 * One blur step along lattice direction j for vertices [first, last): to[i] = from[i] + ½(from[left] +
 * from[right]). Vertex slot 0 is the "no neighbour" slot: kept zero, never written. Separate ranges
 * can run on separate threads over a shared memory.
 */
export function blurDirection(j: i32, first: i32, last: i32, vertices: i32, stride: i32, neighbours: usize, from: usize, to: usize): void {
  const half = f32x4.splat(0.5);
  for (let i = first; i < last; i++) {
    const n = neighbours + (<usize>((j * vertices + i) * 2) << 2);
    const o = <usize>((i + 1) * stride) << 2;
    const l = <usize>(load<i32>(n) * stride) << 2;
    const r = <usize>(load<i32>(n + 4) * stride) << 2;
    for (let c = 0; c < stride; c += 4) {
      const at = <usize>c << 2;
      const sum = f32x4.add(v128.load(from + l + at), v128.load(from + r + at));
      v128.store(to + o + at, f32x4.add(v128.load(from + o + at), f32x4.mul(half, sum)));
    }
  }
}

/** Bytes of one kernel's description for `sliceUpdate`: offsets, weights, d+1, blurred lattice, scale (i32 each), coefficient (f32). */
const KERNEL_BYTES: usize = 24;

/**
 * The slices of up to two blurred lattices and the mean-field update in one pass over pixels
 * [first, last) (or, with `list`, the pixels list[first..last)): next = softmax(−unary + Σ_k coef_k · scale_k[p] · slice_k(p)) over `channels`
 * labels (padding lanes of `stride` come out 0). The messages stay in registers: no filtered
 * buffers are written and read back. `kernels` holds `count` descriptions (KERNEL_BYTES each);
 * coef is the kernel weight times the slice's 1/(1 + 2^−d).
 */
export function sliceUpdate(first: i32, last: i32, list: usize, channels: i32, stride: i32, unary: usize, next: usize, kernels: usize, count: i32): void {
  // A copy of the loop per row width up to 24 channels: the chunk count folds to a constant (×1.3).
  const chunks = stride >> 2;
  if (chunks == 1) sliceUpdateRows(1, first, last, list, channels, stride, unary, next, kernels, count);
  else if (chunks == 2) sliceUpdateRows(2, first, last, list, channels, stride, unary, next, kernels, count);
  else if (chunks == 3) sliceUpdateRows(3, first, last, list, channels, stride, unary, next, kernels, count);
  else if (chunks == 4) sliceUpdateRows(4, first, last, list, channels, stride, unary, next, kernels, count);
  else if (chunks == 5) sliceUpdateRows(5, first, last, list, channels, stride, unary, next, kernels, count);
  else if (chunks == 6) sliceUpdateRows(6, first, last, list, channels, stride, unary, next, kernels, count);
  else sliceUpdateRows(0, first, last, list, channels, stride, unary, next, kernels, count);
}

/** The sliceUpdate loop; `fixed` is the row's chunk count when it is at most 6 (a constant after inlining), else 0. */
// @ts-ignore: decorator
@inline function sliceUpdateRows(fixed: i32, first: i32, last: i32, list: usize, channels: i32, stride: i32, unary: usize, next: usize, kernels: usize, count: i32): void {
  const rowBytes = <usize>stride << 2;
  const k1 = kernels + KERNEL_BYTES;
  const offsetsA = <usize>load<i32>(kernels), weightsA = <usize>load<i32>(kernels, 4), d1a = count > 0 ? load<i32>(kernels, 8) : 0;
  const latticeA = <usize>load<i32>(kernels, 12), scaleA = <usize>load<i32>(kernels, 16), coefA = load<f32>(kernels, 20);
  const offsetsB = <usize>load<i32>(k1), weightsB = <usize>load<i32>(k1, 4), d1b = count > 1 ? load<i32>(k1, 8) : 0;
  const latticeB = <usize>load<i32>(k1, 12), scaleB = <usize>load<i32>(k1, 16), coefB = load<f32>(k1, 20);
  const tail = rowBytes - 16;
  const valid = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(channels - (stride - 4)));
  const none = f32x4.splat(-Infinity);
  for (let i = first; i < last; i++) {
    const p = list ? load<i32>(list + (<usize>i << 2)) : i;
    const row = <usize>p * rowBytes;
    const a = count > 0 ? coefA * load<f32>(scaleA + (<usize>p << 2)) : 0;
    const b = count > 1 ? coefB * load<f32>(scaleB + (<usize>p << 2)) : 0;
    const cornersA = <usize>(p * d1a) << 2;
    const cornersB = <usize>(p * d1b) << 2;
    let top = none;
    // The messages, up to six vectors (24 channels) in registers per pass over the corners.
    for (let block: usize = 0; block < rowBytes; block += 96) {
      const chunks = fixed > 0 ? fixed : <i32>Math.min(6, (rowBytes - block) >> 4);
      const u = unary + row + block;
      let a0 = f32x4.neg(v128.load(u)), a1 = none, a2 = none, a3 = none, a4 = none, a5 = none;
      if (chunks > 1) a1 = f32x4.neg(v128.load(u, 16));
      if (chunks > 2) a2 = f32x4.neg(v128.load(u, 32));
      if (chunks > 3) a3 = f32x4.neg(v128.load(u, 48));
      if (chunks > 4) a4 = f32x4.neg(v128.load(u, 64));
      if (chunks > 5) a5 = f32x4.neg(v128.load(u, 80));
      // Each kernel's corners (the kernel chosen once per pass, not per corner).
      for (let kernel = 0; kernel < 2; kernel++) {
        const d1 = kernel == 0 ? d1a : d1b;
        const corners = kernel == 0 ? cornersA : cornersB;
        const offsets = kernel == 0 ? offsetsA : offsetsB;
        const weights = kernel == 0 ? weightsA : weightsB;
        const lattice = kernel == 0 ? latticeA : latticeB;
        const factor = kernel == 0 ? a : b;
        for (let r = 0; r < d1; r++) {
          const k = corners + (<usize>r << 2);
          const w = f32x4.splat(load<f32>(weights + k) * factor);
          const src = lattice + <usize>load<i32>(offsets + k) * rowBytes + block;
          a0 = f32x4.add(a0, f32x4.mul(w, v128.load(src)));
          if (chunks > 1) a1 = f32x4.add(a1, f32x4.mul(w, v128.load(src, 16)));
          if (chunks > 2) a2 = f32x4.add(a2, f32x4.mul(w, v128.load(src, 32)));
          if (chunks > 3) a3 = f32x4.add(a3, f32x4.mul(w, v128.load(src, 48)));
          if (chunks > 4) a4 = f32x4.add(a4, f32x4.mul(w, v128.load(src, 64)));
          if (chunks > 5) a5 = f32x4.add(a5, f32x4.mul(w, v128.load(src, 80)));
        }
      }
      const out = next + row + block;
      // The last vector of the row holds the padding lanes: −∞ there, so they come out 0.
      const last = block + (<usize>(chunks - 1) << 4) == tail;
      if (last) {
        if (chunks == 1) a0 = v128.bitselect(a0, none, valid);
        else if (chunks == 2) a1 = v128.bitselect(a1, none, valid);
        else if (chunks == 3) a2 = v128.bitselect(a2, none, valid);
        else if (chunks == 4) a3 = v128.bitselect(a3, none, valid);
        else if (chunks == 5) a4 = v128.bitselect(a4, none, valid);
        else a5 = v128.bitselect(a5, none, valid);
      }
      if (rowBytes <= 96) {
        // One block holds the whole row (≤ 24 labels): the softmax in registers, one store.
        const max = lanesMax(f32x4.pmax(f32x4.pmax(f32x4.pmax(a0, a1), f32x4.pmax(a2, a3)), f32x4.pmax(a4, a5)));
        a0 = exp4(f32x4.sub(a0, max));
        a1 = exp4(f32x4.sub(a1, max));
        a2 = exp4(f32x4.sub(a2, max));
        a3 = exp4(f32x4.sub(a3, max));
        a4 = exp4(f32x4.sub(a4, max));
        a5 = exp4(f32x4.sub(a5, max));
        // Lanes past the row (unused chunks) and padding lanes are zeroed.
        const zero = f32x4.splat(0);
        if (chunks == 1) a0 = v128.and(a0, valid);
        if (chunks < 2) a1 = zero;
        else if (chunks == 2) a1 = v128.and(a1, valid);
        if (chunks < 3) a2 = zero;
        else if (chunks == 3) a2 = v128.and(a2, valid);
        if (chunks < 4) a3 = zero;
        else if (chunks == 4) a3 = v128.and(a3, valid);
        if (chunks < 5) a4 = zero;
        else if (chunks == 5) a4 = v128.and(a4, valid);
        if (chunks < 6) a5 = zero;
        else a5 = v128.and(a5, valid);
        const inv = f32x4.div(f32x4.splat(1), lanesSum(f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(a4, a5))));
        v128.store(out, f32x4.mul(a0, inv));
        if (chunks > 1) v128.store(out, f32x4.mul(a1, inv), 16);
        if (chunks > 2) v128.store(out, f32x4.mul(a2, inv), 32);
        if (chunks > 3) v128.store(out, f32x4.mul(a3, inv), 48);
        if (chunks > 4) v128.store(out, f32x4.mul(a4, inv), 64);
        if (chunks > 5) v128.store(out, f32x4.mul(a5, inv), 80);
        continue;
      }
      v128.store(out, a0);
      top = f32x4.pmax(top, a0);
      if (chunks > 1) { v128.store(out, a1, 16); top = f32x4.pmax(top, a1); }
      if (chunks > 2) { v128.store(out, a2, 32); top = f32x4.pmax(top, a2); }
      if (chunks > 3) { v128.store(out, a3, 48); top = f32x4.pmax(top, a3); }
      if (chunks > 4) { v128.store(out, a4, 64); top = f32x4.pmax(top, a4); }
      if (chunks > 5) { v128.store(out, a5, 80); top = f32x4.pmax(top, a5); }
    }
    if (rowBytes <= 96) continue;
    const max = lanesMax(top);
    let sum = f32x4.splat(0);
    for (let at: usize = 0; at < rowBytes; at += 16) {
      let e = exp4(f32x4.sub(v128.load(next + row + at), max));
      if (at == tail) e = v128.and(e, valid);
      v128.store(next + row + at, e);
      sum = f32x4.add(sum, e);
    }
    const inv = f32x4.div(f32x4.splat(1), lanesSum(sum));
    for (let at: usize = 0; at < rowBytes; at += 16) v128.store(next + row + at, f32x4.mul(v128.load(next + row + at), inv));
  }
}

/**
 * The unary −log p and the starting Q (the probabilities, or `initialQ` when not 0) of the `m`
 * active labels, padded to `stride` channels (padding 0), Q normalised per pixel (uniform where it
 * sums to 0). `probabilities` and `initialQ` are N×classes; `active` lists the m label indices.
 */
