/**
 * The kept state of the video CRF (videoMeanField.ts): each kernel's lattice and the splats kept
 * with it, built on a cold frame and kept up to date on warm ones — pixels whose colour moved
 * re-embedded, the lattice rebuilt from the current colours once it has grown by half.
 */
import type { CrfParams } from './crfParams.js';
import { WasmEngine } from './wasmEngine.js';
import { type LatticeView, sliceGain } from './wasmModule.js';

/** Rebuild the lattice when it has grown by this factor since it was built (vertices left empty). */
const MAX_GROWTH = 1.5;
/** Label-set growths between cold frames at most (each takes new buffers from the engine's memory). */
const MAX_GROWTHS = 4;

/** One kernel's lattice and the buffers kept with it (`rows`: vertex rows allocated). */
export interface VideoKernel extends LatticeView {
  readonly weight: number;
  vertices: number;
  /** 1/(K·1) per pixel (NORMALIZE_AFTER). */
  readonly scale: number;
  /** splat(Q), kept: (rows + 1) × stride floats. */
  readonly kept: number;
  /** Blur buffers, and the helper's splat on cold frames. */
  readonly a: number;
  readonly b: number;
  readonly a2: number;
  /** Bilateral only: the hash table, keys and the splat of ones (stride 4) with its blur buffers. */
  readonly table?: {
    readonly keys: number;
    readonly table: number;
    readonly tableCapacity: number;
    readonly ones: number;
    readonly onesA: number;
    readonly onesB: number;
    builtVertices: number;
  };
}

/** What a cold frame builds and warm frames update: byte offsets in the engine's memory. */
export interface KeptState {
  readonly classes: number;
  readonly active: readonly number[];
  readonly m: number;
  readonly stride: number;
  readonly kernels: VideoKernel[];
  readonly activeIndex: number;
  /** Per label (rounded up to 4): the probability that brings a label not in play into play; +∞ for those in play. */
  readonly limits: number;
  readonly probabilities: number;
  readonly reference: number;
  readonly image: number;
  readonly colours: number;
  q: number;
  next: number;
  readonly unary: number;
  readonly labels: number;
  /** Each pixel's largest Q (from its last computation): the `sure` test reads this, not Q. */
  readonly top: number;
  readonly activeList: number;
  readonly movedList: number;
  /** Every pixel, in order (a list for the listed kernels). */
  readonly allList: number;
  readonly counts: number;
  /** The helper's half of the selection: its lists and counts, appended to ours. */
  readonly helperLists: { readonly active: number; readonly moved: number; readonly counts: number } | null;
  readonly describe: number;
  readonly onesRow: number;
  readonly scratch: number;
}

export abstract class VideoLattice extends WasmEngine {
  protected state: KeptState | null = null;
  /** Lattices rebuilt on warm frames so far (vertices left empty by moved pixels). */
  rebuilds = 0;
  /** The camera noise (σ of a frame-to-frame difference, levels) the colour test allows for. */
  protected noise = 0;
  protected readonly base: number;
  /** Label-set growths since the last cold frame. */
  protected growths = 0;

  constructor(
    module: WebAssembly.Module,
    protected readonly width: number,
    height: number,
    protected readonly params: CrfParams,
    options: { readonly threads?: number } = {},
  ) {
    super(module, width * height, options);
    this.base = this.top;
  }

  /**
   * A kernel's lattice from all pixels' features, with buffers for `rows` vertices (the
   * bilateral one keeps its hash table and room to grow); its blur buffers' vertex slot 0 is zero.
   */
  protected buildKernel(
    pixels: { readonly xy: number; readonly image: number; readonly rgb: number },
    weight: number,
    stride: number,
  ): VideoKernel {
    const d = pixels.image ? 5 : 2;
    const growable = pixels.image !== 0; // the position lattice never changes
    const { offsets, weights, keys, table, tableCapacity, capacity, vertices, scratchStart } = this.buildLattice(
      d,
      (input) => this.exports.pixelFeatures(0, this.points, this.width, pixels.image, pixels.xy, pixels.rgb, input),
      growable ? MAX_GROWTH : 1,
    );
    this.top = scratchStart;
    const scratch = this.alloc(1024);
    // A fixed lattice needs rows for its vertices only; a growable one room to grow to the size at
    // which it is rebuilt (its keys have room for MAX_GROWTH per point: a fine colour grid, σβ 3,
    // has nearly a vertex per pixel, and with room for one per point it was rebuilt every other
    // frame of vtest.avi). A frame that outgrows it starts cold and sizes it again.
    const rows = growable ? Math.min(capacity, Math.ceil(MAX_GROWTH * vertices) + 4096) : vertices;
    const neighbours = this.alloc((d + 1) * rows * 2 * 4);
    this.linkLattice(d, vertices, rows, { keys, table, tableCapacity, scratch }, neighbours);
    const buffer = (width: number) => {
      const at = this.alloc((rows + 1) * width * 4);
      this.f32(at, (rows + 1) * width).fill(0);
      return at;
    };
    return {
      d,
      weight,
      offsets,
      weights,
      neighbours,
      rows,
      vertices,
      scale: this.alloc(this.points * 4),
      kept: buffer(stride),
      a: buffer(stride),
      b: buffer(stride),
      a2: this.helper ? buffer(stride) : 0,
      ...(growable
        ? {
            table: {
              keys,
              table,
              tableCapacity,
              ones: buffer(4),
              onesA: buffer(4),
              onesB: buffer(4),
              builtVertices: vertices,
            },
          }
        : {}),
    };
  }

