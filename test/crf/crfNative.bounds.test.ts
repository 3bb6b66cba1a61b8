/** The native kernels refuse what WebAssembly would trap on, and write nothing past it. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeKernelsAvailable, withNativeKernels } from '../../crf/crfNative.js';
import type { CrfExports } from '../../crf/latticeExports.js';
import { latticeModule } from '../../crf/wasmModule.js';
import { repoRoot } from '../helpers/fixtures.js';

const addon = path.join(repoRoot, 'dist/crf/crfNative.node');
const thpMode = (() => {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? 'none';
  } catch {
    return 'none';
  }
})();
const skipWhy = !existsSync(addon)
  ? 'crfNative.node was not built (no C compiler at build time)'
  : thpMode === 'never' || thpMode === 'none'
    ? `transparent huge pages are ${thpMode} on this system`
    : '';
if (skipWhy) console.warn(`hugePages: the huge-page checks skip: ${skipWhy}`);

const noKernels = !nativeKernelsAvailable()
  ? 'the native kernels are not available here (addon not built, or no AVX2)'
  : '';
if (noKernels) console.warn(`crfNative: the kernel checks skip: ${noKernels}`);

describe('native kernels, bounds', () => {
  /** The native kernels over a fresh 4-page (256 KiB) memory, as an engine gets them. */
  function kernels(pages = 4): {
    exports: CrfExports;
    wasm: CrfExports;
    memory: WebAssembly.Memory;
    i32: Int32Array;
    f32: Float32Array;
  } {
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const wasm = new WebAssembly.Instance(latticeModule()!, { env: { memory } }).exports as unknown as CrfExports;
    return {
      exports: withNativeKernels(wasm, memory),
      wasm,
      memory,
      i32: new Int32Array(memory.buffer),
      f32: new Float32Array(memory.buffer),
    };
  }
  const MEMORY = 4 * 65536;

  it.skipIf(Boolean(noKernels))(
    'refuse a corner, neighbour or listed pixel outside the memory, as WebAssembly traps, and write nothing past it',
    () => {
      const { exports, i32, f32 } = kernels();
      // One point with one corner at vertex 1: offsets at 64 KiB, weights after, values after, lattice after.
      const [offsets, weights, values, lattice] = [65536, 65540, 65544, 65664];
      i32[offsets / 4] = 1;
      f32[weights / 4] = 1;
      f32.fill(2, values / 4, values / 4 + 4);
      exports.splat(1, 1, 4, offsets, weights, values, lattice, 8);
      expect(Array.from(f32.subarray(lattice / 4 + 4, lattice / 4 + 8))).toEqual([2, 2, 2, 2]);
      // A corner past the lattice it was given, and one far past the memory.
      i32[offsets / 4] = 5;
      expect(() => exports.splat(1, 1, 4, offsets, weights, values, lattice, 8)).toThrow(RangeError);
      i32[offsets / 4] = 2 ** 30;
      expect(() => exports.splat(1, 1, 4, offsets, weights, values, lattice, 8)).toThrow(RangeError);
      // Arrays that run past the memory.
      expect(() => exports.splat(10_000, 6, 24, offsets, weights, values, lattice, 8)).toThrow(RangeError);
      expect(() => exports.addInto(MEMORY - 16, 0, 8)).toThrow(RangeError);
      // A neighbour index past the memory.
      const neighbours = 70_000;
      i32[neighbours / 4] = 2 ** 29;
      expect(() => exports.blurDirection(0, 0, 1, 1, 4, neighbours, lattice, lattice + 64)).toThrow(RangeError);
      // A listed pixel past the memory (kernel descriptions zeroed: no kernels).
      const [list, describe] = [80_000, 80_016];
      i32.fill(0, describe / 4, describe / 4 + 12);
      i32[list / 4] = 1 << 24;
      expect(() => exports.sliceUpdate(0, 1, list, 4, 4, 96_000, 100_000, describe, 0)).toThrow(RangeError);
      i32[list / 4] = 0;
      f32.fill(0, 96_000 / 4, 96_000 / 4 + 4);
      exports.sliceUpdate(0, 1, list, 4, 4, 96_000, 100_000, describe, 0);
      expect(Array.from(f32.subarray(100_000 / 4, 100_000 / 4 + 4))).toEqual([0.25, 0.25, 0.25, 0.25]);
      expect(f32[MEMORY / 4 - 1]).toBe(0);
    },
  );

  it.skipIf(Boolean(noKernels))(
    'find the same lattice neighbours as WebAssembly, and refuse a hash table that points outside the memory',
    () => {
      // A 5-d lattice over 3000 random points (16 MiB memory): offsets, weights, keys, table, features.
      const { exports, wasm, i32, f32 } = kernels(256);
      const [points, d, capacity, tableCapacity] = [3000, 5, 3000 * 6, 65536];
      const [offsets, weights, keys, table, features, scratch] = [1 << 20, 2 << 20, 3 << 20, 4 << 20, 5 << 20, 6 << 20];
      const random = (() => {
        let x = 7;
        return () => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32;
      })();
      for (let i = 0; i < points * d; i++) f32[features / 4 + i] = random() * 4;
      const vertices = wasm.buildLattice(
        points,
        d,
        features,
        offsets,
        weights,
        keys,
        capacity,
        table,
        tableCapacity,
        scratch,
      );
      expect(vertices).toBeGreaterThan(1000);
      const rows = vertices + 100;
      const tableOf = (at: number) => Array.from(i32.subarray(at / 4, at / 4 + (d + 1) * rows * 2));
      const [fromWasm, fromNative] = [8 << 20, 10 << 20];
      wasm.neighboursOf(0, vertices, rows, d, keys, table, tableCapacity, fromWasm, scratch);
      exports.neighboursOf(0, vertices, rows, d, keys, table, tableCapacity, fromNative, scratch);
      expect(tableOf(fromNative)).toEqual(tableOf(fromWasm));
      expect(tableOf(fromNative).filter((v) => v > 0).length).toBeGreaterThan(vertices); // some vertices do have neighbours
      // Vertices added later linked both ways (a warm frame's moved points): the first half linked, then the rest.
      const half = vertices >> 1;
      for (const [link, at] of [
        [wasm, fromWasm],
        [exports, fromNative],
      ] as const) {
        i32.fill(0, at / 4, at / 4 + (d + 1) * rows * 2);
        link.neighboursOf(0, half, rows, d, keys, table, tableCapacity, at, scratch);
        link.linkVertices(half, vertices, rows, d, keys, table, tableCapacity, at, scratch);
      }
      expect(tableOf(fromNative)).toEqual(tableOf(fromWasm));
      // A table slot naming a vertex whose key lies past the memory.
      const slot = i32.subarray(table / 4, table / 4 + tableCapacity).findIndex((entry) => entry > 0);
      i32[table / 4 + slot] = 2 ** 30;
      expect(() => exports.neighboursOf(0, vertices, rows, d, keys, table, tableCapacity, fromNative, scratch)).toThrow(
        RangeError,
      );
    },
  );

  it.skipIf(Boolean(noKernels))(
    'move points as WebAssembly does (the same vertices, keys, table and corners), say when out of room, and refuse a pixel outside the memory',
    () => {
      // A 64×48 image's bilateral lattice (16 MiB memory), then a third of its pixels recoloured and moved.
      const { exports, wasm, memory, i32 } = kernels(256);
      const [width, height, d, tableCapacity] = [64, 48, 5, 65536];
      const points = width * height;
      const capacity = 40_000; // keys for 40,000 vertices fit below the table
      const [image, features, offsets, weights, keys, table, list, scratch] = [
        1 << 20,
        2 << 20,
        3 << 20,
        4 << 20,
        5 << 20,
        6 << 20,
        7 << 20,
        8 << 20,
      ];
      const bytes = new Uint8Array(memory.buffer);
      const random = (() => {
        let x = 11;
        return () => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32;
      })();
      for (let i = 0; i < points * 3; i++) bytes[image + i] = (i % 3) * 60 + Math.floor(random() * 40);
      wasm.pixelFeatures(0, points, width, image, 4, 8, features);
      const vertices = wasm.buildLattice(
        points,
        d,
        features,
        offsets,
        weights,
        keys,
        capacity,
        table,
        tableCapacity,
        scratch,
      );
      const moved = Array.from({ length: points }, (_, p) => p).filter((p) => p % 3 === 0);
      i32.set(moved, list / 4);
      for (const p of moved) for (let c = 0; c < 3; c++) bytes[image + p * 3 + c] = Math.floor(random() * 256);
      const before = bytes.slice();
      // The same call on either engine; only the lattice's capacity varies between the cases below.
      const movePoints = (engine: typeof exports, room: number) =>
        engine.movePoints(
          list,
          moved.length,
          width,
          image,
          4,
          8,
          offsets,
          weights,
          keys,
          room,
          table,
          tableCapacity,
          vertices,
          scratch,
        );
      const afterWasm = movePoints(wasm, capacity);
      const fromWasm = bytes.slice();
      bytes.set(before);
      const afterNative = movePoints(exports, capacity);
      expect(afterWasm).toBeGreaterThan(vertices);
      expect(afterNative).toBe(afterWasm);
      // Scratch aside (WebAssembly's working space), the memory is the same byte for byte.
      expect(Buffer.from(bytes.subarray(0, scratch)).equals(Buffer.from(fromWasm.subarray(0, scratch)))).toBe(true);
      // Out of room: the capacity there is now.
      bytes.set(before);
      expect(movePoints(exports, vertices + 1)).toBe(-1);
      // A listed pixel past the memory.
      bytes.set(before);
      i32[list / 4] = 2 ** 28;
      expect(() => movePoints(exports, capacity)).toThrow(RangeError);
    },
  );
});
