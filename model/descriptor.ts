/**
 * What the pipeline needs to know about a segmentation model, read from the ONNX graph alone:
 * input name, layout, fixed or dynamic size, the output's class count and layout, normalisation,
 * class names and palette.
 *
 *   describeModel(bytes of an .onnx file) → ModelDescriptor  (or throws ModelError)
 */
import onnxProto from 'onnx-proto';
import { ModelError } from '../core/errors.js';
import type { FrameWindow } from '../core/frames.js';
import type { CrfKernels } from '../crf/crfParams.js';
import { defaultClassNames, PERSON_CLASSES, PERSON_PALETTE, VOC_CLASSES, vocPalette } from './palette.js';
import type { Layout, Normalization } from './preprocess.js';

const { onnx } = onnxProto;

export interface ModelDescriptor {
  readonly inputName: string;
  readonly outputName: string;
  readonly inputLayout: Layout;
  /** uint8 inputs take raw pixels (the graph normalises); float32 inputs are normalised here. */
  readonly inputType: 'float32' | 'uint8';
  /** Fixed model input size, or null where the graph leaves it dynamic. */
  readonly inputHeight: number | null;
  readonly inputWidth: number | null;
  /** Fixed batch size, or null where dynamic. */
  readonly batchSize: number | null;
  readonly outputLayout: Layout;
  /**
   * `scores`: one channel per class (logits or probabilities; argmax picks the label).
   * `mask`: one channel, foreground where the value exceeds `maskThreshold` (0.5 after a
   * Sigmoid, 0 for raw logits); it has two classes, background and foreground.
   * `labels`: integer class indices, already argmaxed in the graph (upsampled nearest).
   */
  readonly outputKind: 'scores' | 'mask' | 'labels';
  readonly maskThreshold: number;
  /** Label classes (2 for a mask output). */
  readonly classes: number;
  /** Which common export the graph looks like; it sets the normalisation. */
  readonly preset: 'torchvision' | 'tensorflow' | 'mediapipe';
  readonly normalization: Normalization;
  readonly classNames: readonly string[];
  /** classes × RGB. */
  readonly palette: Uint8Array;
  /** CRF kernels tuned for this model (from its sidecar or catalogue entry); absent: DeepLab's VOC set. */
  readonly crf?: CrfKernels;
  /**
   * The scores sample the model's input with their corners aligned (score cell j ↔ input pixel
   * j·(inputSize − 1)/(size − 1)), as DeepLab's own resizes do: a graph whose trailing upsampling
   * the importer cut (metadata `deeplab-stream.scores` = `align-corners`). Otherwise half-pixel.
   */
  readonly scoresAlignCorners?: boolean;
  /**
   * `--classes-shown`: the classes the argmax runs over (background always among them); the others
   * never win a pixel. Absent: every class.
   */
  readonly shownClasses?: readonly number[];
}

/** The ONNX metadata key by which an imported graph says its scores align corners with its input. */
export const SCORES_METADATA_KEY = 'deeplab-stream.scores';

/** ImageNet statistics, used by torchvision's exports. */
export const IMAGENET_NORMALIZATION: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/** TensorFlow DeepLab: x / 127.5 − 1. */
export const TENSORFLOW_NORMALIZATION: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
/** MediaPipe: x / 255. */
export const UNIT_NORMALIZATION: Normalization = { mean: [0, 0, 0], std: [1, 1, 1] };

export const PRESET_NORMALIZATION = {
  torchvision: IMAGENET_NORMALIZATION,
  tensorflow: TENSORFLOW_NORMALIZATION,
  mediapipe: UNIT_NORMALIZATION,
} as const;

type DimValue = number | null;

function dimsOf(info: onnxProto.onnx.IValueInfoProto): DimValue[] | null {
  const dims = info.type?.tensorType?.shape?.dim;
  if (!dims) return null;
  return dims.map((d) => {
    const v = d.dimValue === null || d.dimValue === undefined ? 0 : Number(d.dimValue);
    return v > 0 ? v : null;
  });
}

export function parseOnnx(bytes: Uint8Array, label: string): InstanceType<typeof onnx.ModelProto> {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    throw new ModelError(`${label} is not an ONNX model (it does not parse as ModelProto): pass an .onnx file`);
  }
  if (!model.graph?.node?.length || !model.graph.input?.length) {
    throw new ModelError(`${label} is not an ONNX model (no graph inside): pass an .onnx file`);
  }
  return model;
}