  /**
   * The kernel's 1/(K·1) for the first `count` listed pixels (all on a cold frame), from its splat
   * of ones: made `fresh` on a cold frame, kept and moved with the points after that.
   */
  protected normalise(state: KeptState, kernel: VideoKernel, count: number, fresh: boolean): void {
    const d1 = kernel.d + 1;
    const mark = this.top;
    // The position kernel never moves: its splat of ones is needed once, in scratch buffers.
    const width = (kernel.rows + 1) * 4;
    const [ones, a, b] = kernel.table
      ? [kernel.table.ones, kernel.table.onesA, kernel.table.onesB]
      : [this.alloc(width * 4), this.alloc(width * 4), this.alloc(width * 4)];
    if (!kernel.table) for (const at of [ones, a, b]) this.f32(at, width).fill(0);
    if (fresh)
      this.exports.splatListed(
        state.allList,
        this.points,
        d1,
        4,
        kernel.offsets,
        kernel.weights,
        state.onesRow,
        0,
        ones,
        1,
      );
    const blurred = this.blurLattice(kernel, 4, ones, a, b);
    this.exports.normaliseListed(
      fresh ? state.allList : state.activeList,
      count,
      d1,
      kernel.offsets,
      kernel.weights,
      blurred,
      sliceGain(kernel.d),
      kernel.scale,
    );
    this.top = mark;
  }

  /** kept = splat(Q) over all pixels (a cold frame's iteration), the helper splatting half. */
  protected splatAll(state: KeptState, kernel: VideoKernel): void {
    this.splatPoints(kernel, state.q, state.stride, kernel.kept, kernel.a2);
  }

  /**
   * The invariant warm frames rely on, for tests: each kept splat equals a fresh splat of the
   * current Q through the current lattice. Returns the largest difference relative to the largest
   * value (0 before any frame); float rounding of the frame-to-frame updates leaves ~1e-6.
   */
  keptSplatError(): number {
    const state = this.state;
    if (!state) return 0;
    let worst = 0;
    for (const kernel of state.kernels) {
      const floats = (kernel.vertices + 1) * state.stride;
      const mark = this.top;
      const fresh = this.alloc(floats * 4);
      this.exports.splat(
        this.points,
        kernel.d + 1,
        state.stride,
        kernel.offsets,
        kernel.weights,
        state.q,
        fresh,
        floats,
      );
      const [a, b] = [this.f32(kernel.kept, floats), this.f32(fresh, floats)];
      let [largest, difference] = [0, 0];
      for (let i = 0; i < floats; i++) {
        largest = Math.max(largest, Math.abs(b[i]!));
        difference = Math.max(difference, Math.abs(a[i]! - b[i]!));
      }
      worst = Math.max(worst, difference / Math.max(largest, 1e-30));
      this.top = mark;
    }
    return worst;
  }

  /**
   * The bilateral lattice built again from this frame's colours (all pixels), the kept splats of Q
   * and of ones redone over it and every pixel's normalisation: what a cold frame does to the
   * lattice, without its iterations. False when it does not fit (then the frame starts cold).
   */
  protected rebuildLattice(state: KeptState, kernel: VideoKernel): boolean {
    const table = kernel.table!;
    const n = this.points;
    const { bilateral } = this.params;
    const used = (kernel.vertices + 1) * 4;
    for (const at of [kernel.kept, kernel.a, kernel.b, kernel.a2])
      if (at) this.f32(at, used * (state.stride / 4)).fill(0);
    for (const at of [table.ones, table.onesA, table.onesB]) this.f32(at, used).fill(0);
    // Built as a cold frame builds it (on both cores with the helper), into the lattice's own tables.
    const mark = this.top;
    const input = this.alloc(n * 5 * 4);
    this.exports.pixelFeatures(0, n, this.width, state.image, bilateral.xy, bilateral.rgb, input);
    const tables = {
      offsets: kernel.offsets,
      weights: kernel.weights,
      keys: table.keys,
      table: table.table,
      tableCapacity: table.tableCapacity,
      capacity: kernel.rows,
      scratch: state.scratch,
    };
    const vertices = this.buildLatticeInto(5, input, tables);
    this.top = mark;
    if (vertices < 0) return false;
    this.linkLattice(5, vertices, kernel.rows, tables, kernel.neighbours);
    kernel.vertices = vertices;
    table.builtVertices = vertices;
    new Uint8Array(this.memory.buffer, state.colours, n * 3).set(
      new Uint8Array(this.memory.buffer, state.image, n * 3),
    );
    this.splatAll(state, kernel);
    this.normalise(state, kernel, n, true);
    this.rebuilds += 1;
    return true;
  }

