/**
 * The CRF's WebAssembly module (`crf/wasm/lattice.as.ts`, compiled by AssemblyScript at build time),
 * loaded once per thread, and the layout every engine over it shares: lattices and kernels as byte
 * offsets in an engine's memory.
 */
import { existsSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { settings } from '../core/settings.js';

/** A frame whose CRF needs more than the WebAssembly memory can hold (2 GiB, 32-bit addresses). */
export class CrfMemoryLimitError extends Error {
  constructor(bytes: number) {
    super(`the CRF would need ${(bytes / 2 ** 30).toFixed(1)} GiB of its 2 GiB of memory`);
  }
}
/**
 * Below this many pixels a second thread costs more than it saves: a frame's mean field hands over
 * between the threads about twenty times per iteration, and under ~64k pixels the hand-overs cost
 * more than the halved work.
 */
export const MIN_POINTS_FOR_TWO_THREADS = 65_536;

let compiled: WebAssembly.Module | null | undefined;

/** A helper thread started ahead of time (by a CRF runner), waiting for the first engine that wants one. */
let spareHelper: MessagePort | null = null;

/**
 * Hands this thread a helper thread already booted elsewhere, reached through `port`: the first
 * engine that runs on two cores takes it instead of starting one (a thread takes ~50 ms to boot).
 */
export function offerHelper(port: MessagePort): void {
  spareHelper?.close();
  spareHelper = port;
}

/** The helper thread offered ahead of time, if any (the taker owns it from now on). */
export function takeSpareHelper(): MessagePort | null {
  const port = spareHelper;
  spareHelper = null;
  return port;
}

/** The compiled module, or null where it was not built (then the TypeScript filter is used). */
export function latticeModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  // Beside this file in dist/; from source (tests) the build's copy in dist/.
  const candidates = [
    new URL('./lattice.wasm', import.meta.url),
    new URL('../dist/crf/lattice.wasm', import.meta.url),
  ].map((u) => fileURLToPath(u));
  const file = candidates.find((f) => existsSync(f));
  if (file) {
    // Optimised code from the first call: the baseline tier (Liftoff) would run each kernel's first
    // call, over a whole image, at a fraction of the speed — +0.3 s on a one-shot 1280×720 CRF.
    // Process-wide, and this is the process's only WebAssembly.
    v8.setFlagsFromString('--no-liftoff');
  }
  compiled = file && settings().crf.wasm ? new WebAssembly.Module(readFileSync(file)) : null;
  return compiled;
}

/**
 * A lattice laid out in an engine's memory: per point d+1 offsets (vertex+1) and weights, and each
 * vertex's neighbours along each direction in a table `rows` vertices wide (its vertices, or more
 * where it grows).
 */
export interface LatticeView {
  readonly d: number;
  readonly vertices: number;
  readonly rows: number;
  readonly offsets: number;
  readonly weights: number;
  readonly neighbours: number;
}

/** A kernel for `sliceUpdate`: its lattice, blurred values, per-pixel normalisation and weight. */
export interface SlicedKernel {
  readonly lattice: LatticeView;
  readonly blurred: number;
  readonly scale: number;
  readonly weight: number;
}

/** Bytes of one kernel's description for the module's sliceUpdate (six 32-bit words). */
export const KERNEL_BYTES = 24;

/** The slice's factor 1/(1 + 2^−d): the lattice's blur leaves a constant gain. */
export function sliceGain(d: number): number {
  return 1 / (1 + 2 ** -d);
}

/** A lattice built by `WasmEngine.buildLattice`: byte offsets in the engine's memory. */
export interface LatticeTables {
  readonly offsets: number;
  readonly weights: number;
  readonly keys: number;
  readonly table: number;
  readonly tableCapacity: number;
  /** Vertices the keys and table have room for. */
  readonly capacity: number;
  readonly vertices: number;
  /** 1 KiB the module's builders use. */
  readonly scratch: number;
  /** Where the scratch begins (the caller may release from here). */
  readonly scratchStart: number;
}
