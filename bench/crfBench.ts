/**
 * The dense CRF's benchmarks (`npm run bench -- crf crf-one-shot crf-video crf-footage`): one image
 * in a worker and in one process, the live-sized CRF, the warm start on generated and real video.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PNG } from 'pngjs';
import { firstValueFrom, from, toArray } from 'rxjs';
import type { Segmentation } from '../core/frames.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { DenseCrf } from '../crf/denseCrf.js';
import { DEEPLAB_VOC_PARAMS } from '../crf/crfParams.js';
import { WARM_START_ITERATIONS } from '../crf/crfProtocol.js';
import { runCrf } from '../crf/reducedResolution.js';
import { CrfWorkspace } from '../crf/latticeWasm.js';
import { nativeKernelsAvailable } from '../crf/crfNative.js';
import type { WarmStartState } from '../crf/warmStart.js';
import { locateFfmpeg } from '../io/ffmpeg.js';
import { writeNpyFloat32 } from '../io/npy.js';
import { refineWithCrf } from '../operators/refineWithCrf.js';
import { median, runMeasured } from './benchUtil.js';
import { type CrfCase, deeplabLikeCase, movingShapesSequence } from './crfCases.js';
import { realMaterial } from './realModelBench.js';

export interface CrfBenchContext {
  readonly root: string;
  readonly cli: string;
  readonly work: string;
  readonly quick: boolean;
  readonly say: (line: string) => void;
  readonly results: Record<string, unknown>;
  readonly clip: (name: string, width: number, height: number, fps: number, frames: number) => Promise<string>;
}

export function crfBenches({ root, cli, work, quick, say, results, clip }: CrfBenchContext) {
  function toSegmentation(c: CrfCase, index: number): Segmentation {
    return {
      frame: {
        streamId: 'bench',
        index,
        ptsMs: index * 40,
        width: c.width,
        height: c.height,
        rgb: c.image,
        capturedAt: 0,
        decodeMs: 0,
      },
      labels: argmaxLabels(c.probabilities, c.classes),
      classPixels: new Uint32Array(c.classes),
      probabilities: c.probabilities.slice(),
      inferredAt: 0,
      timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, crf: 0, write: 0 },
    };
  }

  /** Flicker: the share of pixels whose label changes between consecutive frames where the truth does not. */
  function flickerOf(frames: readonly CrfCase[], labels: readonly Uint8Array[]): number {
    let changed = 0;
    let stable = 0;
    for (let f = 1; f < frames.length; f++) {
      for (let p = 0; p < labels[f]!.length; p++) {
        if (frames[f]!.truth[p] !== frames[f - 1]!.truth[p]) continue;
        stable += 1;
        if (labels[f]![p] !== labels[f - 1]![p]) changed += 1;
      }
    }
    return changed / stable;
  }

  /** Median CRF milliseconds per frame, the first (cold either way) left out. */
  const crfMs = (list: Segmentation[]) => median(list.slice(1).map((s) => s.timings.crf));

  /** Warm-started vs cold CRF over the moving-shapes clip: time per frame, agreement, flicker. */
  async function crfWarmStartOnShapes(pixelNoise: number): Promise<Record<string, number>> {
    say(
      `\n## CRF warm start on video (moving shapes, 640x360, 8 labels, fresh score noise per frame${pixelNoise ? `, fresh pixel noise σ ${pixelNoise}` : ''})`,
    );
    const frames = movingShapesSequence(640, 360, 8, quick ? 6 : 20, 4, pixelNoise);
    const runner = CrfRunner.start();
    const run = (warm: boolean) =>
      firstValueFrom(
        from(frames.map(toSegmentation)).pipe(
          refineWithCrf(runner, {
            params: DEEPLAB_VOC_PARAMS,
            classes: 8,
            ...(warm ? { warmStart: { iterations: WARM_START_ITERATIONS, sceneCut: 0.3 } } : {}),
          }),
          toArray(),
        ),
      );
    const cold = await run(false);
    const warm = await run(true);
    await runner.close();
    const raw = frames.map((c) => argmaxLabels(c.probabilities, c.classes));
    const flicker = (labels: readonly Uint8Array[]) => flickerOf(frames, labels);
    const agreement =
      warm.reduce(
        (sum, s, f) => sum + s.labels.reduce((n, l, p) => n + (l === cold[f]!.labels[p] ? 1 : 0), 0) / s.labels.length,
        0,
      ) / frames.length;
    const ms = crfMs;
    const video = {
      frames: frames.length,
      coldMsPerFrame: ms(cold),
      warmMsPerFrame: ms(warm),
      warmOverCold: ms(warm) / ms(cold),
      agreementWithCold: agreement,
      flickerRaw: flicker(raw),
      flickerCold: flicker(cold.map((s) => s.labels)),
      flickerWarm: flicker(warm.map((s) => s.labels)),
    };
    say(
      `  per frame: cold 10 iterations ${video.coldMsPerFrame.toFixed(0)} ms, warm ${WARM_START_ITERATIONS} iterations ${video.warmMsPerFrame.toFixed(0)} ms (${(video.warmOverCold * 100).toFixed(0)}% of cold)`,
    );
    say(
      `  label agreement warm vs cold ${(agreement * 100).toFixed(2)}%; flicker: raw ${(video.flickerRaw * 100).toFixed(2)}%, cold CRF ${(video.flickerCold * 100).toFixed(2)}%, warm CRF ${(video.flickerWarm * 100).toFixed(2)}%`,
    );
    return video;
  }

  /** The warm start where camera noise moves every pixel's colour a little: `npm run bench -- crf-video`. */
  async function benchCrfVideo(): Promise<void> {
    results['crfVideo'] = await crfWarmStartOnShapes(0);
    results['crfVideoNoisy'] = await crfWarmStartOnShapes(6);
  }

  /**
   * One image per process, as a Python user calls `crf`: a fresh `deeplab-stream crf` on each case,
   * its own ms_total (files read, the CRF — whole in the native addon where it has one, else in a
   * worker —, labels written) and the process's wall time.
   */
  async function crfOneShot(): Promise<Record<string, unknown>[]> {
    say('\n## dense CRF, one image per process (`deeplab-stream crf`, fresh process each run)');
    // What a page touched for the first time costs this minute: a one-image process touches tens of
    // megabytes, and on a VM that cost moves the figure (11–14 µs a page measured on 2026-12-01).
    const pageUs = firstTouchMicroseconds();
    say(
      `  (a 4 KiB page touched for the first time costs ${pageUs.toFixed(1)} µs on this machine now; the native AVX2 kernels are ${nativeKernelsAvailable() ? 'on, and the one-image CRF runs whole in the addon' : 'off: WebAssembly alone, in a worker'})`,
    );
    // The authors' C++ side by side with this CLI when issue 13 was filed (one core, -O3).
    const reference: Record<string, readonly [number, number]> = { '500x375': [748, 848], '1280x720': [4300, 4700] };
    const rows = [];
    for (const [w, h] of [
      [500, 375],
      [1280, 720],
    ] as const) {
      const scene = deeplabLikeCase(w, h, 21);
      const [image, probs, out] = ['ppm', 'npy', 'png'].map((ext) => path.join(work, `oneshot-${w}x${h}.${ext}`)) as [
        string,
        string,
        string,
      ];
      writeFileSync(image, Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), scene.image]));
      writeFileSync(probs, writeNpyFloat32([h, w, 21], scene.probabilities));
      // Alternating with the CRF in a worker (DEEPLAB_STREAM_CRF_NATIVE_IMAGE=0: what a one-image
      // process did before its CRF ran whole in the addon), the same build, side by side.
      const totals: number[] = [];
      const walls: number[] = [];
      const inWorker: number[] = [];
      const inWorkerWalls: number[] = [];
      for (let r = 0; r < (quick ? 2 : 7); r++) {
        for (const whole of [false, true]) {
          const run = await runMeasured(
            process.execPath,
            [cli, 'crf', '--image', image, '--probs', probs, '--out', out, '--json'],
            whole ? process.env : { ...process.env, DEEPLAB_STREAM_CRF_NATIVE_IMAGE: '0' },
          );
          if (run.code !== 0) throw new Error(`crf failed: ${run.stderr}`);
          const msTotal = (JSON.parse(run.stdout) as { ms_total: number }).ms_total;
          (whole ? totals : inWorker).push(msTotal);
          (whole ? walls : inWorkerWalls).push(run.wallMs);
        }
      }
      const [cppFast, cppSlow] = reference[`${w}x${h}`]!;
      const total = median(totals);
      say(
        `  ${w}x${h}, 21 labels: ms_total ${total.toFixed(0)} (median of ${totals.length}, ${Math.min(...totals).toFixed(0)}–${Math.max(...totals).toFixed(0)}), whole process ${median(walls).toFixed(0)} ms; authors' C++ ${cppFast}–${cppSlow} ms → ${(cppFast / total).toFixed(2)}–${(cppSlow / total).toFixed(2)}×`,
      );
      say(
        `    in a CRF worker (DEEPLAB_STREAM_CRF_NATIVE_IMAGE=0, alternating): ms_total ${median(inWorker).toFixed(0)} (${Math.min(...inWorker).toFixed(0)}–${Math.max(...inWorker).toFixed(0)}), whole process ${median(inWorkerWalls).toFixed(0)} ms`,
      );
      // The same images to one `crf --stdin` process, one request at a time, timed as the caller sees
      // each answer: the first pays for the start, the others run warm.
      const served = await crfServiceRoundTrips(image, probs, out, quick ? 3 : 8);
      const warm = median(served.slice(1));
      say(
        `  ${w}x${h} to one \`crf --stdin\` process: first answer ${served[0]!.toFixed(0)} ms, then ${warm.toFixed(0)} ms per image (median of ${served.length - 1}) → ${(cppFast / warm).toFixed(2)}–${(cppSlow / warm).toFixed(2)}× the C++`,
      );
      rows.push({
        size: `${w}x${h}`,
        classes: 21,
        msTotal: total,
        msTotalRange: [Math.min(...totals), Math.max(...totals)],
        msTotalInWorker: median(inWorker),
        processWallMs: median(walls),
        processWallMsInWorker: median(inWorkerWalls),
        cppMs: [cppFast, cppSlow],
        firstTouchPageUs: pageUs,
        stdinFirstMs: served[0],
        stdinWarmMs: warm,
      });
    }
    return rows;
  }

  /** Round trips of `count` identical requests to one `crf --stdin`, each sent after the previous answer. */
  async function crfServiceRoundTrips(image: string, probs: string, out: string, count: number): Promise<number[]> {
    const child = spawn(process.execPath, [cli, 'crf', '--stdin'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const sent = performance.now();
      child.stdin.write(`${JSON.stringify({ image, probs, out })}\n`);
      const answer = JSON.parse((await answers.next()).value as string) as { ok: boolean; error?: string };
      if (!answer.ok) throw new Error(`crf --stdin failed: ${answer.error}`);
      times.push(performance.now() - sent);
    }
    child.stdin.end();
    await new Promise((resolve) => child.once('close', resolve));
    return times;
  }

  /** Microseconds per 4 KiB page of fresh memory touched once (64 MiB of a new WebAssembly memory, the median of three). */
  function firstTouchMicroseconds(): number {
    const pages = 16384;
    const runs = [0, 1, 2].map(() => {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 + pages / 16, shared: true });
      memory.grow(pages / 16);
      const bytes = new Uint8Array(memory.buffer);
      const started = performance.now();
      for (let at = 65536; at < bytes.length; at += 4096) bytes[at] = 1;
      return ((performance.now() - started) * 1000) / pages;
    });
    return median(runs);
  }

  /** Dense CRF on DeepLab-like cases (21 labels, 10 iterations) and a live-sized 2-label frame. */
  async function benchCrf(): Promise<void> {
    say(
      '\n## dense CRF (WebAssembly SIMD; labels out, the marginals left in WebAssembly memory; one thread, then two)',
    );
    const reference: Record<string, number> = { '500x375': 560, '1280x720': 3800 }; // FACTS: authors' C++, one core, in all
    const rows = [];
    for (const [w, h, classes] of [
      [500, 375, 21],
      [1280, 720, 21],
      [640, 360, 2],
    ] as const) {
      // Reduced resolution (scale 0.5, Q upsampled): time and agreement with the full-size labels.
      const scene0 = deeplabLikeCase(w, h, classes);
      const full = runCrf(scene0.image, w, h, scene0.probabilities, classes, DEEPLAB_VOC_PARAMS);
      const halfRuns = Array.from({ length: quick ? 1 : 3 }, () =>
        runCrf(scene0.image, w, h, scene0.probabilities, classes, { ...DEEPLAB_VOC_PARAMS, scale: 0.5 }),
      );
      const half = halfRuns[0]!;
      const halfMs = median(halfRuns.map((r) => r.setupMs + r.inferenceMs));
      const agree = half.labels.reduce((n, l, p) => n + (l === full.labels[p] ? 1 : 0), 0) / (w * h);
      say(
        `  ${w}x${h}, ${classes} labels at --crf-scale 0.5: total ${halfMs.toFixed(0)} ms, label agreement with full resolution ${(agree * 100).toFixed(2)}%`,
      );
      rows.push({ size: `${w}x${h}`, classes, scale: 0.5, totalMs: halfMs, agreementWithFull: agree });
      const scene = deeplabLikeCase(w, h, classes);
      const runs: { setup: number; inference: number; active: number; labels: Uint8Array }[] = [];
      for (let r = 0; r < (quick ? 1 : 3); r++) {
        const crf = DenseCrf.forImage(scene.image, w, h);
        const t0 = performance.now();
        const result = crf.labels(scene.probabilities, classes);
        runs.push({
          setup: crf.setupMs,
          inference: performance.now() - t0,
          active: result.activeLabels.length,
          labels: result.labels,
        });
      }
      const setup = median(runs.map((r) => r.setup));
      const inference = median(runs.map((r) => r.inference));
      const correct = runs[0]!.labels.reduce((n, l, p) => n + (l === scene.truth[p] ? 1 : 0), 0) / (w * h);
      const perMpIteration = inference / ((w * h) / 1e6) / DEEPLAB_VOC_PARAMS.iterations;
      const key = `${w}x${h}`;
      const ref = reference[key];
      say(
        `  ${key}, ${classes} labels (${runs[0]!.active} active): setup ${setup.toFixed(0)} ms, inference ${inference.toFixed(0)} ms, total ${(setup + inference).toFixed(0)} ms, ${perMpIteration.toFixed(0)} ms per megapixel-iteration, label accuracy ${(correct * 100).toFixed(2)}%${ref ? `; authors' C++ ≈ ${ref} ms → ratio ${(ref / (setup + inference)).toFixed(2)}×` : ''}`,
      );
      // The same on two cores (a helper thread runs half of every step); the first frame starts it.
      // First with both lattices built for every image; then keeping the position lattice, which
      // depends only on the size (images of one size: a dataset's, a video's frames). Alternated.
      const workspaces = {
        rebuilt: new CrfWorkspace({ threads: 2, keepPositionLattice: false }),
        kept: new CrfWorkspace({ threads: 2 }),
      };
      const twoThreads: Record<keyof typeof workspaces, number[]> = { rebuilt: [], kept: [] };
      let agreeTwo = 1;
      for (let r = 0; r < (quick ? 2 : 8); r++) {
        for (const mode of ['rebuilt', 'kept'] as const) {
          const t0 = performance.now();
          const labels = DenseCrf.forImage(scene.image, w, h, DEEPLAB_VOC_PARAMS, workspaces[mode]).labels(
            scene.probabilities,
            classes,
          ).labels;
          if (r > 0) twoThreads[mode].push(performance.now() - t0);
          agreeTwo = Math.min(
            agreeTwo,
            labels.reduce((n, l, p) => n + (l === runs[0]!.labels[p] ? 1 : 0), 0) / (w * h),
          );
        }
      }
      workspaces.rebuilt.dispose();
      workspaces.kept.dispose();
      const summary = (mode: keyof typeof workspaces) => {
        const times = twoThreads[mode];
        const [ms, fastest, slowest] = [median(times), Math.min(...times), Math.max(...times)];
        const vsCpp = ref
          ? `; authors' C++ ≈ ${ref} ms → ratio ${(ref / ms).toFixed(2)}× (${(ref / slowest).toFixed(2)}–${(ref / fastest).toFixed(2)}×)`
          : '';
        return {
          ms,
          line: `${ms.toFixed(0)} ms (median of ${times.length}, ${fastest.toFixed(0)}–${slowest.toFixed(0)}; ×${((setup + inference) / ms).toFixed(2)} of one thread)${vsCpp}`,
        };
      };
      const [rebuilt, kept] = [summary('rebuilt'), summary('kept')];
      say(`  ${key}, ${classes} labels on two threads, both lattices per image: ${rebuilt.line}`);
      say(
        `  ${key}, ${classes} labels on two threads, position lattice kept (same-size images): ${kept.line}; labels equal to one thread's on ${(agreeTwo * 100).toFixed(3)}%`,
      );
      rows.push({
        size: key,
        classes,
        activeLabels: runs[0]!.active,
        setupMs: setup,
        inferenceMs: inference,
        perMpIterationMs: perMpIteration,
        accuracy: correct,
        cppReferenceMs: ref ?? null,
        twoThreadsMs: rebuilt.ms,
        twoThreadsKeptPositionMs: kept.ms,
        twoThreadsAgreement: agreeTwo,
      });
    }
    results['crf'] = rows;
    results['crfOneShot'] = await crfOneShot();

    results['crfVideo'] = await crfWarmStartOnShapes(0);

    results['crfFootage'] = await benchCrfOnFootage();

    say(
      `\n## live-sized CRF: 640x360, 2 labels, moving shapes, on the CRF worker, warm start (${WARM_START_ITERATIONS} iterations)`,
    );
    const liveFrames = movingShapesSequence(640, 360, 2, quick ? 6 : 24);
    const liveRunner = CrfRunner.start();
    const flicker = (labels: readonly Uint8Array[]) => flickerOf(liveFrames, labels);
    const ms = crfMs;
    const refine = (params: typeof DEEPLAB_VOC_PARAMS, warmStart: boolean) =>
      firstValueFrom(
        from(liveFrames.map(toSegmentation)).pipe(
          refineWithCrf(liveRunner, {
            params,
            classes: 2,
            ...(warmStart ? { warmStart: { iterations: WARM_START_ITERATIONS, sceneCut: 0.3 } } : {}),
          }),
          toArray(),
        ),
      );
    const coldFull = await refine(DEEPLAB_VOC_PARAMS, false); // full resolution, cold, 10 iterations
    const liveRows = [];
    for (const scale of [1, 0.5, 0.25]) {
      const out = await refine({ ...DEEPLAB_VOC_PARAMS, scale }, true);
      const agree =
        out.reduce(
          (sum, s, f) =>
            sum + s.labels.reduce((n, l, p) => n + (l === coldFull[f]!.labels[p] ? 1 : 0), 0) / s.labels.length,
          0,
        ) / out.length;
      const row = {
        scale,
        msPerFrame: ms(out),
        agreementWithFullCold: agree,
        flicker: flicker(out.map((s) => s.labels)),
      };
      liveRows.push(row);
      say(
        `  scale ${scale}: ${row.msPerFrame.toFixed(1)} ms per frame (goal ≤ 15), labels agree with full-resolution cold 10-iteration runs on ${(agree * 100).toFixed(2)}% of pixels, flicker ${(row.flicker * 100).toFixed(2)}% (raw ${(flicker(liveFrames.map((c) => argmaxLabels(c.probabilities, c.classes))) * 100).toFixed(2)}%)`,
      );
    }
    // Offline `segment --crf on` (default model, full-resolution cold CRF): one CRF worker vs two.
    const crfClip = await clip('clip360-crf.mp4', 640, 360, 30, quick ? 8 : 24);
    const fpsBy: Record<number, number[]> = { 1: [], 2: [] };
    for (const workers of quick ? [1, 2] : [1, 2, 1, 2]) {
      const run = await runMeasured(process.execPath, [
        cli,
        'segment',
        crfClip,
        '--device',
        'cpu',
        '--crf',
        'on',
        '--crf-workers',
        String(workers),
        '--frames-json',
        path.join(work, 'crf.jsonl'),
        '--json',
      ]);
      if (run.code !== 0) throw new Error(`segment --crf on failed: ${run.stderr}`);
      fpsBy[workers]!.push((JSON.parse(run.stdout) as { fps: number }).fps);
    }
    say(
      `  segment --crf on, 640x360 default model: ${median(fpsBy[1]!).toFixed(2)} fps with 1 CRF worker, ${median(fpsBy[2]!).toFixed(2)} with 2 (×${(median(fpsBy[2]!) / median(fpsBy[1]!)).toFixed(2)})`,
    );
    results['crfWorkers'] = { oneWorkerFps: median(fpsBy[1]!), twoWorkersFps: median(fpsBy[2]!) };

    // The same frames at 0.25 in this thread and on the worker, alternately: what the worker costs.
    const workspace = new CrfWorkspace();
    const state: WarmStartState = { previous: null };
    const settings = { iterations: WARM_START_ITERATIONS, sceneCut: 0.3 };
    const quarter = { ...DEEPLAB_VOC_PARAMS, scale: 0.25 };
    const inThread: number[] = [];
    const onWorker: number[] = [];
    for (const [i, c] of liveFrames.entries()) {
      let t = performance.now();
      runCrf(c.image, c.width, c.height, c.probabilities.slice(), 2, quarter, {
        workspace,
        labelsOnly: true,
        warmStart: { settings, state },
      });
      inThread.push(performance.now() - t);
      t = performance.now();
      await liveRunner.run({
        image: c.image,
        width: c.width,
        height: c.height,
        probabilities: c.probabilities.slice(),
        classes: 2,
        params: quarter,
        warmStart: { ...settings, streamId: 'ab', restart: i === 0 },
      });
      onWorker.push(performance.now() - t);
    }
    say(
      `  scale 0.25, alternately: ${median(inThread.slice(1)).toFixed(1)} ms in this thread, ${median(onWorker.slice(1)).toFixed(1)} ms on the worker`,
    );
    await liveRunner.close();
    results['crfLive'] = {
      rows: liveRows,
      quarterInThreadMs: median(inThread.slice(1)),
      quarterOnWorkerMs: median(onWorker.slice(1)),
    };
  }

  /**
   * The warm-started (incremental) CRF on real footage: the first 60 frames of vtest.avi (street
   * scene, 768×576) through `segment --crf on` with the default model, cold on every frame vs
   * `--crf-warm-start`, alternated; CRF ms per frame, label agreement and label changes between frames.
   * The footage is the team's sample media beside the repository; without it this part is skipped.
   */
  async function benchCrfOnFootage(model?: {
    readonly path: string;
    readonly label: string;
  }): Promise<Record<string, unknown> | null> {
    const source = path.join(root, '../shared/media/vtest.avi');
    say(
      `\n## CRF warm start on real footage (vtest.avi, 768x576, 60 frames, ${model?.label ?? 'default model, 2 labels'})`,
    );
    if (!existsSync(source)) {
      say(`  skipped: ${source} is not here`);
      return null;
    }
    const modelArgs = model ? ['--model', model.path] : [];
    const tag = model ? 'real-' : '';
    const input = path.join(work, 'vtest60.mkv');
    if (!existsSync(input)) {
      const cut = await runMeasured(locateFfmpeg().ffmpeg, [
        '-loglevel',
        'error',
        '-y',
        '-i',
        source,
        '-frames:v',
        '60',
        '-c:v',
        'ffv1',
        input,
      ]);
      if (cut.code !== 0) throw new Error(`cutting vtest.avi failed: ${cut.stderr}`);
    }
    // The CRF's time per frame: the whole run's wall time (one CRF worker; frames queue for it, so the
    // per-frame stage times include waiting) less the same run's without the CRF.
    const wallMs: Record<'raw' | 'cold' | 'warm', number[]> = { raw: [], cold: [], warm: [] };
    const modes = quick
      ? (['raw', 'cold', 'warm'] as const)
      : (['raw', 'cold', 'warm', 'raw', 'cold', 'warm'] as const);
    for (const mode of modes) {
      const masks = path.join(work, `vtest-${tag}${mode}`);
      rmSync(masks, { recursive: true, force: true });
      const crfArgs =
        mode === 'raw' ? [] : ['--crf', 'on', '--crf-workers', '1', ...(mode === 'warm' ? ['--crf-warm-start'] : [])];
      const run = await runMeasured(process.execPath, [
        cli,
        'segment',
        input,
        '--device',
        'cpu',
        ...modelArgs,
        ...crfArgs,
        '--masks',
        masks,
        '--json',
      ]);
      if (run.code !== 0) throw new Error(`segment ${crfArgs.join(' ')} failed: ${run.stderr}`);
      wallMs[mode].push((JSON.parse(run.stdout) as { wallMs: number }).wallMs);
    }
    const read = (mode: string) =>
      readdirSync(path.join(work, `vtest-${tag}${mode}`))
        .sort()
        .map((f) => PNG.sync.read(readFileSync(path.join(work, `vtest-${tag}${mode}`, f))).data);
    const [raw, cold, warm] = [read('raw'), read('cold'), read('warm')];
    let [same, all] = [0, 0];
    const changes = { raw: 0, cold: 0, warm: 0 };
    for (let f = 0; f < cold.length; f++) {
      for (let i = 0; i < cold[f]!.length; i += 4) {
        all += 1;
        if (cold[f]![i] === warm[f]![i]) same += 1;
        if (f === 0) continue;
        if (raw[f]![i] !== raw[f - 1]![i]) changes.raw += 1;
        if (cold[f]![i] !== cold[f - 1]![i]) changes.cold += 1;
        if (warm[f]![i] !== warm[f - 1]![i]) changes.warm += 1;
      }
    }
    const frames = cold.length;
    const perFrame = (mode: 'cold' | 'warm') => (median(wallMs[mode]) - median(wallMs.raw)) / frames;
    const row = {
      coldMsPerFrame: perFrame('cold'),
      warmMsPerFrame: perFrame('warm'),
      agreement: same / all,
      labelChanges: changes,
      wallMs,
    };
    say(
      `  CRF per frame (run's wall time less the same run without the CRF, over ${frames} frames): cold ${row.coldMsPerFrame.toFixed(0)} ms, warm-started ${row.warmMsPerFrame.toFixed(0)} ms (${((row.warmMsPerFrame / row.coldMsPerFrame) * 100).toFixed(0)}% of cold)`,
    );
    say(
      `  labels equal to the cold runs' on ${((same / all) * 100).toFixed(2)}% of pixels; label changes between consecutive frames: argmax ${changes.raw}, cold CRF ${changes.cold}, warm CRF ${changes.warm}`,
    );
    return row;
  }

  /** `npm run bench -- crf-footage`: the warm start on vtest.avi with the default model and the real DeepLab. */
  async function benchCrfFootage(): Promise<void> {
    results['crfFootage'] = await benchCrfOnFootage();
    const material = realMaterial(root, work, say);
    if (material)
      results['crfFootageRealModel'] = await benchCrfOnFootage({
        path: material.model,
        label: 'the real DeepLab v3, 21 labels, its tuned kernels',
      });
  }

  function argmaxLabels(probabilities: Float32Array, classes: number): Uint8Array {
    const labels = new Uint8Array(probabilities.length / classes);
    for (let p = 0; p < labels.length; p++) {
      let best = 0;
      for (let c = 1; c < classes; c++)
        if (probabilities[p * classes + c]! > probabilities[p * classes + best]!) best = c;
      labels[p] = best;
    }
    return labels;
  }

  return { benchCrf, benchCrfVideo, benchCrfFootage, crfOneShot };
}
