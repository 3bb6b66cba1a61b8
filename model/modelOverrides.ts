/**
 * What the graph cannot tell, said by the user: normalisation, class names, the CRF's kernels tuned
 * for the model. From an optional sidecar file beside the model (`model.onnx.json`) and from flags
 * (flags win). Never required.
 *
 *   { "normalize": "tensorflow" | { "mean": [r,g,b], "std": [r,g,b] },
 *     "classes": "voc" | "cityscapes" | "ade20k" | "person" | ["name", ...],
 *     "crf": { "bilateral": { "weight": w1, "xy": σα, "rgb": σβ }, "gaussian": { "weight": w2, "xy": σγ } } }
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { ModelError } from '../core/errors.js';
import { type CrfKernels, MIN_KERNEL_SIGMA } from '../crf/crfParams.js';
import { PRESET_NORMALIZATION, type ModelDescriptor } from './descriptor.js';
import { CLASS_SET_NAMES, type ClassSet, type ClassSetName, customClassSet, namedClassSet } from './palette.js';
import type { Normalization } from './preprocess.js';

export type PresetName = keyof typeof PRESET_NORMALIZATION;

export interface ModelOverrides {
  readonly normalize?: PresetName | Normalization;
  readonly classes?: ClassSetName | readonly string[];
  readonly crf?: CrfKernels;
}

const finite = z.number().finite();
const sigma = finite.min(MIN_KERNEL_SIGMA);
const CRF_KERNELS = z.strictObject({
  bilateral: z.strictObject({ weight: finite.min(0), xy: sigma, rgb: sigma }),
  gaussian: z.strictObject({ weight: finite.min(0), xy: sigma }),
});
const KNOWN_KEYS = ['normalize', 'classes', 'crf'];

const PRESETS = Object.keys(PRESET_NORMALIZATION) as PresetName[];
const CLASS_SETS: readonly ClassSetName[] = CLASS_SET_NAMES;

function isTriple(v: unknown): v is [number, number, number] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** Checks a parsed sidecar or flag value; `where` names its origin in errors. */
export function parseOverrides(value: unknown, where: string): ModelOverrides {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ModelError(`${where} must be a JSON object`);
  const raw = value as Record<string, unknown>;
  const unknownKeys = Object.keys(raw).filter((k) => !KNOWN_KEYS.includes(k));
  if (unknownKeys.length)
    throw new ModelError(`${where}: unknown key "${unknownKeys[0]}" (known: ${KNOWN_KEYS.join(', ')})`);
  let normalize: ModelOverrides['normalize'];
  if (raw['normalize'] !== undefined) {
    const n = raw['normalize'];
    if (typeof n === 'string' && (PRESETS as string[]).includes(n)) normalize = n as PresetName;
    else if (
      typeof n === 'object' &&
      n !== null &&
      isTriple((n as Normalization).mean) &&
      isTriple((n as Normalization).std) &&
      (n as Normalization).std.every((x) => x > 0)
    ) {
      normalize = { mean: (n as Normalization).mean, std: (n as Normalization).std };
    } else {
      throw new ModelError(
        `${where}: "normalize" must be one of ${PRESETS.join(', ')} or { "mean": [r,g,b], "std": [r,g,b] } with std > 0`,
      );
    }
  }
  let classes: ModelOverrides['classes'];
  if (raw['classes'] !== undefined) {
    const c = raw['classes'];
    if (typeof c === 'string' && (CLASS_SETS as string[]).includes(c)) classes = c as ClassSetName;
    else if (Array.isArray(c) && c.length > 0 && c.every((x) => typeof x === 'string')) classes = c;
    else throw new ModelError(`${where}: "classes" must be one of ${CLASS_SETS.join(', ')} or a list of names`);
  }
  let crf: CrfKernels | undefined;
  if (raw['crf'] !== undefined) {
    const parsed = CRF_KERNELS.safeParse(raw['crf']);
    if (!parsed.success) {
      throw new ModelError(
        `${where}: "crf" must be { "bilateral": { "weight": w ≥ 0, "xy": σ ≥ ${MIN_KERNEL_SIGMA}, "rgb": σ ≥ ${MIN_KERNEL_SIGMA} }, "gaussian": { "weight": w ≥ 0, "xy": σ ≥ ${MIN_KERNEL_SIGMA} } } (${parsed.error.issues[0]?.path.join('.') || 'crf'}: ${parsed.error.issues[0]?.message})`,
      );
    }
    crf = parsed.data;
  }
  return { ...(normalize ? { normalize } : {}), ...(classes ? { classes } : {}), ...(crf ? { crf } : {}) };
}

/** The sidecar `<model>.json` when there is one. */
export function readSidecar(modelPath: string): ModelOverrides {
  const file = `${modelPath}.json`;
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelError(`${file} is not valid JSON (${(error as Error).message})`);
  }
  return parseOverrides(parsed, file);
}

export function applyOverrides(d: ModelDescriptor, o: ModelOverrides): ModelDescriptor {
  let out = d;
  if (o.normalize)
    out = { ...out, normalization: typeof o.normalize === 'string' ? PRESET_NORMALIZATION[o.normalize] : o.normalize };
  if (o.classes) {
    const set: ClassSet = typeof o.classes === 'string' ? namedClassSet(o.classes) : customClassSet(o.classes);
    if (set.names.length !== d.classes) {
      const fits = CLASS_SET_NAMES.filter((name) => namedClassSet(name).names.length === d.classes);
      throw new ModelError(
        `the model has ${d.classes} classes but the class list names ${set.names.length}: choose a list that matches the model${fits.length ? ` (${fits.join(', ')})` : ''}`,
      );
    }
    out = { ...out, classNames: set.names, palette: set.palette };
  }
  if (o.crf) out = { ...out, crf: o.crf };
  return out;
}
