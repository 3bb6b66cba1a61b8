/**
 * A TFLite graph's tensors as the importer reads them: constants as float32 (fp16, int32, int64
 * widened; quantized data dequantized), or — in a quantized graph — kept as integer data behind
 * DequantizeLinear, and activations wrapped in QuantizeLinear→DequantizeLinear with their scale and
 * zero point (QDQ form, which onnxruntime fuses into its int8 kernels).
 */
import { ModelError } from '../../core/errors.js';
import { OnnxGraphBuilder } from '../onnxGraph.js';
import { TensorType, type TfliteModel, type TfliteQuantization, type TfliteTensor } from './tfliteSchema.js';

const int = OnnxGraphBuilder.int;
/** Where an NHWC axis lands in NCHW. */
export const NHWC_TO_NCHW_AXIS = [0, 2, 3, 1];

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export type QuantizedData = Uint8Array | Int8Array | Int32Array;

/** Permutes a row-major tensor (float or quantized integers). */
export function transpose<T extends Float32Array | QuantizedData>(
  data: T,
  shape: readonly number[],
  perm: readonly number[],
): T {
  const outShape = perm.map((p) => shape[p]!);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new (data.constructor as new (length: number) => T)(data.length);
  const index = new Array<number>(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < outShape.length; d++) src += index[d]! * strides[perm[d]!]!;
    out[o] = data[src]!;
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++index[d]! < outShape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Where a quantized tensor's zero point may lie, by its type. */
const ZERO_POINT_RANGES: Partial<Record<number, readonly [number, number]>> = {
  [TensorType.UINT8]: [0, 255],
  [TensorType.INT8]: [-128, 127],
  [TensorType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
};

/**
 * A quantized tensor's parameters as TFLite requires them, checked because the file is untrusted:
 * a zero or NaN scale, or a zero point outside the type, would otherwise reach onnxruntime as NaN
 * or wrap silently in a uint8 constant.
 */
function checkQuantization(t: TfliteTensor): void {
  const q = t.quantization;
  const range = ZERO_POINT_RANGES[t.type];
  if (!q || !range) return; // the importer reads a quantization only on these types
  const [lo, hi] = range;
  const what = `TFLite tensor "${t.name}"`;
  const bad = q.scale.find((s) => !(s > 0 && Number.isFinite(s)));
  if (bad !== undefined)
    throw new ModelError(`${what} has scale ${bad}: a quantized tensor's scales must be positive and finite`);
  if (q.zeroPoint.length !== q.scale.length)
    throw new ModelError(`${what} has ${q.zeroPoint.length} zero points for ${q.scale.length} scales`);
  const outside = q.zeroPoint.find((z) => !Number.isInteger(z) || z < lo || z > hi);
  if (outside !== undefined)
    throw new ModelError(`${what} (${typeName(t.type)}) has zero point ${outside}, outside ${lo}..${hi}`);
  if (q.scale.length > 1 && t.shape[q.axis] !== q.scale.length)
    throw new ModelError(
      `${what} has ${q.scale.length} scales along axis ${q.axis}, which holds ${t.shape[q.axis] ?? 'nothing'}`,
    );
}

export class TfliteTensors {
  /** Constant data by tensor index: from buffers, or folded (DEQUANTIZE). */
  readonly folded = new Map<number, Float32Array>();

  constructor(
    private readonly model: TfliteModel,
    private readonly tensors: readonly TfliteTensor[],
    private readonly g: OnnxGraphBuilder,
    /** False: a quantized graph becomes plain float (constants dequantized, no QDQ), for comparison. */
    private readonly keepQuantization: boolean,
  ) {
    tensors.forEach(checkQuantization);
  }

  tensor(index: number): TfliteTensor {
    const t = this.tensors[index];
    if (!t) throw new ModelError(`the TFLite model refers to tensor ${index}, which it does not define`);
    return t;
  }

  isConstant(index: number): boolean {
    return this.folded.has(index) || (this.model.buffers[this.tensor(index).buffer]?.length ?? 0) > 0;
  }

  /** A constant tensor's values as float32 (fp16 and int32 widened). */
  constant(index: number): Float32Array {
    const folded = this.folded.get(index);
    if (folded) return folded;
    const t = this.tensor(index);
    const raw = this.model.buffers[t.buffer];
    if (!raw || raw.length === 0)
      throw new ModelError(`TFLite tensor "${t.name}" is expected to be a constant but has no data`);
    const aligned = new Uint8Array(raw); // a copy (Buffer#slice would be a view): flatbuffer data need not be aligned
    switch (t.type) {
      case TensorType.FLOAT32:
        return new Float32Array(aligned.buffer, 0, aligned.length / 4);
      case TensorType.FLOAT16:
        return Float32Array.from(new Uint16Array(aligned.buffer, 0, aligned.length / 2), halfToFloat);
      case TensorType.INT32:
        // A quantized int32 (a bias) in real values; other int32 constants (shapes, axes) as they are.
        return t.quantization
          ? dequantized(this.rawInts(index), t.shape, t.quantization)
          : Float32Array.from(new Int32Array(aligned.buffer, 0, aligned.length / 4));
      case TensorType.INT64:
        return Float32Array.from(new BigInt64Array(aligned.buffer, 0, aligned.length / 8), Number);
      case TensorType.UINT8:
      case TensorType.INT8:
        if (t.quantization) return dequantized(this.rawInts(index), t.shape, t.quantization);
        throw new ModelError(
          `TFLite tensor "${t.name}" holds ${t.type === TensorType.UINT8 ? 'uint8' : 'int8'} data without a scale and zero point: not a quantized tensor the importer can read`,
        );
      default:
        throw new ModelError(
          `TFLite tensor "${t.name}" has type ${typeName(t.type)}; supported constants are float32, float16, int32, int64, and quantized uint8 and int8`,
        );
    }
  }

  /** A constant's integer data as stored (uint8, int8 or int32). */
  rawInts(index: number): QuantizedData {
    const t = this.tensor(index);
    const raw = this.model.buffers[t.buffer];
    if (!raw || raw.length === 0)
      throw new ModelError(`TFLite tensor "${t.name}" is expected to be a constant but has no data`);
    const copy = new Uint8Array(raw);
    if (t.type === TensorType.UINT8) return copy;
    if (t.type === TensorType.INT8) return new Int8Array(copy.buffer);
    if (t.type === TensorType.INT32) return new Int32Array(copy.buffer, 0, copy.length / 4);
    throw new ModelError(`TFLite tensor "${t.name}" has type ${typeName(t.type)}, not quantized integer data`);
  }

  /** The quantization of a quantized uint8/int8 tensor (activation or constant), else null. */
  quantized(index: number): TfliteQuantization | null {
    const t = this.tensor(index);
    return (t.type === TensorType.UINT8 || t.type === TensorType.INT8) && t.quantization ? t.quantization : null;
  }

  /** The quantization this graph keeps for a tensor (QDQ around it); null in a float import (keepQuantization false). */
  kept(index: number): TfliteQuantization | null {
    return this.keepQuantization ? this.quantized(index) : null;
  }

  /** Scale and zero point as ONNX constants, for a tensor of `like`'s integer type; per channel where there are several. */
  quantParams(q: TfliteQuantization, like: QuantizedData): [string, string] {
    const perChannel = q.scale.length > 1;
    const dims = perChannel ? [q.scale.length] : [];
    const zero = new (like.constructor as new (values: number[]) => QuantizedData)(
      q.zeroPoint.length === q.scale.length ? [...q.zeroPoint] : q.scale.map(() => 0),
    );
    return [this.g.constantFloat(Float32Array.from(q.scale), dims, 'scale'), this.g.constantInts(zero, dims, 'zero')];
  }

  /**
   * A quantized constant (weights, an int32 bias) as DequantizeLinear of its integer data,
   * permuted by `perm` (the channel axis follows); QDQ form, so onnxruntime runs the op in int8.
   * `nudge`: integers added to an int32 constant's values (a bias, TfliteGraph.roundingNudge).
   */
  dequantizedConstant(index: number, perm: readonly number[] | null, nudge?: Int32Array): string {
    const t = this.tensor(index);
    const integers = this.rawInts(index);
    const stored = nudge && integers instanceof Int32Array ? integers.map((v, i) => v + (nudge[i] ?? 0)) : integers;
    // uint8 weights shifted to int8 (q − 128, zero point − 128: the same real values), so that
    // onnxruntime takes its uint8×int8 kernels, the ones with VNNI, not the slower uint8×uint8 path.
    const shifted = stored instanceof Uint8Array && perm !== null;
    const raw = shifted ? Int8Array.from(stored, (v) => v - 128) : stored;
    const q = shifted
      ? { ...t.quantization!, zeroPoint: t.quantization!.zeroPoint.map((z) => z - 128) }
      : t.quantization!;
    const data = perm ? transpose(raw, t.shape, perm) : raw;
    const shape = perm ? perm.map((p) => t.shape[p]!) : t.shape;
    const [scale, zero] = this.quantParams(q, raw);
    const axis = perm ? perm.indexOf(q.axis) : q.axis;
    return this.g.node(
      'DequantizeLinear',
      [this.g.constantInts(data, shape, 'q'), scale, zero],
      q.scale.length > 1 ? [int('axis', axis)] : [],
    )[0]!;
  }

  /** Whether a constant keeps its integer data in the graph (QDQ) rather than being folded to float. */
  isQuantizedConstant(index: number): boolean {
    const t = this.tensor(index);
    return (
      this.keepQuantization &&
      !this.folded.has(index) &&
      t.quantization !== null &&
      (t.type === TensorType.UINT8 || t.type === TensorType.INT8 || t.type === TensorType.INT32)
    );
  }

  /** QuantizeLinear→DequantizeLinear of a float value with a tensor's quantization (an activation of a quantized graph). */
  fakeQuantized(x: string, index: number, nchw: boolean): string {
    const t = this.tensor(index);
    const q = t.quantization!;
    const like = t.type === TensorType.UINT8 ? new Uint8Array(0) : new Int8Array(0);
    const [scale, zero] = this.quantParams(q, like);
    const axis =
      q.scale.length > 1 ? [int('axis', nchw && t.shape.length === 4 ? NHWC_TO_NCHW_AXIS[q.axis]! : q.axis)] : [];
    const [quantized] = this.g.node('QuantizeLinear', [x, scale, zero], axis);
    return this.g.node('DequantizeLinear', [quantized!, scale, zero], axis)[0]!;
  }

  /**
   * Where a quantized output's fused activation clamps it, as TFLite's integer kernels do: to the
   * grid points inside `range`, in real values; null where its whole grid lies inside (MobileNet's
   * ReLU6 on [0, 6]).
   */
  gridClamp(index: number, range: readonly [number, number]): [number, number] | null {
    const t = this.tensor(index);
    const [scale, zero] = [t.quantization!.scale[0]!, t.quantization!.zeroPoint[0] ?? 0];
    const [qmin, qmax] = t.type === TensorType.UINT8 ? [0, 255] : [-128, 127];
    const lo = Math.max(qmin, zero + Math.round(range[0] / scale));
    const hi = Math.min(qmax, range[1] === Infinity ? qmax : zero + Math.round(range[1] / scale));
    return lo > qmin || hi < qmax ? [scale * (lo - zero), scale * (hi - zero)] : null;
  }

  constInts(index: number): number[] {
    return Array.from(this.constant(index), Math.round);
  }
}

export function typeName(type: number): string {
  return (
    Object.entries(TensorType)
      .find(([, v]) => v === type)?.[0]
      .toLowerCase() ?? `type ${type}`
  );
}

/** Integer data to real values: scale · (q − zero point), per tensor or per channel along the quantized axis. */
function dequantized(data: QuantizedData, shape: readonly number[], q: TfliteQuantization): Float32Array {
  const out = new Float32Array(data.length);
  if (q.scale.length === 1) {
    const [scale, zero] = [q.scale[0]!, q.zeroPoint[0] ?? 0];
    for (let i = 0; i < data.length; i++) out[i] = scale * (data[i]! - zero);
    return out;
  }
  const inner = shape.slice(q.axis + 1).reduce((a, b) => a * b, 1);
  const channels = shape[q.axis]!;
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % channels;
    out[i] = q.scale[c]! * (data[i]! - (q.zeroPoint[c] ?? 0));
  }
  return out;
}
