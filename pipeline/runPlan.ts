/**
 * One validated plan for a run — segment, serve, eval, the library — made before any worker
 * starts: the model's descriptor (graph, sidecar, overrides), which model inputs each frame size
 * gets (size, scales, flips), and every check that flags and model agree. A mistake is one
 * UsageError (or ModelError) here, never a failure halfway through a run.
 *
 *   planRun({ modelPath, inputSize?, scales?, flip?, batchSize?, crf?, mixedSizes? })
 *     → { descriptor, inputSizeFor(w, h), inputsFor(w, h), preprocess, crfAvailable, … }
 */
import { ModelError, UsageError } from '../core/errors.js';
import {
  describeModel,
  type InputSpec,
  type ModelDescriptor,
  modelInputSize,
  planInputs,
  UnknownClassAxisError,
} from '../model/descriptor.js';
import { applyOverrides, type ModelOverrides, readSidecar } from '../model/modelOverrides.js';
import { probeClassAxis } from '../model/probeClassAxis.js';
import { autoGrid, type TileGrid, tileWindows } from '../model/tiles.js';
import type { PreprocessOptions } from '../operators/preprocessFrames.js';
import { readInputFile } from '../io/readInputFile.js';

/** How frames become model inputs: the fields every run (segment, serve, eval, crf-tune, the library, a cluster's task) shares. */
export interface PlanOptions {
  readonly modelPath: string;
  /** What the graph cannot say (flags); a sidecar file beside the model is read too. */
  readonly modelOverrides?: ModelOverrides | undefined;
  /** Model input [width, height] for dynamic-size models (default: the frame's longer side at 513). */
  readonly inputSize?: readonly [number, number] | undefined;
  /** Multi-scale inference (DeepLab's 0.5, 0.75, 1): needs a dynamic input size and scores. */
  readonly scales?: readonly number[] | undefined;
  /** Also run each scale mirrored left-right and average it in. */
  readonly flip?: boolean | undefined;
  /** Sliding-window inference: `auto` (windows about the model's input size) or a grid; absent: the whole frame at once. */
  readonly tiles?: TileGrid | undefined;
  /** Share of a window its neighbours overlap (default 0.25). */
  readonly tileOverlap?: number | undefined;
  /** `--classes-shown`: the argmax over these classes and background only (names of the model's classes). */
  readonly classesShown?: readonly string[] | undefined;
}

/** The plan fields of a run's options, and nothing else of them. */
export function planFields(o: PlanOptions): PlanOptions {
  return {
    modelPath: o.modelPath,
    modelOverrides: o.modelOverrides,
    inputSize: o.inputSize,
    scales: o.scales,
    flip: o.flip,
    tiles: o.tiles,
    tileOverlap: o.tileOverlap,
    classesShown: o.classesShown,
  };
}

export interface RunPlanOptions extends PlanOptions {
  readonly batchSize?: number;
  /** The dense CRF will refine the labels: needs class scores. */
  readonly crf?: boolean;
  /** Frames of different sizes may meet in one batch (live streams batch together). */
  readonly mixedSizes?: boolean;
}

export interface RunPlan {
  readonly modelPath: string;
  readonly descriptor: ModelDescriptor;
  /** What was worked out rather than read (a class axis measured by one run): one line each, to tell the user. */
  readonly notes: readonly string[];
  /** Whether the model gives class scores the CRF can refine (not labels already argmaxed). */
  readonly crfAvailable: boolean;
  readonly scales: readonly number[];
  readonly flip: boolean;
  readonly batchSize: number;
  /** The model input size for frames of this size. */
  inputSizeFor(width: number, height: number): readonly [number, number];
  /** The model inputs a frame of this size becomes (one per scale and flip, or one per window). */
  inputsFor(width: number, height: number): readonly InputSpec[];
  /** The window grid for frames of this size (1×1 without tiles). */
  tilesFor(width: number, height: number): { readonly cols: number; readonly rows: number };
  /** `preprocessFrames`' options for this model and plan. */
  readonly preprocess: PreprocessOptions;
}

/**
 * The model's descriptor: the graph first, then the optional sidecar beside the model, then flags.
 * A class axis the graph leaves open is measured by one run (`notes` says so).
 */
export async function loadModelDescriptor(
  modelPath: string,
  overrides: ModelOverrides = {},
  notes: string[] = [],
): Promise<ModelDescriptor> {
  const bytes = readInputFile(modelPath, 'model', (message) => new ModelError(message));
  let described: ModelDescriptor;
  try {
    described = describeModel(bytes, modelPath);
  } catch (error) {
    if (!(error instanceof UnknownClassAxisError)) throw error;
    const { classes, input } = await probeClassAxis(bytes, error.probe, modelPath);
    notes.push(
      `${modelPath}: the graph leaves the class axis open; one run on a ${input.join('x')} input gives ${classes} classes`,
    );
    described = describeModel(bytes, modelPath, { classAxis: classes });
  }
  return applyOverrides(applyOverrides(described, readSidecar(modelPath)), overrides);
}

