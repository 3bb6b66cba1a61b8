/**
 * The CRF's optional native addon (`crf/native/*.c`, built by `npm run build:native`), for two costs
 * WebAssembly cannot cut: page faults and vector width.
 *
 * - Huge pages: each process's first image faults in tens to hundreds of MB of fresh memory, and a
 *   first-touched 4 KiB page costs far more on a VM than a 2 MiB one does per byte.
 * - Kernels: the mean field's hot loops in AVX2 (eight lanes; WebAssembly SIMD has four), over the
 *   same memory with the same arguments and bit-identical results.
 *
 * Without the addon (no C compiler at install, not Linux/x86-64, no AVX2) the CRF runs the same in
 * WebAssembly on 4 KiB pages; `DEEPLAB_STREAM_HUGE_PAGES=0` and `DEEPLAB_STREAM_CRF_NATIVE=0` turn
 * either part off (for measuring them).
 */
import { InputError } from '../core/errors.js';
import { loadNativeAddon } from '../core/nativeAddon.js';
import type { CrfExports } from './latticeExports.js';
import type { CrfParams } from './crfParams.js';
import { type ProbabilityFile, probabilityProblem, readProbabilityFile } from './probabilities.js';
import { settings } from '../core/settings.js';

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
  splatChange: WithLimit<CrfExports['splatChange']>;
  splatListed: WithLimit<CrfExports['splatListed']>;
  sliceUpdate: WithLimit<CrfExports['sliceUpdate']>;
  movePoints: (...args: [...Parameters<CrfExports['movePoints']>, memoryBytes: number]) => number;
}

/** What the addon's one-image CRF answers (`status`: see crf/native/oneImage.c). */
interface NativeImageResult {
  readonly status: number;
  readonly problem: number;
  readonly msSetup: number;
  readonly msInference: number;
  readonly activeLabels: number[];
  readonly labels?: Uint8Array;
  readonly q?: Float32Array;
}

interface CrfNativeAddon {
  adviseHugePages(view: Uint8Array, bytes: number): number;
  bindKernels(view: Uint8Array): NativeKernels | null;
  /** Only where the CPU has AVX2. */
  crfImage?(
    rgb: Uint8Array,
    width: number,
    height: number,
    classes: number,
    path: string,
    dataOffset: number,
    iterations: number,
    prune: number,
    positionWeight: number,
    positionXy: number,
    bilateralWeight: number,
    bilateralXy: number,
    bilateralRgb: number,
    wantQ: boolean,
    threads: number,
  ): Promise<NativeImageResult>;
}

/** Linux's transparent huge page size. */
export const HUGE_PAGE_BYTES = 2 ** 21;

/** The widest row (floats) the native sliceUpdate and splatChange take: 24 labels; wider rows stay in WebAssembly. */
const NATIVE_ROW_FLOATS = 24;

let addon: CrfNativeAddon | null | undefined;

function loadAddon(): CrfNativeAddon | null {
  if (addon === undefined) addon = loadNativeAddon<CrfNativeAddon>(import.meta.url, 'crf/crfNative.node');
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
  const native = !settings().crf.hugePages ? null : loadAddon();
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
  const native = !settings().crf.native ? null : loadAddon()?.bindKernels(new Uint8Array(memory.buffer, 0, 1));
  if (!native) return exports;
  const { sliceUpdate: wasmSliceUpdate, splatChange: wasmSplatChange, splatListed: wasmSplatListed } = exports;
  const bytes = () => memory.buffer.byteLength;
  return {
    ...exports,
    splat: (...args) => native.splat(...args, bytes()),
    addInto: (...args) => native.addInto(...args, bytes()),
    blurDirection: (...args) => native.blurDirection(...args, bytes()),
    // The wasm exports' last argument (scratch) is not needed here.
    neighboursOf: (...args) => native.neighboursOf(...args, bytes()),
    linkVertices: (...args) => native.linkVertices(...args, bytes()),
    movePoints: (...args) => native.movePoints(...args, bytes()),
    splatChange: (...args) =>
      args[10] <= NATIVE_ROW_FLOATS ? native.splatChange(...args, bytes()) : wasmSplatChange(...args),
    splatListed: (...args) =>
      args[3] <= NATIVE_ROW_FLOATS ? native.splatListed(...args, bytes()) : wasmSplatListed(...args),
    sliceUpdate: (...args) =>
      args[4] <= NATIVE_ROW_FLOATS ? native.sliceUpdate(...args, bytes()) : wasmSliceUpdate(...args),
  };
}

