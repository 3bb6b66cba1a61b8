/**
 * deeplab-stream benchmarks. Ratios are measured side by side in one run (the machine is shared
 * and noisy): each pair alternates its two sides and reports medians.
 *
 *   npm run bench                        all benchmarks
 *   npm run bench -- pipeline decode     a selection (real, pipeline, decode, rss, models, crf, live, zones; soak)
 *   BENCH_QUICK=1 npm run bench          shorter inputs, for a smoke run
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { buildDeepLab } from '../test/helpers/deeplabBuilder.js';
import { defaultModelSource } from '../model/defaultModel.js';
import { importTflite } from '../model/tflite/importTflite.js';
import { IMAGENET_NORMALIZATION } from '../model/descriptor.js';
import { preprocessRgb } from '../model/preprocess.js';
import { locateFfmpeg, probeInput } from '../io/ffmpeg.js';
import { generateClip } from '../sources/generateClip.js';
import { FfmpegFrameSource } from '../sources/ffmpegFrameSource.js';
import { benchLive } from './liveBench.js';
import { benchLiveRealModel, benchRealModel } from './realModelBench.js';
import { benchSoak } from './soakBench.js';
import { benchCatalogue } from './catalogueBench.js';
import { benchCluster } from './clusterBench.js';
import { crfBenches } from './crfBench.js';
import { benchZones } from './zonesBench.js';
import { median, runMeasured } from './benchUtil.js';

const quick = process.env['BENCH_QUICK'] === '1';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'dist/cli/main.js');
const work = path.join(os.tmpdir(), 'deeplab-stream-bench');
mkdirSync(work, { recursive: true });
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  node: process.version,
  quick,
};
const say = (line: string) => process.stdout.write(`${line}\n`);

async function clip(name: string, width: number, height: number, fps: number, frames: number): Promise<string> {
  const file = path.join(work, name);
  if (!existsSync(file)) {
    say(`  generating ${name} (${frames} frames ${width}x${height})...`);
    await generateClip(file, { width, height, fps, frames });
  }
  return file;
}

/** Pipeline throughput vs a bare session.run loop: same model, input size and thread budget. */
async function benchPipeline(): Promise<void> {
  say('\n## pipeline vs bare session.run loop');
  const frames = quick ? 60 : 240;
  const input = await clip(`clip360-${frames}.mp4`, 640, 360, 30, frames);
  const modelPath = path.join(work, 'deeplab-mobilenet.onnx');
  writeFileSync(modelPath, buildDeepLab({ variant: 'mobilenet', classes: 21, seed: 2026 }));
  // BENCH_PIPELINE_SIZE=513x513 runs DeepLab's square crop size instead of the aspect-preserving default.
  const [iw, ih] = (process.env['BENCH_PIPELINE_SIZE'] ?? '513x289').split('x').map(Number) as [number, number];

  const bare = async (threads: number): Promise<number> => {
    const session = await ort.InferenceSession.create(modelPath, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      executionProviders: ['cpu'],
    });
    const rgb = new Uint8Array(640 * 360 * 3).map((_, i) => i & 255);
    const tensor = new ort.Tensor('float32', preprocessRgb(rgb, 640, 360, iw, ih, 'NCHW', IMAGENET_NORMALIZATION), [
      1,
      3,
      ih,
      iw,
    ]);
    await session.run({ image: tensor });
    const n = Math.min(frames, quick ? 30 : 80);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await session.run({ image: tensor });
    const fps = n / ((performance.now() - t0) / 1000);
    await session.release();
    return fps;
  };
  const pipeline = async (
    workers: number,
    threads: number,
    output: string[],
  ): Promise<{ fps: number; stages: Record<string, number> | null }> => {
    const run = await runMeasured(process.execPath, [
      cli,
      'segment',
      input,
      '--model',
      modelPath,
      '--device',
      'cpu',
      '--workers',
      String(workers),
      '--threads',
      String(threads),
      '--input-size',
      `${iw}x${ih}`,
      ...output,
      '--json',
    ]);
    if (run.code !== 0) throw new Error(`pipeline failed: ${run.stderr}`);
    const summary = JSON.parse(run.stdout) as { framesOut: number; fps: number; msPerStage: Record<string, number> };
    return { fps: summary.fps, stages: summary.msPerStage };
  };
  const video = path.join(work, 'pipeline-out.mp4');
  const configs = [
    {
      config: '2 workers × 1 thread, overlay mp4 (default preset veryfast)',
      workers: 2,
      threads: 1,
      output: ['-o', video],
    },
    {
      config: '2 workers × 1 thread, overlay mp4 --encoder-preset ultrafast',
      workers: 2,
      threads: 1,
      output: ['-o', video, '--encoder-preset', 'ultrafast'],
    },
    {
      config: '2 workers × 1 thread, JSON lines only (no encoder)',
      workers: 2,
      threads: 1,
      output: ['--frames-json', path.join(work, 'pipeline-out.jsonl')],
    },
    { config: '1 worker × 2 threads, overlay mp4 (latency setting)', workers: 1, threads: 2, output: ['-o', video] },
  ];
  const rows = configs.map((c) => ({
    ...c,
    bare: [] as number[],
    pipe: [] as number[],
    stages: null as Record<string, number> | null,
  }));
  const rounds = quick ? 1 : 3;
  for (let r = 0; r < rounds; r++) {
    for (const row of rows) {
      row.bare.push(await bare(2));
      const p = await pipeline(row.workers, row.threads, row.output);
      row.pipe.push(p.fps);
      row.stages = p.stages;
    }
  }
  say(
    `640x360 clip, ${frames} frames, DeepLabV3-MobileNetV2-sized graph at ${iw}x${ih}, bare loop: 1 session × 2 threads, ${rounds} alternating rounds, medians`,
  );
  say('| pipeline config | bare fps | pipeline fps | ratio |');
  say('|---|---|---|---|');
  const table = rows.map((row) => {
    const b = median(row.bare);
    const p = median(row.pipe);
    say(`| ${row.config} | ${b.toFixed(1)} | ${p.toFixed(1)} | ${(p / b).toFixed(2)} |`);
    return { config: row.config, bareFps: b, pipelineFps: p, ratio: p / b, msPerStage: row.stages };
  });
  for (const row of table) say(`  ${row.config} mean ms/frame per stage: ${JSON.stringify(row.msPerStage)}`);
  results[iw === 513 && ih === 289 ? 'pipeline' : `pipeline_${iw}x${ih}`] = table;
}

