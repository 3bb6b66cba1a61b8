/**
 * Mean field in WebAssembly with SIMD (`model/crf/wasm/lattice.as.ts`, compiled by AssemblyScript
 * at build time): the same splat / blur / slice as `PermutohedralLattice.filter`, four channels
 * per instruction, and the message + softmax update. Each CRF owns an instance over a shared
 * memory that holds its lattices and buffers; with a helper thread (meanFieldHelper.ts) every step
 * is split in two halves that run on two cores.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { startWorker } from '../startWorker.js';
import { activeFromPeaks } from './labelPruning.js';
import { CONTROL, OP } from './meanFieldControl.js';
import type { PermutohedralLattice } from './permutohedralLattice.js';

interface LatticeExports {
  splat(points: number, d1: number, stride: number, offsets: number, weights: number, values: number, lattice: number, latticeFloats: number): void;
  addInto(dst: number, src: number, floats: number): void;
  blurDirection(j: number, first: number, last: number, vertices: number, stride: number, neighbours: number, from: number, to: number): void;
  slice(points: number, d1: number, stride: number, offsets: number, weights: number, lattice: number, out: number, alpha: number): void;
}

/** 64 KiB pages the shared memory may grow to (2 GiB: a 1280×720, 21-label CRF needs ~600 MB). */
const MAX_PAGES = 32768;
const HELPER_READY_TIMEOUT_MS = 10_000;
/** One step is milliseconds even at 4K: a helper silent this long is gone. */
const HELPER_STEP_TIMEOUT_MS = 30_000;
/**
 * Below this many pixels a second thread costs more than it saves (about twenty hand-overs per
 * iteration): 160×90 took 9.8 ms on one thread and 11.7 on two, 320×180 30.9 / 29.0, 640×360 117.7 / 99.2.
 */
const MIN_POINTS_FOR_TWO_THREADS = 65_536;

let compiled: WebAssembly.Module | null | undefined;

/** Bytes of one kernel's description for the module's sliceUpdate (six 32-bit words). */
const KERNEL_BYTES = 24;

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
  neighboursOf(first: number, last: number, vertices: number, d: number, keys: number, table: number, tableCapacity: number, neighbours: number, scratch: number): void;
  mergeKeys(countB: number, d: number, keysB: number, keys: number, table: number, tableCapacity: number, count: number, capacity: number, remap: number): number;
  remapOffsets(offsets: number, count: number, remap: number): void;
  sliceUpdate(first: number, last: number, channels: number, stride: number, unary: number, next: number, kernels: number, count: number): void;
  prepare(points: number, classes: number, active: number, m: number, stride: number, probabilities: number, initialQ: number, unary: number, q: number): void;
  peaks(points: number, classes: number, probabilities: number, peak: number): void;
  expand(points: number, m: number, stride: number, q: number, classes: number, active: number, full: number, labels: number): void;
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

