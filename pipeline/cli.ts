#!/usr/bin/env node
/**
 * The command line: parses flags and calls pipeline/. User mistakes print one line,
 * `error: <what is wrong and what to do>`, and exit non-zero; Ctrl-C stops ffmpeg and the
 * workers and removes partial output.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { type CrfParams, DEEPLAB_VOC_PARAMS } from '../model/crf/denseCrf.js';
import { defaultModelPath } from '../model/defaultModel.js';
import type { ModelOverrides } from '../model/modelOverrides.js';
import { CUDA_HOWTO, parseDevice } from '../model/session.js';
import { isUserError } from '../core/errors.js';
import { generateClip } from './generateClip.js';
import { isSequencePattern } from './ffmpeg.js';
import { createProgress } from './progress.js';
import { runCrfCommand } from './crfCommand.js';
import { evaluate } from './evaluate.js';
import { importModelFile } from './importModel.js';
import { segmentVideo, type SegmentSummary } from './segmentVideo.js';
import { startLiveServer } from './serve.js';

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a positive whole number, got "${value}"`);
    return n;
  };
}

function scaleList(value: string): number[] {
  const scales = value.split(',').map(Number);
  if (scales.length === 0 || scales.some((s) => !(s > 0 && s <= 4))) throw new InvalidArgumentError(`takes scales between 0 and 4 separated by commas, such as 0.5,0.75,1, got "${value}"`);
  return scales;
}

function scaleFraction(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`${flag} takes a fraction in (0, 1], got "${value}"`);
    return n;
  };
}

function nonNegative(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number ≥ 0, got "${value}"`);
    return n;
  };
}

function positive(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number > 0, got "${value}"`);
    return n;
  };
}

/** The CRF's kernel flags, shared by segment, serve and eval (the crf command names them without the prefix). */
interface CrfFlags {
  crfIters: number;
  crfScale: number;
  crfPosW: number;
  crfPosXy: number;
  crfBiW: number;
  crfBiXy: number;
  crfBiRgb: number;
}

function crfKernelOptions(command: Command): Command {
  const { gaussian, bilateral } = DEEPLAB_VOC_PARAMS;
  return command
    .option('--crf-pos-w <w>', 'CRF smoothness kernel weight w2', nonNegative('--crf-pos-w'), gaussian.weight)
    .option('--crf-pos-xy <σ>', 'CRF smoothness kernel σγ (pixels at full size)', positive('--crf-pos-xy'), gaussian.xy)
    .option('--crf-bi-w <w>', 'CRF appearance kernel weight w1', nonNegative('--crf-bi-w'), bilateral.weight)
    .option('--crf-bi-xy <σ>', 'CRF appearance kernel σα (pixels at full size)', positive('--crf-bi-xy'), bilateral.xy)
    .option('--crf-bi-rgb <σ>', 'CRF appearance kernel σβ (colour, 0–255)', positive('--crf-bi-rgb'), bilateral.rgb);
}

function crfParams(flags: CrfFlags): CrfParams {
  return {
    ...DEEPLAB_VOC_PARAMS,
    iterations: flags.crfIters,
    scale: flags.crfScale,
    gaussian: { weight: flags.crfPosW, xy: flags.crfPosXy },
    bilateral: { weight: flags.crfBiW, xy: flags.crfBiXy, rgb: flags.crfBiRgb },
  };
}

function onOff(value: string): boolean {
  if (value === 'on' || value === 'off') return value === 'on';
  throw new InvalidArgumentError(`takes on or off, got "${value}"`);
}

function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`takes a number from 0 to 1, got "${value}"`);
  return n;
}

const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'];
function x264Preset(value: string): string {
  if (!X264_PRESETS.includes(value)) throw new InvalidArgumentError(`takes one of ${X264_PRESETS.join(', ')}, got "${value}"`);
  return value;
}

function normalizeFlag(value: string): NonNullable<ModelOverrides['normalize']> {
  if (value === 'torchvision' || value === 'tensorflow' || value === 'mediapipe') return value;
  const match = /^([^/]+)\/([^/]+)$/.exec(value);
  const triple = (text: string) => text.split(',').map(Number);
  if (match) {
    const [mean, std] = [triple(match[1]!), triple(match[2]!)];
    if (mean.length === 3 && std.length === 3 && [...mean, ...std].every(Number.isFinite) && std.every((v) => v > 0)) {
      return { mean: mean as [number, number, number], std: std as [number, number, number] };
    }
  }
  throw new InvalidArgumentError(`takes torchvision, tensorflow, mediapipe or MEAN/STD such as 0.5,0.5,0.5/0.5,0.5,0.5, got "${value}"`);
}

