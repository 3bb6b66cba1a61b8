/** `segment`: a video, image or sequence → overlay video, masks, JSON lines. */
import os from 'node:os';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { UsageError } from '../../core/errors.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { WARM_START_ITERATIONS } from '../../crf/crfProtocol.js';
import { cpuFallbackNote } from '../../model/device.js';
import type { SegmentSummary } from '../../pipeline/segmentVideo.js';
import type { ClusterSegmentSummary } from '../../cluster/segmentOnCluster.js';
import { isSequencePattern } from '../../io/sequencePath.js';
import { DEFAULT_OVERLAY_STYLE } from '../../sinks/overlay.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import { resolveModelFlag } from '../modelFlag.js';
import { natsSecurityOptions, natsTargetFrom } from '../natsFlags.js';
import type { NatsSecurityFlags } from '../../cluster/natsSecurity.js';
import {
  crfKernelOptions,
  crfSwitch,
  planFlags,
  crfParams,
  fraction,
  modelOptions,
  modelOverridesFrom,
  onOff,
  positive,
  positiveInt,
  scaleFraction,
  scaleList,
  type SegmentFlags,
  x264Preset,
} from '../flags.js';

/** Where output goes when no output flag is given: `<name>.seg.mp4` (or .png for a still image) in the working directory. */
function defaultOutput(input: string): string {
  const base =
    path
      .basename(input)
      .replace(/%0?\d*d/g, '')
      .replace(/\.[^.]+$/, '')
      .replace(/[_-]+$/, '') || 'output';
  const still = /\.(png|jpe?g|bmp|webp|tiff?|ppm)$/i.test(input) && !isSequencePattern(input);
  return `${base}.seg.${still ? 'png' : 'mp4'}`;
}

/** What a run takes from the flags, on this machine or the cluster's. */
async function runOptions(input: string, flags: SegmentFlags) {
  if (flags.masksRle && !flags.framesJson)
    throw new UsageError("--masks-rle writes each frame's masks into the frames JSON: give --frames-json FILE too");
  const wantsAny = flags.output || flags.masks || flags.framesJson;
  const outputPath = flags.output ?? (wantsAny ? undefined : defaultOutput(input));
  return {
    input,
    ...(outputPath ? { outputPath } : {}),
    ...(flags.masks ? { masksDir: flags.masks } : {}),
    ...(flags.framesJson ? { framesJsonPath: flags.framesJson } : {}),
    ...(flags.masksRle ? { masksRle: true } : {}),
    modelPath: await resolveModelFlag(flags.model, flags.json, flags.tfliteArithmetic),
    batchSize: flags.batch,
    ...(flags.inputSize ? { inputSize: flags.inputSize } : {}),
    ...planFlags(flags),
    ...(flags.scales ? { scales: flags.scales } : {}),
    ...(flags.flip ? { flip: true } : {}),
    opacity: flags.opacity,
    overlayStyle: flags.overlay,
    legend: flags.legend,
    ...(flags.encoderPreset ? { encoderPreset: flags.encoderPreset } : {}),
    modelOverrides: modelOverridesFrom(flags),
    ...(flags.strict ? { strict: true } : {}),
    onWarning: (message: string) => process.stderr.write(`warning: ${message}\n`),
    onNote: (message: string) => process.stderr.write(`note: ${message}\n`),
  };
}

/** Ctrl-C (or SIGTERM) aborts the run once; a second one exits at once. */
async function withInterrupts<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function runSegment(input: string, flags: SegmentFlags): Promise<SegmentSummary> {
  const cores = os.availableParallelism();
  const workers = flags.workers ?? Math.min(2, cores);
  const threads = flags.threads ?? Math.max(1, Math.floor(cores / workers));
  const [{ segmentVideo }, { createProgress }] = await Promise.all([
    import('../../pipeline/segmentVideo.js'),
    import('../progress.js'),
  ]);
  const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.json);
  try {
    const options = await runOptions(input, flags);
    return await withInterrupts((signal) =>
      segmentVideo({
        ...options,
        device: flags.device,
        workers,
        threadsPerWorker: threads,
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
        signal,
        onStart: ({ totalFrames, fallbackReason }) => {
          if (fallbackReason) process.stderr.write(`${cpuFallbackNote(fallbackReason)}\n`);
          progress.start(totalFrames);
        },
        onFrame: (done) => progress.update(done),
      }),
    );
  } finally {
    progress.stop();
  }
}

/** `segment IN --nats URL`: the same run, its chunks on the cluster's workers. */
export async function runSegmentOnCluster(
  input: string,
  flags: SegmentFlags & NatsSecurityFlags & { nats: string; chunkSeconds: number },
): Promise<ClusterSegmentSummary> {
  const [{ segmentOnCluster }, { createProgress }] = await Promise.all([
    import('../../cluster/segmentOnCluster.js'),
    import('../progress.js'),
  ]);
  const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.json, 'segment', 'chunks');
  try {
    const options = await runOptions(input, flags);
    return await withInterrupts((signal) =>
      segmentOnCluster({
        ...options,
        nats: natsTargetFrom(flags.nats, flags),
        chunkSeconds: flags.chunkSeconds,
        ...(flags.crf
          ? {
              crf: {
                params: crfParams(flags),
                ...(flags.crfWarmStart ? { warmStart: { iterations: flags.crfWarmIters, sceneCut: 0.3 } } : {}),
              },
            }
          : {}),
        signal,
        onChunks: (total) => progress.start(total),
        onChunkDone: (done) => progress.update(done),
      }),
    );
  } finally {
    progress.stop();
  }
}

