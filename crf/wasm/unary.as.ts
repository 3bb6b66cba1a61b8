// The unary (−log p), the starting Q, probabilities checked and normalised, and Q expanded back
// to labels.
import { lanesSum, log4 } from './lanes.as';
import { labelsListed } from './video.as';

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