function classesFlag(value: string): NonNullable<ModelOverrides['classes']> {
  if (value === 'voc' || value === 'cityscapes' || value === 'ade20k' || value === 'person') return value;
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch {
    throw new InvalidArgumentError(`takes voc, cityscapes, ade20k, person or a readable text file of class names, got "${value}"`);
  }
  const names = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError(`${value} names no classes`);
  return names;
}

function size(value: string): [number, number] {
  const match = /^(\d+)x(\d+)$/.exec(value);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) throw new InvalidArgumentError(`takes WIDTHxHEIGHT such as 513x289, got "${value}"`);
  return [Number(match[1]), Number(match[2])];
}

function device(value: string) {
  try {
    return parseDevice(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Flags segment and serve share: the model, where it runs, and the CRF. */
interface RunFlags extends CrfFlags {
  model?: string;
  device: ReturnType<typeof parseDevice>;
  batch: number;
  threads?: number;
  inputSize?: [number, number];
  crf: boolean;
  crfWarmIters: number;
  crfWorkers?: number;
  normalize?: ModelOverrides['normalize'];
  classes?: ModelOverrides['classes'];
  verbose?: boolean;
}

interface SegmentFlags extends RunFlags {
  output?: string;
  masks?: string;
  framesJson?: string;
  workers?: number;
  scales?: number[];
  flip?: boolean;
  opacity: number;
  encoderPreset?: string;
  crfWarmStart?: boolean;
  strict?: boolean;
  json?: boolean;
}

/** Where output goes when no output flag is given: `<name>.seg.mp4` (or .png for a still image) in the working directory. */
function defaultOutput(input: string): string {
  const base = path.basename(input).replace(/%0?\d*d/g, '').replace(/\.[^.]+$/, '').replace(/[_-]+$/, '') || 'output';
  const still = /\.(png|jpe?g|bmp|webp|tiff?|ppm)$/i.test(input) && !isSequencePattern(input);
  return `${base}.seg.${still ? 'png' : 'mp4'}`;
}

async function runSegment(input: string, flags: SegmentFlags): Promise<SegmentSummary> {
  const cores = os.availableParallelism();
  const workers = flags.workers ?? Math.min(2, cores);
  const threads = flags.threads ?? Math.max(1, Math.floor(cores / workers));
  const wantsAny = flags.output || flags.masks || flags.framesJson;
  const outputPath = flags.output ?? (wantsAny ? undefined : defaultOutput(input));
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.json);
  try {
    return await segmentVideo({
      input,
      ...(outputPath ? { outputPath } : {}),
      ...(flags.masks ? { masksDir: flags.masks } : {}),
      ...(flags.framesJson ? { framesJsonPath: flags.framesJson } : {}),
      modelPath: flags.model ?? defaultModelPath(),
      device: flags.device,
      batchSize: flags.batch,
      workers,
      threadsPerWorker: threads,
      ...(flags.inputSize ? { inputSize: flags.inputSize } : {}),
      ...(flags.scales ? { scales: flags.scales } : {}),
      ...(flags.flip ? { flip: true } : {}),
      opacity: flags.opacity,
      ...(flags.encoderPreset ? { encoderPreset: flags.encoderPreset } : {}),
      ...(flags.crf
        ? {
            crf: {
              params: crfParams(flags),
              // A warm-started stream stays on one worker: one worker on all cores, unless told.
              workers: flags.crfWorkers ?? (flags.crfWarmStart ? 1 : Math.min(2, os.availableParallelism())),
              ...(flags.crfWarmStart ? { warmStart: { iterations: flags.crfWarmIters, sceneCut: 0.3 } } : {}),
            },
          }
        : {}),
      modelOverrides: { ...(flags.normalize ? { normalize: flags.normalize } : {}), ...(flags.classes ? { classes: flags.classes } : {}) },
      ...(flags.strict ? { strict: true } : {}),
      signal: controller.signal,
      onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
      onStart: ({ totalFrames, fallbackReason }) => {
        if (fallbackReason) process.stderr.write(`note: CUDA is not available (${fallbackReason}); running on CPU. ${CUDA_HOWTO}\n`);
        progress.start(totalFrames);
      },
      onFrame: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function report(summary: SegmentSummary, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const outputs = Object.values(summary.outputs).join(', ');
  process.stderr.write(`${summary.framesOut} frames in ${(summary.wallMs / 1000).toFixed(1)} s (${summary.fps} fps, ${summary.provider}) → ${outputs}\n`);
}

function fail(error: unknown, verbose: boolean): never {
  if (isUserError(error)) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(verbose && error instanceof Error ? `${error.stack}\n` : `error: ${message} (an internal error; rerun with --verbose and report it)\n`);
  process.exit(1);
}

function segmentOptions(command: Command): Command {
  return crfKernelOptions(command)
    .option('--model <path>', 'ONNX segmentation model (default: the embedded default model)')
    .option('--device <device>', 'auto | cpu | cuda | cuda:N', device, parseDevice('auto'))
    .option('--batch <n>', 'frames per inference call', positiveInt('--batch'), 1)
    .option('--workers <n>', 'inference worker threads (default: 2 on 2+ cores)', positiveInt('--workers'))
    .option('--threads <n>', 'intra-op threads per worker (default: cores / workers)', positiveInt('--threads'))
    .option('--input-size <WxH>', 'model input size for models with a dynamic size (default: longer side 513)', size)
    .option('--scales <list>', 'multi-scale inference: average the scores at these input scales, e.g. 0.5,0.75,1', scaleList)
    .option('--flip', 'also run every scale mirrored left-right and average it in')
    .option('--crf <on|off>', 'refine the labels with the fully connected CRF (DeepLab VOC parameters)', onOff, false)
    .option('--crf-iters <n>', 'CRF mean-field iterations', positiveInt('--crf-iters'), DEEPLAB_VOC_PARAMS.iterations)
    .option('--crf-warm-start', 'video: run the CRF incrementally, each frame from the previous one (cold again on scene cuts)')
    .option('--crf-warm-iters <n>', 'CRF iterations of a warm-started frame', positiveInt('--crf-warm-iters'), 3)
    .option('--crf-scale <s>', 'run the CRF at this fraction of the resolution, Q upsampled (0.5: about 4× faster)', scaleFraction('--crf-scale'), 1)
    .option('--crf-workers <n>', 'CRF worker threads: frames side by side (default: 2 on 2+ cores; 1 with --crf-warm-start, whose stream stays on one worker, which then runs each frame on all cores)', positiveInt('--crf-workers'))
    .option('--opacity <alpha>', 'overlay opacity, 0..1', fraction, 0.55)
    .option('--encoder-preset <preset>', 'overlay video x264 speed: ultrafast … veryslow (default veryfast)', x264Preset)
    .option('--normalize <how>', 'input normalisation: torchvision | tensorflow | mediapipe | MEAN/STD as r,g,b/r,g,b (default: from the graph)', normalizeFlag)
    .option('--classes <set>', 'class names and colours: voc | cityscapes | ade20k | person | a text file with one name per line', classesFlag)
    .option('--json', 'print one JSON summary object on stdout at the end')
    .option('--verbose', 'print stack traces of internal errors');
}

interface ServeFlags extends RunFlags {
  port: number;
  host: string;
  token?: string;
  allowedHosts?: string[];
  maxViewers: number;
  realtime?: boolean;
  workers: number;
}

function hostList(value: string): string[] {
  const hosts = value.split(',').map((h) => h.trim()).filter(Boolean);
  if (hosts.length === 0 || hosts.some((h) => !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(h))) {
    throw new InvalidArgumentError(`takes host names separated by commas (a leading dot allows subdomains: .example.com), got "${value}"`);
  }
  return hosts;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`takes a port number 0–65535, got "${value}"`);
  return n;
}

/** Serves until Ctrl-C / SIGTERM; one line per stream event on stderr. */
async function runServe(inputs: string[], flags: ServeFlags): Promise<void> {
  const threads = flags.threads ?? Math.max(1, Math.floor(os.availableParallelism() / flags.workers));
  const server = await startLiveServer({
    inputs,
    realtime: Boolean(flags.realtime),
    host: flags.host,
    port: flags.port,
    ...(flags.token ? { token: flags.token } : {}),
    ...(flags.allowedHosts ? { allowedHosts: flags.allowedHosts } : {}),
    maxViewers: flags.maxViewers,
    modelPath: flags.model ?? defaultModelPath(),
    modelOverrides: { ...(flags.normalize ? { normalize: flags.normalize } : {}), ...(flags.classes ? { classes: flags.classes } : {}) },
    device: flags.device,
    workers: flags.workers,
    threadsPerWorker: threads,
    batchSize: flags.batch,
    ...(flags.inputSize ? { inputSize: flags.inputSize } : {}),
    crf: { on: flags.crf, params: crfParams(flags), warmStart: { iterations: flags.crfWarmIters, sceneCut: 0.3 }, workers: flags.crfWorkers },
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (server.fallbackReason) process.stderr.write(`note: CUDA is not available (${server.fallbackReason}); running on CPU. ${CUDA_HOWTO}\n`);
  const shown = flags.token ? `${server.url}/?token=${encodeURIComponent(flags.token)}` : `${server.url}/`;
  process.stderr.write(`serving ${server.streams.map((s) => s.id).join(', ')} on ${shown} (${server.provider})\n`);
  await new Promise<void>((resolve, reject) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    server.finished.catch(reject);
  }).finally(() => server.close());
}

const program = new Command()
  .name('deeplab-stream')
  .description('Streaming DeepLab semantic segmentation for video files, images and live streams')
  .configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith('error: ') ? text : `error: ${text}`) })
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 64));

segmentOptions(
  program
    .command('segment')
    .description('segment every frame of a video, an image, or an image sequence (frame_%05d.png)')
    .argument('<input>', 'video file, image, or printf pattern of an image sequence')
    .option('-o, --output <file>', 'overlay video (.mp4 .mkv .mov .webm .avi) or image (.png .jpg, or a %d pattern)')
    .option('--masks <dir>', 'write one 8-bit PNG of class indices per frame into DIR')
    .option('--frames-json <file>', 'write one JSON line per frame: index, pts, pixel count per class')
    .option('--strict', 'refuse an input with any decode error (default: a file missing at most 1% of its frames is processed with a warning)'),
).action(async (input: string, flags: SegmentFlags) => {
  try {
    report(await runSegment(input, flags), flags.json);
  } catch (error) {
    fail(error, Boolean(flags.verbose));
  }
});

program
  .command('import')
  .description('convert a TFLite segmentation model to ONNX (float32 and float16 weights)')
  .argument('<model.tflite>', 'TFLite flatbuffer')
  .requiredOption('-o, --output <model.onnx>', 'where to write the ONNX model')
  .option('--json', 'print a JSON summary on stdout')
  .action((input: string, flags: { output: string; json?: boolean }) => {
    try {
      const summary = importModelFile(input, flags.output);
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else process.stderr.write(`${input} → ${flags.output} (${summary.operators} operators, ${summary.ms} ms)\n`);
    } catch (error) {
      fail(error, false);
    }
  });

crfKernelOptions(program.command('eval'))
  .description('mean IoU of a model on labelled images (PASCAL VOC protocol: label 255 ignored)')
  .requiredOption('--images <dir>', 'images (png, jpg, ...)')
  .requiredOption('--labels <dir>', 'label maps with the same base names, .png (palette or greyscale; pixel = class)')
  .option('--model <path>', 'ONNX segmentation model (default: the embedded default model)')
  .option('--device <device>', 'auto | cpu | cuda | cuda:N', device, parseDevice('auto'))
  .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), Math.max(1, os.availableParallelism()))
  .option('--input-size <WxH>', 'model input size for models with a dynamic size', size)
  .option('--normalize <how>', 'input normalisation (see segment --help)', normalizeFlag)
  .option('--classes <set>', 'class names (see segment --help)', classesFlag)
  .option('--crf <on|off>', 'also score the labels after the dense CRF (DeepLab VOC parameters)', onOff, false)
  .option('--crf-iters <n>', 'CRF mean-field iterations', positiveInt('--crf-iters'), DEEPLAB_VOC_PARAMS.iterations)
  .option('--crf-scale <s>', 'run the CRF at this fraction of the resolution, Q upsampled', scaleFraction('--crf-scale'), 1)
  .option('--json', 'print the result as one JSON object')
  .action(async (flags: CrfFlags & { images: string; labels: string; model?: string; device: ReturnType<typeof parseDevice>; threads: number; inputSize?: [number, number]; normalize?: ModelOverrides['normalize']; classes?: ModelOverrides['classes']; crf: boolean; json?: boolean }) => {
    const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.json, 'eval', 'images');
    try {
      const summary = await evaluate({
        onImage: (done, total) => {
          if (done === 1) progress.start(total);
          progress.update(done);
        },
        imagesDir: flags.images,
        labelsDir: flags.labels,
        modelPath: flags.model ?? defaultModelPath(),
        device: flags.device,
        threads: flags.threads,
        ...(flags.inputSize ? { inputSize: flags.inputSize } : {}),
        modelOverrides: { ...(flags.normalize ? { normalize: flags.normalize } : {}), ...(flags.classes ? { classes: flags.classes } : {}) },
        ...(flags.crf ? { crf: crfParams(flags) } : {}),
      });
      progress.stop();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        return;
      }
      const pct = (v: number | null) => (v === null ? '     -' : `${(v * 100).toFixed(2).padStart(6)}`);
      const crf = summary.crf;
      const rows = summary.perClass.map((c, i) => `${c.name.padEnd(16)} ${pct(c.iou)}${crf ? `  ${pct(crf.perClass[i]!.iou)}` : ''}  ${String(c.pixels).padStart(10)}`);
      const tail = crf ? `\nwith CRF: mIoU ${pct(crf.mIoU)} %  pixel accuracy ${pct(crf.pixelAccuracy)} %\n` : '';
      process.stdout.write(`class            IoU %${crf ? '  +CRF %' : ''}  GT pixels\n${rows.join('\n')}\n\nmIoU ${pct(summary.mIoU)} %  pixel accuracy ${pct(summary.pixelAccuracy)} %  (${summary.images} images)\n${tail}`);
    } catch (error) {
      progress.stop();
      fail(error, false);
    }
  });

