/**
 * `deeplab-stream crf`: the dense CRF on an image and a probability map from anywhere (PyTorch,
 * TensorFlow …) — the Python-interop entry point. Sequences (printf patterns with --frames) can
 * carry Q from frame to frame (--warm-start).
 *
 *   IMG (PNG / PPM) + P.npy (float32 H×W×C, or C×H×W with --chw) → LABELS.png (8-bit grey), [Q.npy]
 */
import { encodeGreyPng } from '../io/greyPng.js';
import type { CrfParams } from '../crf/crfParams.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { type CrfJob, WARM_START_ITERATIONS } from '../crf/crfProtocol.js';
import { InputError, UsageError } from '../core/errors.js';
import { formatSequencePath } from '../io/sequencePath.js';
import { readNpyFloat32, readNpyHeader, writeNpyFloat32 } from '../io/npy.js';
import { readInputFile, readInputFileStart } from '../io/readInputFile.js';
import { normaliseProbabilities, type ProbabilitySource } from '../crf/probabilities.js';
import { oneImageOnNative } from '../crf/engines.js';
import { readRgbImage } from '../io/rgbImage.js';
import { writeFileAtomically } from '../io/partialFile.js';

export interface CrfCommandOptions {
  readonly image: string;
  readonly probs: string;
  readonly out: string;
  readonly qOut?: string;
  readonly chw?: boolean;
  readonly params: CrfParams;
  /** Number of frames when the paths are printf patterns (frame_%05d.png). */
  readonly frames?: number;
  readonly warmStart?: boolean;
  /** Iterations of a warm-started frame (default WARM_START_ITERATIONS). */
  readonly warmIterations?: number;
  /** Cores for each frame's mean field (1, or 2 with a helper thread; frames under 65k pixels use one). */
  readonly threads?: number;
}

export interface CrfCommandSummary {
  readonly frames: number;
  readonly ms_setup: number;
  readonly ms_inference: number;
  readonly ms_total: number;
}

const PATTERN = /%0?\d*d/;

/**
 * One probability map against its image: H×W×C goes to the CRF worker as the file's data (read
 * there, checked and normalised there); C×H×W is read, transposed and normalised here.
 */
export function probabilitiesFor(
  file: string,
  width: number,
  height: number,
  chw: boolean,
): { probabilities: ProbabilitySource; classes: number } {
  const { start, size } = readInputFileStart(file, 'probabilities', 65536);
  const { shape, dataOffset } = readNpyHeader(start, file, size);
  if (shape.length !== 3)
    throw new InputError(`${file} has shape (${shape.join(', ')}); expected ${chw ? 'C×H×W' : 'H×W×C'} (3 axes)`);
  const [h, w, classes] = chw ? [shape[1]!, shape[2]!, shape[0]!] : [shape[0]!, shape[1]!, shape[2]!];
  if (h !== height || w !== width) {
    throw new InputError(
      `${file} is ${w}x${h} (${chw ? 'C×H×W' : 'H×W×C'} shape ${shape.join('×')}) but the image is ${width}x${height}${chw ? '' : '; if it is C×H×W, pass --chw'}`,
    );
  }
  if (classes < 1) throw new InputError(`${file} has no labels`);
  if (classes > 256) throw new InputError(`${file} has ${classes} labels; the 8-bit label PNG holds at most 256`);
  if (!chw) return { probabilities: { path: file, offset: dataOffset, name: file, width }, classes };
  const { data } = readNpyFloat32(readInputFile(file, 'probabilities'), file);
  const n = width * height;
  const probabilities = new Float32Array(n * classes);
  for (let c = 0; c < classes; c++)
    for (let p = 0, from = c * n; p < n; p++) probabilities[p * classes + c] = data[from + p]!;
  normaliseProbabilities(probabilities, width, classes, file);
  return { probabilities, classes };
}

export const round = (v: number) => Math.round(v * 10) / 10;

/** The files of one image: the image, its probabilities, where its labels (and Q) go. */
export interface CrfFiles {
  readonly image: string;
  readonly probs: string;
  readonly out: string;
  readonly qOut?: string;
  readonly chw: boolean;
}

