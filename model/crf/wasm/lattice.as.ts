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

/** Blurs along every lattice direction; returns the buffer holding the result (a or b). */
export function blur(vertices: i32, d1: i32, stride: i32, neighbours: usize, a: usize, b: usize): usize {
  const half = f32x4.splat(0.5);
  let from = a;
  let to = b;
  for (let j = 0; j < d1; j++) {
    memory.fill(to, 0, <usize>stride << 2);
    for (let i = 0; i < vertices; i++) {
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
    const t = from;
    from = to;
    to = t;
    memory.fill(from, 0, <usize>stride << 2);
  }
  return from;
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
