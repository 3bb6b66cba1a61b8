import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deeplabLikeCase, movingShapesSequence } from '../../bench/crfCases.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { HUGE_PAGE_BYTES, hugePageAlignedEnd, nativeImageCrf, nativeKernelsAvailable } from '../../crf/crfNative.js';
import { probabilitiesFor } from '../../pipeline/crfOnImages.js';
import { writeNpyFloat32 } from '../../io/npy.js';
import type { ProbabilitySource } from '../../crf/probabilities.js';
import { DenseCrf } from '../../crf/denseCrf.js';
import { CrfWorkspace } from '../../crf/crfWorkspace.js';
import { latticeModule } from '../../crf/wasmModule.js';
import { VideoMeanField } from '../../crf/videoMeanField.js';
import { repoRoot, tempDir } from '../helpers/fixtures.js';

const MiB = 2 ** 20;
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

/**
 * A fresh process that runs one CRF (256×256, 21 labels, two threads) and prints how many KiB of its
 * anonymous memory are huge pages: a process of its own, so no other test's memory is counted.
 */
function hugeKiBAfterCrf(env: Record<string, string>): number {
  const script = `
    const { DenseCrf } = await import(${JSON.stringify(path.join(repoRoot, 'dist/crf/denseCrf.js'))});
    const { CrfWorkspace } = await import(${JSON.stringify(path.join(repoRoot, 'dist/crf/crfWorkspace.js'))});
    const { latticeModule } = await import(${JSON.stringify(path.join(repoRoot, 'dist/crf/wasmModule.js'))});
    const { deeplabLikeCase } = await import(${JSON.stringify(path.join(repoRoot, 'dist/bench/crfCases.js'))});
    const { DEEPLAB_VOC_PARAMS } = await import(${JSON.stringify(path.join(repoRoot, 'dist/crf/crfParams.js'))});
    const c = deeplabLikeCase(256, 256, 21);
    const workspace = new CrfWorkspace({ threads: 2 });
    workspace.startThreads(latticeModule());
    DenseCrf.forImage(c.image, 256, 256, DEEPLAB_VOC_PARAMS, workspace).labels(c.probabilities, 21, { iterations: 2 });
    const rollup = (await import('node:fs')).readFileSync('/proc/self/smaps_rollup', 'utf8');
    console.log(/AnonHugePages:\\s+(\\d+)/.exec(rollup)[1]);
    workspace.dispose();`;
  // A file, not `-e`: worker threads inherit `--input-type`, and the helper thread then never starts.
  const { dir, cleanup } = tempDir('dls-huge-');
  try {
    const file = path.join(dir, 'crf.mjs');
    writeFileSync(file, script);
    return Number(execFileSync(process.execPath, [file], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim());
  } finally {
    cleanup();
  }
}

/**
 * `run` with the native kernels on (`native`) or off (DEEPLAB_STREAM_CRF_NATIVE=0: WebAssembly
 * alone). Read when an engine (and its helper thread, which copies the environment) starts.
 */
function nativeSetTo<T>(native: boolean, run: () => T): T {
  const saved = process.env['DEEPLAB_STREAM_CRF_NATIVE'];
  if (native) delete process.env['DEEPLAB_STREAM_CRF_NATIVE'];
  else process.env['DEEPLAB_STREAM_CRF_NATIVE'] = '0';
  try {
    return run();
  } finally {
    if (saved === undefined) delete process.env['DEEPLAB_STREAM_CRF_NATIVE'];
    else process.env['DEEPLAB_STREAM_CRF_NATIVE'] = saved;
  }
}

/** Q and labels of one CRF in WebAssembly alone (`native` false) or with the native kernels (from `source` when given, else the case's probabilities). */
function crfWith(
  native: boolean,
  width: number,
  height: number,
  classes: number,
  threads: number,
  source?: ProbabilitySource,
) {
  return nativeSetTo(native, () => {
    const workspace = new CrfWorkspace({ threads });
    try {
      workspace.startThreads(latticeModule()!);
      const scene = deeplabLikeCase(width, height, classes, classes);
      return DenseCrf.forImage(scene.image, width, height, DEEPLAB_VOC_PARAMS, workspace).infer(
        source ?? scene.probabilities,
        classes,
        {
          iterations: 4,
        },
      );
    } finally {
      workspace.dispose();
    }
  });
}

const noKernels = !nativeKernelsAvailable()
  ? 'the native kernels are not available here (addon not built, or no AVX2)'
  : '';
if (noKernels) console.warn(`crfNative: the kernel checks skip: ${noKernels}`);

describe('native kernels', () => {
  // Rows of 4 (a four-lane tail alone), 8, 12 (8 + 4), 20, 24 and 32 floats (wider: sliceUpdate
  // stays in WebAssembly, the splat runs four lanes at a time); one thread and two.
  it.skipIf(Boolean(noKernels)).each([
    [2, 1],
    [6, 1],
    [11, 2],
    [19, 1],
    [21, 2],
    [30, 2],
  ])(
    'give bit-identical marginals to WebAssembly: %i labels, %i thread(s)',
    (classes, threads) => {
      const [width, height] = threads === 2 ? [320, 240] : [96, 64];
      const wasm = crfWith(false, width, height, classes, threads);
      const native = crfWith(true, width, height, classes, threads);
      expect(native.activeLabels).toEqual(wasm.activeLabels);
      expect(Buffer.from(native.labels).equals(Buffer.from(wasm.labels))).toBe(true);
      const differing = new Uint32Array(native.q.buffer, native.q.byteOffset, native.q.length).filter(
        (bits, i) => bits !== new Uint32Array(wasm.q.buffer, wasm.q.byteOffset, wasm.q.length)[i],
      ).length;
      expect(differing).toBe(0);
    },
    60_000,
  );
});

describe('native kernels on a warm-started video', () => {
  /** Labels and Q of each frame of a noisy moving-shapes clip, warm-started on two threads. */
  function videoWith(native: boolean): { labels: Uint8Array; q: Float32Array; warm: boolean }[] {
    return nativeSetTo(native, () => {
      const [width, height] = [320, 240];
      const engine = new VideoMeanField(latticeModule()!, width, height, DEEPLAB_VOC_PARAMS, { threads: 2 });
      try {
        return movingShapesSequence(width, height, 6, 5, 4, 6).map((frame) => {
          const result = engine.frame(frame.image, frame.probabilities, 6, { iterations: 3, sceneCut: 0.3 }, true);
          return { labels: result.labels, q: result.q!, warm: result.warm };
        });
      } finally {
        engine.dispose();
      }
    });
  }

  // splatChange, the neighbour links of moved pixels' new vertices and the blurs of the kept splats.
  it.skipIf(Boolean(noKernels))(
    "give WebAssembly's labels and Q on every frame, byte for byte",
    () => {
      const [wasm, native] = [videoWith(false), videoWith(true)];
      expect(native.filter((f) => f.warm).length).toBeGreaterThanOrEqual(3);
      native.forEach((frame, i) => {
        expect(Buffer.from(frame.labels).equals(Buffer.from(wasm[i]!.labels))).toBe(true);
        expect(
          Buffer.from(frame.q.buffer, frame.q.byteOffset, frame.q.byteLength).equals(
            Buffer.from(wasm[i]!.q.buffer, wasm[i]!.q.byteOffset, wasm[i]!.q.byteLength),
          ),
        ).toBe(true);
      });
    },
    60_000,
  );
});

describe('one image whole in the addon', () => {
  /** The case's probabilities in a .npy, as `crf` gets them, and the file source the CRF reads. */
  function npyCase(width: number, height: number, classes: number, edit?: (p: Float32Array) => void) {
    const scene = deeplabLikeCase(width, height, classes, classes);
    edit?.(scene.probabilities);
    const { dir, cleanup } = tempDir('dls-native-image-');
    const file = path.join(dir, 'p.npy');
    writeFileSync(file, writeNpyFloat32([height, width, classes], scene.probabilities));
    const { probabilities } = probabilitiesFor(file, width, height, false);
    if (probabilities instanceof Float32Array) throw new Error('expected a file source');
    return { scene, source: probabilities, cleanup };
  }

  // 96×64 runs on one thread, 320×240 on two (from 65,536 pixels, as the worker's engine).
  it.skipIf(Boolean(noKernels)).each([
    [96, 64, 6, 1],
    [320, 240, 21, 2],
    [320, 240, 3, 2],
  ])(
    "gives the worker engine's labels and Q, byte for byte: %ix%i, %i labels, %i thread(s)",
    async (width, height, classes, threads) => {
      const { scene, source, cleanup } = npyCase(width, height, classes);
      try {
        const native = await nativeImageCrf(
          scene.image,
          width,
          height,
          source,
          classes,
          { ...DEEPLAB_VOC_PARAMS, iterations: 4 },
          true,
          threads,
        );
        const engine = crfWith(true, width, height, classes, threads, source);
        expect(native).not.toBeNull();
        expect(native!.activeLabels).toEqual(engine.activeLabels);
        expect(Buffer.from(native!.labels).equals(Buffer.from(engine.labels))).toBe(true);
        expect(
          Buffer.from(native!.q!.buffer).equals(Buffer.from(engine.q.buffer, engine.q.byteOffset, engine.q.byteLength)),
        ).toBe(true);
        expect(native!.setupMs).toBeGreaterThan(0);
      } finally {
        cleanup();
      }
    },
    60_000,
  );

  it.skipIf(Boolean(noKernels))(
    'runs several images at once, each on its own threads and memory, with the results of one at a time',
    async () => {
      const sizes = [
        [320, 240, 21],
        [256, 256, 5],
        [96, 64, 8],
      ] as const;
      const cases = sizes.map(([width, height, classes]) => ({
        width,
        height,
        classes,
        ...npyCase(width, height, classes),
      }));
      try {
        const params = { ...DEEPLAB_VOC_PARAMS, iterations: 3 };
        const run = (c: (typeof cases)[number]) =>
          nativeImageCrf(c.scene.image, c.width, c.height, c.source, c.classes, params, true);
        const together = await Promise.all(cases.map(run));
        for (const [i, c] of cases.entries()) {
          const alone = await run(c);
          expect(Buffer.from(together[i]!.labels).equals(Buffer.from(alone!.labels))).toBe(true);
          expect(Buffer.from(together[i]!.q!.buffer).equals(Buffer.from(alone!.q!.buffer))).toBe(true);
        }
      } finally {
        for (const c of cases) c.cleanup();
      }
    },
    60_000,
  );

  it.skipIf(Boolean(noKernels))(
    'says which value is not a probability, as the worker does, and leaves more than 24 labels to the worker',
    async () => {
      const bad = npyCase(96, 64, 4, (p) => void (p[(5 * 96 + 7) * 4 + 1] = Number.NaN));
      try {
        await expect(nativeImageCrf(bad.scene.image, 96, 64, bad.source, 4, DEEPLAB_VOC_PARAMS, false)).rejects.toThrow(
          /NaN at pixel \(7, 5\), label 1/,
        );
      } finally {
        bad.cleanup();
      }
      const wide = npyCase(96, 64, 30);
      try {
        expect(await nativeImageCrf(wide.scene.image, 96, 64, wide.source, 30, DEEPLAB_VOC_PARAMS, false)).toBeNull();
      } finally {
        wide.cleanup();
      }
    },
  );
});

describe('hugePages', () => {
  it('grows to the next 2 MiB boundary past the top, never past the limit', () => {
    expect(hugePageAlignedEnd(100, 327680, 2 ** 31)).toBe(327680);
    expect(hugePageAlignedEnd(327680, 327680, 2 ** 31)).toBe(327680);
    expect(hugePageAlignedEnd(327681, 327680, 2 ** 31)).toBe(327680 + HUGE_PAGE_BYTES);
    expect(hugePageAlignedEnd(327680 + 5 * HUGE_PAGE_BYTES - 1, 327680, 2 ** 31)).toBe(327680 + 5 * HUGE_PAGE_BYTES);
    expect(hugePageAlignedEnd(2 ** 31 - 10, 327680, 2 ** 31)).toBe(2 ** 31);
  });

  it.skipIf(Boolean(skipWhy))(
    'backs the CRF memory of a fresh process with huge pages, and not with DEEPLAB_STREAM_HUGE_PAGES=0',
    () => {
      // ~25 MB of lattice, unary and Q at 256×256×21.
      const on = hugeKiBAfterCrf({});
      const off = hugeKiBAfterCrf({ DEEPLAB_STREAM_HUGE_PAGES: '0' });
      expect(on * 1024).toBeGreaterThanOrEqual(16 * MiB);
      expect(off * 1024).toBeLessThan(4 * MiB);
    },
    60_000,
  );
});