const ONNX_ELEMENT = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7 } as const;
const INTEGER_LABEL_TYPES: readonly number[] = [ONNX_ELEMENT.UINT8, ONNX_ELEMENT.INT32, ONNX_ELEMENT.INT64];

/**
 * The graph leaves its output's class axis symbolic (torchvision exports with dynamic sizes do):
 * one run of the model tells it. Carries what that run needs.
 */
export class UnknownClassAxisError extends ModelError {
  constructor(
    label: string,
    readonly probe: {
      readonly inputName: string;
      readonly outputName: string;
      readonly inputLayout: Layout;
      readonly inputType: 'float32' | 'uint8';
      readonly inputWidth: number | null;
      readonly inputHeight: number | null;
    },
  ) {
    super(`${label}: output "${probe.outputName}" has no fixed class axis (N×C×H×W or N×H×W×C)`);
  }
}

/** `classAxis`: the class count when the graph leaves it symbolic (measured by one run, `probeClassAxis`). */
export function describeModel(
  bytes: Uint8Array,
  label = 'model',
  options: { readonly classAxis?: number } = {},
): ModelDescriptor {
  const model = parseOnnx(bytes, label);
  const graph = model.graph!;
  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializerNames.has(i.name));
  if (inputs.length !== 1) {
    throw new ModelError(`${label} has ${inputs.length} inputs; a segmentation model takes exactly one image input`);
  }
  const input = inputs[0]!;
  const output = graph.output?.[0];
  if (!output) throw new ModelError(`${label} has no output`);
  const inType = input.type?.tensorType?.elemType;
  if (inType !== ONNX_ELEMENT.FLOAT && inType !== ONNX_ELEMENT.UINT8) {
    throw new ModelError(
      `${label}: input "${input.name}" has element type ${inType}; supported image inputs are float32 and uint8`,
    );
  }
  const inDims = dimsOf(input);
  if (!inDims || inDims.length !== 4) {
    throw new ModelError(`${label}: input "${input.name}" is not a 4-D image tensor (N×C×H×W or N×H×W×C)`);
  }
  const inputLayout: Layout =
    inDims[1] === 3
      ? 'NCHW'
      : inDims[3] === 3
        ? 'NHWC'
        : fail(`${label}: input "${input.name}" has no 3-channel axis; expected N×3×H×W or N×H×W×3`);
  const [inH, inW] = inputLayout === 'NCHW' ? [inDims[2]!, inDims[3]!] : [inDims[1]!, inDims[2]!];
  const outType = output.type?.tensorType?.elemType ?? ONNX_ELEMENT.FLOAT;
  const outDims = dimsOf(output);
  const notAMap = () =>
    fail(
      `${label}: output "${output.name}" is not a segmentation map (expected N×C×H×W or N×H×W×C scores, N×H×W labels or a one-channel mask), it has shape ${outDims ? `[${outDims.map((d) => d ?? '?').join(', ')}]` : 'unknown'}`,
    );
  if (!outDims || (outDims.length !== 4 && outDims.length !== 3)) notAMap();
  if (outType !== ONNX_ELEMENT.FLOAT && !INTEGER_LABEL_TYPES.includes(outType)) {
    throw new ModelError(
      `${label}: output "${output.name}" has element type ${outType}; supported outputs are float32 scores or integer labels`,
    );
  }
  // Class scores sit on the axis the input keeps its channels on; 3-D outputs have none.
  const outputLayout = inputLayout;
  const channels =
    outDims!.length === 3 ? 1 : ((outputLayout === 'NCHW' ? outDims![1] : outDims![3]) ?? options.classAxis);
  if (channels === null || channels === undefined) {
    throw new UnknownClassAxisError(label, {
      inputName: input.name ?? '',
      outputName: output.name ?? '',
      inputLayout,
      inputType: inType === ONNX_ELEMENT.UINT8 ? 'uint8' : 'float32',
      inputWidth: inW,
      inputHeight: inH,
    });
  }
  if (channels > 256) throw new ModelError(`${label}: ${channels} classes do not fit an 8-bit label map (at most 256)`);
  const isLabels = INTEGER_LABEL_TYPES.includes(outType);
  if (isLabels && channels !== 1) notAMap();
  const outputKind = isLabels ? 'labels' : channels === 1 ? 'mask' : 'scores';
  // A Sigmoid (possibly behind a layout Transpose) means probabilities; otherwise a logit.
  const sigmoid = isSigmoidChain(graph.node!, output.name ?? '');
  // An argmaxed output does not say how many classes there are: PASCAL VOC's 21 unless told.
  const classes = outputKind === 'mask' ? 2 : outputKind === 'labels' ? VOC_CLASSES.length : channels;
  const preset = inputLayout === 'NCHW' ? 'torchvision' : outputKind === 'mask' ? 'mediapipe' : 'tensorflow';
  return {
    inputName: input.name ?? '',
    outputName: output.name ?? '',
    inputLayout,
    inputType: inType === ONNX_ELEMENT.UINT8 ? 'uint8' : 'float32',
    inputHeight: inH,
    inputWidth: inW,
    batchSize: inDims[0] ?? null,
    outputLayout,
    outputKind,
    maskThreshold: sigmoid ? 0.5 : 0,
    classes,
    preset,
    normalization: PRESET_NORMALIZATION[preset],
    classNames: outputKind === 'mask' ? PERSON_CLASSES : defaultClassNames(classes),
    palette: outputKind === 'mask' ? PERSON_PALETTE : vocPalette(classes),
    ...((model.metadataProps ?? []).some((p) => p.key === SCORES_METADATA_KEY && p.value === 'align-corners')
      ? { scoresAlignCorners: true }
      : {}),
  };
}

