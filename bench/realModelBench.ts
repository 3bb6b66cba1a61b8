/**
 * The real DeepLab v3 (../shared/models, imported by the project's importer) on real footage
 * (../shared/media/vtest.avi, 768×576, 795 frames):
 * - `segment … --frames-json` (the whole process, as a user runs it) vs a bare `session.run` loop
 *   of the same model (one session, 2 intra-op threads, the same 1×257×257×3 input), alternating;
 * - sliding windows: frame 300 with and without `--tiles auto` (person pixels), and the tiled
 *   pipeline's throughput on the first 40 frames.
 * Skipped, with a message, where the shared folder is absent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { catalogEntry } from '../model/catalog.js';
import { TENSORFLOW_NORMALIZATION } from '../model/descriptor.js';
import { preprocessRgb } from '../model/preprocess.js';
import { IMPORTER_VERSION, importTflite } from '../model/tflite/importTflite.js';
import { median, runMeasured, sessionRunsPerSecond } from './benchUtil.js';
import { catalogueModelFile } from './catalogueBench.js';
import { type LiveCase, type LiveRow, measureLiveCases } from './liveBench.js';
import { NEAR_FRAME_300 } from './vtestPedestrians.js';

export interface RealModelBenchOptions {
  readonly root: string;
  readonly cli: string;
  readonly work: string;
  readonly rounds: number;
  readonly say: (line: string) => void;
}

interface SegmentJson {
  readonly framesOut: number;
  readonly fps: number;
  readonly msPerStage: Record<string, number>;
}

/** The real model (imported once into `work`) and vtest.avi from the shared folder, or null (said) where it is absent. */
export function realMaterial(
  root: string,
  work: string,
  say: (line: string) => void,
): { model: string; video: string } | null {
  const tflite = path.resolve(root, '../shared/models/deeplabv3_257_mv_gpu.tflite');
  const video = path.resolve(root, '../shared/media/vtest.avi');
  if (!existsSync(tflite) || !existsSync(video)) {
    say(`skipped: ${existsSync(tflite) ? video : tflite} is absent (the team's shared folder beside the repository)`);
    return null;
  }
  // Named by the importer's version: a kept import of an older importer is made again.
  const model = path.join(work, `deeplabv3-voc-i${IMPORTER_VERSION}.onnx`);
  if (!existsSync(model)) writeFileSync(model, importTflite(readFileSync(tflite), tflite));
  // The sidecar `--model deeplabv3-voc` caches with it: classes, normalisation, tuned CRF kernels.
  const entry = catalogEntry('deeplabv3-voc')!;
  writeFileSync(
    `${model}.json`,
    JSON.stringify({ normalize: entry.normalize, classes: entry.classes, crf: entry.crf }),
  );
  return { model, video };
}

