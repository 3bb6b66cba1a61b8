/**
 * The CRF's optional native addon (`crfNative.c`, built by `npm run build:native`), for two costs
 * WebAssembly cannot cut: page faults and vector width.
 *
 * - Huge pages: each process's first image faults in tens to hundreds of MB of fresh memory, and a
 *   first-touched 4 KiB page costs 11–14 µs on this project's VMs (170 ms of a 500×375 one-shot).
 * - Kernels: the mean field's hot loops in AVX2 (eight lanes; WebAssembly SIMD has four), over the
 *   same memory with the same arguments and bit-identical results.
 *
 * Without the addon (no C compiler at install, not Linux/x86-64, no AVX2) the CRF runs the same in
 * WebAssembly on 4 KiB pages; `DEEPLAB_STREAM_HUGE_PAGES=0` and `DEEPLAB_STREAM_CRF_NATIVE=0` turn
 * either part off (for measuring them).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { CrfExports } from './latticeExports.js';

/**
 * The kernels the addon has: the WebAssembly exports' arguments (byte offsets into the memory), then
 * the memory's byte length, which every access is checked against (a RangeError where one is outside:
 * the frame fails, as on a WebAssembly trap).
 */
type WithLimit<K extends (...args: never[]) => unknown> = (...args: [...Parameters<K>, memoryBytes: number]) => void;
interface NativeKernels {
  splat: WithLimit<CrfExports['splat']>;
  addInto: WithLimit<CrfExports['addInto']>;
  blurDirection: WithLimit<CrfExports['blurDirection']>;
  neighboursOf: WithLimit<CrfExports['neighboursOf']>;
  linkVertices: WithLimit<CrfExports['linkVertices']>;
  sliceUpdate: WithLimit<CrfExports['sliceUpdate']>;
}

interface CrfNativeAddon {
  adviseHugePages(view: Uint8Array, bytes: number): number;
  bindKernels(view: Uint8Array): NativeKernels | null;
}

/** Linux's transparent huge page size. */
export const HUGE_PAGE_BYTES = 2 ** 21;

/** The widest row (floats) the native sliceUpdate takes: 24 labels; wider rows stay in WebAssembly. */
const NATIVE_SLICE_UPDATE_FLOATS = 24;

let addon: CrfNativeAddon | null | undefined;

function loadAddon(): CrfNativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  // Beside this file in dist/; from source (tests) the build's copy in dist/.
  const file = [new URL('./crfNative.node', import.meta.url), new URL('../../dist/model/crf/crfNative.node', import.meta.url)]
    .map((u) => fileURLToPath(u))
    .find((f) => existsSync(f));
  try {
    if (file) addon = createRequire(import.meta.url)(file) as CrfNativeAddon;
  } catch {
    addon = null; // built for another Node or platform: WebAssembly alone
  }
  return addon;
}

/**
 * Asks for huge pages over `memory`'s first `bytes` (its maximum: growth keeps the advice) and
 * returns the byte offset of its first 2 MiB-aligned address — grow to such boundaries, since a huge
 * page is used only where its whole 2 MiB is mapped when first touched — or null without huge pages.
 *
 * @example
 * const memory = new WebAssembly.Memory({ initial: 2, maximum: 32768, shared: true });
 * const boundary = adviseHugePages(memory, 32768 * 65536); // e.g. 327680, or null
 */
export function adviseHugePages(memory: WebAssembly.Memory, bytes: number): number | null {
  const native = process.env['DEEPLAB_STREAM_HUGE_PAGES'] === '0' ? null : loadAddon();
  if (!native) return null;
  const offset = native.adviseHugePages(new Uint8Array(memory.buffer, 0, 1), bytes);
  return offset >= 0 ? offset : null;
}

/**
 * The byte length to grow a memory to so that it covers `top` and ends on a huge-page boundary
 * (`boundary` from `adviseHugePages`), at most `limit`.
 */
export function hugePageAlignedEnd(top: number, boundary: number, limit: number): number {
  const end = top <= boundary ? boundary : boundary + Math.ceil((top - boundary) / HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES;
  return Math.min(end, limit);
}

/**
 * `exports` with the native kernels in place of theirs where the addon has them, over the same
 * shared `memory` (its address never moves: shared memories are reserved whole); `exports` as they
 * are otherwise. Either thread of an engine calls this over the same memory.
 *
 * @example
 * const exports = withNativeKernels(instance.exports as unknown as CrfExports, memory);
 * exports.sliceUpdate(0, points, 0, 21, 24, unary, next, kernels, 2); // AVX2 where there is one
 */
export function withNativeKernels(exports: CrfExports, memory: WebAssembly.Memory): CrfExports {
  const native = process.env['DEEPLAB_STREAM_CRF_NATIVE'] === '0' ? null : loadAddon()?.bindKernels(new Uint8Array(memory.buffer, 0, 1));
  if (!native) return exports;
  const wasmSliceUpdate = exports.sliceUpdate;
  const bytes = () => memory.buffer.byteLength;
  return {
    ...exports,
    splat: (...args) => native.splat(...args, bytes()),
    addInto: (...args) => native.addInto(...args, bytes()),
    blurDirection: (...args) => native.blurDirection(...args, bytes()),
    // The wasm exports' last argument (scratch) is not needed here.
    neighboursOf: (...args) => native.neighboursOf(...args, bytes()),
    linkVertices: (...args) => native.linkVertices(...args, bytes()),
    sliceUpdate: (...args) => (args[4] <= NATIVE_SLICE_UPDATE_FLOATS ? native.sliceUpdate(...args, bytes()) : wasmSliceUpdate(...args)),
  };
}

/** Whether this process's CRF runs the native kernels (the benchmark says so beside its figures). */
export function nativeKernelsAvailable(): boolean {
  if (process.env['DEEPLAB_STREAM_CRF_NATIVE'] === '0') return false;
  const probe = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  return Boolean(loadAddon()?.bindKernels(new Uint8Array(probe.buffer, 0, 1)));
}
