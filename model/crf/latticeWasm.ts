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

/** A lattice laid out in the instance's memory, with its kernel weight and normalisation. */
interface PlacedLattice {
  readonly lattice: { readonly d: number; readonly vertices: number };
  readonly offsets: number;
  readonly weights: number;
  readonly neighbours: number;
  /** 1 / (K·1) per pixel (DeepLab's NORMALIZE_AFTER), filled when the kernel is added. */
  scale: number;
  readonly weight: number;
}

/** A kernel for WasmMeanField: a lattice built in TypeScript (copied in), or features to build one from. */
export type KernelSource = { readonly lattice: PermutohedralLattice; readonly weight: number } | { readonly features: Float32Array; readonly d: number; readonly weight: number };

/** Where the kernels added so far end: `release` drops everything added after it. */
export interface EngineMark {
  readonly top: number;
  readonly kernels: number;
}

/**
 * The whole mean-field loop in one WebAssembly instance: the kernels' lattices, Q, the unary,
 * the filtered messages and the softmax stay in its memory; JavaScript copies in the unary and
 * the starting Q and copies out the final Q. Kernel normalisation: `after` (DeepLab's).
 * Kernels can be kept across frames (`mark` / `release`): video reuses the position-only kernel
 * and the instance's grown memory, and rebuilds only the image-dependent one.
 */
export class WasmMeanField {
  private readonly exports: MeanFieldExports;
  private top = HEAP_BASE;
  private readonly lattices: PlacedLattice[] = [];

  constructor(
    module: WebAssembly.Module,
    private readonly points: number,
    kernels: readonly KernelSource[] = [],
  ) {
    this.exports = new WebAssembly.Instance(module, {}).exports as unknown as MeanFieldExports;
    for (const kernel of kernels) this.addKernel(kernel);
  }

  addKernel(kernel: KernelSource): void {
    const placed = 'features' in kernel ? this.build(kernel.features, kernel.d, kernel.weight) : this.place(kernel.lattice, kernel.weight);
    placed.scale = this.alloc(this.points * 4);
    this.lattices.push(placed);
    this.normalise(placed);
  }

  mark(): EngineMark {
    return { top: this.top, kernels: this.lattices.length };
  }

  release(mark: EngineMark): void {
    this.top = mark.top;
    this.lattices.length = mark.kernels;
  }

  private place(lattice: PermutohedralLattice, weight: number): PlacedLattice {
    const placed = { lattice, offsets: this.alloc(lattice.offsets.byteLength), weights: this.alloc(lattice.weights.byteLength), neighbours: this.alloc(lattice.neighbours.byteLength), scale: 0, weight };
    const memory = this.exports.memory.buffer;
    new Int32Array(memory, placed.offsets, lattice.offsets.length).set(lattice.offsets);
    new Float32Array(memory, placed.weights, lattice.weights.length).set(lattice.weights);
    new Int32Array(memory, placed.neighbours, lattice.neighbours.length).set(lattice.neighbours);
    return placed;
  }

  /** Builds a lattice in place; the hash table and keys are scratch, released afterwards. */
  private build(features: Float32Array, d: number, weight: number): PlacedLattice {
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
      return { lattice: { d, vertices }, offsets, weights, neighbours: mark, scale: 0, weight };
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

  /** Splat, blur and slice `width`-channel values at `from` through a kernel's lattice into `to`. */
  private filter(kernel: PlacedLattice, from: number, width: number, to: number, a: number, b: number): void {
    const { lattice, offsets, weights, neighbours } = kernel;
    const d1 = lattice.d + 1;
    const { splat, blur, slice } = this.exports;
    splat(this.points, d1, width, offsets, weights, from, a, (lattice.vertices + 1) * width);
    const result = blur(lattice.vertices, d1, width, neighbours, a, b);
    slice(this.points, d1, width, offsets, weights, result, to, 1 / (1 + 2 ** -lattice.d));
  }

  /** The kernel's normalisation, 1 / (K·1) per pixel, from one filtered column of ones. */
  private normalise(kernel: PlacedLattice): void {
    const n = this.points;
    const mark = this.top;
    const ones = this.alloc(n * 16);
    const filtered = this.alloc(n * 16);
    const a = this.alloc((kernel.lattice.vertices + 1) * 16);
    const b = this.alloc((kernel.lattice.vertices + 1) * 16);
    const column = this.f32(ones, n * 4).fill(0); // memory may hold an earlier frame's data
    for (let p = 0; p < n; p++) column[p * 4] = 1;
    this.filter(kernel, ones, 4, filtered, a, b);
    const total = this.f32(filtered, n * 4);
    const scale = this.f32(kernel.scale, n);
    for (let p = 0; p < n; p++) scale[p] = 1 / (total[p * 4]! + 1e-20);
    this.top = mark;
  }

  /** Runs `iterations` updates from q0 (N×channels); returns Q. */
  run(unary: Float32Array, q0: Float32Array, channels: number, iterations: number, onIteration?: (iteration: number, q: Float32Array) => void): Float32Array {
    const n = this.points;
    const stride = (channels + 3) & ~3;
    const mark = this.top; // buffers of this run are released at its end
    const maxVertices = Math.max(...this.lattices.map((l) => l.lattice.vertices));
    const u = this.alloc(n * stride * 4);
    let q = this.alloc(n * stride * 4);
    let next = this.alloc(n * stride * 4);
    const filtered = this.lattices.map(() => this.alloc(n * stride * 4));
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
    pad(unary, u);
    pad(q0, q);
    const [k0, k1] = [this.lattices[0]!, this.lattices[1] ?? this.lattices[0]!];
    for (let it = 0; it < iterations; it++) {
      this.lattices.forEach((kernel, k) => this.filter(kernel, q, stride, filtered[k]!, a, b));
      this.exports.update(n, channels, stride, u, filtered[0]!, k0.scale, k0.weight, filtered[1] ?? filtered[0]!, k1.scale, this.lattices[1] ? k1.weight : 0, next);
      [q, next] = [next, q];
      if (onIteration) onIteration(it, unpad(q));
    }
    const result = unpad(q);
    this.top = mark;
    return result;
  }
}

/**
 * What a CRF worker keeps between frames: one WebAssembly instance per frame size and parameters,
 * with the position-only (Gaussian) kernel built once — it does not depend on the image — and the
 * memory already grown. Each `engineFor` drops the previous frame's image kernel: a DenseCrf made
 * from a workspace is valid until the next one is made from it.
 */
export class CrfWorkspace {
  private engine: WasmMeanField | null = null;
  private key = '';
  private base: EngineMark | null = null;

  engineFor(module: WebAssembly.Module, width: number, height: number, gaussian: { readonly xy: number; readonly weight: number }, features: () => Float32Array): WasmMeanField {
    const key = `${width}x${height}:${gaussian.xy}:${gaussian.weight}`;
    if (!this.engine || key !== this.key) {
      this.engine = new WasmMeanField(module, width * height, gaussian.weight !== 0 ? [{ features: features(), d: 2, weight: gaussian.weight }] : []);
      this.key = key;
      this.base = this.engine.mark();
    } else this.engine.release(this.base!);
    return this.engine;
  }
}
