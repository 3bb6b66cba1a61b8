// The lattice's construction (the same algorithm as the reference PermutohedralLattice.build):
// pixel features, each point's enclosing simplex, its vertices in an open-addressing hash table,
// and each vertex's neighbours.


/**
 * Finds the key stored at scratch[0..d) in the open-addressing table (slots hold vertex+1, 0 is
 * empty); inserts it as vertex `count` when `create`. Returns the vertex index or −1.
 */
export function findKey(key: usize, d: i32, keys: usize, table: usize, mask: u32, count: i32, create: bool, capacity: i32): i32 {
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
export function prepareScratch(d: i32, scratch: usize): void {
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
export function embedPoint(k: i32, d: i32, feature: usize, offsets: usize, weights: usize, keys: usize, capacity: i32, table: usize, mask: u32, count: i32, scratch: usize): i32 {
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