/** Whether this process's CRF runs the native kernels (the benchmark says so beside its figures). */
export function nativeKernelsAvailable(): boolean {
  if (!settings().crf.native) return false;
  const probe = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  return Boolean(loadAddon()?.bindKernels(new Uint8Array(probe.buffer, 0, 1)));
}

/** A one-image CRF's labels, as the CRF worker gives them. */
export interface NativeImageCrf {
  readonly labels: Uint8Array;
  readonly q: Float32Array | null;
  readonly activeLabels: readonly number[];
  readonly setupMs: number;
  readonly inferenceMs: number;
}

/** Statuses from crf/native/oneImage.c. */
const IMAGE_STATUS = { done: 0, badProbability: 1, readFailed: 3 } as const;

/**
 * The CRF of one image from its .npy probabilities, whole in the addon: on a libuv pool thread and
 * one more, with no worker thread to boot (a worker's boot is a large share of a one-image process). The same
 * labels and Q as the worker's engine. Null where it does not apply — no addon or AVX2, more than 24
 * labels, another normalisation or a reduced scale, out of room, `DEEPLAB_STREAM_CRF_NATIVE=0`, or
 * `DEEPLAB_STREAM_CRF_NATIVE_IMAGE=0` (the worker with the native kernels) — and the caller runs the
 * worker instead. Bad probabilities throw the worker's InputError.
 *
 * @example
 * const refined = await nativeImageCrf(image.rgb, 500, 375, { path: 'p.npy', offset: 128, name: 'p.npy', width: 500 }, 21, params, false, 2);
 * if (refined) writeFileSync('labels.png', encodeGreyPng(refined.labels, 500, 375));
 */
export async function nativeImageCrf(
  rgb: Uint8Array,
  width: number,
  height: number,
  probabilities: ProbabilityFile,
  classes: number,
  params: CrfParams,
  wantQ: boolean,
  threads = 2,
): Promise<NativeImageCrf | null> {
  const off = !settings().crf.native || !settings().crf.nativeImage;
  const crfImage = off ? undefined : loadAddon()?.crfImage;
  const { gaussian, bilateral } = params;
  if (
    !crfImage ||
    classes > NATIVE_ROW_FLOATS /* Q's rows: the labels in play, rounded up to 4 */ ||
    params.normalization !== 'after' ||
    params.scale !== 1 ||
    (gaussian.weight === 0 && bilateral.weight === 0)
  )
    return null;
  const result = await crfImage(
    rgb,
    width,
    height,
    classes,
    probabilities.path,
    probabilities.offset,
    params.iterations,
    params.pruneBelow,
    gaussian.weight,
    gaussian.xy,
    bilateral.weight,
    bilateral.xy,
    bilateral.rgb,
    wantQ,
    threads,
  );
  if (result.status === IMAGE_STATUS.done && result.labels) {
    return {
      labels: result.labels,
      q: result.q ?? null,
      activeLabels: result.activeLabels,
      setupMs: result.msSetup,
      inferenceMs: result.msInference,
    };
  }
  if (result.status === IMAGE_STATUS.badProbability) {
    const values = new Uint8Array(width * height * classes * 4);
    readProbabilityFile(probabilities, values);
    throw probabilityProblem(result.problem, new Float32Array(values.buffer), classes, probabilities);
  }
  if (result.status === IMAGE_STATUS.readFailed)
    throw new InputError(`cannot read ${probabilities.name}: a read failed`);
  // Truncated: the worker's read says by how much.
  return null;
}