/** Decode throughput of FfmpegFrameSource vs ffmpeg writing rgb24 to /dev/null. */
async function benchDecode(): Promise<void> {
  say('\n## decode: FfmpegFrameSource vs ffmpeg -f rawvideo -pix_fmt rgb24 /dev/null');
  const frames = quick ? 150 : 600;
  const input = await clip(`clip720-${frames}.mp4`, 1280, 720, 30, frames);
  const { ffmpeg } = locateFfmpeg();
  const ours: number[] = [];
  const theirs: number[] = [];
  const piped: number[] = [];
  for (let r = 0; r < (quick ? 1 : 3); r++) {
    const raw = await runMeasured(ffmpeg, [
      '-nostdin',
      '-v',
      'error',
      '-i',
      input,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-y',
      '/dev/null',
    ]);
    theirs.push(frames / (raw.wallMs / 1000));
    // The floor any reader of a pipe pays: the same ffmpeg into `cat`.
    const cat = await runMeasured('sh', [
      '-c',
      `"${ffmpeg}" -nostdin -v error -i "${input}" -f rawvideo -pix_fmt rgb24 pipe:1 | cat > /dev/null`,
    ]);
    piped.push(frames / (cat.wallMs / 1000));
    const source = new FfmpegFrameSource(await probeInput(input));
    const t0 = performance.now();
    let n = 0;
    while (await source.next()) n += 1;
    ours.push(n / ((performance.now() - t0) / 1000));
  }
  const [o, t, c] = [median(ours), median(theirs), median(piped)];
  say(
    `720p H.264, ${frames} frames: ffmpeg → /dev/null ${t.toFixed(0)} fps, ffmpeg | cat ${c.toFixed(0)} fps, FfmpegFrameSource ${o.toFixed(0)} fps`,
  );
  say(`  ratio vs /dev/null ${(o / t).toFixed(2)}, vs | cat ${(o / c).toFixed(2)}`);
  results['decode'] = { frames, ffmpegFps: t, ffmpegPipeToCatFps: c, sourceFps: o, ratio: o / t, ratioVsPipe: o / c };
}