/** Splat/blur buffers of one kernel: (vertices + 1) · width floats each; `a2` is the helper's splat (0 without one). */
interface BlurBuffers {
  readonly a: number;
  readonly b: number;
  readonly a2: number;
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
  private readonly memory: WebAssembly.Memory;
  private top = HEAP_BASE;
  private readonly lattices: PlacedLattice[] = [];
  /** The second thread and the control block it watches, when running on two cores. */
  private helper: { readonly worker: Worker; readonly words: Int32Array; readonly floats: Float32Array; seq: number } | null = null;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly points: number,
    kernels: readonly KernelSource[] = [],
    options: { readonly threads?: number } = {},
  ) {
    this.memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true });
    this.exports = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as MeanFieldExports;
    if ((options.threads ?? 1) > 1 && points >= MIN_POINTS_FOR_TWO_THREADS) this.startHelper();
    for (const kernel of kernels) this.addKernel(kernel);
  }

  /** Two threads: the helper instantiates the module over this memory and waits for steps. */
  private startHelper(): void {
    const control = this.alloc(64);
    const words = new Int32Array(this.memory.buffer, control, 16).fill(0);
    const worker = startWorker(import.meta.url, 'meanFieldHelper', null);
    worker.unref();
    worker.postMessage({ module: this.module, memory: this.memory, control });
    if (Atomics.wait(words, CONTROL.READY, 0, HELPER_READY_TIMEOUT_MS) === 'timed-out' && Atomics.load(words, CONTROL.READY) === 0) {
      void worker.terminate();
      throw new Error('the CRF helper thread did not start');
    }
    this.helper = { worker, words, floats: new Float32Array(this.memory.buffer, control, 16), seq: 0 };
  }

  /** Threads this instance runs on: 2 with a helper. */
  get threads(): number {
    return this.helper ? 2 : 1;
  }

  /** Stops the helper thread (the memory goes with the last reference). */
  dispose(): void {
    if (!this.helper) return;
    this.send(OP.exit, []);
    void this.helper.worker.terminate();
    this.helper = null;
  }

  /** Hands the helper a step: `args` as 32-bit words, those at `floatArgs` as f32. */
  private send(op: number, args: readonly number[], floatArgs: readonly number[] = []): number {
    const h = this.helper!;
    args.forEach((value, i) => {
      if (floatArgs.includes(i)) h.floats[CONTROL.ARGS + i] = value;
      else h.words[CONTROL.ARGS + i] = value;
    });
    h.words[CONTROL.OP] = op;
    h.seq += 1;
    Atomics.store(h.words, CONTROL.SEQ, h.seq);
    Atomics.notify(h.words, CONTROL.SEQ);
    return h.seq;
  }

  /** Runs a step: the helper's half (`op`, `args`) and ours (`own`) at once, and waits for both. */
  private both(op: number, args: readonly number[], own: () => void, floatArgs: readonly number[] = []): void {
    const seq = this.send(op, args, floatArgs);
    own();
    const words = this.helper!.words;
    const deadline = performance.now() + HELPER_STEP_TIMEOUT_MS;
    for (let done = Atomics.load(words, CONTROL.DONE); done !== seq; done = Atomics.load(words, CONTROL.DONE)) {
      if (performance.now() > deadline) throw new Error('the CRF helper thread stopped answering');
      Atomics.wait(words, CONTROL.DONE, done, 1000);
    }
    if (Atomics.load(words, CONTROL.FAILED)) throw new Error('the CRF helper thread failed a step');
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
    const offsets = this.alloc(lattice.offsets.byteLength);
    const weights = this.alloc(lattice.weights.byteLength);
    const neighbours = this.alloc(lattice.neighbours.byteLength);
    const memory = this.memory.buffer;
    new Int32Array(memory, offsets, lattice.offsets.length).set(lattice.offsets);
    new Float32Array(memory, weights, lattice.weights.length).set(lattice.weights);
    new Int32Array(memory, neighbours, lattice.neighbours.length).set(lattice.neighbours);
    return { lattice, offsets, weights, neighbours, scale: 0, weight };
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
      new Float32Array(this.memory.buffer, input, n * d).set(features);
      const keys = this.alloc(capacity * d * 4);
      let tableCapacity = 1;
      while (tableCapacity < capacity * 2) tableCapacity <<= 1;
      const table = this.alloc(tableCapacity * 4);
      const scratch = this.alloc(1024);
      const vertices = this.helper
        ? this.buildInHalves(n, d, input, offsets, weights, { keys, table, tableCapacity, scratch, capacity })
        : this.exports.buildLattice(n, d, input, offsets, weights, keys, capacity, table, tableCapacity, scratch);
      if (vertices < 0) continue;
      const neighbours = this.alloc(d1 * vertices * 2 * 4);
      if (this.helper) {
        const half = vertices >> 1;
        const scratch2 = this.alloc(1024);
        this.both(OP.neighboursOf, [half, vertices, vertices, d, keys, table, tableCapacity, neighbours, scratch2], () =>
          this.exports.neighboursOf(0, half, vertices, d, keys, table, tableCapacity, neighbours, scratch));
      } else this.exports.buildNeighbours(vertices, d, keys, table, tableCapacity, neighbours, scratch);
      // Keep the neighbours, drop the scratch: move them down to the mark.
      const bytes = d1 * vertices * 2 * 4;
      new Uint8Array(this.memory.buffer).copyWithin(mark, neighbours, neighbours + bytes);
      this.top = (mark + bytes + 15) & ~15;
      return { lattice: { d, vertices }, offsets, weights, neighbours: mark, scale: 0, weight };
    }
    throw new Error('lattice construction ran out of room');
  }

  /**
   * The lattice build on two threads: each half of the points into its own table, then the second
   * table's vertices inserted into the first and the second half's offsets renumbered. The vertex
   * numbering differs from a one-thread build; the lattice (and every filtered value) does not.
   * Returns the vertex count, or −1 when `capacity` is too small.
   */
  private buildInHalves(n: number, d: number, input: number, offsets: number, weights: number, a: { keys: number; table: number; tableCapacity: number; scratch: number; capacity: number }): number {
    const d1 = d + 1;
    const h = n >> 1;
    const keysB = this.alloc(a.capacity * d * 4);
    const tableB = this.alloc(a.tableCapacity * 4);
    const scratchB = this.alloc(1024);
    let countA = 0;
    this.both(OP.buildLattice, [n - h, d, input + h * d * 4, offsets + h * d1 * 4, weights + h * d1 * 4, keysB, a.capacity, tableB, a.tableCapacity, scratchB], () => {
      countA = this.exports.buildLattice(h, d, input, offsets, weights, a.keys, a.capacity, a.table, a.tableCapacity, a.scratch);
    });
    const countB = this.helper!.words[CONTROL.RESULT]!;
    if (countA < 0 || countB < 0) return -1;
    const remap = this.alloc(countB * 4);
    const count = this.exports.mergeKeys(countB, d, keysB, a.keys, a.table, a.tableCapacity, countA, a.capacity, remap);
    if (count < 0) return -1;
    this.exports.remapOffsets(offsets + h * d1 * 4, (n - h) * d1, remap);
    return count;
  }

  private alloc(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + 15) & ~15;
    const memory = this.memory;
    if (this.top > memory.buffer.byteLength) memory.grow(Math.ceil((this.top - memory.buffer.byteLength) / 65536));
    return at;
  }

  private f32(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, length);
  }

  /**
   * Splat and blur `width`-channel values at `from` through a kernel's lattice, in buffers `a` and
   * `b` ((vertices + 1) · width floats each, vertex slot 0 of `b` zero); returns the one holding the
   * result. With the helper: it splats the second half of the points into `a2`, which is then added
   * to `a`, and each blur direction is split by vertex range.
   */
  private splatBlur(kernel: PlacedLattice, from: number, width: number, { a, b, a2 }: BlurBuffers): number {
    const { lattice, offsets, weights, neighbours } = kernel;
    const d1 = lattice.d + 1;
    const vertices = lattice.vertices;
    const floats = (vertices + 1) * width;
    const { splat, addInto, blurDirection } = this.exports;
    const n = this.points;
    const half = vertices >> 1;
    if (this.helper) {
      const h = n >> 1;
      const tail = (base: number, perPoint: number) => base + h * perPoint * 4;
      this.both(OP.splat, [n - h, d1, width, tail(offsets, d1), tail(weights, d1), tail(from, width), a2, floats], () => splat(h, d1, width, offsets, weights, from, a, floats));
      const m = (floats >> 1) & ~3;
      this.both(OP.addInto, [a + m * 4, a2 + m * 4, floats - m], () => addInto(a, a2, m));
    } else splat(n, d1, width, offsets, weights, from, a, floats);
    let [src, dst] = [a, b];
    for (let j = 0; j < d1; j++) {
      const [s, t] = [src, dst];
      if (this.helper) this.both(OP.blurDirection, [j, half, vertices, vertices, width, neighbours, s, t], () => blurDirection(j, 0, half, vertices, width, neighbours, s, t));
      else blurDirection(j, 0, vertices, vertices, width, neighbours, s, t);
      [src, dst] = [dst, src];
    }
    return src;
  }

  /** A kernel's splat/blur buffers for `width` channels; slot 0 of `b` ("no neighbour") zero. */
  private blurBuffers(kernel: PlacedLattice, width: number): BlurBuffers {
    const bytes = (kernel.lattice.vertices + 1) * width * 4;
    const buffers = { a: this.alloc(bytes), b: this.alloc(bytes), a2: this.helper ? this.alloc(bytes) : 0 };
    this.f32(buffers.b, width).fill(0);
    return buffers;
  }

  /** The slice's factor 1/(1 + 2^−d): the lattice's blur leaves a constant gain. */
  private static alpha(d: number): number {
    return 1 / (1 + 2 ** -d);
  }

  /** The kernel's normalisation, 1 / (K·1) per pixel, from one filtered column of ones. */
  private normalise(kernel: PlacedLattice): void {
    const n = this.points;
    const mark = this.top;
    const ones = this.alloc(n * 16);
    const filtered = this.alloc(n * 16);
    const column = this.f32(ones, n * 4).fill(0); // memory may hold an earlier frame's data
    for (let p = 0; p < n; p++) column[p * 4] = 1;
    const blurred = this.splatBlur(kernel, ones, 4, this.blurBuffers(kernel, 4));
    const { d } = kernel.lattice;
    this.exports.slice(n, d + 1, 4, kernel.offsets, kernel.weights, blurred, filtered, WasmMeanField.alpha(d));
    const total = this.f32(filtered, n * 4);
    const scale = this.f32(kernel.scale, n);
    for (let p = 0; p < n; p++) scale[p] = 1 / (total[p * 4]! + 1e-20);
    this.top = mark;
  }

  /** Runs `iterations` updates from q0 (N×channels, already restricted to the labels in play); returns Q. */
  run(unary: Float32Array, q0: Float32Array, channels: number, iterations: number, onIteration?: (iteration: number, q: Float32Array) => void): Float32Array {
    const n = this.points;
    const mark = this.top; // buffers of this run are released at its end
    const buffers = this.runBuffers(channels);
    const pad = (from: Float32Array, at: number) => {
      const to = this.f32(at, n * buffers.stride).fill(0);
      for (let p = 0; p < n; p++) to.set(from.subarray(p * channels, p * channels + channels), p * buffers.stride);
    };
    pad(unary, buffers.u);
    pad(q0, buffers.q);
    const q = this.iterate(buffers, channels, iterations, onIteration);
    const result = this.unpad(q, channels, buffers.stride);
    this.top = mark;
    return result;
  }

  /**
   * Mean field straight from the network's probabilities (N×classes): the unary, the starting Q
   * (`initialQ`, N×classes, or the probabilities), the iterations over the `active` labels and the
   * expansion back to all labels with the argmax all happen in WebAssembly.
   */
  infer(probabilities: Float32Array, classes: number, pruneBelow: number, iterations: number, initialQ?: Float32Array, onIteration?: (iteration: number, q: Float32Array, active: readonly number[]) => void): { q: Float32Array; labels: Uint8Array; activeLabels: number[] } {
    const n = this.points;
    const mark = this.top;
    const pIn = this.alloc(n * classes * 4);
    this.f32(pIn, n * classes).set(probabilities);
    const peak = this.alloc(classes * 4);
    this.exports.peaks(n, classes, pIn, peak);
    const active = activeFromPeaks(this.f32(peak, classes), pruneBelow);
    const m = active.length;
    const buffers = this.runBuffers(m);
    const { stride } = buffers;
    const list = this.alloc(m * 4);
    new Int32Array(this.memory.buffer, list, m).set(active);
    const qIn = initialQ ? this.alloc(n * classes * 4) : 0;
    if (initialQ) this.f32(qIn, n * classes).set(initialQ);
    const h = n >> 1;
    const prepare = (from: number, count: number) => [count, classes, list, m, stride, pIn + from * classes * 4, qIn ? qIn + from * classes * 4 : 0, buffers.u + from * stride * 4, buffers.q + from * stride * 4];
    if (this.helper) this.both(OP.prepare, prepare(h, n - h), () => this.exports.prepare(...(prepare(0, h) as Parameters<MeanFieldExports['prepare']>)));
    else this.exports.prepare(...(prepare(0, n) as Parameters<MeanFieldExports['prepare']>));
    const q = this.iterate(buffers, m, iterations, onIteration ? (it, current) => onIteration(it, current, active) : undefined);
    const full = this.alloc(n * classes * 4);
    const labels = this.alloc(n);
    const expand = (from: number, count: number) => [count, m, stride, q + from * stride * 4, classes, list, full + from * classes * 4, labels + from];
    if (this.helper) this.both(OP.expand, expand(h, n - h), () => this.exports.expand(...(expand(0, h) as Parameters<MeanFieldExports['expand']>)));
    else this.exports.expand(...(expand(0, n) as Parameters<MeanFieldExports['expand']>));
    const result = { q: this.f32(full, n * classes).slice(), labels: new Uint8Array(this.memory.buffer, labels, n).slice(), activeLabels: active };
    this.top = mark;
    return result;
  }

  /** The buffers of one run, `channels` padded to a multiple of 4. */
  private runBuffers(channels: number) {
    const n = this.points;
    const stride = (channels + 3) & ~3;
    // Each kernel's splat/blur buffers, and the kernels' descriptions for sliceUpdate.
    const blur = this.lattices.map((kernel) => this.blurBuffers(kernel, stride));
    return { stride, u: this.alloc(n * stride * 4), q: this.alloc(n * stride * 4), next: this.alloc(n * stride * 4), blur, kernels: this.alloc(2 * KERNEL_BYTES) };
  }

  private unpad(at: number, channels: number, stride: number): Float32Array {
    const n = this.points;
    const from = this.f32(at, n * stride);
    const out = new Float32Array(n * channels);
    for (let p = 0; p < n; p++) out.set(from.subarray(p * stride, p * stride + channels), p * channels);
    return out;
  }

  /** The mean-field iterations over prepared buffers; returns where the final Q is. */
  private iterate(buffers: ReturnType<WasmMeanField['runBuffers']>, channels: number, iterations: number, onIteration?: (iteration: number, q: Float32Array) => void): number {
    const n = this.points;
    const { stride, u, blur, kernels } = buffers;
    let { q, next } = buffers;
    const words = new Int32Array(this.memory.buffer, kernels, (2 * KERNEL_BYTES) / 4);
    const floats = new Float32Array(this.memory.buffer, kernels, (2 * KERNEL_BYTES) / 4);
    this.lattices.forEach((kernel, k) => {
      const at = (k * KERNEL_BYTES) / 4;
      words.set([kernel.offsets, kernel.weights, kernel.lattice.d + 1, 0, kernel.scale], at);
      floats[at + 5] = kernel.weight * WasmMeanField.alpha(kernel.lattice.d);
    });
    const count = this.lattices.length;
    const h = n >> 1;
    for (let it = 0; it < iterations; it++) {
      // Where each kernel's blurred lattice ends up this iteration.
      this.lattices.forEach((kernel, k) => {
        words[(k * KERNEL_BYTES) / 4 + 3] = this.splatBlur(kernel, q, stride, blur[k]!);
      });
      const out = next;
      if (this.helper) this.both(OP.sliceUpdate, [h, n, channels, stride, u, out, kernels, count], () => this.exports.sliceUpdate(0, h, channels, stride, u, out, kernels, count));
      else this.exports.sliceUpdate(0, n, channels, stride, u, out, kernels, count);
      [q, next] = [next, q];
      if (onIteration) onIteration(it, this.unpad(q, channels, stride));
    }
    return q;
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

  /** `threads`: 2 runs each frame's mean field on two cores (a helper thread per instance). */
  constructor(private readonly options: { readonly threads?: number } = {}) {}

  engineFor(module: WebAssembly.Module, width: number, height: number, gaussian: { readonly xy: number; readonly weight: number }, features: () => Float32Array): WasmMeanField {
    const key = `${width}x${height}:${gaussian.xy}:${gaussian.weight}`;
    if (!this.engine || key !== this.key) {
      this.engine?.dispose();
      this.engine = new WasmMeanField(module, width * height, gaussian.weight !== 0 ? [{ features: features(), d: 2, weight: gaussian.weight }] : [], this.options);
      this.key = key;
      this.base = this.engine.mark();
    } else this.engine.release(this.base!);
    return this.engine;
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}
