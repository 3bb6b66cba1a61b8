// AssemblyScript (compiled by `asc` to dist/model/crf/lattice.wasm, SIMD enabled): the hot loops
// of permutohedral filtering over linear memory. Values are interleaved with a channel stride
// that is a multiple of 4, so every inner step is one f32x4 multiply-add. Pointers are byte
// offsets the JavaScript side lays out (see latticeWasm.ts).

/** out-of-place splat: lattice[(offset)·stride..] += weight · values[p·stride..], lattice zeroed first. */
export function splat(points: i32, d1: i32, stride: i32, offsets: usize, weights: usize, values: usize, lattice: usize, latticeFloats: i32): void {
  memory.fill(lattice, 0, <usize>latticeFloats << 2);
  for (let p = 0; p < points; p++) {
    const src = values + (<usize>(p * stride) << 2);
    for (let r = 0; r < d1; r++) {
      const k = <usize>(p * d1 + r) << 2;
      const o = lattice + (<usize>(load<i32>(offsets + k) * stride) << 2);
      const w = f32x4.splat(load<f32>(weights + k));
      for (let c = 0; c < stride; c += 4) {
        const at = <usize>c << 2;
        v128.store(o + at, f32x4.add(v128.load(o + at), f32x4.mul(w, v128.load(src + at))));
      }
    }
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

/** dst[i] += src[i] for `floats` floats (a multiple of 4): two threads' splats summed. */
export function addInto(dst: usize, src: usize, floats: i32): void {
  for (let i = 0; i < floats; i += 4) {
    const at = <usize>i << 2;
    v128.store(dst + at, f32x4.add(v128.load(dst + at), v128.load(src + at)));
  }
}

/** out[p] = alpha · Σ_r weight · lattice[offset]. */
export function slice(points: i32, d1: i32, stride: i32, offsets: usize, weights: usize, lattice: usize, out: usize, alpha: f32): void {
  for (let p = 0; p < points; p++) {
    const dst = out + (<usize>(p * stride) << 2);
    for (let c = 0; c < stride; c += 4) v128.store(dst + (<usize>c << 2), f32x4.splat(0));
    for (let r = 0; r < d1; r++) {
      const k = <usize>(p * d1 + r) << 2;
      const o = lattice + (<usize>(load<i32>(offsets + k) * stride) << 2);
      const w = f32x4.splat(load<f32>(weights + k) * alpha);
      for (let c = 0; c < stride; c += 4) {
        const at = <usize>c << 2;
        v128.store(dst + at, f32x4.add(v128.load(dst + at), f32x4.mul(w, v128.load(o + at))));
      }
    }
  }
}

/**
 * One mean-field update over `points` pixels with channel stride `stride` (channels beyond
 * `channels` are padding): next = softmax(−unary + w0·s0·f0 + w1·s1·f1), where s0, s1 are the
 * kernels' per-pixel normalisation factors (NORMALIZE_AFTER).
 */
export function update(points: i32, channels: i32, stride: i32, unary: usize, f0: usize, s0: usize, w0: f32, f1: usize, s1: usize, w1: f32, next: usize): void {
  for (let p = 0; p < points; p++) {
    const base = <usize>(p * stride) << 2;
    const a = w0 * load<f32>(s0 + (<usize>p << 2));
    const b = w1 * load<f32>(s1 + (<usize>p << 2));
    let max: f32 = -Infinity;
    for (let c = 0; c < channels; c++) {
      const at = base + (<usize>c << 2);
      const v = -load<f32>(unary + at) + a * load<f32>(f0 + at) + b * load<f32>(f1 + at);
      store<f32>(next + at, v);
      if (v > max) max = v;
    }
    let sum: f32 = 0;
    for (let c = 0; c < channels; c++) {
      const at = base + (<usize>c << 2);
      const e = Mathf.exp(load<f32>(next + at) - max);
      store<f32>(next + at, e);
      sum += e;
    }
    const inv: f32 = 1 / sum;
    for (let c = 0; c < channels; c++) {
      const at = base + (<usize>c << 2);
      store<f32>(next + at, load<f32>(next + at) * inv);
    }
  }
}

/**
 * The unary −log p and the starting Q (the probabilities, or `initialQ` when not 0) of the `m`
 * active labels, padded to `stride` channels (padding 0), Q normalised per pixel (uniform where it
 * sums to 0). `probabilities` and `initialQ` are N×classes; `active` lists the m label indices.
 */
export function prepare(points: i32, classes: i32, active: usize, m: i32, stride: i32, probabilities: usize, initialQ: usize, unary: usize, q: usize): void {
  for (let p = 0; p < points; p++) {
    const src = probabilities + (<usize>(p * classes) << 2);
    const start = initialQ ? initialQ + (<usize>(p * classes) << 2) : src;
    const u = unary + (<usize>(p * stride) << 2);
    const o = q + (<usize>(p * stride) << 2);
    let sum: f32 = 0;
    for (let k = 0; k < m; k++) {
      const c = <usize>load<i32>(active + (<usize>k << 2)) << 2;
      store<f32>(u + (<usize>k << 2), -Mathf.log(Mathf.max(load<f32>(src + c), 1e-8)));
      const v = load<f32>(start + c);
      store<f32>(o + (<usize>k << 2), v);
      sum += v;
    }
    for (let k = m; k < stride; k++) {
      store<f32>(u + (<usize>k << 2), 0);
      store<f32>(o + (<usize>k << 2), 0);
    }
    const inv: f32 = sum > 0 ? 1 / sum : 0;
    const uniform: f32 = 1 / <f32>m;
    for (let k = 0; k < m; k++) {
      const at = o + (<usize>k << 2);
      store<f32>(at, sum > 0 ? load<f32>(at) * inv : uniform);
    }
  }
}

/** Active-label Q (stride channels) back to all `classes` labels (others 0), and the argmax labels. */
export function expand(points: i32, m: i32, stride: i32, q: usize, classes: i32, active: usize, full: usize, labels: usize): void {
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

/**
 * Splat geometry of every point: offsets (vertex+1) and barycentric weights of its d+1 simplex
 * corners. `scratch` needs (4·(d+1) + d + 2)·8 bytes. Returns the number of vertices, or −1
 * when more than `capacity` vertices are needed.
 */
export function buildLattice(points: i32, d: i32, features: usize, offsets: usize, weights: usize, keys: usize, capacity: i32, table: usize, tableCapacity: i32, scratch: usize): i32 {
  const d1 = d + 1;
  const mask = <u32>tableCapacity - 1;
  memory.fill(table, 0, <usize>tableCapacity << 2);
  const elevated = scratch; // f64[d1]
  const scale = elevated + (<usize>d1 << 3); // f64[d]
  const bary = scale + (<usize>d << 3); // f64[d+2]
  const rem0 = bary + (<usize>(d + 2) << 3); // i32[d1]
  const rank = rem0 + (<usize>d1 << 2); // i32[d1]
  const key = rank + (<usize>d1 << 2); // i32[d]
  for (let i = 0; i < d; i++) store<f64>(scale + (<usize>i << 3), (<f64>d1 * Math.sqrt(2.0 / 3.0)) / Math.sqrt(<f64>((i + 1) * (i + 2))));
  const down: f64 = 1.0 / <f64>d1;
  let count = 0;
  for (let k = 0; k < points; k++) {
    let sm: f64 = 0;
    for (let j = d; j > 0; j--) {
      const cf = <f64>load<f32>(features + (<usize>(k * d + j - 1) << 2)) * load<f64>(scale + (<usize>(j - 1) << 3));
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
    for (let i = 0; i < d; i++) {
      const di = load<f64>(elevated + (<usize>i << 3)) - <f64>load<i32>(rem0 + (<usize>i << 2));
      for (let j = i + 1; j <= d; j++) {
        const dj = load<f64>(elevated + (<usize>j << 3)) - <f64>load<i32>(rem0 + (<usize>j << 2));
        if (di < dj) store<i32>(rank + (<usize>i << 2), load<i32>(rank + (<usize>i << 2)) + 1);
        else store<i32>(rank + (<usize>j << 2), load<i32>(rank + (<usize>j << 2)) + 1);
      }
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

/** Each vertex's two neighbours (+1; 0 when absent) along each of the d+1 directions. */
export function buildNeighbours(vertices: i32, d: i32, keys: usize, table: usize, tableCapacity: i32, neighbours: usize, scratch: usize): void {
  neighboursOf(0, vertices, vertices, d, keys, table, tableCapacity, neighbours, scratch);
}

/**
 * The neighbours of vertices [first, last) only: the table is only read, so two threads can each
 * take a range (each with its own `scratch`, 2·d·4 bytes).
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