program
  .command('crf')
  .description('refine probabilities with the fully connected CRF (DeepLab VOC defaults: 10 iterations, w1 4, σα 121, σβ 5, w2 3, σγ 3)')
  .requiredOption('--image <img>', 'PNG or binary PPM (a printf pattern with --frames)')
  .requiredOption('--probs <p.npy>', 'float32 probabilities H×W×C in C order (C×H×W with --chw)')
  .requiredOption('--out <labels.png>', '8-bit greyscale label map to write')
  .option('--q-out <q.npy>', 'also write the marginals Q (float32 H×W×C)')
  .option('--chw', 'the .npy is C×H×W')
  .option('--iters <n>', 'mean-field iterations', positiveInt('--iters'), DEEPLAB_VOC_PARAMS.iterations)
  .option('--pos-w <w>', 'smoothness kernel weight w2', nonNegative('--pos-w'), DEEPLAB_VOC_PARAMS.gaussian.weight)
  .option('--pos-xy <σ>', 'smoothness kernel σγ (pixels)', positive('--pos-xy'), DEEPLAB_VOC_PARAMS.gaussian.xy)
  .option('--bi-w <w>', 'appearance kernel weight w1', nonNegative('--bi-w'), DEEPLAB_VOC_PARAMS.bilateral.weight)
  .option('--bi-xy <σ>', 'appearance kernel σα (pixels)', positive('--bi-xy'), DEEPLAB_VOC_PARAMS.bilateral.xy)
  .option('--bi-rgb <σ>', 'appearance kernel σβ (colour, 0–255)', positive('--bi-rgb'), DEEPLAB_VOC_PARAMS.bilateral.rgb)
  .option('--scale <s>', 'run at this fraction of the resolution, Q upsampled', scaleFraction('--scale'), 1)
  .option('--frames <n>', 'frames in a sequence (paths are printf patterns, from 0)', positiveInt('--frames'))
  .option('--warm-start', 'in a sequence, start each frame from the previous Q blended with its unary')
  .option('--warm-iters <n>', 'iterations of a warm-started frame', positiveInt('--warm-iters'), 3)
  .option('--threads <n>', 'cores for each frame (2: a helper thread runs half of every step; frames under 65k pixels use one)', positiveInt('--threads'), Math.min(2, os.availableParallelism()))
  .option('--json', 'print { "ms_setup", "ms_inference", "ms_total" } on stdout')
  .action(async (flags: { image: string; probs: string; out: string; qOut?: string; chw?: boolean; iters: number; posW: number; posXy: number; biW: number; biXy: number; biRgb: number; scale: number; frames?: number; warmStart?: boolean; warmIters: number; threads: number; json?: boolean }) => {
    try {
      const summary = await runCrfCommand({
        image: flags.image, probs: flags.probs, out: flags.out,
        ...(flags.qOut ? { qOut: flags.qOut } : {}),
        chw: Boolean(flags.chw),
        params: { ...DEEPLAB_VOC_PARAMS, iterations: flags.iters, scale: flags.scale, gaussian: { weight: flags.posW, xy: flags.posXy }, bilateral: { weight: flags.biW, xy: flags.biXy, rgb: flags.biRgb } },
        ...(flags.frames ? { frames: flags.frames } : {}),
        warmStart: Boolean(flags.warmStart),
        warmIterations: flags.warmIters,
        threads: flags.threads,
      });
      if (flags.json) process.stdout.write(`${JSON.stringify({ ms_setup: summary.ms_setup, ms_inference: summary.ms_inference, ms_total: summary.ms_total, frames: summary.frames })}\n`);
      else process.stderr.write(`${summary.frames} frame(s): setup ${summary.ms_setup} ms, inference ${summary.ms_inference} ms, total ${summary.ms_total} ms → ${flags.out}\n`);
    } catch (error) {
      fail(error, false);
    }
  });

