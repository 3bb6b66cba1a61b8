/**
 * Mean field in WebAssembly with SIMD (`model/crf/wasm/lattice.as.ts`, compiled by AssemblyScript
 * at build time): the same splat / blur / slice as `PermutohedralLattice.filter`, four channels
 * per instruction, and the message + softmax update. Each CRF owns a small instance whose memory
 * holds its lattices and buffers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PermutohedralLattice } from './permutohedralLattice.js';

interface LatticeExports {
  memory: WebAssembly.Memory;
  splat(points: number, d1: number, stride: number, offsets: number, weights: number, values: number, lattice: number, latticeFloats: number): void;
  blur(vertices: number, d1: number, stride: number, neighbours: number, a: number, b: number): number;
  slice(points: number, d1: number, stride: number, offsets: number, weights: number, lattice: number, out: number, alpha: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The module's own static data (Mathf.exp's tables) sits in the first page: allocate after it. */
const HEAP_BASE = 65536;

/** The compiled module, or null where it was not built (then the TypeScript filter is used). */
export function latticeModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  // Beside this file in dist/; from source (tests) the build's copy in dist/.
  const candidates = [new URL('./lattice.wasm', import.meta.url), new URL('../../dist/model/crf/lattice.wasm', import.meta.url)].map((u) => fileURLToPath(u));
  const file = candidates.find((f) => existsSync(f));
  compiled = file && process.env['DEEPLAB_STREAM_CRF_WASM'] !== '0' ? new WebAssembly.Module(readFileSync(file)) : null;
  return compiled;
}

interface MeanFieldExports extends LatticeExports {
  buildLattice(points: number, d: number, features: number, offsets: number, weights: number, keys: number, capacity: number, table: number, tableCapacity: number, scratch: number): number;
  buildNeighbours(vertices: number, d: number, keys: number, table: number, tableCapacity: number, neighbours: number, scratch: number): void;
  update(points: number, channels: number, stride: number, unary: number, f0: number, s0: number, w0: number, f1: number, s1: number, w1: number, next: number): void;
}

/**
 * The whole mean-field loop in one WebAssembly instance: both kernels' lattices, Q, the unary,
 * the filtered messages and the softmax stay in its memory; JavaScript copies in the unary and
 * the starting Q and copies out the final Q. Kernel normalisation: `after` (DeepLab's).
 */
/** A lattice laid out in the instance's memory. */
interface PlacedLattice {
  readonly lattice: { readonly d: number; readonly vertices: number };
  readonly offsets: number;
  readonly weights: number;
  readonly neighbours: number;
}

export class WasmMeanField {
  private readonly exports: MeanFieldExports;
  private top = HEAP_BASE;
  private readonly lattices: PlacedLattice[];

  /** From lattices built in TypeScript (copied in). */
  constructor(module: WebAssembly.Module, lattices: readonly PermutohedralLattice[], points: number);
  /** Building each kernel's lattice from its features inside WebAssembly. */
  constructor(module: WebAssembly.Module, kernels: readonly { features: Float32Array; d: number }[], points: number);
  constructor(
    module: WebAssembly.Module,
    sources: readonly (PermutohedralLattice | { features: Float32Array; d: number })[],
    private readonly points: number,
  ) {
    this.exports = new WebAssembly.Instance(module, {}).exports as unknown as MeanFieldExports;
    this.lattices = sources.map((source) => ('features' in source ? this.build(source.features, source.d) : this.place(source)));
  }

  private place(lattice: PermutohedralLattice): PlacedLattice {
    const placed = { lattice, offsets: this.alloc(lattice.offsets.byteLength), weights: this.alloc(lattice.weights.byteLength), neighbours: this.alloc(lattice.neighbours.byteLength) };
    const memory = this.exports.memory.buffer;
    new Int32Array(memory, placed.offsets, lattice.offsets.length).set(lattice.offsets);
    new Float32Array(memory, placed.weights, lattice.weights.length).set(lattice.weights);
    new Int32Array(memory, placed.neighbours, lattice.neighbours.length).set(lattice.neighbours);
    return placed;
  }