/** Walks back through shape-only ops (Identity, Transpose, Reshape) looking for a Sigmoid. */
function isSigmoidChain(nodes: readonly onnxProto.onnx.INodeProto[], tensor: string): boolean {
  for (let name = tensor, depth = 0; depth < 4; depth++) {
    const node = nodes.find((n) => n.output?.includes(name));
    if (!node) return false;
    if (node.opType === 'Sigmoid') return true;
    if (!['Identity', 'Transpose', 'Reshape'].includes(node.opType ?? '')) return false;
    name = node.input?.[0] ?? '';
  }
  return false;
}

function fail(message: string): never {
  throw new ModelError(message);
}

/**
 * The input size to run a frame at: the model's fixed size, else what its export expects —
 * torchvision resizes the shorter side to 520; TensorFlow DeepLab fits the longer side into its
 * 513 crop, each side a multiple of 8 plus one (its output stride).
 */
export function modelInputSize(
  d: ModelDescriptor,
  frameWidth: number,
  frameHeight: number,
): [width: number, height: number] {
  if (d.inputWidth !== null && d.inputHeight !== null) return [d.inputWidth, d.inputHeight];
  if (d.preset === 'torchvision') {
    const scale = 520 / Math.min(frameWidth, frameHeight);
    return [d.inputWidth ?? Math.round(frameWidth * scale), d.inputHeight ?? Math.round(frameHeight * scale)];
  }
  const scale = 513 / Math.max(frameWidth, frameHeight);
  return [d.inputWidth ?? eightPlusOne(frameWidth * scale), d.inputHeight ?? eightPlusOne(frameHeight * scale)];
}

function eightPlusOne(v: number): number {
  return Math.max(1, Math.round((v - 1) / 8)) * 8 + 1;
}

export interface InputSpec {
  readonly width: number;
  readonly height: number;
  readonly flipped: boolean;
  /** Tiled inference: the window of the frame this input is made of (absent: the whole frame). */
  readonly window?: FrameWindow;
}

/**
 * The inputs to make of each frame: the base size times each scale (8k+1 per side), each also
 * mirrored with `flip`. Scales need a model whose input size is dynamic.
 */
export function planInputs(base: readonly [number, number], scales: readonly number[], flip: boolean): InputSpec[] {
  const sizes = scales.map((s) => (s === 1 ? base : ([eightPlusOne(base[0] * s), eightPlusOne(base[1] * s)] as const)));
  return sizes.flatMap(([width, height]) => [
    { width, height, flipped: false },
    ...(flip ? [{ width, height, flipped: true }] : []),
  ]);
}
