/**
 * The flags the commands share: validators that turn a flag's text into a value or one clear
 * error (commander prints it as `error: …` and the command exits 64), the option groups (CRF
 * kernels), and the flag shapes commands read.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CrfSettings, DEEPLAB_VOC_PARAMS, MIN_KERNEL_SIGMA } from '../crf/crfParams.js';
import type { ModelOverrides } from '../model/modelOverrides.js';
import { CLASS_SET_NAMES, type ClassSetName } from '../model/palette.js';
import { parseDevice } from '../model/device.js';
import type { TileGrid } from '../model/tiles.js';
import type { OverlayStyle } from '../sinks/overlay.js';

export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${flag} takes a positive whole number, got "${value}"`);
    return n;
  };
}

export function scaleList(value: string): number[] {
  const scales = value.split(',').map(Number);
  if (scales.length === 0 || scales.some((s) => !(s > 0 && s <= 4)))
    throw new InvalidArgumentError(
      `takes scales between 0 and 4 separated by commas, such as 0.5,0.75,1, got "${value}"`,
    );
  return scales;
}

export function scaleFraction(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`${flag} takes a fraction in (0, 1], got "${value}"`);
    return n;
  };
}

export function nonNegative(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number ≥ 0, got "${value}"`);
    return n;
  };
}

export function positive(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number > 0, got "${value}"`);
    return n;
  };
}

/** A kernel's σ (pixels or colour levels): at least MIN_KERNEL_SIGMA. */
export function sigma(flag: string) {
  return (value: string): number => {
    const n = positive(flag)(value);
    if (n < MIN_KERNEL_SIGMA)
      throw new InvalidArgumentError(
        `${flag} takes a σ of at least ${MIN_KERNEL_SIGMA} (a kernel narrower than that reaches no neighbour), got "${value}"`,
      );
    return n;
  };
}

/** The CRF's kernel flags, shared by segment, serve and eval (the crf command names them without the prefix). */
export interface CrfFlags {
  crfIters: number;
  /** Absent: the command's default (serve chooses by the model's label count). */
  crfScale?: number;
  crfPosW?: number;
  crfPosXy?: number;
  crfBiW?: number;
  crfBiXy?: number;
  crfBiRgb?: number;
  crfPrune?: number;
}

/**
 * Live runs leave out of the CRF the labels that never reach 0.2 anywhere in the frame: the CRF's
 * cost grows with the labels in play, and a label that weak nowhere wins a pixel after the CRF
 * either (the same mIoU on VOC photos as at 0.001; docs/benchmark-history.md).
 */
export const LIVE_CRF_PRUNE = 0.2;

/** `--device`, the same in every command; its default shown as a user types it. */
export const deviceOption = (): Option =>
  new Option('--device <device>', 'auto | cpu | cuda | cuda:N').argParser(device).default(parseDevice('auto'), 'auto');

/** `--crf on|off`, off unless asked for; its default shown as a user types it. */
export const crfSwitch = (description: string): Option =>
  new Option('--crf <on|off>', description).argParser(onOff).default(false, 'off');

/**
 * The kernel flags (in the help's "CRF" group, after the command's other CRF flags) have no
 * defaults: what is not given comes from the model's tuned kernels (its sidecar), else DeepLab's VOC set.
 */
