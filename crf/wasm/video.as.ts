// Video: a lattice and Q kept from frame to frame, updated where the picture changed.
import { lanesSum, log4 } from './lanes.as';
import { embedPoint, neighboursOf, prepareScratch } from './build.as';
import { splatPointRows } from './filter.as';


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

