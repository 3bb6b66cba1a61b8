/**
 * What every engine over the CRF's WebAssembly module (wasmModule.ts) shares: an instance over its own shared memory, a bump
 * allocator in that memory, and optionally a helper thread (meanFieldHelper.ts) that instantiates
 * the module over the same memory and runs half of each step, so one frame uses two cores.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { startWorker } from '../core/startWorker.js';
import type { CrfExports } from './latticeExports.js';
import { adviseHugePages, hugePageAlignedEnd, withNativeKernels } from './crfNative.js';
import { CONTROL, CONTROL_WORDS, OP, spinWhile, SPIN_MICROS } from './meanFieldControl.js';
import {
  CrfMemoryLimitError,
  type LatticeTables,
  type LatticeView,
  MIN_POINTS_FOR_TWO_THREADS,
  sliceGain,
  type SlicedKernel,
  KERNEL_BYTES,
  takeSpareHelper,
} from './wasmModule.js';

/** 64 KiB pages the shared memory may grow to (2 GiB: a 1280×720, 21-label CRF needs ~600 MB). */
const MAX_PAGES = 32768;
const HELPER_READY_TIMEOUT_MS = 10_000;
/** One step is milliseconds even at 4K: a helper silent this long is gone. */
const HELPER_STEP_TIMEOUT_MS = 30_000;
/** The module's own static data (Mathf.exp's tables) sits in the first page: allocate after it. */
const HEAP_BASE = 65536;

/**
 * An instance of the module over its own shared memory, with a bump allocator (`alloc`, released
 * by resetting `top`) and, with `threads: 2` and enough points, a helper thread: `both` runs a step's
 * two halves at once, ours here and the helper's there.
 */
export class WasmEngine {
  protected readonly exports: CrfExports;
  protected readonly memory: WebAssembly.Memory;
  protected top = HEAP_BASE;
  /** The second thread and the control block it watches, when running on two cores. */
  protected helper: {
    readonly thread: Worker | MessagePort;
    readonly words: Int32Array;
    readonly floats: Float32Array;
    seq: number;
  } | null = null;

  /** Where allocations start: after the module's data and the helper's control block. */
  private readonly floor: number;
  /** The memory's first 2 MiB-aligned byte when it has huge pages (it then grows to such boundaries). */
  private readonly hugePageBoundary: number | null;

