/**
 * The permutohedral lattice (Adams, Baek & Davis 2010): approximate high-dimensional Gaussian
 * filtering in O(N·d²) — splat each point onto the d+1 vertices of its enclosing simplex, blur
 * along the d+1 lattice directions with a [1 2 1] kernel, slice back with the same weights.
 * Features must already be divided by their standard deviations.
 *
 *   const lattice = PermutohedralLattice.build(features, N, d);
 *   lattice.filter(values, channels, out)   // out_i ≈ Σ_j exp(−|f_i − f_j|² / 2) · values_j
 *
 * The lattice depends only on the features (positions and colours), so one build serves every
 * mean-field iteration and every label channel.
 */

/** Open-addressing hash from integer lattice keys (d values each) to dense vertex indices. */
class KeyTable {
  keys: Int32Array;
  private slots: Int32Array;
  size = 0;

  constructor(
    private readonly d: number,
    expected: number,
  ) {
    let capacity = 1;
    while (capacity < expected * 2) capacity <<= 1;
    this.slots = new Int32Array(capacity).fill(-1);
    this.keys = new Int32Array(Math.max(expected, 16) * d);
  }

  private hash(key: Int32Array, at: number): number {
    let h = 0;
    for (let i = 0; i < this.d; i++) h = (Math.imul(h, 2531011) + key[at + i]!) | 0;
    return h;
  }

  /** Index of the key stored at key[at..at+d), inserting it when `create`; −1 when absent. */
  find(key: Int32Array, at: number, create: boolean): number {
    if (create && this.size * 2 >= this.slots.length) this.grow();
    const mask = this.slots.length - 1;
    for (let slot = this.hash(key, at) & mask; ; slot = (slot + 1) & mask) {
      const index = this.slots[slot]!;
      if (index === -1) {
        if (!create) return -1;
        if ((this.size + 1) * this.d > this.keys.length) {
          const bigger = new Int32Array(this.keys.length * 2);
          bigger.set(this.keys);
          this.keys = bigger;
        }
        for (let i = 0; i < this.d; i++) this.keys[this.size * this.d + i] = key[at + i]!;
        this.slots[slot] = this.size;
        return this.size++;
      }
      let same = true;
      for (let i = 0; i < this.d && same; i++) same = this.keys[index * this.d + i] === key[at + i];
      if (same) return index;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2).fill(-1);
    const mask = this.slots.length - 1;
    for (const index of old) {
      if (index === -1) continue;
      let slot = this.hash(this.keys, index * this.d) & mask;
      while (this.slots[slot] !== -1) slot = (slot + 1) & mask;
      this.slots[slot] = index;
    }
  }
}