export function report(summary: SegmentSummary, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const outputs = Object.values(summary.outputs).join(', ');
  process.stderr.write(
    `${summary.framesOut} frames in ${(summary.wallMs / 1000).toFixed(1)} s (${summary.fps} fps, ${summary.provider}) → ${outputs}\n`,
  );
}

function reportCluster(summary: ClusterSegmentSummary, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stderr.write(
      `${summary.framesOut} frames in ${summary.chunks} chunks on ${summary.workers.length} worker(s), ${(summary.wallMs / 1000).toFixed(1)} s → ${Object.values(summary.outputs).join(', ')}\n`,
    );
}

/** The run's flags, shared by segment and demo: model, CRF, then output. */
export function segmentOptions(command: Command): Command {
  modelOptions(command)
    .option('--batch <n>', 'frames per inference call', positiveInt('--batch'), 1)
    .option('--workers <n>', 'inference worker threads (default: 2 on 2+ cores)', positiveInt('--workers'))
    .option('--threads <n>', 'intra-op threads per worker (default: cores / workers)', positiveInt('--threads'))
    .option(
      '--scales <list>',
      'multi-scale inference: average the scores at these input scales, e.g. 0.5,0.75,1',
      scaleList,
    )
    .option('--flip', 'also run every scale mirrored left-right and average it in')
    .optionsGroup('CRF:')
    .addOption(
      crfSwitch("refine the labels with the fully connected CRF (the model's tuned kernels, else DeepLab's VOC set)"),
    )
    .option('--crf-iters <n>', 'CRF mean-field iterations', positiveInt('--crf-iters'), DEEPLAB_VOC_PARAMS.iterations)
    .option(
      '--crf-warm-start',
      'video: run the CRF incrementally, each frame from the previous one (cold again on scene cuts)',
    )
    .option(
      '--crf-warm-iters <n>',
      'CRF iterations of a warm-started frame',
      positiveInt('--crf-warm-iters'),
      WARM_START_ITERATIONS,
    )
    .option(
      '--crf-scale <s>',
      'run the CRF at this fraction of the resolution, Q upsampled (0.5: about 4× faster)',
      scaleFraction('--crf-scale'),
      1,
    )
    .option(
      '--crf-workers <n>',
      'CRF worker threads: frames side by side (default: 2 on 2+ cores; 1 with --crf-warm-start, whose stream stays on one worker, which then runs each frame on all cores)',
      positiveInt('--crf-workers'),
    );
  return crfKernelOptions(command)
    .option('--opacity <alpha>', 'overlay opacity, 0..1', fraction, 0.55)
    .addOption(
      new Option(
        '--overlay <style>',
        'how the overlay draws classes: fill (blended areas), outline (2-px contours), both',
      )
        .choices(['fill', 'outline', 'both'])
        .default(DEFAULT_OVERLAY_STYLE),
    )
    .addOption(
      new Option('--legend <on|off>', "a key of the classes in each frame in the overlay's corner")
        .argParser(onOff)
        .default(true, 'on'),
    )
    .option(
      '--encoder-preset <preset>',
      'overlay video x264 speed: ultrafast … veryslow (default: veryfast)',
      x264Preset,
    )
    .option('--json', 'print one JSON summary object on stdout at the end')
    .option('--verbose', 'print stack traces of internal errors');
}

export function registerSegment(program: Command, setExitCode: SetExitCode): void {
  const command = program
    .command('segment')
    .description('segment every frame of a video, an image, or an image sequence (frame_%05d.png)')
    .argument('<input>', 'video file, image, or printf pattern of an image sequence')
    .option('-o, --output <file>', 'overlay video (.mp4 .mkv .mov .webm .avi) or image (.png .jpg, or a %d pattern)')
    .option('--masks <dir>', 'write one 8-bit PNG of class indices per frame into DIR')
    .option('--frames-json <file>', 'write one JSON line per frame: index, pts, pixel count per class')
    .option('--masks-rle', "with --frames-json: each frame's labels too, as COCO RLE per class (docs/offline.md)")
    .option(
      '--strict',
      'refuse an input with any decode error (default: a file missing at most 1% of its frames is processed with a warning)',
    );
  segmentOptions(command)
    .optionsGroup('Cluster (NATS):')
    .option(
      '--nats <url>',
      'spread the video over the workers of a NATS JetStream cluster (deeplab-stream worker --nats URL), in chunks',
    )
    .option(
      '--chunk-seconds <s>',
      'with --nats: about how long each chunk is (cut at keyframes)',
      positive('--chunk-seconds'),
      10,
    );
  natsSecurityOptions(command)
    .addHelpText(
      'after',
      `
Examples:
  deeplab-stream segment street.mp4 -o street.seg.mp4
  deeplab-stream segment street.mp4 --model deeplabv3-voc --tiles auto --crf on --masks masks/
  deeplab-stream segment photo.jpg -o photo.seg.png --model deeplabv3-voc --scales 0.75,1,1.25 --flip
  deeplab-stream segment long.mp4 --nats nats://broker:4222 --frames-json long.jsonl`,
    )
    .action(
      async (input: string, flags: SegmentFlags & NatsSecurityFlags & { nats?: string; chunkSeconds: number }) => {
        try {
          if (flags.nats) reportCluster(await runSegmentOnCluster(input, { ...flags, nats: flags.nats }), flags.json);
          else report(await runSegment(input, flags), flags.json);
        } catch (error) {
          setExitCode(reportFailure(error, Boolean(flags.verbose)));
        }
      },
    );
}