  constructor(
    private readonly module: WebAssembly.Module,
    protected points: number,
    private readonly options: { readonly threads?: number } = {},
  ) {
    this.memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true });
    this.hugePageBoundary = adviseHugePages(this.memory, MAX_PAGES * 65536);
    this.exports = withNativeKernels(
      new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as CrfExports,
      this.memory,
    );
    if (this.wantsHelper(points)) this.startHelper();
    this.floor = this.top;
  }

  private wantsHelper(points: number): boolean {
    return (this.options.threads ?? 1) > 1 && points >= MIN_POINTS_FOR_TWO_THREADS;
  }

  /**
   * Starts over for an image of `points` pixels in the same memory (and helper), everything
   * allocated so far dropped: true, or false where the helper would have to come or go (make a new
   * engine then). A shared memory is freed only by the garbage collector, which does not see it
   * grow: one engine per image size ran a tuning search out of 24 GiB.
   */
  reuseFor(points: number): boolean {
    if (this.wantsHelper(points) !== Boolean(this.helper)) return false;
    this.points = points;
    this.top = this.floor;
    return true;
  }

  /** Two threads: the helper instantiates the module over this memory and waits for steps. */
  private startHelper(): void {
    const control = this.alloc(CONTROL_WORDS * 4);
    const words = new Int32Array(this.memory.buffer, control, CONTROL_WORDS).fill(0);
    // The spare helper if there is one (its owner ends the thread), else one of our own.
    const thread = takeSpareHelper() ?? startWorker(import.meta.url, 'meanFieldHelper', null);
    thread.unref();
    thread.postMessage({ module: this.module, memory: this.memory, control });
    this.helper = { thread, words, floats: new Float32Array(this.memory.buffer, control, CONTROL_WORDS), seq: 0 };
    if (
      Atomics.wait(words, CONTROL.READY, 0, HELPER_READY_TIMEOUT_MS) === 'timed-out' &&
      Atomics.load(words, CONTROL.READY) === 0
    ) {
      this.dispose();
      throw new Error('the CRF helper thread did not start');
    }
  }

  /** Threads this instance runs on: 2 with a helper. */
  get threads(): number {
    return this.helper ? 2 : 1;
  }

  /** Stops the helper thread (the memory goes with the last reference). */
  dispose(): void {
    if (!this.helper) return;
    this.send(OP.exit, []);
    const { thread } = this.helper;
    if ('terminate' in thread) void thread.terminate();
    else thread.close();
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
  protected both(op: number, args: readonly number[], own: () => void, floatArgs: readonly number[] = []): void {
    const seq = this.send(op, args, floatArgs);
    own();
    const words = this.helper!.words;
    if (Atomics.load(words, CONTROL.DONE) !== seq) spinWhile(words, CONTROL.DONE, seq - 1, SPIN_MICROS);
    const deadline = performance.now() + HELPER_STEP_TIMEOUT_MS;
    for (let done = Atomics.load(words, CONTROL.DONE); done !== seq; done = Atomics.load(words, CONTROL.DONE)) {
      if (performance.now() > deadline) throw new Error('the CRF helper thread stopped answering');
      Atomics.wait(words, CONTROL.DONE, done, 1000);
    }
    if (Atomics.load(words, CONTROL.FAILED)) throw new Error('the CRF helper thread failed a step');
  }

  /** The integer a helper step returned (buildLattice's vertex count). */
  protected helperResult(): number {
    return this.helper!.words[CONTROL.RESULT]!;
  }

  /**
   * A lattice over all points, built in this memory: offsets and weights (points·(d+1) each), then
   * the hash table and keys (kept: `keys` is where they start), then scratch from `scratchStart`
   * (the features `fill` writes, and the helper's half) that the caller may release. With the helper,
   * each half of the points is built on its own thread and the halves merged. Most images need far
   * fewer vertices than points·(d+1): it tries with room for `room` per point first.
   */
  protected buildLattice(d: number, fill: (input: number) => void, room = 1): LatticeTables {
    const n = this.points;
    const d1 = d + 1;
    const offsets = this.alloc(n * d1 * 4);
    const weights = this.alloc(n * d1 * 4);
    const mark = this.top;
    for (const capacity of [Math.ceil(n * Math.min(room, d1)), n * d1]) {
      this.top = mark;
      const keys = this.alloc(capacity * d * 4);
      let tableCapacity = 1;
      while (tableCapacity < capacity * 2) tableCapacity <<= 1;
      const table = this.alloc(tableCapacity * 4);
      const scratchStart = this.top;
      const scratch = this.alloc(1024);
      const input = this.alloc(n * d * 4);
      fill(input);
      const tables = { offsets, weights, keys, table, tableCapacity, capacity, scratch, scratchStart };
      const vertices = this.buildLatticeInto(d, input, tables);
      if (vertices >= 0) return { ...tables, vertices };
    }
    throw new Error('lattice construction ran out of room');
  }

  /**
   * Builds a lattice over all points from their features at `input` into existing offsets,
   * weights, keys and table (on two threads with the helper; its scratch is allocated above `top`).
   * Returns the vertex count, or −1 when more than `capacity` are needed.
   */
  protected buildLatticeInto(d: number, input: number, t: Omit<LatticeTables, 'vertices' | 'scratchStart'>): number {
    if (this.helper) return this.buildInHalves(d, input, t);
    return this.exports.buildLattice(
      this.points,
      d,
      input,
      t.offsets,
      t.weights,
      t.keys,
      t.capacity,
      t.table,
      t.tableCapacity,
      t.scratch,
    );
  }

  /** Each vertex's neighbours along each direction, `rows` the table's row stride (two threads with the helper). */
  protected linkLattice(
    d: number,
    vertices: number,
    rows: number,
    t: Pick<LatticeTables, 'keys' | 'table' | 'tableCapacity' | 'scratch'>,
    neighbours: number,
  ): void {
    const { keys, table, tableCapacity, scratch } = t;
    if (!this.helper)
      return this.exports.neighboursOf(0, vertices, rows, d, keys, table, tableCapacity, neighbours, scratch);
    const half = vertices >> 1;
    const mark = this.top;
    const scratch2 = this.alloc(1024);
    this.both(OP.neighboursOf, [half, vertices, rows, d, keys, table, tableCapacity, neighbours, scratch2], () =>
      this.exports.neighboursOf(0, half, rows, d, keys, table, tableCapacity, neighbours, scratch),
    );
    this.top = mark;
  }

  /**
   * The lattice build on two threads: each half of the points into its own table, then the second
   * table's vertices inserted into the first and the second half's offsets renumbered. The vertex
   * numbering differs from a one-thread build; the lattice (and every filtered value) does not.
   * Returns the vertex count, or −1 when `capacity` is too small.
   */
  private buildInHalves(d: number, input: number, a: Omit<LatticeTables, 'vertices' | 'scratchStart'>): number {
    const n = this.points;
    const d1 = d + 1;
    const h = n >> 1;
    const keysB = this.alloc(a.capacity * d * 4);
    const tableB = this.alloc(a.tableCapacity * 4);
    const scratchB = this.alloc(1024);
    let countA = 0;
    this.both(
      OP.buildLattice,
      [
        n - h,
        d,
        input + h * d * 4,
        a.offsets + h * d1 * 4,
        a.weights + h * d1 * 4,
        keysB,
        a.capacity,
        tableB,
        a.tableCapacity,
        scratchB,
      ],
      () => {
        countA = this.exports.buildLattice(
          h,
          d,
          input,
          a.offsets,
          a.weights,
          a.keys,
          a.capacity,
          a.table,
          a.tableCapacity,
          a.scratch,
        );
      },
    );
    const countB = this.helperResult();
    if (countA < 0 || countB < 0) return -1;
    const remap = this.alloc(countB * 4);
    const count = this.exports.mergeKeys(countB, d, keysB, a.keys, a.table, a.tableCapacity, countA, a.capacity, remap);
    if (count < 0) return -1;
    this.exports.remapOffsets(a.offsets + h * d1 * 4, (n - h) * d1, remap);
    return count;
  }

  /**
   * Splats `width`-channel point values at `values` into `into` ((vertices + 1) · width floats,
   * zeroed first). With the helper: it splats the second half of the points into `helperInto`,
   * which is then added to `into`, the two halves of the sum on the two threads.
   */
  protected splatPoints(lattice: LatticeView, values: number, width: number, into: number, helperInto: number): void {
    const { offsets, weights } = lattice;
    const d1 = lattice.d + 1;
    const floats = (lattice.vertices + 1) * width;
    const { splat, addInto } = this.exports;
    if (!this.helper) return splat(this.points, d1, width, offsets, weights, values, into, floats);
    const h = this.points >> 1;
    const tail = (base: number, perPoint: number) => base + h * perPoint * 4;
    this.both(
      OP.splat,
      [this.points - h, d1, width, tail(offsets, d1), tail(weights, d1), tail(values, width), helperInto, floats],
      () => splat(h, d1, width, offsets, weights, values, into, floats),
    );
    const m = (floats >> 1) & ~3;
    this.both(OP.addInto, [into + m * 4, helperInto + m * 4, floats - m], () => addInto(into, helperInto, m));
  }

  /**
   * Blurs lattice values at `from` along the d+1 directions, writing `first`, then `second`, then
   * `first`… (`second` may be `from`: it is free once read); returns the buffer holding the result.
   * Vertex slot 0 ("no neighbour") of every buffer read must be zero. With the helper, each
   * direction is split by vertex range.
   */
  protected blurLattice(lattice: LatticeView, width: number, from: number, first: number, second: number): number {
    const { vertices, rows, neighbours } = lattice;
    const half = vertices >> 1;
    const { blurDirection } = this.exports;
    let [src, dst] = [from, first];
    for (let j = 0; j <= lattice.d; j++) {
      const [s, t] = [src, dst];
      if (this.helper)
        this.both(OP.blurDirection, [j, half, vertices, rows, width, neighbours, s, t], () =>
          blurDirection(j, 0, half, rows, width, neighbours, s, t),
        );
      else blurDirection(j, 0, vertices, rows, width, neighbours, s, t);
      [src, dst] = [t, t === first ? second : first];
    }
    return src;
  }

  /**
   * Slice + update for `count` pixels (list[0..count), or all when `list` is 0) into `next`, the
   * kernels described at `describe` (2 · KERNEL_BYTES); the helper takes half from `minPoints` up.
   */
  protected sliceUpdate(
    kernels: readonly SlicedKernel[],
    describe: number,
    count: number,
    list: number,
    channels: number,
    stride: number,
    unary: number,
    next: number,
    minPoints = 0,
  ): void {
    const words = new Int32Array(this.memory.buffer, describe, (2 * KERNEL_BYTES) / 4);
    const floats = new Float32Array(this.memory.buffer, describe, (2 * KERNEL_BYTES) / 4);
    kernels.forEach(({ lattice, blurred, scale, weight }, k) => {
      const at = (k * KERNEL_BYTES) / 4;
      words.set([lattice.offsets, lattice.weights, lattice.d + 1, blurred, scale], at);
      floats[at + 5] = weight * sliceGain(lattice.d);
    });
    const n = kernels.length;
    const h = count >> 1;
    if (this.helper && count >= minPoints)
      this.both(OP.sliceUpdate, [h, count, list, channels, stride, unary, next, describe, n], () =>
        this.exports.sliceUpdate(0, h, list, channels, stride, unary, next, describe, n),
      );
    else this.exports.sliceUpdate(0, count, list, channels, stride, unary, next, describe, n);
  }

  protected alloc(bytes: number): number {
    const at = this.top;
    // Computed in doubles: `| 0`-style masks would wrap past 2 GiB into negative addresses.
    const top = Math.ceil((at + bytes) / 16) * 16;
    if (top > MAX_PAGES * 65536) throw new CrfMemoryLimitError(top);
    const memory = this.memory;
    if (top > memory.buffer.byteLength) {
      const end =
        this.hugePageBoundary === null ? top : hugePageAlignedEnd(top, this.hugePageBoundary, MAX_PAGES * 65536);
      try {
        memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
      } catch {
        throw new CrfMemoryLimitError(top); // the system could not give that much
      }
    }
    this.top = top;
    return at;
  }

  protected f32(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, length);
  }
}
