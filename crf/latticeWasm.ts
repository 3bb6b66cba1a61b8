/**
 * Mean field in WebAssembly with SIMD (`crf/wasm/lattice.as.ts`, compiled by AssemblyScript
 * at build time): the same splat / blur / slice as `PermutohedralLattice.filter`, four channels
 * per instruction, and the message + softmax update. Each CRF owns an instance over a shared
 * memory that holds its lattices and buffers; with a helper thread (meanFieldHelper.ts) every step
 * is split in two halves that run on two cores.
 */
import { activeFromPeaks } from './labelPruning.js';
import { OP } from './meanFieldControl.js';
import type { PermutohedralLattice } from './permutohedralLattice.js';
import type { CrfExports } from './latticeExports.js';
import { type ProbabilitySource, probabilityProblem, readProbabilityFile } from './probabilities.js';
import { WasmEngine } from './wasmEngine.js';
import { KERNEL_BYTES, type LatticeView, sliceGain } from './wasmModule.js';

/** A lattice laid out in the instance's memory, with its kernel weight and normalisation. */
interface PlacedLattice {
  readonly lattice: LatticeView;
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

/**
 * A kernel for WasmMeanField: a lattice built in TypeScript (copied in), features to build one
 * from, or an image's pixels (position over σxy, and colour over σrgb when `image` is given; the
 * features are then computed in WebAssembly, as `pixelFeatures` computes them).
 */
export type KernelSource =
  | { readonly lattice: PermutohedralLattice; readonly weight: number }
  | { readonly features: Float32Array; readonly d: number; readonly weight: number }
  | {
      readonly pixels: {
        readonly width: number;
        readonly xy: number;
        readonly image?: Uint8Array;
        readonly rgb?: number;
      };
      readonly weight: number;
    };

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
export class WasmMeanField extends WasmEngine {
  private readonly lattices: PlacedLattice[] = [];

  constructor(
    module: WebAssembly.Module,
    points: number,
    kernels: readonly KernelSource[] = [],
    options: { readonly threads?: number } = {},
  ) {
    super(module, points, options);
    for (const kernel of kernels) this.addKernel(kernel);
  }

  addKernel(kernel: KernelSource): void {
    const placed = 'lattice' in kernel ? this.place(kernel.lattice, kernel.weight) : this.build(kernel);
    placed.scale = this.alloc(this.points * 4);
    this.lattices.push(placed);
    this.normalise(placed);
  }

  mark(): EngineMark {
    return { top: this.top, kernels: this.lattices.length };
  }

  /** Empty again, for an image of `points` pixels, in the same memory; false where a new engine is needed. */
  restart(points: number): boolean {
    if (!this.reuseFor(points)) return false;
    this.lattices.length = 0;
    return true;
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
    return {
      lattice: { d: lattice.d, vertices: lattice.vertices, rows: lattice.vertices, offsets, weights, neighbours },
      scale: 0,
      weight,
    };
  }

  /** Builds a lattice in place; the hash table and keys are scratch, released afterwards. */
  private build(kernel: Exclude<KernelSource, { lattice: PermutohedralLattice }>): PlacedLattice {
    const n = this.points;
    const { weight } = kernel;
    const { pixels, features, d } =
      'pixels' in kernel
        ? { pixels: kernel.pixels, features: null, d: kernel.pixels.image ? 5 : 2 }
        : { pixels: null, features: kernel.features, d: kernel.d };
    const d1 = d + 1;
    // An image's pixels are copied in once, their features computed here.
    const image = pixels?.image ? this.alloc(n * 3) : 0;
    if (pixels?.image) new Uint8Array(this.memory.buffer, image, n * 3).set(pixels.image);
    const tables = this.buildLattice(d, (input) => {
      if (!pixels) return void this.f32(input, n * d).set(features);
      const compute = () => this.exports.pixelFeatures(0, n, pixels.width, image, pixels.xy, pixels.rgb ?? 1, input);
      // The helper takes the second half's first-touch page faults while this thread computes.
      const bytes = n * d * 4;
      const mine = (bytes >> 13) << 12;
      if (this.helper) this.both(OP.touchPages, [input + mine, bytes - mine], compute);
      else compute();
    });
    const { vertices, keys } = tables;
    const neighbours = this.alloc(d1 * vertices * 2 * 4);
    this.linkLattice(d, vertices, vertices, tables, neighbours);
    // Keep the neighbours, drop the hash table, keys and scratch: move them down over the keys.
    const bytes = d1 * vertices * 2 * 4;
    new Uint8Array(this.memory.buffer).copyWithin(keys, neighbours, neighbours + bytes);
    this.top = (keys + bytes + 15) & ~15;
    return {
      lattice: { d, vertices, rows: vertices, offsets: tables.offsets, weights: tables.weights, neighbours: keys },
      scale: 0,
      weight,
    };
  }

  /** Splat and blur `width`-channel values at `from` through a kernel's lattice; returns where the result is. */
  private splatBlur(kernel: PlacedLattice, from: number, width: number, { a, b, a2 }: BlurBuffers): number {
    this.splatPoints(kernel.lattice, from, width, a, a2);
    return this.blurLattice(kernel.lattice, width, a, b, a);
  }

