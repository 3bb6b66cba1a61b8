// AssemblyScript (compiled by `asc` to dist/crf/lattice.wasm, SIMD enabled): the hot loops
// of permutohedral filtering over linear memory. Values are interleaved with a channel stride
// that is a multiple of 4, so every inner step is one f32x4 multiply-add. Pointers are byte
// offsets the JavaScript side lays out (see latticeWasm.ts).

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
@inline function splatPointRows(fixed: i32, p: i32, d1: i32, rowBytes: usize, offsets: usize, weights: usize, src: usize, lattice: usize): void {
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

/**
 * e^x for four lanes (x ≤ 88; relative error < 1e-7): x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
 * polynomial for e^r and 2^n written into the exponent bits. n is rounded by adding 1.5·2^23 (its
 * integer then sits in the low mantissa bits), and `pmax` clamps: V8 turns f32x4.max (IEEE −0/NaN
 * rules), f32x4.nearest and trunc_sat into long sequences; this exp took 8.6 ns per vector with them,
 * 5.0 without.
 */
// @ts-ignore: decorator
@inline function exp4(x: v128): v128 {
  x = f32x4.pmax(x, f32x4.splat(-87.0));
  const shifted = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504)), f32x4.splat(12582912.0));
  const n = f32x4.sub(shifted, f32x4.splat(12582912.0));
  // ln 2 in two parts, so n·ln2 is exact enough for the subtraction.
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  return f32x4.mul(p, i32x4.shl(i32x4.sub(shifted, i32x4.splat(0x4b400000 - 127)), 23));
}

/** The largest of four lanes, in every lane (pmax: plain maxps; the inputs hold no NaN). */
// @ts-ignore: decorator
@inline function lanesMax(v: v128): v128 {
  const pairs = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.pmax(pairs, v128.shuffle<f32>(pairs, pairs, 1, 0, 3, 2));
}

/** The sum of four lanes, in every lane. */
// @ts-ignore: decorator
@inline function lanesSum(v: v128): v128 {
  const pairs = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.add(pairs, v128.shuffle<f32>(pairs, pairs, 1, 0, 3, 2));
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
export function prepare(points: i32, classes: i32, active: usize, m: i32, stride: i32, probabilities: usize, initialQ: usize, unary: usize, q: usize): void {
  // All labels in play (the list is sorted, so it is 0…classes−1): rows are copied four at a time.
  if (m == classes) return prepareAll(points, classes, stride, probabilities, initialQ, unary, q);
  const rowBytes = <usize>stride << 2;
  for (let p = 0; p < points; p++) {
    const src = probabilities + (<usize>(p * classes) << 2);
    const start = initialQ ? initialQ + (<usize>(p * classes) << 2) : src;
    const u = unary + <usize>p * rowBytes;
    const o = q + <usize>p * rowBytes;
    // The active labels' probabilities gathered into the padded row (padding: p = 1, so −log p = 0)…
    let sum: f32 = 0;
    for (let k = 0; k < m; k++) {
      const c = <usize>load<i32>(active + (<usize>k << 2)) << 2;
      store<f32>(u + (<usize>k << 2), load<f32>(src + c));
      const v = load<f32>(start + c);
      store<f32>(o + (<usize>k << 2), v);
      sum += v;
    }
    for (let k = m; k < stride; k++) {
      store<f32>(u + (<usize>k << 2), 1);
      store<f32>(o + (<usize>k << 2), 0);
    }
    // …then −log of four at a time.
    for (let at: usize = 0; at < rowBytes; at += 16) v128.store(u + at, f32x4.neg(log4(f32x4.pmax(v128.load(u + at), f32x4.splat(1e-8)))));
    const inv: f32 = sum > 0 ? 1 / sum : 0;
    const uniform: f32 = 1 / <f32>m;
    for (let k = 0; k < m; k++) {
      const at = o + (<usize>k << 2);
      store<f32>(at, sum > 0 ? load<f32>(at) * inv : uniform);
    }
  }
}

/** `prepare` when every label is in play; reads up to 12 bytes past the last row (masked). */
function prepareAll(points: i32, classes: i32, stride: i32, probabilities: usize, initialQ: usize, unary: usize, q: usize): void {
  const rowBytes = <usize>stride << 2;
  const tail = rowBytes - 16;
  const valid = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(classes - (stride - 4)));
  const one = f32x4.splat(1);
  const tiny = f32x4.splat(1e-8);
  for (let p = 0; p < points; p++) {
    const src = probabilities + (<usize>(p * classes) << 2);
    const start = initialQ ? initialQ + (<usize>(p * classes) << 2) : src;
    const u = unary + <usize>p * rowBytes;
    const o = q + <usize>p * rowBytes;
    let sum = f32x4.splat(0);
    for (let at: usize = 0; at < rowBytes; at += 16) {
      let probability = v128.load(src + at);
      let begin = v128.load(start + at);
      if (at == tail) {
        probability = v128.bitselect(probability, one, valid);
        begin = v128.and(begin, valid);
      }
      v128.store(u + at, f32x4.neg(log4(f32x4.pmax(probability, tiny))));
      v128.store(o + at, begin);
      sum = f32x4.add(sum, begin);
    }
    const total = f32x4.extract_lane(lanesSum(sum), 0);
    if (total > 0) {
      const inv = f32x4.splat(1 / total);
      for (let at: usize = 0; at < rowBytes; at += 16) v128.store(o + at, f32x4.mul(v128.load(o + at), inv));
    } else {
      for (let k = 0; k < classes; k++) store<f32>(o + (<usize>k << 2), 1 / <f32>classes);
    }
  }
}