crfKernelOptions(program.command('serve'))
  .description('segment live inputs and show them in a browser: the viewer at /, /healthz, /metrics, WebSocket /ws')
  .argument('[inputs...]', 'files, testsrc[:WxH[@fps]], rtsp://…, http(s)://…, camera:N or /dev/videoN', ['testsrc'])
  .option('--port <n>', 'HTTP port (0: any free one)', port, 8080)
  .option('--host <address>', 'address to listen on (0.0.0.0 opens it to the network)', '127.0.0.1')
  .option('--token <secret>', 'require ?token=SECRET (or Authorization: Bearer) for /ws and /metrics')
  .option('--allowed-hosts <names>', 'host names the server answers to besides IP addresses, localhost and --host (comma-separated; .example.com allows subdomains)', hostList)
  .option('--max-viewers <n>', 'WebSocket viewers at most; more are refused with 503', positiveInt('--max-viewers'), 64)
  .option('--realtime', 'play files at their frame rate, dropping frames when behind (default: every frame)')
  .option('--model <path>', 'ONNX segmentation model (default: the embedded default model)')
  .option('--device <device>', 'auto | cpu | cuda | cuda:N', device, parseDevice('auto'))
  .option('--batch <n>', 'frames per inference call (frames of all streams batch together)', positiveInt('--batch'), 1)
  .option('--workers <n>', 'inference worker threads shared by all streams (default: 1, for latency)', positiveInt('--workers'), 1)
  .option('--threads <n>', 'intra-op threads per worker (default: cores / workers)', positiveInt('--threads'))
  .option('--input-size <WxH>', 'model input size for models with a dynamic size', size)
  .option('--crf <on|off>', 'start every stream with the dense CRF on (viewers can switch it per stream)', onOff, false)
  .option('--crf-iters <n>', 'CRF mean-field iterations of a cold start', positiveInt('--crf-iters'), DEEPLAB_VOC_PARAMS.iterations)
  .option('--crf-warm-iters <n>', 'CRF iterations of a frame warm-started from the previous one', positiveInt('--crf-warm-iters'), 3)
  .option('--crf-scale <s>', 'run the CRF at this fraction of the resolution, labels from Q upsampled (live default 0.5: 30 fps at 640x360 on 2 cores)', scaleFraction('--crf-scale'), 0.5)
  .option('--crf-workers <n>', 'CRF workers shared by the streams (each stream stays on one; one worker runs each frame on two cores)', positiveInt('--crf-workers'), 1)
  .option('--normalize <how>', 'input normalisation (see segment --help)', normalizeFlag)
  .option('--classes <set>', 'class names (see segment --help)', classesFlag)
  .option('--verbose', 'print stack traces of internal errors')
  .action(async (inputs: string[], flags: ServeFlags) => {
    try {
      await runServe(inputs, flags);
    } catch (error) {
      fail(error, Boolean(flags.verbose));
    }
  });

segmentOptions(
  program
    .command('demo')
    .description('generate a short test clip and segment it with the default model')
    .option('--out-dir <dir>', 'where the clip and results go', 'out'),
).action(async (flags: SegmentFlags & { outDir: string }) => {
  try {
    mkdirSync(flags.outDir, { recursive: true });
    const clip = await generateClip(path.join(flags.outDir, 'demo-input.mp4'), { width: 640, height: 360, fps: 25, frames: 75 });
    const summary = await runSegment(clip, { ...flags, output: path.join(flags.outDir, 'demo.seg.mp4'), framesJson: path.join(flags.outDir, 'demo.frames.jsonl') });
    report(summary, flags.json);
  } catch (error) {
    fail(error, Boolean(flags.verbose));
  }
});

await program.parseAsync(process.argv);
