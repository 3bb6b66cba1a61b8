/**
 * The models deeplab-stream knows by name: where each comes from, its checksum, and what its graph
 * cannot say (class names, normalisation, the CRF parameters tuned for it). `--model NAME` anywhere a
 * model is taken; `deeplab-stream models` lists them.
 *
 *   catalogEntry('deeplabv3-voc') → { source: { url, sha256, bytes, … }, classes: 'voc', crf: {…}, … }
 */
import type { CrfKernels } from './crf/crfParams.js';
import type { ClassSetName } from './palette.js';
import type { PresetName } from './modelOverrides.js';

/** A file published at a URL: fetched once, checked, imported, cached. */
export interface DownloadSource {
  readonly kind: 'download';
  readonly url: string;
  /** The file's name: what a mirror serves and where a user puts it by hand. */
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly format: 'tflite';
}

/** A file inside an installed npm package: nothing to download. */
export interface PackageSource {
  readonly kind: 'package';
  readonly packageName: string;
  readonly file: string;
}

export interface CatalogEntry {
  readonly name: string;
  readonly description: string;
  readonly classes: ClassSetName;
  readonly classCount: number;
  readonly inputSize: readonly [width: number, height: number];
  readonly licence: string;
  readonly source: DownloadSource | PackageSource;
  readonly normalize: PresetName;
  /** The CRF's kernels for this model's scores, searched on labelled photos (BENCHMARKS.md). */
  readonly crf?: CrfKernels;
}

export const DEFAULT_MODEL_NAME = 'mediapipe-selfie';

export const MODEL_CATALOG: readonly CatalogEntry[] = [
  {
    name: DEFAULT_MODEL_NAME,
    description: 'MediaPipe selfie segmentation: person / background, embedded (npm package, no download)',
    classes: 'person',
    classCount: 2,
    inputSize: [256, 256],
    licence: 'Apache-2.0',
    source: { kind: 'package', packageName: '@mediapipe/selfie_segmentation', file: 'selfie_segmentation.tflite' },
    normalize: 'mediapipe',
  },
  {
    name: 'deeplabv3-voc',
    description: "TensorFlow's DeepLab v3, MobileNetV2 backbone, PASCAL VOC 2012",
    classes: 'voc',
    classCount: 21,
    inputSize: [257, 257],
    licence: 'Apache-2.0',
    source: {
      kind: 'download',
      url: 'https://storage.googleapis.com/download.tensorflow.org/models/tflite/gpu/deeplabv3_257_mv_gpu.tflite',
      file: 'deeplabv3_257_mv_gpu.tflite',
      sha256: '68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c933c6',
      bytes: 2_779_264,
      format: 'tflite',
    },
    normalize: 'tensorflow',
    // `crf-tune` on the 12 VOC photos of ../shared/voc-train (BENCHMARKS.md): 50.31 mIoU, against
    // 48.92 with DeepLab's VOC set and 45.72 without the CRF.
    crf: { bilateral: { weight: 6, xy: 50, rgb: 3 }, gaussian: { weight: 3, xy: 3 } },
  },
];

export function catalogEntry(name: string): CatalogEntry | undefined {
  return MODEL_CATALOG.find((entry) => entry.name === name);
}

/** A `--model` value that names rather than points: no directory part and no file extension. */
export function looksLikeModelName(value: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*$/i.test(value) && !/\.(onnx|tflite|ort|pb)$/i.test(value);
}