/**
 * ln x for four lanes of positive, finite x (relative error ~1e-7): x = 2^e · m with m in
 * [√½, √2), ln m by a degree-9 polynomial in m − 1, e·ln2 added in two parts.
 */
// @ts-ignore: decorator
@inline function log4(x: v128): v128 {
  const bits = i32x4.sub(x, i32x4.splat(0x3f3504f3)); // x / √½ in the exponent: e rounds so that m ≥ √½
  const e = f32x4.convert_i32x4_s(i32x4.shr_s(bits, 23));
  const m = i32x4.add(v128.and(bits, i32x4.splat(0x007fffff)), i32x4.splat(0x3f3504f3));
  const t = f32x4.sub(m, f32x4.splat(1));
  const z = f32x4.mul(t, t);
  let y = f32x4.splat(7.0376836292e-2);
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.1514610310e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(1.1676998740e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.2420140846e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(1.4249322787e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.6668057665e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(2.0000714765e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-2.4999993993e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(3.3333331174e-1));
  y = f32x4.mul(f32x4.mul(y, t), z);
  y = f32x4.add(y, f32x4.mul(e, f32x4.splat(-2.12194440e-4)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(t, y), f32x4.mul(e, f32x4.splat(0.693359375)));
}

/**
 * Checks N×classes probabilities and makes each pixel's sum 1, in place, as TypeScript would (sum
 * and quotient in f64): −1 when all is well; else the first problem in pixel order — the index
 * p·classes + c of a value that is negative, NaN or infinite, or −2 − p for a pixel summing to 0.
 */
export function normaliseProbabilities(points: i32, classes: i32, probabilities: usize): i32 {
  for (let p = 0; p < points; p++) {
    const row = probabilities + (<usize>(p * classes) << 2);
    let sum: f64 = 0;
    for (let c = 0; c < classes; c++) {
      const v = load<f32>(row + (<usize>c << 2));
      if (!(v >= 0 && v < Infinity)) return p * classes + c;
      sum += <f64>v;
    }
    if (sum <= 0) return -2 - p;
    for (let c = 0; c < classes; c++) {
      const at = row + (<usize>c << 2);
      store<f32>(at, <f32>(<f64>load<f32>(at) / sum));
    }
  }
  return -1;
}

/**
 * Writes to every 4 KiB page of [at, at + bytes) (`at` 4-byte aligned): the pages' first-touch faults
 * taken here, on this thread. An atomic add of 0, not a store: the other thread may already be
 * writing results into these pages (a plain store of 0 there corrupted a float now and then).
 */
export function touchPages(at: usize, bytes: usize): void {
  for (let i: usize = 0; i < bytes; i += 4096) atomic.add<u32>(at + i, 0);
}

/** Each label's largest probability over the points: peak[c] = max_p probabilities[p·classes + c]. */
export function peaks(points: i32, classes: i32, probabilities: usize, peak: usize): void {
  memory.fill(peak, 0, <usize>classes << 2);
  for (let p = 0; p < points; p++) {
    const row = probabilities + (<usize>(p * classes) << 2);
    for (let c = 0; c < classes; c++) {
      const v = load<f32>(row + (<usize>c << 2));
      const at = peak + (<usize>c << 2);
      if (v > load<f32>(at)) store<f32>(at, v);
    }
  }
}

/** Active-label Q (stride channels) back to all `classes` labels (others 0), and the argmax labels; only the labels when `full` is 0. */
export function expand(points: i32, m: i32, stride: i32, q: usize, classes: i32, active: usize, full: usize, labels: usize): void {
  if (full == 0) return labelsListed(0, points, m, stride, q, active, labels, 0);
  memory.fill(full, 0, <usize>(points * classes) << 2);
  for (let p = 0; p < points; p++) {
    const row = q + (<usize>(p * stride) << 2);
    const out = full + (<usize>(p * classes) << 2);
    let best = 0;
    let bestValue = load<f32>(row);
    for (let k = 0; k < m; k++) {
      const v = load<f32>(row + (<usize>k << 2));
      store<f32>(out + (<usize>load<i32>(active + (<usize>k << 2)) << 2), v);
      if (v > bestValue) {
        bestValue = v;
        best = k;
      }
    }
    store<u8>(labels + <usize>p, <u8>load<i32>(active + (<usize>best << 2)));
  }
}

// ---- Lattice construction (the same algorithm as PermutohedralLattice.build) ----

/**
 * Finds the key stored at scratch[0..d) in the open-addressing table (slots hold vertex+1, 0 is
 * empty); inserts it as vertex `count` when `create`. Returns the vertex index or −1.
 */
function findKey(key: usize, d: i32, keys: usize, table: usize, mask: u32, count: i32, create: bool, capacity: i32): i32 {
  let h: u32 = 0;
  for (let i = 0; i < d; i++) h = h * 2531011 + <u32>load<i32>(key + (<usize>i << 2));
  let slot = h & mask;
  while (true) {
    const entry = load<i32>(table + (<usize>slot << 2));
    if (entry == 0) {
      if (!create) return -1;
      if (count >= capacity) return -2; // out of room: the caller retries with more
      for (let i = 0; i < d; i++) store<i32>(keys + (<usize>(count * d + i) << 2), load<i32>(key + (<usize>i << 2)));
      store<i32>(table + (<usize>slot << 2), count + 1);
      return count;
    }
    const vertex = entry - 1;
    let same = true;
    for (let i = 0; i < d; i++) {
      if (load<i32>(keys + (<usize>(vertex * d + i) << 2)) != load<i32>(key + (<usize>i << 2))) {
        same = false;
        break;
      }
    }
    if (same) return vertex;
    slot = (slot + 1) & mask;
  }
}

/** Scratch layout for embedPoint (d ≤ 5): f64 elevated[d+1], scale[d], bary[d+2]; i32 rem0[d+1], rank[d+1], key[d]. */
// @ts-ignore: decorator
@inline function scratchScale(scratch: usize, d: i32): usize {
  return scratch + (<usize>(d + 1) << 3);
}

/** Fills the scratch's per-dimension scale of the elevation (once per call of a builder). */
function prepareScratch(d: i32, scratch: usize): void {
  const d1 = d + 1;
  const scale = scratchScale(scratch, d);
  for (let i = 0; i < d; i++) store<f64>(scale + (<usize>i << 3), (<f64>d1 * Math.sqrt(2.0 / 3.0)) / Math.sqrt(<f64>((i + 1) * (i + 2))));
}

/**
 * Point k's simplex in the lattice: its d features (at `feature`) elevated onto the hyperplane,
 * the enclosing simplex's d+1 vertices found or inserted (`count` vertices so far), their indices
 * (vertex+1) and barycentric weights written at offsets/weights[k·(d+1)..]. Returns the new vertex
 * count, or −1 when more than `capacity` are needed.
 */
function embedPoint(k: i32, d: i32, feature: usize, offsets: usize, weights: usize, keys: usize, capacity: i32, table: usize, mask: u32, count: i32, scratch: usize): i32 {
  const d1 = d + 1;
  const elevated = scratch; // f64[d1]
  const scale = scratchScale(scratch, d); // f64[d]
  const bary = scale + (<usize>d << 3); // f64[d+2]
  const rem0 = bary + (<usize>(d + 2) << 3); // i32[d1]
  const rank = rem0 + (<usize>d1 << 2); // i32[d1]
  const key = rank + (<usize>d1 << 2); // i32[d]
  const down: f64 = 1.0 / <f64>d1;
  let sm: f64 = 0;
  for (let j = d; j > 0; j--) {
    const cf = <f64>load<f32>(feature + (<usize>(j - 1) << 2)) * load<f64>(scale + (<usize>(j - 1) << 3));
    store<f64>(elevated + (<usize>j << 3), sm - <f64>j * cf);
    sm += cf;
  }
  store<f64>(elevated, sm);
  let sum = 0;
  for (let i = 0; i <= d; i++) {
    const e = load<f64>(elevated + (<usize>i << 3));
    const v = down * e;
    const up = <i32>Math.ceil(v) * d1;
    const lo = <i32>Math.floor(v) * d1;
    const r = <f64>up - e < e - <f64>lo ? up : lo;
    store<i32>(rem0 + (<usize>i << 2), r);
    sum += r;
  }
  sum = <i32>Math.round(<f64>sum / <f64>d1);
  for (let i = 0; i <= d; i++) store<i32>(rank + (<usize>i << 2), 0);
  // Without branches: the comparisons are data-dependent and mispredict on noisy colours.
  for (let i = 0; i < d; i++) {
    const di = load<f64>(elevated + (<usize>i << 3)) - <f64>load<i32>(rem0 + (<usize>i << 2));
    let rankI = load<i32>(rank + (<usize>i << 2));
    for (let j = i + 1; j <= d; j++) {
      const dj = load<f64>(elevated + (<usize>j << 3)) - <f64>load<i32>(rem0 + (<usize>j << 2));
      const below = <i32>(di < dj);
      rankI += below;
      store<i32>(rank + (<usize>j << 2), load<i32>(rank + (<usize>j << 2)) + 1 - below);
    }
    store<i32>(rank + (<usize>i << 2), rankI);
  }
  if (sum > 0) {
    for (let i = 0; i <= d; i++) {
      const r = load<i32>(rank + (<usize>i << 2));
      if (r >= d1 - sum) {
        store<i32>(rank + (<usize>i << 2), r - (d1 - sum));
        store<i32>(rem0 + (<usize>i << 2), load<i32>(rem0 + (<usize>i << 2)) - d1);
      } else store<i32>(rank + (<usize>i << 2), r + sum);
    }
  } else if (sum < 0) {
    for (let i = 0; i <= d; i++) {
      const r = load<i32>(rank + (<usize>i << 2));
      if (r < -sum) {
        store<i32>(rank + (<usize>i << 2), r + d1 + sum);
        store<i32>(rem0 + (<usize>i << 2), load<i32>(rem0 + (<usize>i << 2)) + d1);
      } else store<i32>(rank + (<usize>i << 2), r + sum);
    }
  }
  for (let i = 0; i < d + 2; i++) store<f64>(bary + (<usize>i << 3), 0);
  for (let i = 0; i <= d; i++) {
    const v = (load<f64>(elevated + (<usize>i << 3)) - <f64>load<i32>(rem0 + (<usize>i << 2))) * down;
    const r = load<i32>(rank + (<usize>i << 2));
    store<f64>(bary + (<usize>(d - r) << 3), load<f64>(bary + (<usize>(d - r) << 3)) + v);
    store<f64>(bary + (<usize>(d1 - r) << 3), load<f64>(bary + (<usize>(d1 - r) << 3)) - v);
  }
  store<f64>(bary, load<f64>(bary) + 1.0 + load<f64>(bary + (<usize>d1 << 3)));
  for (let remainder = 0; remainder <= d; remainder++) {
    for (let i = 0; i < d; i++) {
      const r = load<i32>(rank + (<usize>i << 2));
      // The canonical simplex: coordinate j of vertex `remainder` is remainder, or remainder − (d+1).
      const c = r <= d - remainder ? remainder : remainder - d1;
      store<i32>(key + (<usize>i << 2), load<i32>(rem0 + (<usize>i << 2)) + c);
    }
    const vertex = findKey(key, d, keys, table, mask, count, true, capacity);
    if (vertex == -2) return -1;
    if (vertex == count) count++;
    const at = <usize>(k * d1 + remainder) << 2;
    store<i32>(offsets + at, vertex + 1);
    store<f32>(weights + at, <f32>load<f64>(bary + (<usize>remainder << 3)));
  }
  return count;
}

/**
 * The lattice features of pixels [first, last) of an image `width` wide, as pixelFeatures
 * (denseCrf.ts) computes them: (x/σxy, y/σxy) and, when `image` (rgb24) is not 0, (r, g, b)/σrgb;
 * written from out[first·d].
 */
export function pixelFeatures(first: i32, last: i32, width: i32, image: usize, xy: f64, rgb: f64, out: usize): void {
  const d = image ? 5 : 2;
  for (let p = first; p < last; p++) {
    const y = p / width;
    const at = out + (<usize>(p * d) << 2);
    store<f32>(at, <f32>(<f64>(p - y * width) / xy));
    store<f32>(at, <f32>(<f64>y / xy), 4);
    if (image) for (let c = 0; c < 3; c++) store<f32>(at + (<usize>(2 + c) << 2), <f32>(<f64>load<u8>(image + <usize>(p * 3 + c)) / rgb));
  }
}

/**
 * Splat geometry of every point: offsets (vertex+1) and barycentric weights of its d+1 simplex
 * corners. `scratch` needs (4·(d+1) + d + 2)·8 bytes. Returns the number of vertices, or −1
 * when more than `capacity` vertices are needed.
 */
export function buildLattice(points: i32, d: i32, features: usize, offsets: usize, weights: usize, keys: usize, capacity: i32, table: usize, tableCapacity: i32, scratch: usize): i32 {
  const mask = <u32>tableCapacity - 1;
  memory.fill(table, 0, <usize>tableCapacity << 2);
  prepareScratch(d, scratch);
  let count = 0;
  for (let k = 0; k < points; k++) {
    count = embedPoint(k, d, features + (<usize>(k * d) << 2), offsets, weights, keys, capacity, table, mask, count, scratch);
    if (count < 0) return -1;
  }
  return count;
}

/**
 * Merges a lattice built over the second half of the points (keys `keysB`, `countB` vertices) into
 * the first half's table: each of its vertices is found or inserted there, and `remap[v]` says
 * where vertex v went. Returns the merged vertex count, or −1 when more than `capacity` are needed.
 */
export function mergeKeys(countB: i32, d: i32, keysB: usize, keys: usize, table: usize, tableCapacity: i32, count: i32, capacity: i32, remap: usize): i32 {
  const mask = <u32>tableCapacity - 1;
  for (let v = 0; v < countB; v++) {
    const vertex = findKey(keysB + (<usize>(v * d) << 2), d, keys, table, mask, count, true, capacity);
    if (vertex == -2) return -1;
    if (vertex == count) count++;
    store<i32>(remap + (<usize>v << 2), vertex);
  }
  return count;
}

/** offsets[k] (vertex + 1 in the second half's numbering) → the merged numbering, for k < count. */
export function remapOffsets(offsets: usize, count: i32, remap: usize): void {
  for (let k = 0; k < count; k++) {
    const at = offsets + (<usize>k << 2);
    store<i32>(at, load<i32>(remap + (<usize>(load<i32>(at) - 1) << 2)) + 1);
  }
}

/**
 * Each vertex's two neighbours (+1; 0 when absent) along each of the d+1 directions, for vertices
 * [first, last) (`vertices` is the table's row stride): the hash table is only read, so two threads
 * can each take a range (each with its own `scratch`, 2·d·4 bytes).
 */
export function neighboursOf(first: i32, last: i32, vertices: i32, d: i32, keys: usize, table: usize, tableCapacity: i32, neighbours: usize, scratch: usize): void {
  const d1 = d + 1;
  const mask = <u32>tableCapacity - 1;
  const n1 = scratch;
  const n2 = scratch + (<usize>d << 2);
  for (let j = 0; j <= d; j++) {
    for (let i = first; i < last; i++) {
      for (let k = 0; k < d; k++) {
        const v = load<i32>(keys + (<usize>(i * d + k) << 2));
        store<i32>(n1 + (<usize>k << 2), v - 1);
        store<i32>(n2 + (<usize>k << 2), v + 1);
      }
      if (j < d) {
        store<i32>(n1 + (<usize>j << 2), load<i32>(n1 + (<usize>j << 2)) + d1);
        store<i32>(n2 + (<usize>j << 2), load<i32>(n2 + (<usize>j << 2)) - d1);
      }
      const at = <usize>((j * vertices + i) * 2) << 2;
      store<i32>(neighbours + at, findKey(n1, d, keys, table, mask, 0, false, 0) + 1);
      store<i32>(neighbours + at + 4, findKey(n2, d, keys, table, mask, 0, false, 0) + 1);
    }
  }
}

// ---- Video: a lattice and Q kept from frame to frame, updated where the picture changed ----

/**
 * Re-embeds the listed pixels (whose colour moved) in the bilateral lattice: features (x/σxy,
 * y/σxy, r/σrgb, g/σrgb, b/σrgb) from `image` (rgb24, `width` wide), as pixelFeatures computes
 * them; new vertices are appended after the `count` there are. Returns the new vertex count, or −1
 * when more than `capacity` would be needed (then the caller rebuilds).
 */
export function movePoints(list: usize, n: i32, width: i32, image: usize, xy: f64, rgb: f64, offsets: usize, weights: usize, keys: usize, capacity: i32, table: usize, tableCapacity: i32, count: i32, scratch: usize): i32 {
  const mask = <u32>tableCapacity - 1;
  prepareScratch(5, scratch);
  const feature = scratch + 512;
  for (let i = 0; i < n; i++) {
    const p = load<i32>(list + (<usize>i << 2));
    const y = p / width;
    store<f32>(feature, <f32>(<f64>(p - y * width) / xy));
    store<f32>(feature, <f32>(<f64>y / xy), 4);
    for (let c = 0; c < 3; c++) store<f32>(feature + (<usize>(2 + c) << 2), <f32>(<f64>load<u8>(image + <usize>(p * 3 + c)) / rgb));
    count = embedPoint(p, 5, feature, offsets, weights, keys, capacity, table, mask, count, scratch);
    if (count < 0) return -1;
  }
  return count;
}

/**
 * The neighbour links of vertices added since `first` (up to `last`), both ways: their own (as
 * neighboursOf) and, in each existing neighbour, the link back to them. `vertices` is the row
 * stride of the neighbour table (its capacity).
 */
export function linkVertices(first: i32, last: i32, vertices: i32, d: i32, keys: usize, table: usize, tableCapacity: i32, neighbours: usize, scratch: usize): void {
  neighboursOf(first, last, vertices, d, keys, table, tableCapacity, neighbours, scratch);
  for (let j = 0; j <= d; j++) {
    for (let v = first; v < last; v++) {
      const at = neighbours + (<usize>((j * vertices + v) * 2) << 2);
      const minus = load<i32>(at);
      const plus = load<i32>(at, 4);
      // v is its minus-neighbour's plus-neighbour, and its plus-neighbour's minus-neighbour.
      if (minus > 0) store<i32>(neighbours + (<usize>((j * vertices + minus - 1) * 2) << 2), v + 1, 4);
      if (plus > 0) store<i32>(neighbours + (<usize>((j * vertices + plus - 1) * 2) << 2), v + 1);
    }
  }
}

/**
 * lattice[corners(p)] += sign · weight · values[p] for the listed points; `valueRowBytes` 0 splats
 * the same row (a column of ones) for every point. Used to take a moved point out of a kept splat
 * with its old corners and put it back with its new ones.
 */
export function splatListed(list: usize, n: i32, d1: i32, stride: i32, offsets: usize, weights: usize, values: usize, valueRowBytes: i32, lattice: usize, sign: f32): void {
  const rowBytes = <usize>stride << 2;
  for (let i = 0; i < n; i++) {
    const p = load<i32>(list + (<usize>i << 2));
    const src = values + <usize>p * <usize>valueRowBytes;
    const corners = <usize>(p * d1) << 2;
    for (let r = 0; r < d1; r++) {
      const k = corners + (<usize>r << 2);
      const w = f32x4.splat(sign * load<f32>(weights + k));
      const o = lattice + <usize>load<i32>(offsets + k) * rowBytes;
      for (let at: usize = 0; at < rowBytes; at += 16) v128.store(o + at, f32x4.add(v128.load(o + at), f32x4.mul(w, v128.load(src + at))));
    }
  }
}

/**
 * A kept splat brought up to date for the listed points whose Q changed from `before` to `after`:
 * lattice[corners(p)] += weight · (after[p] − before[p]) in each of the two kernels (d1b 0: one);
 * then before[p] = after[p], and after[p] is left holding the change.
 */
export function splatChange(list: usize, n: i32, d1a: i32, offsetsA: usize, weightsA: usize, latticeA: usize, d1b: i32, offsetsB: usize, weightsB: usize, latticeB: usize, stride: i32, before: usize, after: usize): void {
  const chunks = stride >> 2;
  if (chunks == 1) splatChangeRows(1, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
  else if (chunks == 2) splatChangeRows(2, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
  else if (chunks == 3) splatChangeRows(3, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
  else if (chunks == 4) splatChangeRows(4, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
  else if (chunks == 5) splatChangeRows(5, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
  else if (chunks == 6) splatChangeRows(6, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
  else splatChangeRows(0, list, n, d1a, offsetsA, weightsA, latticeA, d1b, offsetsB, weightsB, latticeB, stride, before, after);
}

// @ts-ignore: decorator
@inline function splatChangeRows(fixed: i32, list: usize, n: i32, d1a: i32, offsetsA: usize, weightsA: usize, latticeA: usize, d1b: i32, offsetsB: usize, weightsB: usize, latticeB: usize, stride: i32, before: usize, after: usize): void {
  const rowBytes = <usize>stride << 2;
  for (let i = 0; i < n; i++) {
    const p = load<i32>(list + (<usize>i << 2));
    const row = <usize>p * rowBytes;
    // The change of the new row against the old, and the new row made the old one.
    const delta = after + row;
    for (let at: usize = 0; at < rowBytes; at += 16) {
      const change = f32x4.sub(v128.load(after + row + at), v128.load(before + row + at));
      v128.store(before + row + at, v128.load(after + row + at));
      v128.store(delta + at, change);
    }
    if (d1a > 0) splatPointRows(fixed, p, d1a, rowBytes, offsetsA, weightsA, delta, latticeA);
    if (d1b > 0) splatPointRows(fixed, p, d1b, rowBytes, offsetsB, weightsB, delta, latticeB);
  }
}

/** scale[p] = 1 / (alpha · Σ weight · ones[corner] + 1e-20) for the listed points: NORMALIZE_AFTER's factor from a blurred column of ones (stride 4). */
export function normaliseListed(list: usize, n: i32, d1: i32, offsets: usize, weights: usize, ones: usize, alpha: f32, scale: usize): void {
  for (let i = 0; i < n; i++) {
    const p = load<i32>(list + (<usize>i << 2));
    let total: f32 = 0;
    for (let r = 0; r < d1; r++) {
      const k = <usize>(p * d1 + r) << 2;
      total += load<f32>(weights + k) * load<f32>(ones + (<usize>load<i32>(offsets + k) << 4));
    }
    store<f32>(scale + (<usize>p << 2), 1 / (alpha * total + 1e-20));
  }
}

/**
 * Which of pixels [first, last) a warm frame recomputes. A pixel is active when its probabilities
 * moved from those it was last computed with (`reference`; total variation above `tv`) in a way
 * that moves its Q (`q`, rows of `stride` over the m labels at `active`; see scoresMoveQ), when its
 * colour moved from the one the lattice holds (`colours`; any channel by more than `rgb`: it is
 * also listed in `moved`), or when its Q is unsure (`top`, its largest Q, below `sure`). `limits`
 * (classes rounded up to 4 floats) holds, per label, the probability above which a label not in
 * play comes into play (+∞ for those in play). Writes both lists; returns the active count, with
 * the moved count at counts[0], the summed total variation (f32) at counts[1] for the scene-cut
 * test, and at counts[2] 1 when a label came into play.
 */
export function selectActive(first: i32, last: i32, classes: i32, probabilities: usize, reference: usize, limits: usize, image: usize, colours: usize, top: usize, tv: f32, rgb: i32, sure: f32, activeList: usize, movedList: usize, counts: usize, q: usize, active: usize, m: i32, stride: i32): i32 {
  let nActive = 0;
  let nMoved = 0;
  let totalVariation: f32 = 0;
  let arrived = i32x4.splat(0);
  const rowBytes = <usize>classes << 2;
  const tail = ((rowBytes + 15) & ~15) - 16;
  const valid = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(classes - (<i32>tail >> 2)));
  const half = f32x4.splat(0.5);
  for (let p = first; p < last; p++) {
    const src = probabilities + <usize>p * rowBytes;
    const ref = reference + <usize>p * rowBytes;
    // Four labels at a time; the lanes past the row (the next pixel's) are masked out.
    let change = f32x4.splat(0);
    for (let at: usize = 0; at <= tail; at += 16) {
      const now = v128.load(src + at);
      let diff = f32x4.abs(f32x4.sub(now, v128.load(ref + at)));
      let over = f32x4.gt(now, v128.load(limits + at));
      if (at == tail) {
        diff = v128.and(diff, valid);
        over = v128.and(over, valid);
      }
      change = f32x4.add(change, diff);
      arrived = v128.or(arrived, over);
    }
    const variation = f32x4.extract_lane(lanesSum(f32x4.mul(change, half)), 0);
    totalVariation += variation;
    const at = <usize>(p * 3);
    const dr = <i32>load<u8>(image + at) - <i32>load<u8>(colours + at);
    const dg = <i32>load<u8>(image + at, 1) - <i32>load<u8>(colours + at, 1);
    const db = <i32>load<u8>(image + at, 2) - <i32>load<u8>(colours + at, 2);
    const moved = dr > rgb || -dr > rgb || dg > rgb || -dg > rgb || db > rgb || -db > rgb;
    if (moved) {
      store<i32>(movedList + (<usize>nMoved << 2), p);
      nMoved++;
    }
    if (moved || load<f32>(top + (<usize>p << 2)) < sure || (variation > tv && scoresMoveQ(src, ref, q + <usize>(p * stride) * 4, active, m, tv))) {
      store<i32>(activeList + (<usize>nActive << 2), p);
      nActive++;
    }
  }
  store<i32>(counts, nMoved);
  store<f32>(counts, totalVariation, 4);
  store<i32>(counts, v128.any_true(arrived) ? 1 : 0, 8);
  return nActive;
}

/**
 * Whether a sure pixel whose scores moved needs recomputing: when the scores now favour another of
 * the m labels in play than its Q does, or when one mean-field step with its neighbours' messages
 * held (Q'_k ∝ Q_k · p_k / ref_k: the unary −log p for −log ref) would move its Q by more than `tv`.
 */
// @ts-ignore: decorator
@inline function scoresMoveQ(now: usize, ref: usize, q: usize, active: usize, m: i32, tv: f32): bool {
  let z: f32 = 0;
  let bestQ: f32 = -1;
  let bestP: f32 = -1;
  let qAt = 0;
  let pAt = 0;
  for (let k = 0; k < m; k++) {
    const c = <usize>load<i32>(active + (<usize>k << 2)) << 2;
    const qk = load<f32>(q + (<usize>k << 2));
    const pk = load<f32>(now + c);
    if (qk > bestQ) { bestQ = qk; qAt = k; }
    if (pk > bestP) { bestP = pk; pAt = k; }
    z += qk * (Mathf.max(pk, 1e-8) / Mathf.max(load<f32>(ref + c), 1e-8));
  }
  if (qAt != pAt) return true;
  const inv: f32 = 1 / z;
  let shift: f32 = 0;
  for (let k = 0; k < m; k++) {
    const c = <usize>load<i32>(active + (<usize>k << 2)) << 2;
    const qk = load<f32>(q + (<usize>k << 2));
    shift += Mathf.abs(qk * (Mathf.max(load<f32>(now + c), 1e-8) / Mathf.max(load<f32>(ref + c), 1e-8)) * inv - qk);
  }
  return shift * 0.5 > tv;
}

/** reference[p] = probabilities[p] (when `probabilities` is not 0) and colours[p] = image[p] (when `image` is not 0) for the listed pixels. */
export function remember(list: usize, n: i32, classes: i32, probabilities: usize, reference: usize, image: usize, colours: usize): void {
  for (let i = 0; i < n; i++) {
    const p = load<i32>(list + (<usize>i << 2));
    if (probabilities) memory.copy(reference + (<usize>(p * classes) << 2), probabilities + (<usize>(p * classes) << 2), <usize>classes << 2);
    if (image) memory.copy(colours + <usize>(p * 3), image + <usize>(p * 3), 3);
  }
}

/**
 * A warm frame's start for the listed pixels: the unary −log p of the m active labels, and Q0 in
 * `start` blended per pixel between the kept Q (where the probabilities held still) and the new
 * probabilities (where they moved): w = exp(−TV(p, reference) / 0.2), Q0 = w·Q + (1 − w)·p.
 */
export function prepareListed(first: i32, last: i32, list: usize, classes: i32, active: usize, m: i32, stride: i32, probabilities: usize, reference: usize, q: usize, unary: usize, start: usize): void {
  const rowBytes = <usize>stride << 2;
  for (let i = first; i < last; i++) {
    const p = load<i32>(list + (<usize>i << 2));
    const src = probabilities + (<usize>(p * classes) << 2);
    const ref = reference + (<usize>(p * classes) << 2);
    const u = unary + <usize>p * rowBytes;
    const o = start + <usize>p * rowBytes;
    const kept = q + <usize>p * rowBytes;
    let change: f32 = 0;
    let sum: f32 = 0;
    for (let k = 0; k < m; k++) {
      const c = <usize>load<i32>(active + (<usize>k << 2)) << 2;
      const v = load<f32>(src + c);
      change += Mathf.abs(v - load<f32>(ref + c));
      store<f32>(u + (<usize>k << 2), v);
      sum += v;
    }
    const w = Mathf.exp(-change * 0.5 / 0.2);
    const inv: f32 = sum > 0 ? 1 / sum : 0;
    for (let k = 0; k < m; k++) {
      const at = <usize>k << 2;
      const fresh = sum > 0 ? load<f32>(u + at) * inv : 1 / <f32>m;
      store<f32>(o + at, w * load<f32>(kept + at) + (1 - w) * fresh);
    }
    for (let k = m; k < stride; k++) {
      store<f32>(u + (<usize>k << 2), 1);
      store<f32>(o + (<usize>k << 2), 0);
    }
    for (let at: usize = 0; at < rowBytes; at += 16) v128.store(u + at, f32x4.neg(log4(f32x4.pmax(v128.load(u + at), f32x4.splat(1e-8)))));
  }
}

/** labels[p] = active[argmax_k q[p][k]] and (when `top` is not 0) top[p] = max_k q[p][k] for the listed pixels, or all n when `list` is 0. */
export function labelsListed(list: usize, n: i32, m: i32, stride: i32, q: usize, active: usize, labels: usize, top: usize): void {
  for (let i = 0; i < n; i++) {
    const p = list ? load<i32>(list + (<usize>i << 2)) : i;
    const row = q + (<usize>(p * stride) << 2);
    let best = 0;
    let bestValue = load<f32>(row);
    for (let k = 1; k < m; k++) {
      const v = load<f32>(row + (<usize>k << 2));
      if (v > bestValue) {
        bestValue = v;
        best = k;
      }
    }
    store<u8>(labels + <usize>p, <u8>load<i32>(active + (<usize>best << 2)));
    if (top) store<f32>(top + (<usize>p << 2), bestValue);
  }
}