  /**
   * A kernel's splat/blur buffers for `width` channels. The helper splats into `b`, free until the
   * blur: the splat zeroes it whole and never writes slot 0 ("no neighbour"), which the blur reads as 0.
   */
  private blurBuffers(kernel: PlacedLattice, width: number): BlurBuffers {
    const bytes = (kernel.lattice.vertices + 1) * width * 4;
    const buffers = { a: this.alloc(bytes), b: this.alloc(bytes) };
    this.f32(buffers.b, width).fill(0);
    return { ...buffers, a2: this.helper ? buffers.b : 0 };
  }

  /** The kernel's normalisation, 1 / (K·1) per pixel, from one filtered column of ones (in halves with the helper). */
  private normalise(kernel: PlacedLattice): void {
    const n = this.points;
    const mark = this.top;
    const { lattice } = kernel;
    const { d, offsets, weights } = lattice;
    const d1 = d + 1;
    const { a, b, a2 } = this.blurBuffers(kernel, 4);
    const floats = (lattice.vertices + 1) * 4;
    const { splatOnes, addInto, normaliseAll } = this.exports;
    const h = n >> 1;
    const gain = sliceGain(d);
    if (this.helper) {
      this.both(OP.splatOnes, [n - h, d1, offsets + h * d1 * 4, weights + h * d1 * 4, a2, floats], () =>
        splatOnes(h, d1, offsets, weights, a, floats),
      );
      const m = (floats >> 1) & ~3;
      this.both(OP.addInto, [a + m * 4, a2 + m * 4, floats - m], () => addInto(a, a2, m));
    } else splatOnes(n, d1, offsets, weights, a, floats);
    const blurred = this.blurLattice(lattice, 4, a, b, a);
    if (this.helper)
      this.both(
        OP.normaliseAll,
        [h, n, d1, offsets, weights, blurred, gain, kernel.scale],
        () => normaliseAll(0, h, d1, offsets, weights, blurred, gain, kernel.scale),
        [6],
      );
    else normaliseAll(0, n, d1, offsets, weights, blurred, gain, kernel.scale);
    this.top = mark;
  }

  /** Runs `iterations` updates from q0 (N×channels, already restricted to the labels in play); returns Q. */
  run(
    unary: Float32Array,
    q0: Float32Array,
    channels: number,
    iterations: number,
    onIteration?: (iteration: number, q: Float32Array) => void,
  ): Float32Array {
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
   * Mean field straight from the network's probabilities (N×classes, or a file of them, read here
   * and checked): the unary, the starting Q (`initialQ`, N×classes, or the probabilities), the
   * iterations over the `active` labels and the expansion back to all labels with the argmax all
   * happen in WebAssembly.
   */
  infer<WithQ extends boolean = true>(
    probabilities: ProbabilitySource,
    classes: number,
    pruneBelow: number,
    iterations: number,
    options: {
      readonly initialQ?: Float32Array | undefined;
      readonly onIteration?: ((iteration: number, q: Float32Array, active: readonly number[]) => void) | undefined;
      readonly withQ?: WithQ;
    } = {},
  ): { q: WithQ extends false ? null : Float32Array; labels: Uint8Array; activeLabels: number[] } {
    const { initialQ, onIteration } = options;
    const withQ = options.withQ !== false;
    const n = this.points;
    const mark = this.top;
    // The unary's rows (up to `widest` bytes) are made where the probabilities (`row` bytes) lie,
    // pixel by pixel: they sit one unary row plus n·(widest − row) bytes in, so each unary row is
    // written after the probabilities under it were read. Fresh pages cost more than the copy.
    const row = classes * 4;
    const widest = ((classes + 3) & ~3) * 4;
    const unary = this.alloc(n * widest + widest + 16); // + 16: prepare reads whole vectors
    const pIn = unary + n * (widest - row) + widest;
    if (probabilities instanceof Float32Array) this.f32(pIn, n * classes).set(probabilities);
    else {
      // With the helper, each thread reads half (and takes its pages' first-touch faults).
      const split = (fd: number, half: number, first: () => void) => {
        this.both(OP.readFile, [fd, pIn + half, n * row - half, probabilities.offset + half], first);
        return this.helperResult();
      };
      readProbabilityFile(
        probabilities,
        new Uint8Array(this.memory.buffer, pIn, n * row),
        this.helper ? split : undefined,
      );
      const problem = this.normaliseProbabilities(classes, pIn);
      if (problem !== -1) throw probabilityProblem(problem, this.f32(pIn, n * classes), classes, probabilities);
    }
    const active = activeFromPeaks(this.peaks(classes, pIn), pruneBelow);
    const m = active.length;
    const buffers = this.runBuffers(m, unary);
    const { stride } = buffers;
    const list = this.alloc(m * 4);
    new Int32Array(this.memory.buffer, list, m).set(active);
    const qIn = initialQ ? this.alloc(n * classes * 4 + 16) : 0;
    if (initialQ) this.f32(qIn, n * classes).set(initialQ);
    const h = n >> 1;
    // In place, so on one thread (the halves would overwrite each other's input); the helper
    // meanwhile takes the first-touch page faults of Q's last 60% (this thread, computing, the rest).
    const prepare = () => this.exports.prepare(n, classes, list, m, stride, pIn, qIn, buffers.u, buffers.q);
    const qBytes = n * stride * 4;
    const mine = Math.floor((qBytes * 0.4) / 4096) * 4096;
    if (this.helper) this.both(OP.touchPages, [buffers.q + mine, qBytes - mine], prepare);
    else prepare();
    const q = this.iterate(
      buffers,
      m,
      iterations,
      onIteration ? (it, current) => onIteration(it, current, active) : undefined,
    );
    const full = withQ ? this.alloc(n * classes * 4) : 0;
    const labels = this.alloc(n);
    const expand = (from: number, count: number) => [
      count,
      m,
      stride,
      q + from * stride * 4,
      classes,
      list,
      full ? full + from * classes * 4 : 0,
      labels + from,
    ];
    if (this.helper)
      this.both(OP.expand, expand(h, n - h), () =>
        this.exports.expand(...(expand(0, h) as Parameters<CrfExports['expand']>)),
      );
    else this.exports.expand(...(expand(0, n) as Parameters<CrfExports['expand']>));
    // The marginals leave WebAssembly memory only when asked for (a copy of N×classes floats).
    const marginals = (withQ ? this.f32(full, n * classes).slice() : null) as WithQ extends false ? null : Float32Array;
    const result = {
      q: marginals,
      labels: new Uint8Array(this.memory.buffer, labels, n).slice(),
      activeLabels: active,
    };
    this.top = mark;
    return result;
  }