/** Peak RSS of a whole offline run on 1 minute vs 10 minutes of 720p. */
async function benchRss(): Promise<void> {
  say('\n## peak RSS: 1 min vs 10 min of 720p (tiny model, overlay video out)');
  const minutes = quick ? [0.1, 0.5] : [1, 10];
  const modelPath = path.join(work, 'deeplab-tiny.onnx');
  writeFileSync(modelPath, buildDeepLab({ variant: 'tiny', classes: 21 }));
  const rows = [];
  for (const m of minutes) {
    const frames = Math.round(m * 60 * 30);
    const input = await clip(`clip720-${frames}.mp4`, 1280, 720, 30, frames);
    const run = await runMeasured(process.execPath, [
      cli,
      'segment',
      input,
      '--model',
      modelPath,
      '--device',
      'cpu',
      '--input-size',
      '129x73',
      '-o',
      path.join(work, 'rss-out.mp4'),
      '--json',
    ]);
    if (run.code !== 0) throw new Error(`rss run failed: ${run.stderr}`);
    const summary = JSON.parse(run.stdout) as { framesOut: number; fps: number };
    rows.push({ minutes: m, frames: summary.framesOut, fps: summary.fps, peakRssMb: run.peakRssMb });
    say(`  ${m} min (${summary.framesOut} frames): peak RSS ${run.peakRssMb.toFixed(0)} MB at ${summary.fps} fps`);
  }
  say(`  ratio long/short: ${(rows[1]!.peakRssMb / rows[0]!.peakRssMb).toFixed(3)}`);
  results['rss'] = rows;
}

/** Models: the default model through the pipeline, the TFLite import, the builder's DeepLab graphs. */
async function benchModels(): Promise<void> {
  say('\n## models');
  const { tflite } = defaultModelSource();
  const bytes = readFileSync(tflite);
  const importMs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    importTflite(bytes);
    importMs.push(performance.now() - t0);
  }
  say(`  import selfie_segmentation.tflite → ONNX: ${median(importMs).toFixed(0)} ms (median of 5)`);

  const input = await clip('clip360-240.mp4', 640, 360, 30, 240);
  const run = await runMeasured(process.execPath, [
    cli,
    'segment',
    input,
    '--device',
    'cpu',
    '--frames-json',
    path.join(work, 'default.jsonl'),
    '--json',
  ]);
  if (run.code !== 0) throw new Error(`default model run failed: ${run.stderr}`);
  const summary = JSON.parse(run.stdout) as { fps: number; msPerStage: Record<string, number> };
  say(
    `  default model (MediaPipe selfie 256²) through the pipeline at 640x360: ${summary.fps} fps = ${(1000 / summary.fps).toFixed(1)} ms/frame; infer ${summary.msPerStage['infer']} ms, postprocess ${summary.msPerStage['postprocess']} ms per frame`,
  );

  const graphs = [
    { variant: 'mobilenet' as const, torchvision: 'DeepLabV3-MobileNetV3-Large 73 ms' },
    { variant: 'resnet' as const, torchvision: 'DeepLabV3-ResNet50 1384 ms' },
  ];
  const rows = [];
  for (const { variant, torchvision } of graphs) {
    const session = await ort.InferenceSession.create(buildDeepLab({ variant, classes: 21 }), {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 2,
      executionProviders: ['cpu'],
    });
    const tensor = new ort.Tensor('float32', new Float32Array(3 * 513 * 513).fill(0.1), [1, 3, 513, 513]);
    await session.run({ image: tensor });
    const times: number[] = [];
    for (let i = 0; i < (variant === 'resnet' ? 3 : 10); i++) {
      const t0 = performance.now();
      await session.run({ image: tensor });
      times.push(performance.now() - t0);
    }
    await session.release();
    rows.push({ variant, msPerFrame: median(times), torchvision });
    say(
      `  builder ${variant} at 513², 2 threads: ${median(times).toFixed(0)} ms/frame (FACTS, torchvision export: ${torchvision})`,
    );
  }
  results['models'] = {
    importMs: median(importMs),
    defaultModelFps: summary.fps,
    defaultModelMsPerStage: summary.msPerStage,
    builder: rows,
  };
}