export function crfKernelOptions(command: Command): Command {
  const { gaussian, bilateral } = DEEPLAB_VOC_PARAMS;
  const fallback = (v: number) => `(default: the model's tuned value, else ${v})`;
  return command
    .optionsGroup('CRF:')
    .option(
      '--crf-pos-w <w>',
      `CRF smoothness kernel weight w2 ${fallback(gaussian.weight)}`,
      nonNegative('--crf-pos-w'),
    )
    .option(
      '--crf-pos-xy <σ>',
      `CRF smoothness kernel σγ, pixels at full size ${fallback(gaussian.xy)}`,
      sigma('--crf-pos-xy'),
    )
    .option(
      '--crf-bi-w <w>',
      `CRF appearance kernel weight w1 ${fallback(bilateral.weight)}`,
      nonNegative('--crf-bi-w'),
    )
    .option(
      '--crf-bi-xy <σ>',
      `CRF appearance kernel σα, pixels at full size ${fallback(bilateral.xy)}`,
      sigma('--crf-bi-xy'),
    )
    .option(
      '--crf-bi-rgb <σ>',
      `CRF appearance kernel σβ, colour 0–255 ${fallback(bilateral.rgb)}`,
      sigma('--crf-bi-rgb'),
    )
    .option(
      '--crf-prune <p>',
      `labels whose probability stays below p everywhere in a frame are left out of the CRF (default: ${DEEPLAB_VOC_PARAMS.pruneBelow}; serve ${LIVE_CRF_PRUNE})`,
      fraction,
    )
    .optionsGroup('Options:');
}

export function crfParams(flags: CrfFlags): CrfSettings {
  const given = <T extends object>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return {
    iterations: flags.crfIters,
    ...(flags.crfScale !== undefined ? { scale: flags.crfScale } : {}),
    ...(flags.crfPrune !== undefined ? { pruneBelow: flags.crfPrune } : {}),
    gaussian: given({ weight: flags.crfPosW, xy: flags.crfPosXy }),
    bilateral: given({ weight: flags.crfBiW, xy: flags.crfBiXy, rgb: flags.crfBiRgb }),
  };
}

export function onOff(value: string): boolean {
  if (value === 'on' || value === 'off') return value === 'on';
  throw new InvalidArgumentError(`takes on or off, got "${value}"`);
}

export function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`takes a number from 0 to 1, got "${value}"`);
  return n;
}

export const X264_PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
];
export function x264Preset(value: string): string {
  if (!X264_PRESETS.includes(value))
    throw new InvalidArgumentError(`takes one of ${X264_PRESETS.join(', ')}, got "${value}"`);
  return value;
}

export function normalizeFlag(value: string): NonNullable<ModelOverrides['normalize']> {
  if (value === 'torchvision' || value === 'tensorflow' || value === 'mediapipe') return value;
  const match = /^([^/]+)\/([^/]+)$/.exec(value);
  const triple = (text: string) => text.split(',').map(Number);
  if (match) {
    const [mean, std] = [triple(match[1]!), triple(match[2]!)];
    if (mean.length === 3 && std.length === 3 && [...mean, ...std].every(Number.isFinite) && std.every((v) => v > 0)) {
      return { mean: mean as [number, number, number], std: std as [number, number, number] };
    }
  }
  throw new InvalidArgumentError(
    `takes torchvision, tensorflow, mediapipe or MEAN/STD such as 0.5,0.5,0.5/0.5,0.5,0.5, got "${value}"`,
  );
}

export function classesFlag(value: string): NonNullable<ModelOverrides['classes']> {
  if ((CLASS_SET_NAMES as readonly string[]).includes(value)) return value as ClassSetName;
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch {
    throw new InvalidArgumentError(
      `takes ${CLASS_SET_NAMES.join(', ')} or a readable text file of class names, got "${value}"`,
    );
  }
  const names = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError(`${value} names no classes`);
  return names;
}

export function size(value: string): [number, number] {
  const match = /^(\d+)x(\d+)$/.exec(value);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1)
    throw new InvalidArgumentError(`takes WIDTHxHEIGHT such as 513x289, got "${value}"`);
  return [Number(match[1]), Number(match[2])];
}