export class PermutohedralLattice {
  private scratch: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];

  private constructor(
    readonly points: number,
    readonly d: number,
    /** Vertex index (+1; 0 is "none") of each point's d+1 simplex corners. */
    readonly offsets: Int32Array,
    readonly weights: Float32Array,
    /** Number of lattice vertices. */
    readonly vertices: number,
    /** Per direction j and vertex i: the two neighbours' indices (+1; 0 when absent). */
    readonly neighbours: Int32Array,
  ) {}

  static build(features: Float32Array, points: number, d: number): PermutohedralLattice {
    const d1 = d + 1;
    const scale = Float64Array.from({ length: d }, (_, i) => (d1 * Math.sqrt(2 / 3)) / Math.sqrt((i + 1) * (i + 2)));
    const canonical = new Int32Array(d1 * d1);
    for (let i = 0; i <= d; i++) for (let j = 0; j <= d; j++) canonical[i * d1 + j] = j <= d - i ? i : i - d1;
    const table = new KeyTable(d, points * 2);
    const offsets = new Int32Array(points * d1);
    const weights = new Float32Array(points * d1);
    const elevated = new Float64Array(d1);
    const rem0 = new Int32Array(d1);
    const rank = new Int32Array(d1);
    const bary = new Float64Array(d + 2);
    const key = new Int32Array(d);
    const down = 1 / d1;

    for (let k = 0; k < points; k++) {
      // Elevate the point onto the hyperplane Σx = 0 of d+1 dimensions.
      let sm = 0;
      for (let j = d; j > 0; j--) {
        const cf = features[k * d + j - 1]! * scale[j - 1]!;
        elevated[j] = sm - j * cf;
        sm += cf;
      }
      elevated[0] = sm;
      // The nearest remainder-0 lattice point, and the ordering of the differences.
      let sum = 0;
      for (let i = 0; i <= d; i++) {
        const v = down * elevated[i]!;
        const up = Math.ceil(v) * d1;
        const lo = Math.floor(v) * d1;
        rem0[i] = up - elevated[i]! < elevated[i]! - lo ? up : lo;
        sum += rem0[i]!;
      }
      sum = Math.round(sum / d1);
      rank.fill(0);
      for (let i = 0; i < d; i++) {
        const di = elevated[i]! - rem0[i]!;
        for (let j = i + 1; j <= d; j++) {
          if (di < elevated[j]! - rem0[j]!) rank[i]! += 1;
          else rank[j]! += 1;
        }
      }
      if (sum > 0) {
        for (let i = 0; i <= d; i++) {
          if (rank[i]! >= d1 - sum) {
            rank[i]! -= d1 - sum;
            rem0[i]! -= d1;
          } else rank[i]! += sum;
        }
      } else if (sum < 0) {
        for (let i = 0; i <= d; i++) {
          if (rank[i]! < -sum) {
            rank[i]! += d1 + sum;
            rem0[i]! += d1;
          } else rank[i]! += sum;
        }
      }
      // Barycentric coordinates of the point in its simplex.
      bary.fill(0);
      for (let i = 0; i <= d; i++) {
        const v = (elevated[i]! - rem0[i]!) * down;
        bary[d - rank[i]!]! += v;
        bary[d1 - rank[i]!]! -= v;
      }
      bary[0]! += 1 + bary[d1]!;
      for (let r = 0; r <= d; r++) {
        for (let i = 0; i < d; i++) key[i] = rem0[i]! + canonical[r * d1 + rank[i]!]!;
        offsets[k * d1 + r] = table.find(key, 0, true) + 1;
        weights[k * d1 + r] = bary[r]!;
      }
    }

    // Neighbours of every vertex along each of the d+1 lattice directions.
    const vertices = table.size;
    const neighbours = new Int32Array(d1 * vertices * 2);
    const n1 = new Int32Array(d);
    const n2 = new Int32Array(d);
    for (let j = 0; j <= d; j++) {
      for (let i = 0; i < vertices; i++) {
        for (let k = 0; k < d; k++) {
          const v = table.keys[i * d + k]!;
          n1[k] = v - 1;
          n2[k] = v + 1;
        }
        if (j < d) {
          n1[j]! += d1;
          n2[j]! -= d1;
        }
        neighbours[(j * vertices + i) * 2] = table.find(n1, 0, false) + 1;
        neighbours[(j * vertices + i) * 2 + 1] = table.find(n2, 0, false) + 1;
      }
    }
    return new PermutohedralLattice(points, d, offsets, weights, vertices, neighbours);
  }

  /**
   * Gaussian-filters `channels` interleaved values per point (values[p·channels + c]) into `out`.
   */
  filter(values: Float32Array, channels: number, out: Float32Array): Float32Array {
    const { points, d, offsets, weights, vertices, neighbours } = this;
    const d1 = d + 1;
    const size = (vertices + 1) * channels;
    // Vertex buffers are kept between calls: mean field filters the same lattice every iteration.
    if (this.scratch[0].length < size) this.scratch = [new Float32Array(size), new Float32Array(size)];
    let [a, b] = this.scratch;
    a.fill(0, 0, size);
    // Splat (channels unrolled by four: V8 keeps the four sums in registers).
    const c4 = channels & ~3;
    for (let p = 0; p < points; p++) {
      const src = p * channels;
      for (let r = 0; r < d1; r++) {
        const o = offsets[p * d1 + r]! * channels;
        const w = weights[p * d1 + r]!;
        let c = 0;
        for (; c < c4; c += 4) {
          a[o + c]! += w * values[src + c]!;
          a[o + c + 1]! += w * values[src + c + 1]!;
          a[o + c + 2]! += w * values[src + c + 2]!;
          a[o + c + 3]! += w * values[src + c + 3]!;
        }
        for (; c < channels; c++) a[o + c]! += w * values[src + c]!;
      }
    }
    // Blur along each direction: v ← v + (left + right) / 2.
    for (let j = 0; j <= d; j++) {
      b.fill(0, 0, channels);
      for (let i = 0; i < vertices; i++) {
        const o = (i + 1) * channels;
        const l = neighbours[(j * vertices + i) * 2]! * channels;
        const r = neighbours[(j * vertices + i) * 2 + 1]! * channels;
        for (let c = 0; c < channels; c++) b[o + c] = a[o + c]! + 0.5 * (a[l + c]! + a[r + c]!);
      }
      [a, b] = [b, a];
      a.fill(0, 0, channels); // the "none" vertex stays zero
    }
    // Slice, with the lattice's normalising factor.
    const alpha = 1 / (1 + 2 ** -d);
    for (let p = 0; p < points; p++) {
      const dst = p * channels;
      out.fill(0, dst, dst + channels);
      for (let r = 0; r < d1; r++) {
        const o = offsets[p * d1 + r]! * channels;
        const w = weights[p * d1 + r]! * alpha;
        let c = 0;
        for (; c < c4; c += 4) {
          out[dst + c]! += w * a[o + c]!;
          out[dst + c + 1]! += w * a[o + c + 1]!;
          out[dst + c + 2]! += w * a[o + c + 2]!;
          out[dst + c + 3]! += w * a[o + c + 3]!;
        }
        for (; c < channels; c++) out[dst + c]! += w * a[o + c]!;
      }
    }
    return out;
  }
}