async function benchRealDeepLab(): Promise<void> {
  const measured = await benchRealModel({ root, cli, work, rounds: quick ? 1 : 3, say });
  if (measured) results['realModel'] = measured;
}

/** `npm run bench -- catalogue`: every catalogue DeepLab in ../shared/models, bare vs pipeline, int8 vs float. */
async function benchCatalogueModels(): Promise<void> {
  const measured = await benchCatalogue({ root, cli, work, rounds: quick ? 1 : 3, quick, say });
  if (measured) results['catalogue'] = measured;
}

async function benchLiveReal(): Promise<void> {
  const rows = await benchLiveRealModel({ root, cli, work, rounds: 1, seconds: quick ? 5 : 15, say });
  if (rows) results['liveRealModel'] = rows;
}

async function benchLiveServe(): Promise<void> {
  results['live'] = await benchLive({ cli, seconds: quick ? 5 : 15, say });
}

/** Not in the default run (it takes SOAK_MINUTES, 10 by default): `npm run bench -- soak`. */
async function benchSoakServe(): Promise<void> {
  const ending = path.join(work, 'ending-160x96.ts');
  if (!existsSync(ending))
    await generateClip(ending, {
      width: 160,
      height: 96,
      fps: 25,
      frames: 50,
      codecArgs: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mpegts'],
    });
  const minutes = Number(process.env['SOAK_MINUTES'] ?? (quick ? 2 : 10));
  results['soak'] = await benchSoak({ cli, clip: ending, minutes, viewerCycles: quick ? 200 : 1000, say });
}

/** `npm run bench -- cluster`: segment --nats with worker processes vs segment alone; the broker's throughput. */
async function benchClusterRuns(): Promise<void> {
  results['cluster'] = await benchCluster({
    root,
    cli,
    work,
    rounds: quick ? 1 : 2,
    say,
    fallbackClip: () => clip('clip360-240-g25.mp4', 640, 360, 30, quick ? 60 : 240),
  });
}

const { benchCrf, benchCrfVideo, benchCrfFootage, crfOneShot } = crfBenches({
  root,
  cli,
  work,
  quick,
  say,
  results,
  clip,
});
const all: Record<string, () => Promise<void>> = {
  'crf-one-shot': async () => void (results['crfOneShot'] = await crfOneShot()),
  real: benchRealDeepLab,
  catalogue: benchCatalogueModels,
  pipeline: benchPipeline,
  decode: benchDecode,
  rss: benchRss,
  models: benchModels,
  crf: benchCrf,
  'crf-video': benchCrfVideo,
  'crf-footage': benchCrfFootage,
  live: benchLiveServe,
  'live-real': benchLiveReal,
  soak: benchSoakServe,
  cluster: benchClusterRuns,
  zones: async () =>
    void (results['zones'] = await benchZones({ cli, seconds: quick ? 3 : 6, rounds: quick ? 2 : 3, say })),
};
const byDefault = Object.keys(all).filter((name) => name !== 'soak');
const chosen = process.argv.slice(2).filter((a) => a in all);
for (const name of chosen.length ? chosen : byDefault) await all[name]!();
const outDir = path.join(root, 'bench/results');
mkdirSync(outDir, { recursive: true });
// Merge into earlier results, so running one benchmark keeps the others' numbers.
const latest = path.join(outDir, 'latest.json');
const previous = existsSync(latest) ? (JSON.parse(readFileSync(latest, 'utf8')) as Record<string, unknown>) : {};
writeFileSync(latest, `${JSON.stringify({ ...previous, ...results }, null, 2)}\n`);
say(`\nresults written to bench/results/latest.json`);