  /**
   * Re-embeds the pixels whose colour moved (the moved list) in the bilateral lattice: their old
   * splat (of Q and of ones) taken out, new corners found (new vertices linked in), splat put back.
   * False when the lattice must be rebuilt instead (out of room, or grown too much).
   */
  protected movePixels(state: KeptState, kernel: VideoKernel, moved: number): boolean {
    const table = kernel.table!;
    const d1 = kernel.d + 1;
    const { movedList, stride, q, onesRow } = state;
    const { splatListed, movePoints, linkVertices, remember } = this.exports;
    const takeOut = (sign: number) => {
      splatListed(movedList, moved, d1, stride, kernel.offsets, kernel.weights, q, stride * 4, kernel.kept, sign);
      splatListed(movedList, moved, d1, 4, kernel.offsets, kernel.weights, onesRow, 0, table.ones, sign);
    };
    takeOut(-1);
    const { bilateral } = this.params;
    const before = kernel.vertices;
    const after = movePoints(
      movedList,
      moved,
      this.width,
      state.image,
      bilateral.xy,
      bilateral.rgb,
      kernel.offsets,
      kernel.weights,
      table.keys,
      kernel.rows,
      table.table,
      table.tableCapacity,
      before,
      state.scratch,
    );
    if (after < 0 || after > table.builtVertices * MAX_GROWTH) return false; // the moved points' splat is rebuilt with the lattice
    if (after > before)
      linkVertices(
        before,
        after,
        kernel.rows,
        kernel.d,
        table.keys,
        table.table,
        table.tableCapacity,
        kernel.neighbours,
        state.scratch,
      );
    kernel.vertices = after;
    takeOut(1);
    remember(movedList, moved, state.classes, 0, 0, state.image, state.colours);
    return true;
  }

  /**
   * The label set of the warm state grown by the labels that came into play, without a cold frame:
   * Q's rows laid out again (the new labels at 0, as the kept splats already are), the kept splats
   * made afresh over the same lattices at the new row width. Null when the rows would pass 24
   * labels, or after a few growths since the last cold frame (each takes new buffers from the engine's
   * memory, which a cold frame gives back).
   */
  protected growLabels(state: KeptState, arrived: readonly number[]): KeptState | null {
    if (this.growths >= MAX_GROWTHS) return null;
    const active = [...new Set([...state.active, ...arrived])].sort((a, b) => a - b);
    const m = active.length;
    const stride = (m + 3) & ~3;
    if (stride > 24) return null;
    this.growths += 1;
    const n = this.points;
    const at = state.active.map((c) => active.indexOf(c));
    const relaid = (from: number) => {
      const to = this.alloc(n * stride * 4);
      const [src, dst] = [this.f32(from, n * state.stride), this.f32(to, n * stride).fill(0)];
      for (let p = 0; p < n; p++)
        for (let k = 0; k < state.m; k++) dst[p * stride + at[k]!] = src[p * state.stride + k]!;
      return to;
    };
    const activeIndex = this.alloc(m * 4);
    new Int32Array(this.memory.buffer, activeIndex, m).set(active);
    const limits = this.f32(state.limits, (state.classes + 3) & ~3);
    for (const c of active) limits[c] = Infinity;
    const buffer = (rows: number) => {
      const at = this.alloc((rows + 1) * stride * 4);
      this.f32(at, (rows + 1) * stride).fill(0);
      return at;
    };
    const kernels = state.kernels.map((k) => ({
      ...k,
      kept: buffer(k.rows),
      a: buffer(k.rows),
      b: buffer(k.rows),
      a2: this.helper ? buffer(k.rows) : 0,
    }));
    const grown: KeptState = {
      ...state,
      active,
      m,
      stride,
      activeIndex,
      kernels,
      q: relaid(state.q),
      // `next` is written before it is read, and only for the pixels a frame recomputes.
      next: this.alloc(n * stride * 4),
      unary: this.alloc(n * stride * 4),
    };
    for (const kernel of kernels) this.splatAll(grown, kernel);
    this.state = grown;
    return grown;
  }

  /** The labels not in play whose probability passes their limit somewhere in this frame. */
  protected arrivedLabels(state: KeptState): number[] {
    const { classes } = state;
    const peak = state.scratch;
    this.exports.peaks(this.points, classes, state.probabilities, peak);
    const peaks = this.f32(peak, classes);
    const limits = this.f32(state.limits, classes);
    return Array.from({ length: classes }, (_, c) => c).filter((c) => peaks[c]! > limits[c]!);
  }
}
