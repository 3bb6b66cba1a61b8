/**
 * The models deeplab-stream knows by name: where each comes from, its checksum, and what its graph
 * cannot say (class names, normalisation, the CRF parameters tuned for it). `--model NAME` anywhere a
 * model is taken; `deeplab-stream models` lists them.
 *
 *   catalogEntry('deeplabv3-voc') → { source: { url, sha256, bytes, … }, classes: 'voc', crf: {…}, … }
 */
import type { CrfKernels } from '../crf/crfParams.js';
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
  /** Milliseconds a frame in a bare `session.run` on two cores of the project's machine (`npm run bench -- catalogue`). */
  readonly msPerFrame: number;
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
    msPerFrame: 4,
  },
  {
    name: 'deeplabv3-voc',
    description: "TensorFlow's DeepLab v3, MobileNetV2 backbone, PASCAL VOC 2012",
    classes: 'voc',
    classCount: 21,
    inputSize: [257, 257],
    licence: 'Apache-2.0',
    source: published(
      'https://storage.googleapis.com/download.tensorflow.org/models/tflite/gpu/deeplabv3_257_mv_gpu.tflite',
      '68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c933c6',
      2_779_264,
    ),
    normalize: 'tensorflow',
    msPerFrame: 6,
    // Found by `crf-tune` on VOC photos (docs/crf.md): a narrower colour kernel than DeepLab's VOC set
    // suits this model's coarse scores.
    crf: { bilateral: { weight: 6, xy: 50, rgb: 3 }, gaussian: { weight: 3, xy: 3 } },
  },
  // The quantized DeepLabs (uint8, imported into QDQ form: onnxruntime runs them in int8). Their
  // input is uint8 pixels as they are; a final ARG_MAX is cut, so the scores come out.
  {
    name: 'deeplabv3-voc-513',
    description:
      'DeepLab v3, MobileNetV2, PASCAL VOC 2012 at 513×513, int8 (Google Coral; 74.3% VOC val mIoU): VOC objects — people, animals, vehicles, furniture',
    classes: 'voc',
    classCount: 21,
    inputSize: [513, 513],
    licence: 'Apache-2.0',
    source: coral(
      'coral_deeplabv3_mnv2_pascal_quant.tflite',
      '350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398',
      2_193_224,
    ),
    normalize: 'tensorflow',
    // Found by `crf-tune` on VOC photos (docs/crf.md): DeepLab's VOC set is too wide for these
    // coarse scores and loses to no CRF at all. Since importer 4 (TFLite's rounding) no set beats
    // no CRF on our 12 photos (72.27 with this one, 72.28 the best, 72.38 without).
    crf: { bilateral: { weight: 3, xy: 40, rgb: 3.5 }, gaussian: { weight: 3, xy: 3 } },
    msPerFrame: 16,
  },
  {
    name: 'deeplabv3-voc-513-small',
    description: 'the same at depth 0.5, int8 (69.7% VOC val mIoU): VOC objects where speed matters more',
    classes: 'voc',
    classCount: 21,
    inputSize: [513, 513],
    licence: 'Apache-2.0',
    source: coral(
      'coral_deeplabv3_mnv2_dm05_pascal_quant.tflite',
      '0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b',
      760_904,
    ),
    normalize: 'tensorflow',
    // `crf-tune` on the same photos: 68.11 mIoU, against 62.97 without the CRF and 65.54 with DeepLab's VOC set
    // (importer 4: 68.69 against 63.89).
    crf: { bilateral: { weight: 4.5, xy: 50, rgb: 4 }, gaussian: { weight: 3, xy: 3 } },
    msPerFrame: 9,
  },
  {
    name: 'deeplab-cityscapes',
    description:
      'EdgeTPU-DeepLab-slim, Cityscapes at 513×513, int8 (Google Coral): street cameras — road, sidewalk, person, rider, car, pole …',
    classes: 'cityscapes',
    classCount: 19,
    inputSize: [513, 513],
    licence: 'Apache-2.0',
    source: coral(
      'coral_deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite',
      '322fe29945cb1693f426952f2a330ab67ea5678545ddee6f2548e0cfd0ca03e5',
      2_157_328,
    ),
    normalize: 'tensorflow',
    msPerFrame: 15,
  },
  {
    name: 'deeplabv3plus-ade20k',
    description:
      'DeepLab v3+, MobileNetV2, ADE20K at 513×513, float with int8 weights (TensorFlow Hub): everyday scenes, 150 classes + "other"',
    classes: 'ade20k-151',
    classCount: 151,
    inputSize: [513, 513],
    licence: 'Apache-2.0',
    source: published(
      'https://tfhub.dev/sayakpaul/lite-model/deeplabv3-mobilenetv2-ade20k/1/default/1?lite-format=tflite',
      '9476784566f88bf0bdc3169f0012fb7d08857b325811d8c1aaf5ada1c0d4e4f9',
      2_415_896,
      'lite-model_deeplabv3-mobilenetv2-ade20k_1_default_1.tflite',
    ),
    normalize: 'tensorflow',
    msPerFrame: 85,
  },
  {
    name: 'deeplabv3plus-ade20k-32',
    description:
      'DeepLab v3+, MobileNetV2, ADE20K\'s first 31 classes + "other" at 512×512, int8 (MLPerf Mobile): everyday scenes, coarse — wall, floor, road, grass, person, car …',
    classes: 'ade20k-32',
    classCount: 32,
    inputSize: [512, 512],
    licence: 'Apache-2.0',
    source: published(
      'https://github.com/mlcommons/mobile_models/raw/main/v0_7/tflite/deeplabv3_mnv2_ade20k_uint8.tflite',
      '2d58c681d81b5e181816b81cc815b82edf3daad905b4d7d35afade80aee93b5f',
      2_348_952,
    ),
    normalize: 'tensorflow',
    msPerFrame: 56,
  },
];

/** A TFLite file published at `url`; `file` is its name (what a mirror serves), the URL's last part unless given. */
function published(
  url: string,
  sha256: string,
  bytes: number,
  file = url.slice(url.lastIndexOf('/') + 1),
): DownloadSource {
  return { kind: 'download', url, file, sha256, bytes, format: 'tflite' };
}

/** A file of Google Coral's model set (the July 2021 revision). */
function coral(file: string, sha256: string, bytes: number): DownloadSource {
  return published(`https://github.com/google-coral/test_data/raw/master/${file}`, sha256, bytes);
}

export function catalogEntry(name: string): CatalogEntry | undefined {
  return MODEL_CATALOG.find((entry) => entry.name === name);
}

/** A `--model` value that names rather than points: no directory part and no file extension. */
export function looksLikeModelName(value: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*$/i.test(value) && !/\.(onnx|tflite|ort|pb)$/i.test(value);
}

/** What a catalogue model's graph cannot say, as the sidecar beside its import holds it. */
export function catalogSidecar(entry: CatalogEntry): Pick<CatalogEntry, 'normalize' | 'classes' | 'crf'> {
  return { normalize: entry.normalize, classes: entry.classes, ...(entry.crf ? { crf: entry.crf } : {}) };
}