  /** Checks and normalises the probabilities at `at` (two halves with the helper): −1, or the first problem in pixel order (see the module's normaliseProbabilities). */
  private normaliseProbabilities(classes: number, at: number): number {
    const n = this.points;
    const { normaliseProbabilities } = this.exports;
    if (!this.helper) return normaliseProbabilities(n, classes, at);
    const h = n >> 1;
    let first = -1;
    this.both(
      OP.normaliseProbabilities,
      [n - h, classes, at + h * classes * 4],
      () => void (first = normaliseProbabilities(h, classes, at)),
    );
    const second = this.helperResult();
    // The second half's finding, in whole-image numbering: a value's index, or −2 − its pixel.
    return first !== -1 || second === -1 ? first : second >= 0 ? second + h * classes : second - h;
  }

  /** Each label's largest probability over all pixels (two halves with the helper). */
  private peaks(classes: number, at: number): Float32Array {
    const n = this.points;
    const peak = this.alloc(classes * 4);
    if (!this.helper) {
      this.exports.peaks(n, classes, at, peak);
      return this.f32(peak, classes);
    }
    const h = n >> 1;
    const other = this.alloc(classes * 4);
    this.both(OP.peaks, [n - h, classes, at + h * classes * 4, other], () => this.exports.peaks(h, classes, at, peak));
    const [mine, theirs] = [this.f32(peak, classes), this.f32(other, classes)];
    return mine.map((v, c) => Math.max(v, theirs[c]!));
  }

  /**
   * The buffers of one run, `channels` padded to a multiple of 4. Q is updated in place: the update
   * reads only the unary and the blurred messages, which were made from all of Q before it.
   */
  private runBuffers(channels: number, unary?: number) {
    const n = this.points;
    const stride = (channels + 3) & ~3;
    // Each kernel's splat/blur buffers, and the kernels' descriptions for sliceUpdate.
    const blur = this.lattices.map((kernel) => this.blurBuffers(kernel, stride));
    return {
      stride,
      u: unary ?? this.alloc(n * stride * 4),
      q: this.alloc(n * stride * 4),
      blur,
      kernels: this.alloc(2 * KERNEL_BYTES),
    };
  }

  private unpad(at: number, channels: number, stride: number): Float32Array {
    const n = this.points;
    const from = this.f32(at, n * stride);
    const out = new Float32Array(n * channels);
    for (let p = 0; p < n; p++) out.set(from.subarray(p * stride, p * stride + channels), p * channels);
    return out;
  }

  /** The mean-field iterations over prepared buffers; returns where the final Q is. */
  private iterate(
    buffers: ReturnType<WasmMeanField['runBuffers']>,
    channels: number,
    iterations: number,
    onIteration?: (iteration: number, q: Float32Array) => void,
  ): number {
    const n = this.points;
    const { stride, u, q, blur, kernels } = buffers;
    for (let it = 0; it < iterations; it++) {
      const sliced = this.lattices.map((kernel, k) => ({
        ...kernel,
        blurred: this.splatBlur(kernel, q, stride, blur[k]!),
      }));
      this.sliceUpdate(sliced, kernels, n, 0, channels, stride, u, q);
      if (onIteration) onIteration(it, this.unpad(q, channels, stride));
    }
    return q;
  }
}