export function device(value: string) {
  try {
    return parseDevice(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Flags segment and serve share: the model, where it runs, and the CRF. */
export interface RunFlags extends CrfFlags {
  model?: string;
  tfliteArithmetic?: boolean;
  device: ReturnType<typeof parseDevice>;
  batch: number;
  threads?: number;
  inputSize?: [number, number];
  crf: boolean;
  crfWarmIters: number;
  crfWorkers?: number;
  normalize?: ModelOverrides['normalize'];
  classes?: ModelOverrides['classes'];
  tiles?: TileGrid;
  tileOverlap?: number;
  classesShown?: string[];
  verbose?: boolean;
}

export interface SegmentFlags extends RunFlags {
  output?: string;
  masks?: string;
  framesJson?: string;
  masksRle?: boolean;
  workers?: number;
  scales?: number[];
  flip?: boolean;
  opacity: number;
  overlay: OverlayStyle;
  legend: boolean;
  encoderPreset?: string;
  crfWarmStart?: boolean;
  strict?: boolean;
  json?: boolean;
}

/** What the model flags say the graph could not (normalisation, class names). */
export function modelOverridesFrom(flags: {
  normalize?: ModelOverrides['normalize'];
  classes?: ModelOverrides['classes'];
}): ModelOverrides {
  return {
    ...(flags.normalize ? { normalize: flags.normalize } : {}),
    ...(flags.classes ? { classes: flags.classes } : {}),
  };
}

/**
 * The model group, the same for segment, serve and eval: which model, where it runs, and what its
 * graph cannot say. Later options of the command join the group (its inference flags); the command
 * starts the next group.
 */
export function modelOptions(command: Command): Command {
  return command
    .optionsGroup('Model:')
    .option(
      '--model <name|path>',
      'a catalogue model by name (deeplab-stream models lists them; fetched once, then cached) or an ONNX file (default: mediapipe-selfie, embedded)',
    )
    .option(
      '--tflite-arithmetic',
      "a catalogue model imported in TensorFlow Lite's own arithmetic: its labels exactly as TFLite's, 6–20× slower (for checking)",
    )
    .addOption(deviceOption())
    .option('--input-size <WxH>', 'model input size for models with a dynamic size (default: longer side 513)', size)
    .option(
      '--normalize <how>',
      'input normalisation: torchvision | tensorflow | mediapipe | MEAN/STD as r,g,b/r,g,b (default: from the graph)',
      normalizeFlag,
    )
    .option(
      '--classes <set>',
      `class names and colours: ${CLASS_SET_NAMES.join(' | ')} | a text file with one name per line`,
      classesFlag,
    )
    .option(
      '--tiles <grid>',
      "sliding-window inference: auto (windows about the model's input size; 1x1 when the frame is no larger) or COLSxROWS",
      tilesFlag,
    )
    .option('--tile-overlap <f>', 'share of a window its neighbours overlap, 0 to 0.9 (default: 0.25)', tileOverlap)
    .option(
      '--classes-shown <names>',
      "the argmax over these classes and background only, comma-separated (the model's other classes never win a pixel: labels, masks and JSON change)",
      classNameList,
    );
}

export function tilesFlag(value: string): TileGrid {
  if (value === 'auto') return 'auto';
  const match = /^(\d+)x(\d+)$/.exec(value);
  const [cols, rows] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (!(cols >= 1 && rows >= 1 && cols <= 16 && rows <= 16))
    throw new InvalidArgumentError(`takes auto or COLSxROWS from 1x1 to 16x16, such as 3x2, got "${value}"`);
  return { cols, rows };
}

export function tileOverlap(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 0.9) || value.trim() === '')
    throw new InvalidArgumentError(`takes a share of a window from 0 to 0.9, such as 0.25, got "${value}"`);
  return n;
}

/** What the model flags say about how frames become labels: windows, and the classes the argmax runs over. */
export function planFlags(flags: { tiles?: TileGrid; tileOverlap?: number; classesShown?: string[] }): {
  tiles?: TileGrid;
  tileOverlap?: number;
  classesShown?: string[];
} {
  return {
    ...(flags.tiles ? { tiles: flags.tiles } : {}),
    ...(flags.tileOverlap !== undefined ? { tileOverlap: flags.tileOverlap } : {}),
    ...(flags.classesShown ? { classesShown: flags.classesShown } : {}),
  };
}

/** `--classes-shown person,car`: class names, comma-separated (checked against the model when the run is planned). */
export function classNameList(value: string): string[] {
  return value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}
