/**
 * The video CRF's benchmarks: the warm start on moving shapes (`npm run bench -- crf-video`) and on
 * real footage (`crf-footage`), and the live-sized CRF (part of `crf`).
 */
import { readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { firstValueFrom, from, toArray } from 'rxjs';
import type { Segmentation } from '../core/frames.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { DEEPLAB_VOC_PARAMS } from '../crf/crfParams.js';
import { WARM_START_ITERATIONS } from '../crf/crfProtocol.js';
import { CrfWorkspace } from '../crf/crfWorkspace.js';
import { runCrf } from '../crf/reducedResolution.js';
import type { WarmStartState } from '../crf/warmStart.js';
import { locateFfmpeg } from '../io/ffmpeg.js';
import { refineWithCrf } from '../operators/refineWithCrf.js';
import { median, runMeasured } from './benchUtil.js';
import { type CrfCase, movingShapesSequence, withTransientBlobs } from './crfCases.js';
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

export function crfVideoBenches({ root, cli, work, quick, say, results, clip }: CrfBenchContext) {
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
  async function crfWarmStartOnShapes(pixelNoise: number, transient = false): Promise<Record<string, number>> {
    say(
      `\n## CRF warm start on video (moving shapes, 640x360, 8 labels, fresh score noise per frame${pixelNoise ? `, fresh pixel noise σ ${pixelNoise}` : ''}${transient ? ', wrong labels flickering in for 2 frames of every 6, another each time' : ''})`,
    );
    const shapes = movingShapesSequence(640, 360, 8, quick ? 12 : 24, 4, pixelNoise);
    const frames = transient ? withTransientBlobs(shapes, [3, 4, 5, 6]) : shapes.slice(0, quick ? 6 : 20);
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
      /** The warm run's mean after its first frame: what cold frames in it cost shows here, not in the median. */
      warmMeanMsPerFrame: warm.slice(1).reduce((sum, s) => sum + s.timings.crf, 0) / Math.max(1, warm.length - 1),
      /** Frames of the warm run that started cold (the first one always does). */
      coldFramesInWarmRun: warm.filter((s) => s.crf && !s.crf.warm).length,
    };
    say(
      `  per frame: cold 10 iterations ${video.coldMsPerFrame.toFixed(0)} ms, warm ${WARM_START_ITERATIONS} iterations ${video.warmMsPerFrame.toFixed(0)} ms (${(video.warmOverCold * 100).toFixed(0)}% of cold; mean ${video.warmMeanMsPerFrame.toFixed(1)} ms, ${((video.warmMeanMsPerFrame / video.coldMsPerFrame) * 100).toFixed(0)}%); ${video.coldFramesInWarmRun} of ${frames.length} frames of the warm run started cold`,
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
    results['crfVideoTransient'] = await crfWarmStartOnShapes(0, true);
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

  /** The live-sized CRF (640×360, 2 labels, warm) at three scales; `segment --crf on` with one and two CRF workers. */
  async function benchLiveSizedCrf(): Promise<void> {
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

  return { crfWarmStartOnShapes, benchCrfVideo, benchCrfOnFootage, benchCrfFootage, benchLiveSizedCrf };
}