  /** Builds a lattice in place; the hash table and keys are scratch, released afterwards. */
  private build(features: Float32Array, d: number): PlacedLattice {
    const n = this.points;
    const d1 = d + 1;
    const offsets = this.alloc(n * d1 * 4);
    const weights = this.alloc(n * d1 * 4);
    const mark = this.top;
    // Most images need far fewer vertices than points·(d+1): try with one per point first.
    for (const capacity of [n, n * d1]) {
      this.top = mark;
      const input = this.alloc(n * d * 4);
      new Float32Array(this.exports.memory.buffer, input, n * d).set(features);
      const keys = this.alloc(capacity * d * 4);
      let tableCapacity = 1;
      while (tableCapacity < capacity * 2) tableCapacity <<= 1;
      const table = this.alloc(tableCapacity * 4);
      const scratch = this.alloc(1024);
      const vertices = this.exports.buildLattice(n, d, input, offsets, weights, keys, capacity, table, tableCapacity, scratch);
      if (vertices < 0) continue;
      const neighbours = this.alloc(d1 * vertices * 2 * 4);
      this.exports.buildNeighbours(vertices, d, keys, table, tableCapacity, neighbours, scratch);
      // Keep the neighbours, drop the scratch: move them down to the mark.
      const bytes = d1 * vertices * 2 * 4;
      new Uint8Array(this.exports.memory.buffer).copyWithin(mark, neighbours, neighbours + bytes);
      this.top = (mark + bytes + 15) & ~15;
      return { lattice: { d, vertices }, offsets, weights, neighbours: mark };
    }
    throw new Error('lattice construction ran out of room');
  }

  private alloc(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + 15) & ~15;
    const memory = this.exports.memory;
    if (this.top > memory.buffer.byteLength) memory.grow(Math.ceil((this.top - memory.buffer.byteLength) / 65536));
    return at;
  }

  private f32(at: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, at, length);
  }

  /** Runs `iterations` updates from q0 (N×channels) with the kernels' weights; returns Q. */
  run(unary: Float32Array, q0: Float32Array, channels: number, weights: readonly number[], iterations: number, onIteration?: (iteration: number, q: Float32Array) => void): Float32Array {
    const n = this.points;
    const stride = (channels + 3) & ~3;
    const mark = this.top; // buffers of this run are released at its end
    const maxVertices = Math.max(...this.lattices.map((l) => l.lattice.vertices));
    const u = this.alloc(n * stride * 4);
    let q = this.alloc(n * stride * 4);
    let next = this.alloc(n * stride * 4);
    const filtered = this.lattices.map(() => this.alloc(n * stride * 4));
    const scales = this.lattices.map(() => this.alloc(n * 4));
    const a = this.alloc((maxVertices + 1) * stride * 4);
    const b = this.alloc((maxVertices + 1) * stride * 4);
    const pad = (from: Float32Array, at: number) => {
      const to = this.f32(at, n * stride);
      if (stride === channels) to.set(from);
      else for (let p = 0; p < n; p++) for (let c = 0; c < stride; c++) to[p * stride + c] = c < channels ? from[p * channels + c]! : 0;
    };
    const unpad = (at: number) => {
      const from = this.f32(at, n * stride);
      const out = new Float32Array(n * channels);
      for (let p = 0; p < n; p++) for (let c = 0; c < channels; c++) out[p * channels + c] = from[p * stride + c]!;
      return out;
    };
    const { splat, blur, slice, update } = this.exports;
    const filter = (k: number, from: number, width: number, to: number) => {
      const { lattice, offsets, weights: w, neighbours } = this.lattices[k]!;
      const d1 = lattice.d + 1;
      splat(n, d1, width, offsets, w, from, a, (lattice.vertices + 1) * width);
      const result = blur(lattice.vertices, d1, width, neighbours, a, b);
      slice(n, d1, width, offsets, w, result, to, 1 / (1 + 2 ** -lattice.d));
    };
    // Normalisation: 1 / (K·1) per pixel, from one filtered column of ones (stride 4 of `next`).
    const ones = this.f32(next, n * 4);
    for (let p = 0; p < n; p++) ones.set([1, 0, 0, 0], p * 4);
    this.lattices.forEach((_, k) => {
      filter(k, next, 4, filtered[k]!);
      const total = this.f32(filtered[k]!, n * 4);
      const scale = this.f32(scales[k]!, n);
      for (let p = 0; p < n; p++) scale[p] = 1 / (total[p * 4]! + 1e-20);
    });
    pad(unary, u);
    pad(q0, q);
    for (let it = 0; it < iterations; it++) {
      this.lattices.forEach((_, k) => filter(k, q, stride, filtered[k]!));
      const [f1, s1, w1] = this.lattices.length > 1 ? [filtered[1]!, scales[1]!, weights[1] ?? 0] : [filtered[0]!, scales[0]!, 0];
      update(n, channels, stride, u, filtered[0]!, scales[0]!, weights[0] ?? 0, f1, s1, w1, next);
      [q, next] = [next, q];
      if (onIteration) onIteration(it, unpad(q));
    }
    const result = unpad(q);
    this.top = mark;
    return result;
  }
}
