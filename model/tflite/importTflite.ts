/**
 * TFLite flatbuffer → ONNX. The graph keeps the TFLite interface (NHWC input and output, same
 * tensor names); inside, every 4-D activation is carried as NCHW, so convolutions map one to one
 * onto ONNX's Conv. TF "SAME" padding becomes explicit (lopsided) pads computed from the static
 * shapes; fp16 constants behind DEQUANTIZE are folded to float32.
 *
 *   importTflite(bytes of a .tflite) → Uint8Array (an .onnx file)   or throws ModelError naming the op
 */
import { ModelError } from '../../core/errors.js';
import { ONNX_FLOAT, ONNX_INT64, OnnxGraphBuilder } from '../onnxGraph.js';
import { type FlatTable, isTflite, readTflite, TensorType, type TfliteModel, type TfliteOperator, type TfliteTensor } from './tfliteSchema.js';

const Op = {
  ADD: 0, AVERAGE_POOL_2D: 1, CONCATENATION: 2, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, DEQUANTIZE: 6, LOGISTIC: 14,
  MAX_POOL_2D: 17, MUL: 18, RELU: 19, RELU_N1_TO_1: 20, RELU6: 21, RESHAPE: 22, RESIZE_BILINEAR: 23, SOFTMAX: 25,
  TANH: 28, CUSTOM: 32, PAD: 34, MEAN: 40, SUB: 41, DIV: 42, ARG_MAX: 56, TRANSPOSE_CONV: 67, HARD_SWISH: 117,
} as const;
const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k]));
/** A few names of ops we do not map, so the error can say which one it met. */
const OTHER_OP_NAMES: Record<number, string> = {
  5: 'DEPTH_TO_SPACE', 9: 'FULLY_CONNECTED', 26: 'SPACE_TO_DEPTH', 36: 'GATHER', 37: 'BATCH_TO_SPACE_ND', 38: 'SPACE_TO_BATCH_ND',
  39: 'TRANSPOSE', 43: 'SQUEEZE', 45: 'STRIDED_SLICE', 54: 'PRELU', 55: 'MAXIMUM', 57: 'MINIMUM', 97: 'RESIZE_NEAREST_NEIGHBOR',
  98: 'LEAKY_RELU', 114: 'QUANTIZE',
};
const NHWC_TO_NCHW_AXIS = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

const ints = OnnxGraphBuilder.ints;
const int = OnnxGraphBuilder.int;
const str = OnnxGraphBuilder.string;

export const SUPPORTED_TFLITE_OPS = [...Object.keys(Op).filter((k) => k !== 'CUSTOM'), 'CUSTOM Convolution2DTransposeBias'];

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Permutes a row-major tensor. */
function transpose(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]!);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
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