export async function planRun(options: RunPlanOptions): Promise<RunPlan> {
  const { modelPath, inputSize, batchSize = 1, flip = false } = options;
  const scales = options.scales ?? [1];
  const notes: string[] = [];
  const loaded = await loadModelDescriptor(modelPath, options.modelOverrides, notes);
  const descriptor = options.classesShown ? withClassesShown(loaded, options.classesShown, modelPath) : loaded;
  const fixed =
    descriptor.inputWidth !== null && descriptor.inputHeight !== null
      ? `${descriptor.inputWidth}x${descriptor.inputHeight}`
      : null;
  if (inputSize && fixed && inputSize.join('x') !== fixed)
    throw new UsageError(`--input-size ${inputSize.join('x')} does not fit ${modelPath}, which takes exactly ${fixed}`);
  const multiScale = scales.length > 1 || scales[0] !== 1;
  if (multiScale && (descriptor.inputWidth !== null || descriptor.inputHeight !== null)) {
    throw new UsageError(
      `--scales needs a model with a dynamic input size; ${modelPath} takes exactly ${descriptor.inputWidth}x${descriptor.inputHeight} (--flip alone works)`,
    );
  }
  const crfAvailable = descriptor.outputKind !== 'labels';
  if (options.crf && !crfAvailable)
    throw new UsageError(`--crf on needs class scores, but ${modelPath} outputs labels already argmaxed`);
  if ((multiScale || flip) && !crfAvailable)
    throw new UsageError(`--scales and --flip average scores, but ${modelPath} outputs labels already argmaxed`);
  if (descriptor.batchSize !== null && descriptor.batchSize !== batchSize)
    throw new UsageError(
      `the model takes batches of exactly ${descriptor.batchSize}: use --batch ${descriptor.batchSize}`,
    );
  if (options.mixedSizes && batchSize > 1 && !inputSize && !fixed) {
    throw new UsageError(
      '--batch above 1 batches frames of different streams together: give --input-size WxH so they share one model input size',
    );
  }
  const { tiles, tileOverlap = 0.25 } = options;
  if (tiles) {
    if (multiScale || flip) throw new UsageError('--tiles cannot be combined with --scales or --flip: choose one');
    if (!crfAvailable) throw new UsageError(`--tiles blends scores, but ${modelPath} outputs labels already argmaxed`);
    if (!(tileOverlap >= 0 && tileOverlap < 1))
      throw new UsageError(`--tile-overlap takes a share of a window from 0 to below 1, got ${tileOverlap}`);
  }
  const inputSizeFor = (width: number, height: number) => inputSize ?? modelInputSize(descriptor, width, height);
  const tilesFor = (width: number, height: number) => {
    if (!tiles) return { cols: 1, rows: 1 };
    if (tiles !== 'auto') return tiles;
    // Windows at about the model's native size: its fixed input, else what it would run a window at.
    const [mw, mh] =
      inputSize ??
      (fixed
        ? [descriptor.inputWidth!, descriptor.inputHeight!]
        : modelInputSize(descriptor, Math.min(width, height), Math.min(width, height)));
    return autoGrid(width, height, mw, mh, tileOverlap);
  };
  const plans = new Map<string, InputSpec[]>();
  const inputsFor = (width: number, height: number): InputSpec[] => {
    const key = `${width}x${height}`;
    let plan = plans.get(key);
    if (!plan) {
      const grid = tilesFor(width, height);
      if (grid.cols > width || grid.rows > height)
        throw new UsageError(
          `--tiles ${grid.cols}x${grid.rows} cuts a ${width}x${height} frame into windows under a pixel: choose fewer`,
        );
      plan =
        grid.cols * grid.rows === 1
          ? planInputs(inputSizeFor(width, height), scales, flip)
          : tileWindows(width, height, grid, tileOverlap).map((window) => {
              const [w, h] = inputSizeFor(window.width, window.height);
              return { width: w, height: h, flipped: false, window };
            });
      plans.set(key, plan);
    }
    return plan;
  };
  return {
    modelPath,
    descriptor,
    notes,
    crfAvailable,
    scales,
    flip,
    batchSize,
    inputSizeFor,
    inputsFor,
    tilesFor,
    preprocess: {
      layout: descriptor.inputLayout,
      normalization: descriptor.normalization,
      inputType: descriptor.inputType,
      inputsFor,
    },
  };
}

/**
 * The descriptor with `--classes-shown` applied: the argmax runs over those classes and background.
 * Names the model lacks, an empty list, a model without a background class or one that outputs
 * labels already argmaxed: one line naming what it has.
 */
function withClassesShown(d: ModelDescriptor, names: readonly string[], modelPath: string): ModelDescriptor {
  return { ...d, shownClasses: shownClassIndices(d, names, modelPath) };
}

/** The class indices `--classes-shown NAMES` stands for (background first among them), or one line saying why not. */
export function shownClassIndices(d: ModelDescriptor, names: readonly string[], modelPath: string): number[] {
  const known = `its classes: ${d.classNames.join(', ')}`;
  if (names.length === 0) throw new UsageError(`--classes-shown needs at least one class name (${known})`);
  if (d.outputKind === 'labels')
    throw new UsageError(`--classes-shown needs class scores, but ${modelPath} outputs labels already argmaxed`);
  const background = d.classNames.indexOf('background');
  if (background < 0)
    throw new UsageError(
      `--classes-shown leaves the other classes to background, but ${modelPath} has no class named background (${known})`,
    );
  const unknown = names.filter((n) => !d.classNames.includes(n));
  if (unknown.length > 0)
    throw new UsageError(
      `--classes-shown: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a class of ${modelPath} (${known})`,
    );
  return [...new Set([background, ...names.map((n) => d.classNames.indexOf(n))])].sort((a, b) => a - b);
}