export async function benchRealModel(options: RealModelBenchOptions): Promise<Record<string, unknown> | null> {
  const { root, cli, work, rounds, say } = options;
  say('\n## the real DeepLab v3 on vtest.avi: pipeline vs bare session.run, and tiles');
  const material = realMaterial(root, work, say);
  if (!material) return null;
  const { model, video } = material;
  const frame300 = path.join(work, 'vtest-300.png');
  if (!existsSync(frame300))
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', video, '-vf', 'select=eq(n\\,300)', '-frames:v', '1', frame300]);

  const bare = async (): Promise<number> => {
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 2,
      executionProviders: ['cpu'],
    });
    const rgb = execFileSync('ffmpeg', ['-v', 'error', '-i', frame300, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
      maxBuffer: 1 << 24,
    });
    const tensor = new ort.Tensor(
      'float32',
      preprocessRgb(rgb, 768, 576, 257, 257, 'NHWC', TENSORFLOW_NORMALIZATION),
      [1, 257, 257, 3],
    );
    return sessionRunsPerSecond(session, { [session.inputNames[0]!]: tensor }, 5, { runs: 150 });
  };
  const segment = async (
    input: string,
    extra: string[],
    json = path.join(work, 'real.jsonl'),
  ): Promise<SegmentJson & { processFps: number }> => {
    const run = await runMeasured(process.execPath, [
      cli,
      'segment',
      input,
      '--model',
      model,
      '--device',
      'cpu',
      '--frames-json',
      json,
      '--json',
      ...extra,
    ]);
    if (run.code !== 0) throw new Error(`segment failed: ${run.stderr}`);
    const summary = JSON.parse(run.stdout) as SegmentJson;
    return { ...summary, processFps: summary.framesOut / (run.wallMs / 1000) };
  };

  const bareFps: number[] = [];
  const pipelineFps: number[] = [];
  const processFps: number[] = [];
  let stages: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    bareFps.push(await bare());
    const p = await segment(video, []);
    pipelineFps.push(p.fps);
    processFps.push(p.processFps);
    stages = p.msPerStage;
    say(
      `  round ${r + 1}: bare ${bareFps.at(-1)!.toFixed(1)} fps, segment ${p.fps.toFixed(1)} fps (whole process ${p.processFps.toFixed(1)})`,
    );
  }
  const b = median(bareFps);
  const p = median(pipelineFps);
  const w = median(processFps);
  say(
    `vtest.avi 768×576, 795 frames, --frames-json, default 2 workers × 1 thread; bare: 1 session × 2 threads at 1×257×257×3; ${rounds} alternating rounds, medians`,
  );
  say('| bare fps | segment fps (run) | ratio | segment fps (whole process) | ratio |');
  say('|---|---|---|---|---|');
  say(`| ${b.toFixed(1)} | ${p.toFixed(1)} | ${(p / b).toFixed(2)} | ${w.toFixed(1)} | ${(w / b).toFixed(2)} |`);
  say(`  mean ms/frame per stage: ${JSON.stringify(stages)}`);

  const persons = async (extra: string[]) => {
    const json = path.join(work, 'frame300.jsonl');
    await segment(frame300, extra, json);
    return (JSON.parse(readFileSync(json, 'utf8')) as { pixels: Record<string, number> }).pixels;
  };
  const whole = await persons([]);
  const tiled = await persons(['--tiles', 'auto']);
  const clip40 = path.join(work, 'vtest-40.mkv');
  if (!existsSync(clip40))
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', video, '-frames:v', '40', '-c', 'copy', clip40]);
  const plain40 = await segment(clip40, []);
  const tiled40 = await segment(clip40, ['--tiles', 'auto']);
  say(
    `frame 300: person pixels ${whole['person'] ?? 0} without tiles, ${tiled['person'] ?? 0} with --tiles auto (4×3 windows); classes without: ${JSON.stringify(whole)}, with: ${JSON.stringify(tiled)}`,
  );
  say(
    `first 40 frames: ${plain40.fps.toFixed(1)} fps without tiles, ${tiled40.fps.toFixed(1)} fps with --tiles auto (ms/frame ${JSON.stringify(tiled40.msPerStage)})`,
  );
  return {
    bareFps: b,
    segmentFps: p,
    ratio: p / b,
    processFps: w,
    processRatio: w / b,
    msPerStage: stages,
    rounds: { bareFps, pipelineFps, processFps },
    frame300: { withoutTiles: whole, withTiles: tiled },
    first40: { fps: plain40.fps, tiledFps: tiled40.fps, tiledMsPerStage: tiled40.msPerStage },
  };
}

/**
 * Offline `segment`'s masks of a clip with the live CRF's settings (`serve --crf on`): what the
 * viewers are sent is compared with them. Made once per clip, model and importer.
 */
async function offlineMasksOf(
  cli: string,
  work: string,
  clip: string,
  args: readonly string[],
  name: string,
): Promise<string> {
  const masks = path.join(work, `${path.basename(clip)}-${name}-i${IMPORTER_VERSION}-live-crf-masks`);
  if (existsSync(masks)) return masks;
  const run = await runMeasured(process.execPath, [
    cli,
    'segment',
    clip,
    ...args,
    ...['--crf', 'on', '--crf-scale', '0.25', '--crf-warm-start', '--crf-prune', '0.2'],
    '--masks',
    masks,
  ]);
  if (run.code !== 0) throw new Error(`segment ${clip} ${args.join(' ')} failed: ${run.stderr}`);
  return masks;
}

/**
 * `serve` with the real DeepLab, watched in Chromium: one 640×360 stream with the CRF off and on
 * (live defaults), two streams, and vtest.avi `--realtime --tiles auto`.
 */