/** TF "SAME" padding along one axis: [before, after] (the extra pixel goes after). */
function samePads(input: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - input, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

interface Value {
  readonly name: string;
  /** True when this 4-D activation is carried as NCHW (TFLite's own layout is NHWC). */
  readonly nchw: boolean;
}

class TfliteToOnnx {
  private readonly g = new OnnxGraphBuilder();
  private readonly values = new Map<number, Value>();
  /** Constant data by tensor index: from buffers, or folded (DEQUANTIZE). */
  private readonly folded = new Map<number, Float32Array>();

  constructor(
    private readonly model: TfliteModel,
    private readonly tensors: readonly TfliteTensor[],
  ) {}

  private tensor(index: number): TfliteTensor {
    const t = this.tensors[index];
    if (!t) throw new ModelError(`the TFLite model refers to tensor ${index}, which it does not define`);
    return t;
  }

  private isConstant(index: number): boolean {
    return this.folded.has(index) || (this.model.buffers[this.tensor(index).buffer]?.length ?? 0) > 0;
  }

  /** A constant tensor's values as float32 (fp16 and int32 widened). */
  constant(index: number): Float32Array {
    const folded = this.folded.get(index);
    if (folded) return folded;
    const t = this.tensor(index);
    const raw = this.model.buffers[t.buffer];
    if (!raw || raw.length === 0) throw new ModelError(`TFLite tensor "${t.name}" is expected to be a constant but has no data`);
    const aligned = new Uint8Array(raw); // a copy (Buffer#slice would be a view): flatbuffer data need not be aligned
    switch (t.type) {
      case TensorType.FLOAT32:
        return new Float32Array(aligned.buffer, 0, aligned.length / 4);
      case TensorType.FLOAT16:
        return Float32Array.from(new Uint16Array(aligned.buffer, 0, aligned.length / 2), halfToFloat);
      case TensorType.INT32:
        return Float32Array.from(new Int32Array(aligned.buffer, 0, aligned.length / 4));
      case TensorType.INT64:
        return Float32Array.from(new BigInt64Array(aligned.buffer, 0, aligned.length / 8), Number);
      default:
        throw new ModelError(`TFLite tensor "${t.name}" has type ${t.type}; only float32, float16 and int32 constants are supported (quantized models are not)`);
    }
  }

  private constInts(index: number): number[] {
    return Array.from(this.constant(index), Math.round);
  }

  /** An op input as an ONNX value, with constants materialised as initializers in NCHW where 4-D. */
  private input(index: number, wantNchw = true): Value {
    const known = this.values.get(index);
    if (known) return known;
    const t = this.tensor(index);
    if (!this.isConstant(index)) throw new ModelError(`TFLite tensor "${t.name}" is used before any operator produces it`);
    const data = this.constant(index);
    if (t.shape.length === 4 && wantNchw) {
      const name = this.g.constantFloat(transpose(data, t.shape, TO_NCHW), TO_NCHW.map((p) => t.shape[p]!), 'c');
      return { name, nchw: true };
    }
    return { name: this.g.constantFloat(data, t.shape, 'c'), nchw: false };
  }

  private set(index: number, name: string, nchw: boolean): void {
    this.values.set(index, { name, nchw });
  }

  private toNhwc(v: Value): string {
    return v.nchw ? this.g.node('Transpose', [v.name], [ints('perm', TO_NHWC)])[0]! : v.name;
  }

  private activation(x: string, fused: number, op: TfliteOperator): string {
    switch (fused) {
      case 0:
        return x;
      case 1:
        return this.g.node('Relu', [x])[0]!;
      case 2:
        return this.clip(x, -1, 1);
      case 3:
        return this.clip(x, 0, 6);
      case 4:
        return this.g.node('Tanh', [x])[0]!;
      default:
        throw new ModelError(`TFLite operator #${op.index} (${OP_NAMES[op.builtin]}) has fused activation ${fused}, which is not supported`);
    }
  }

  private clip(x: string, lo: number, hi: number): string {
    return this.g.node('Clip', [x, this.g.constantFloat(new Float32Array([lo]), []), this.g.constantFloat(new Float32Array([hi]), [])])[0]!;
  }

  /** Conv-like pads from TFLite padding (0 SAME, 1 VALID) and the NHWC input shape. */
  private pads(op: TfliteOperator, padding: number, kernel: [number, number], stride: [number, number], dilation: [number, number]): number[] {
    if (padding === 1) return [0, 0, 0, 0];
    const shape = this.tensor(op.inputs[0]!).shape;
    const [top, bottom] = samePads(shape[1]!, kernel[0], stride[0], dilation[0]);
    const [left, right] = samePads(shape[2]!, kernel[1], stride[1], dilation[1]);
    return [top, left, bottom, right];
  }

  private conv(op: TfliteOperator, o: FlatTable, depthwise: boolean): void {
    const x = this.input(op.inputs[0]!);
    const wt = this.tensor(op.inputs[1]!);
    const w = this.constant(op.inputs[1]!);
    const [stride, dilation, fused] = depthwise
      ? [[o.int32(8, 1), o.int32(6, 1)] as [number, number], [o.int32(16, 1), o.int32(14, 1)] as [number, number], o.int8(12, 0)]
      : [[o.int32(8, 1), o.int32(6, 1)] as [number, number], [o.int32(14, 1), o.int32(12, 1)] as [number, number], o.int8(10, 0)];
    const [kh, kw] = [wt.shape[1]!, wt.shape[2]!];
    const inChannels = this.tensor(op.inputs[0]!).shape[3]!;
    // OHWI → OIHW; depthwise [1, H, W, C·M] → [C·M, 1, H, W] with one group per input channel.
    const weights = depthwise
      ? this.g.constantFloat(transpose(w, wt.shape, [3, 0, 1, 2]), [wt.shape[3]!, 1, kh, kw], 'w')
      : this.g.constantFloat(transpose(w, wt.shape, [0, 3, 1, 2]), [wt.shape[0]!, wt.shape[3]!, kh, kw], 'w');
    const inputs = [x.name, weights];
    if (op.inputs[2] !== undefined && op.inputs[2] >= 0) inputs.push(this.input(op.inputs[2], false).name);
    const [y] = this.g.node('Conv', inputs, [
      ints('kernel_shape', [kh, kw]),
      ints('strides', stride),
      ints('dilations', dilation),
      ints('pads', this.pads(op, o.int8(4, 0), [kh, kw], stride, dilation)),
      int('group', depthwise ? inChannels : 1),
    ]);
    this.set(op.outputs[0]!, this.activation(y!, fused, op), true);
  }

  private pool(op: TfliteOperator, o: FlatTable, kind: 'AveragePool' | 'MaxPool'): void {
    const x = this.input(op.inputs[0]!);
    const stride: [number, number] = [o.int32(8, 1), o.int32(6, 1)];
    const kernel: [number, number] = [o.int32(12, 1), o.int32(10, 1)];
    const attributes: Record<string, unknown>[] = [ints('kernel_shape', kernel), ints('strides', stride), ints('pads', this.pads(op, o.int8(4, 0), kernel, stride, [1, 1]))];
    // TF's average pooling divides by the number of real (unpadded) pixels.
    if (kind === 'AveragePool') attributes.push(int('count_include_pad', 0));
    const [y] = this.g.node(kind, [x.name], attributes);
    this.set(op.outputs[0]!, this.activation(y!, o.int8(14, 0), op), true);
  }

  /** Brings an operand to the other operand's layout for broadcasting (TFLite broadcasts NHWC). */
  private broadcastOperand(index: number, nchw: boolean): string {
    const v = this.input(index, nchw);
    if (!nchw || v.nchw) return v.name;
    const rank = this.tensor(index).shape.length;
    if (rank === 0) return v.name;
    const shape = this.tensor(index).shape;
    const nhwc = [...Array<number>(4 - rank).fill(1), ...shape];
    const target = TO_NCHW.map((p) => nhwc[p]!);
    return this.g.node('Reshape', [this.toNhwcIf4d(v, rank), this.g.constantInt64(target)])[0]!;
  }

  private toNhwcIf4d(v: Value, rank: number): string {
    return rank === 4 ? this.toNhwc(v) : v.name;
  }

  private binary(op: TfliteOperator, onnxOp: string, fusedSlot: number | null): void {
    const [a, b] = op.inputs as [number, number];
    const anyNchw = [a, b].some((i) => this.values.get(i)?.nchw);
    const [y] = this.g.node(onnxOp, [this.broadcastOperand(a, anyNchw), this.broadcastOperand(b, anyNchw)]);
    const fused = fusedSlot !== null && op.options ? op.options.int8(fusedSlot, 0) : 0;
    this.set(op.outputs[0]!, this.activation(y!, fused, op), anyNchw);
  }

  private unary(op: TfliteOperator, onnxOp: string): void {
    const x = this.input(op.inputs[0]!);
    this.set(op.outputs[0]!, this.g.node(onnxOp, [x.name])[0]!, x.nchw);
  }

  private mean(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const rank = this.tensor(op.inputs[0]!).shape.length;
    const axes = this.constInts(op.inputs[1]!).map((a) => (a < 0 ? a + rank : a));
    const keep = op.options?.bool(4, false) ?? false;
    const nchwAxes = x.nchw ? axes.map((a) => NHWC_TO_NCHW_AXIS[a]!) : axes;
    const [y] = this.g.node('ReduceMean', [x.name], [ints('axes', nchwAxes), int('keepdims', 1)]);
    if (keep) {
      this.set(op.outputs[0]!, y!, x.nchw);
      return;
    }
    const out = this.tensor(op.outputs[0]!);
    const [r] = this.g.node('Reshape', [this.toNhwc({ name: y!, nchw: x.nchw }), this.g.constantInt64(out.shape)]);
    this.set(op.outputs[0]!, r!, false);
  }

  private resizeBilinear(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const [n, , , c] = this.tensor(op.inputs[0]!).shape;
    const [h, w] = this.constInts(op.inputs[1]!);
    const alignCorners = op.options?.bool(8, false) ?? false;
    const halfPixel = op.options?.bool(10, false) ?? false;
    const mode = alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
    const [y] = this.g.node('Resize', [x.name, '', '', this.g.constantInt64([n!, c!, h!, w!])], [str('mode', 'linear'), str('coordinate_transformation_mode', mode)]);
    this.set(op.outputs[0]!, y!, true);
  }

  private concatenation(op: TfliteOperator): void {
    const first = this.values.get(op.inputs.find((i) => this.values.has(i)) ?? -1);
    const nchw = first?.nchw ?? false;
    const rank = this.tensor(op.inputs[0]!).shape.length;
    let axis = op.options?.int32(4, 0) ?? 0;
    if (axis < 0) axis += rank;
    const inputs = op.inputs.map((i) => this.input(i, nchw));
    const [y] = this.g.node('Concat', inputs.map((v) => v.name), [int('axis', nchw ? NHWC_TO_NCHW_AXIS[axis]! : axis)]);
    this.set(op.outputs[0]!, this.activation(y!, op.options?.int8(6, 0) ?? 0, op), nchw);
  }

  private pad(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const rows = this.constInts(op.inputs[1]!); // [[before, after] per NHWC axis]
    const rank = rows.length / 2;
    const order = x.nchw ? TO_NCHW : Array.from({ length: rank }, (_, i) => i);
    const pads = [...order.map((a) => rows[a * 2]!), ...order.map((a) => rows[a * 2 + 1]!)];
    const [y] = this.g.node('Pad', [x.name, this.g.constantInt64(pads)], [str('mode', 'constant')]);
    this.set(op.outputs[0]!, y!, x.nchw);
  }

  private reshape(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const out = this.tensor(op.outputs[0]!);
    const [y] = this.g.node('Reshape', [this.toNhwc(x), this.g.constantInt64(out.shape)]);
    if (out.shape.length === 4) this.set(op.outputs[0]!, this.g.node('Transpose', [y!], [ints('perm', TO_NCHW)])[0]!, true);
    else this.set(op.outputs[0]!, y!, false);
  }

  private softmax(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const beta = op.options?.float32(4, 1) ?? 1;
    const scaled = beta === 1 ? x.name : this.g.node('Mul', [x.name, this.g.constantFloat(new Float32Array([beta]), [])])[0]!;
    this.set(op.outputs[0]!, this.g.node('Softmax', [scaled], [int('axis', x.nchw ? 1 : -1)])[0]!, x.nchw);
  }

  private argMax(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const rank = this.tensor(op.inputs[0]!).shape.length;
    let [axis] = this.constInts(op.inputs[1]!);
    if (axis! < 0) axis! += rank;
    const [y] = this.g.node('ArgMax', [x.name], [int('axis', x.nchw ? NHWC_TO_NCHW_AXIS[axis!]! : axis!), int('keepdims', 0)]);
    this.set(op.outputs[0]!, y!, false); // removing the channel axis of NCHW leaves N×H×W, as NHWC would
  }

  /** ConvTranspose from OHWI weights; pads chosen so the output has the TFLite output's size. */
  private transposeConv(op: TfliteOperator, input: number, weights: number, bias: number | undefined, stride: [number, number]): void {
    const x = this.input(input);
    const wt = this.tensor(weights);
    const [kh, kw] = [wt.shape[1]!, wt.shape[2]!];
    const inShape = this.tensor(input).shape;
    const outShape = this.tensor(op.outputs[0]!).shape;
    const total = (axis: 1 | 2, k: number, s: number) => Math.max((inShape[axis]! - 1) * s + k - outShape[axis]!, 0);
    const [th, tw] = [total(1, kh, stride[0]), total(2, kw, stride[1])];
    const w = this.g.constantFloat(transpose(this.constant(weights), wt.shape, [3, 0, 1, 2]), [wt.shape[3]!, wt.shape[0]!, kh, kw], 'w');
    const inputs = [x.name, w];
    if (bias !== undefined && bias >= 0) inputs.push(this.input(bias, false).name);
    const [y] = this.g.node('ConvTranspose', inputs, [
      ints('kernel_shape', [kh, kw]),
      ints('strides', stride),
      ints('pads', [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)]),
    ]);
    this.set(op.outputs[0]!, y!, true);
  }

  private custom(op: TfliteOperator): void {
    if (op.customCode !== 'Convolution2DTransposeBias') {
      throw new ModelError(`unsupported TFLite custom op "${op.customCode}" (operator #${op.index}); supported: ${SUPPORTED_TFLITE_OPS.join(', ')}`);
    }
    // Options are 12 raw bytes (not a flexbuffer): int32 padding, stride_w, stride_h.
    const raw = op.customOptions ?? new Uint8Array(12);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const stride: [number, number] = raw.length >= 12 ? [view.getInt32(8, true), view.getInt32(4, true)] : [1, 1];
    this.transposeConv(op, op.inputs[0]!, op.inputs[1]!, op.inputs[2], stride);
  }

  private dequantize(op: TfliteOperator): void {
    if (!this.isConstant(op.inputs[0]!)) throw new ModelError(`TFLite DEQUANTIZE of a computed tensor (operator #${op.index}) is not supported: quantized models are not`);
    this.folded.set(op.outputs[0]!, this.constant(op.inputs[0]!));
  }

  private operator(op: TfliteOperator): void {
    const o = op.options;
    const need = (): FlatTable => {
      if (!o) throw new ModelError(`TFLite operator #${op.index} (${OP_NAMES[op.builtin]}) has no options`);
      return o;
    };
    switch (op.builtin) {
      case Op.CONV_2D: return this.conv(op, need(), false);
      case Op.DEPTHWISE_CONV_2D: return this.conv(op, need(), true);
      case Op.AVERAGE_POOL_2D: return this.pool(op, need(), 'AveragePool');
      case Op.MAX_POOL_2D: return this.pool(op, need(), 'MaxPool');
      case Op.ADD: return this.binary(op, 'Add', 4);
      case Op.MUL: return this.binary(op, 'Mul', 4);
      case Op.SUB: return this.binary(op, 'Sub', 4);
      case Op.DIV: return this.binary(op, 'Div', 4);
      case Op.LOGISTIC: return this.unary(op, 'Sigmoid');
      case Op.RELU: return this.unary(op, 'Relu');
      case Op.TANH: return this.unary(op, 'Tanh');
      case Op.HARD_SWISH: return this.unary(op, 'HardSwish');
      case Op.RELU6: {
        const x = this.input(op.inputs[0]!);
        return this.set(op.outputs[0]!, this.clip(x.name, 0, 6), x.nchw);
      }
      case Op.RELU_N1_TO_1: {
        const x = this.input(op.inputs[0]!);
        return this.set(op.outputs[0]!, this.clip(x.name, -1, 1), x.nchw);
      }
      case Op.MEAN: return this.mean(op);
      case Op.RESIZE_BILINEAR: return this.resizeBilinear(op);
      case Op.CONCATENATION: return this.concatenation(op);
      case Op.PAD: return this.pad(op);
      case Op.RESHAPE: return this.reshape(op);
      case Op.SOFTMAX: return this.softmax(op);
      case Op.ARG_MAX: return this.argMax(op);
      case Op.DEQUANTIZE: return this.dequantize(op);
      case Op.TRANSPOSE_CONV: {
        const stride: [number, number] = [need().int32(8, 1), need().int32(6, 1)];
        return this.transposeConv(op, op.inputs[2]!, op.inputs[1]!, op.inputs[3], stride);
      }
      case Op.CUSTOM: return this.custom(op);
      default: {
        const name = OP_NAMES[op.builtin] ?? OTHER_OP_NAMES[op.builtin] ?? `builtin code ${op.builtin}`;
        throw new ModelError(`unsupported TFLite op ${name} (operator #${op.index}); supported: ${SUPPORTED_TFLITE_OPS.join(', ')}`);
      }
    }
  }

  convert(inputs: readonly number[], outputs: readonly number[], operators: readonly TfliteOperator[]): Uint8Array {
    for (const index of inputs) {
      const t = this.tensor(index);
      if (t.type !== TensorType.FLOAT32) throw new ModelError(`TFLite input "${t.name}" is not float32: quantized models are not supported`);
      const name = this.g.input(t.name, t.shape, ONNX_FLOAT, 3);
      if (t.shape.length === 4) this.set(index, this.g.node('Transpose', [name], [ints('perm', TO_NCHW)])[0]!, true);
      else this.set(index, name, false);
    }
    for (const op of operators) this.operator(op);
    for (const index of outputs) {
      const t = this.tensor(index);
      const v = this.values.get(index);
      if (!v) throw new ModelError(`TFLite output "${t.name}" is never computed`);
      this.g.rename(this.toNhwc(v), t.name);
      this.g.output(t.name, t.shape, t.type === TensorType.INT32 || t.type === TensorType.INT64 ? ONNX_INT64 : ONNX_FLOAT);
    }
    return this.g.toBytes('imported_tflite');
  }
}

export function importTflite(bytes: Uint8Array, label = 'model.tflite'): Uint8Array {
  if (!isTflite(bytes)) throw new ModelError(`${label} is not a TFLite model (no "TFL3" identifier): pass a .tflite file`);
  let model: TfliteModel;
  try {
    model = readTflite(bytes);
  } catch (error) {
    throw new ModelError(`${label} is a damaged TFLite file (${(error as Error).message})`);
  }
  const graph = model.subgraphs[0];
  if (!graph) throw new ModelError(`${label} has no subgraph`);
  return new TfliteToOnnx(model, graph.tensors).convert(graph.inputs, graph.outputs, graph.operators);
}
