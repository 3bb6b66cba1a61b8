/**
 * The dense CRF's benchmarks (`npm run bench -- crf crf-one-shot crf-video crf-footage`): one image
 * in a worker and in one process, the live-sized CRF, the warm start on generated and real video.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DenseCrf } from '../crf/denseCrf.js';
import { DEEPLAB_VOC_PARAMS } from '../crf/crfParams.js';
import { runCrf } from '../crf/reducedResolution.js';
import { CrfWorkspace } from '../crf/crfWorkspace.js';
import { nativeKernelsAvailable } from '../crf/crfNative.js';
import { writeNpyFloat32 } from '../io/npy.js';
import { median, runMeasured } from './benchUtil.js';
import { deeplabLikeCase } from './crfCases.js';
import { type CrfBenchContext, crfVideoBenches } from './crfVideoBench.js';

export function crfBenches(context: CrfBenchContext) {
  const { cli, work, quick, say, results } = context;
  const video = crfVideoBenches(context);

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

    results['crfVideo'] = await video.crfWarmStartOnShapes(0);

    results['crfFootage'] = await video.benchCrfOnFootage();
    await video.benchLiveSizedCrf();
  }

  return { benchCrf, benchCrfVideo: video.benchCrfVideo, benchCrfFootage: video.benchCrfFootage, crfOneShot };
}