export async function benchLiveRealModel(
  options: RealModelBenchOptions & { seconds: number },
): Promise<LiveRow[] | null> {
  const { root, cli, work, seconds, say } = options;
  say(`\n## live with the real DeepLab v3: serve, viewer in Chromium, ${seconds} s per case`);
  const material = realMaterial(root, work, say);
  if (!material) return null;
  const { model, video } = material;
  const m = ['--model', model, '--device', 'cpu'];
  const cases: LiveCase[] = [
    { label: 'testsrc 640x360@30, CRF off', args: ['testsrc:640x360@30', ...m] },
    { label: 'testsrc 640x360@30, CRF on (live defaults)', args: ['testsrc:640x360@30', ...m, '--crf', 'on'] },
    {
      label: 'testsrc 640x360@30, CRF on --crf-scale 0.25',
      args: ['testsrc:640x360@30', ...m, '--crf', 'on', '--crf-scale', '0.25'],
    },
    {
      label: 'two testsrc 640x360@30 streams, CRF on',
      args: ['testsrc:640x360@30', 'testsrc:640x360@30', ...m, '--crf', 'on'],
    },
    { label: 'vtest.avi --realtime (10 fps), CRF on', args: [video, '--realtime', ...m, '--crf', 'on'] },
  ];
  // Tiles at the camera's rate (issue 26's second road) against every window of every frame, both
  // watched past frame 300 and compared with offline `segment --tiles auto` (the live CRF's settings).
  const tiledMasks = await offlineMasksOf(cli, work, video, [...m, '--tiles', 'auto'], 'voc-tiles');
  for (const [age, what] of [
    ['1', 'the windows that changed (default)'],
    ['0', 'every window, every frame'],
  ] as const)
    cases.push({
      label: `vtest.avi --realtime (10 fps) --tiles auto --tile-max-age ${age}: ${what}, CRF on`,
      args: [video, '--realtime', ...m, '--tiles', 'auto', '--tile-max-age', age, '--crf', 'on'],
      offlineMasks: tiledMasks,
      untilFrame: 300 + NEAR_FRAME_300,
    });
  // A 25 fps street clip beside it. cityCC0.mpg is 7.6 s: looped four times, so that it outlasts a measurement.
  const cityClip = path.resolve(root, '../shared/media/cityCC0.mpg');
  const city = path.join(work, 'cityCC0x4.mkv');
  if (existsSync(cityClip) && !existsSync(city))
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '3', '-i', cityClip, '-c', 'copy', city]);
  // A night pan over skyscrapers (no people): every window moves every frame, so the age bound decides.
  if (existsSync(city)) {
    const cityMasks = await offlineMasksOf(cli, work, city, [...m, '--tiles', 'auto'], 'voc-tiles');
    for (const age of ['1', '0.2'])
      cases.push({
        label: `cityCC0.mpg --realtime (25 fps, 720x405, a pan) --tiles auto --tile-max-age ${age}, CRF on`,
        args: [city, '--realtime', ...m, '--tiles', 'auto', '--tile-max-age', age, '--crf', 'on'],
        offlineMasks: cityMasks,
      });
  }
  // The street model (issue 26's first road): one 513×513 run a frame finds every pedestrian.
  const street = catalogueModelFile(root, work, catalogEntry('deeplab-cityscapes')!);
  if (street) {
    // What the viewers are sent must be what offline `segment` gives with the live CRF's settings.
    for (const [clip, label] of [
      [video, 'vtest.avi --realtime (10 fps)'],
      [city, 'cityCC0.mpg --realtime (25 fps, 720x405)'],
    ] as const) {
      if (!existsSync(clip)) continue;
      const offlineMasks = await offlineMasksOf(cli, work, clip, ['--model', street, '--device', 'cpu'], 'street');
      cases.push({
        label: `${label}, deeplab-cityscapes, CRF on`,
        args: [clip, '--realtime', '--model', street, '--device', 'cpu', '--crf', 'on'],
        offlineMasks,
        ...(clip === video ? { untilFrame: 300 + NEAR_FRAME_300 } : {}),
      });
    }
  }
  return measureLiveCases(cli, cases, seconds, say);
}