/** What refining one image's files took. */
export interface RefinedTimes {
  readonly setupMs: number;
  readonly inferenceMs: number;
}

/**
 * One image: read and checked, refined — whole in the native addon where it can (see
 * nativeImageCrf; not a warm-started frame), else by the CRF worker `worker()` gives (started on
 * first need) —, its label PNG (and Q) written atomically. `onRefined` runs between the CRF and the
 * writing.
 */
export async function refineFiles(
  worker: () => CrfRunner,
  files: CrfFiles,
  params: CrfParams,
  options: {
    readonly warmStart?: CrfJob['warmStart'];
    readonly onRefined?: () => void;
    readonly threads?: number;
  } = {},
): Promise<RefinedTimes> {
  const image = readRgbImage(files.image);
  const { probabilities, classes } = probabilitiesFor(files.probs, image.width, image.height, files.chw);
  const wantQ = Boolean(files.qOut);
  const native =
    options.warmStart || probabilities instanceof Float32Array
      ? null
      : await oneImageOnNative(
          image.rgb,
          image.width,
          image.height,
          probabilities,
          classes,
          params,
          wantQ,
          options.threads ?? 2,
        );
  const result =
    native ??
    (await worker().run({
      image: image.rgb,
      width: image.width,
      height: image.height,
      probabilities,
      classes,
      params,
      wantQ,
      ...(options.warmStart ? { warmStart: options.warmStart } : {}),
    }));
  options.onRefined?.();
  writeFileAtomically(files.out, encodeGreyPng(result.labels, image.width, image.height), 'labels');
  if (files.qOut)
    writeFileAtomically(files.qOut, writeNpyFloat32([image.height, image.width, classes], result.q!), 'Q');
  return result;
}

export async function runCrfCommand(o: CrfCommandOptions): Promise<CrfCommandSummary> {
  const sequence = [o.image, o.probs, o.out].some((p) => PATTERN.test(p));
  if (sequence && !o.frames) throw new UsageError('the paths are printf patterns: give --frames N');
  if (!sequence && (o.frames ?? 1) > 1)
    throw new UsageError('--frames needs printf patterns in --image, --probs and --out (frame_%05d.png)');
  if (o.warmStart && !sequence)
    throw new UsageError('--warm-start carries Q across the frames of a sequence: use patterns and --frames');
  const frames = sequence ? o.frames! : 1;
  const at = (pattern: string | undefined, i: number) =>
    pattern && sequence ? formatSequencePath(pattern, i) : pattern;
  const started = performance.now();
  // A CRF worker only where the native addon does not take an image (no worker to boot otherwise).
  let runner = null as CrfRunner | null; // set by the closures below (a plain `null` would narrow to never)
  const worker = () => (runner ??= CrfRunner.start(1, o.threads));
  let closing: Promise<void> | null = null;
  let setup = 0;
  let inference = 0;
  try {
    for (let i = 0; i < frames; i++) {
      const result = await refineFiles(
        worker,
        {
          image: at(o.image, i)!,
          probs: at(o.probs, i)!,
          out: at(o.out, i)!,
          ...(o.qOut ? { qOut: at(o.qOut, i)! } : {}),
          chw: o.chw ?? false,
        },
        o.params,
        {
          ...(o.threads ? { threads: o.threads } : {}),
          // Warm start: the worker begins from the previous frame's Q where the probabilities held still.
          ...(o.warmStart
            ? {
                warmStart: {
                  streamId: 'sequence',
                  restart: i === 0,
                  iterations: o.warmIterations ?? WARM_START_ITERATIONS,
                  sceneCut: 0.3,
                },
              }
            : {}),
          // Nothing more to refine after the last frame: the threads wind down while its files are written.
          ...(i === frames - 1 ? { onRefined: () => void (closing = runner?.close() ?? null) } : {}),
        },
      );
      setup += result.setupMs;
      inference += result.inferenceMs;
    }
  } finally {
    await (closing ?? runner?.close());
  }
  return {
    frames,
    ms_setup: round(setup),
    ms_inference: round(inference),
    ms_total: round(performance.now() - started),
  };
}
