/**
 * TFLite flatbuffer → ONNX. The graph keeps the TFLite interface (NHWC input and output, same
 * tensor names); inside, every 4-D activation is carried as NCHW, so convolutions map one to one
 * onto ONNX's Conv. TF "SAME" padding becomes explicit (lopsided) pads computed from the static
 * shapes; fp16 and int8 constants behind DEQUANTIZE are folded to float32.
 *
 * Quantized graphs keep their arithmetic in QDQ form (tfliteTensors.ts); a quantized uint8 input
 * stays uint8 (pixels as they are; its quantization is the normalisation). A graph that ends in
 * ARG_MAX is cut before it: the scores come out (graphRewrites.ts).
 *
 *   importTflite(bytes of a .tflite) → Uint8Array (an .onnx file)   or throws ModelError naming the op
 */
import { ModelError } from '../../core/errors.js';
import { SCORES_METADATA_KEY } from '../descriptor.js';
import { ONNX_FLOAT, ONNX_INT64, ONNX_UINT8, OnnxGraphBuilder } from '../onnxGraph.js';
import {
  type FlatTable,
  isTflite,
  readTflite,
  TensorType,
  type TfliteModel,
  type TfliteOperator,
  type TfliteTensor,
} from './tfliteSchema.js';
import { findAtrous, scoreOutputs } from './graphRewrites.js';
import { NHWC_TO_NCHW_AXIS, typeName } from './tfliteTensors.js';
import { TfliteGraph, TO_NCHW, type Value } from './tfliteGraph.js';
import { Op, OP_NAMES, OTHER_OP_NAMES, SUPPORTED_TFLITE_OPS } from './tfliteOps.js';

export { SUPPORTED_TFLITE_OPS } from './tfliteOps.js';

/**
 * The importer's output version: raised whenever a change makes it write a different ONNX for the
 * same TFLite file, so that cached imports (pipeline/resolveModel.ts) are made again.
 */
export const IMPORTER_VERSION = 4;

const BINARY_OPS: Record<number, string> = { [Op.ADD]: 'Add', [Op.MUL]: 'Mul', [Op.SUB]: 'Sub', [Op.DIV]: 'Div' };
/** Quantized operators that tfliteIntegerOps.ts computes as TFLite does, or that move codes without arithmetic. */
const INTEGER_EXACT_OPS = new Set<number>([
  Op.CONV_2D,
  Op.DEPTHWISE_CONV_2D,
  Op.AVERAGE_POOL_2D,
  Op.MAX_POOL_2D,
  Op.ADD,
  Op.QUANTIZE,
  Op.CONCATENATION,
  Op.RESIZE_BILINEAR,
  Op.RESHAPE,
  Op.TILE,
  Op.PAD,
  Op.SPACE_TO_BATCH_ND,
  Op.BATCH_TO_SPACE_ND,
  Op.ARG_MAX,
  Op.DEQUANTIZE,
]);
const UNARY_OPS: Record<number, string> = {
  [Op.LOGISTIC]: 'Sigmoid',
  [Op.RELU]: 'Relu',
  [Op.TANH]: 'Tanh',
  [Op.HARD_SWISH]: 'HardSwish',
};

const ints = OnnxGraphBuilder.ints;
const int = OnnxGraphBuilder.int;
const str = OnnxGraphBuilder.string;

class TfliteToOnnx extends TfliteGraph {
  constructor(
    model: TfliteModel,
    tensors: readonly TfliteTensor[],
    /** False: a quantized graph becomes plain float (constants dequantized, no QDQ), for comparison. */
    keepQuantization: boolean,
    /** True: a graph ending in upsampling + ARG_MAX keeps the upsampling (scores at the input size). */
    private readonly keepScoreResize: boolean,
    /** True: quantized operators in TFLite's integer arithmetic, bit for bit (tfliteIntegerOps.ts). */
    tfliteArithmetic: boolean,
  ) {
    super(model, tensors, keepQuantization, tfliteArithmetic);
  }

  /** Brings an operand to the other operand's layout for broadcasting (TFLite broadcasts NHWC). */
  private broadcastOperand(index: number, nchw: boolean): string {
    const v = this.input(index, nchw);
    if (!nchw || v.nchw) return v.name;
    const rank = this.t.tensor(index).shape.length;
    if (rank === 0) return v.name;
    const shape = this.t.tensor(index).shape;
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
    const fused = fusedSlot !== null && op.options ? op.options.int8(fusedSlot, 0) : 0;
    const [ra, rb] = [this.broadcastOperand(a, anyNchw), this.broadcastOperand(b, anyNchw)];
    if (this.integer && onnxOp === 'Add' && this.t.kept(op.outputs[0]!))
      return this.set(op.outputs[0]!, this.integer.add(ra, rb, a, b, op.outputs[0]!, fused), anyNchw);
    const [y] = this.g.node(onnxOp, [ra, rb]);
    this.set(op.outputs[0]!, this.activation(y!, fused, op), anyNchw);
  }

  private unary(op: TfliteOperator, onnxOp: string): void {
    const x = this.input(op.inputs[0]!);
    this.set(op.outputs[0]!, this.g.node(onnxOp, [x.name])[0]!, x.nchw);
  }

  private mean(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const rank = this.t.tensor(op.inputs[0]!).shape.length;
    const axes = this.t.constInts(op.inputs[1]!).map((a) => (a < 0 ? a + rank : a));
    const keep = op.options?.bool(4, false) ?? false;
    const nchwAxes = x.nchw ? axes.map((a) => NHWC_TO_NCHW_AXIS[a]!) : axes;
    const [y] = this.g.node('ReduceMean', [x.name], [ints('axes', nchwAxes), int('keepdims', 1)]);
    if (keep) {
      this.set(op.outputs[0]!, y!, x.nchw);
      return;
    }
    const out = this.t.tensor(op.outputs[0]!);
    const [r] = this.g.node('Reshape', [this.toNhwc({ name: y!, nchw: x.nchw }), this.g.constantInt64(out.shape)]);
    this.set(op.outputs[0]!, r!, false);
  }

  private resizeBilinear(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const [n, , , c] = this.t.tensor(op.inputs[0]!).shape;
    const [h, w] = this.t.constInts(op.inputs[1]!);
    const alignCorners = op.options?.bool(8, false) ?? false;
    const halfPixel = op.options?.bool(10, false) ?? false;
    if (this.integer && this.t.kept(op.outputs[0]!))
      return this.set(
        op.outputs[0]!,
        this.integer.resizeBilinear(x.name, op.inputs[0]!, op.outputs[0]!, alignCorners, halfPixel),
        true,
      );
    if (this.floatOrder) {
      const [, hi, wi] = this.t.tensor(op.inputs[0]!).shape as [number, number, number, number];
      const y = this.floatOrder.resizeBilinear(x.name, [n!, c!, hi, wi], [h!, w!], alignCorners, halfPixel);
      return this.set(op.outputs[0]!, y, true);
    }
    const mode = alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
    const [y] = this.g.node(
      'Resize',
      [x.name, '', '', this.g.constantInt64([n!, c!, h!, w!])],
      [str('mode', 'linear'), str('coordinate_transformation_mode', mode)],
    );
    this.set(op.outputs[0]!, y!, true);
  }

  private concatenation(op: TfliteOperator): void {
    const first = this.values.get(op.inputs.find((i) => this.values.has(i)) ?? -1);
    const nchw = first?.nchw ?? false;
    const rank = this.t.tensor(op.inputs[0]!).shape.length;
    let axis = op.options?.int32(4, 0) ?? 0;
    if (axis < 0) axis += rank;
    const rescaled = (v: Value, i: number) =>
      this.integer && this.t.kept(op.outputs[0]!) ? this.integer.rescaled(v.name, i, op.outputs[0]!) : v.name;
    const inputs = op.inputs.map((i) => rescaled(this.input(i, nchw), i));
    const [y] = this.g.node('Concat', inputs, [int('axis', nchw ? NHWC_TO_NCHW_AXIS[axis]! : axis)]);
    this.set(op.outputs[0]!, this.activation(y!, op.options?.int8(6, 0) ?? 0, op), nchw);
  }

  private pad(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const rows = this.t.constInts(op.inputs[1]!); // [[before, after] per NHWC axis]
    const rank = rows.length / 2;
    const order = x.nchw ? TO_NCHW : Array.from({ length: rank }, (_, i) => i);
    const pads = [...order.map((a) => rows[a * 2]!), ...order.map((a) => rows[a * 2 + 1]!)];
    const [y] = this.g.node('Pad', [x.name, this.g.constantInt64(pads)], [str('mode', 'constant')]);
    this.set(op.outputs[0]!, y!, x.nchw);
  }

  private reshape(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const out = this.t.tensor(op.outputs[0]!);
    const [y] = this.g.node('Reshape', [this.toNhwc(x), this.g.constantInt64(out.shape)]);
    if (out.shape.length === 4)
      this.set(op.outputs[0]!, this.g.node('Transpose', [y!], [ints('perm', TO_NCHW)])[0]!, true);
    else this.set(op.outputs[0]!, y!, false);
  }

  private softmax(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const beta = op.options?.float32(4, 1) ?? 1;
    const scaled =
      beta === 1 ? x.name : this.g.node('Mul', [x.name, this.g.constantFloat(new Float32Array([beta]), [])])[0]!;
    this.set(op.outputs[0]!, this.g.node('Softmax', [scaled], [int('axis', x.nchw ? 1 : -1)])[0]!, x.nchw);
  }

  private argMax(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const rank = this.t.tensor(op.inputs[0]!).shape.length;
    let [axis] = this.t.constInts(op.inputs[1]!);
    if (axis! < 0) axis! += rank;
    const [y] = this.g.node(
      'ArgMax',
      [x.name],
      [int('axis', x.nchw ? NHWC_TO_NCHW_AXIS[axis!]! : axis!), int('keepdims', 0)],
    );
    this.set(op.outputs[0]!, y!, false); // removing the channel axis of NCHW leaves N×H×W, as NHWC would
  }

  /** A constant (fp16, int8 weights of a float graph) is folded to float32; a computed tensor is already float here. */
  private dequantize(op: TfliteOperator): void {
    if (this.t.isConstant(op.inputs[0]!)) this.t.folded.set(op.outputs[0]!, this.t.constant(op.inputs[0]!));
    else this.values.set(op.outputs[0]!, this.input(op.inputs[0]!));
  }

  /** The value as it is; the output's own scale and zero point are applied after the op (fakeQuantized). */
  private quantize(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    if (this.integer && this.t.kept(op.outputs[0]!))
      return this.set(
        op.outputs[0]!,
        this.t.kept(op.inputs[0]!)
          ? this.integer.requantizeTensor(x.name, op.inputs[0]!, op.outputs[0]!)
          : this.integer.quantizeFloat(x.name, op.outputs[0]!),
        x.nchw,
      );
    this.values.set(op.outputs[0]!, x);
  }

  private tile(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const multiples = this.t.constInts(op.inputs[1]!);
    const repeats = x.nchw && multiples.length === 4 ? TO_NCHW.map((p) => multiples[p]!) : multiples;
    this.set(op.outputs[0]!, this.g.node('Tile', [x.name, this.g.constantInt64(repeats)])[0]!, x.nchw);
  }

  private operator(op: TfliteOperator): void {
    if (this.integer && !INTEGER_EXACT_OPS.has(op.builtin) && op.outputs.some((i) => this.t.kept(i)))
      throw new ModelError(
        `TFLite's integer arithmetic for a quantized ${OP_NAMES[op.builtin] ?? op.builtin} (operator #${op.index}) is not implemented: import the graph without it`,
      );
    const o = op.options;
    const need = (): FlatTable => {
      if (!o) throw new ModelError(`TFLite operator #${op.index} (${OP_NAMES[op.builtin]}) has no options`);
      return o;
    };
    switch (op.builtin) {
      case Op.CONV_2D:
        return this.conv(op, need(), false);
      case Op.DEPTHWISE_CONV_2D:
        return this.conv(op, need(), true);
      case Op.AVERAGE_POOL_2D:
        return this.pool(op, need(), 'AveragePool');
      case Op.MAX_POOL_2D:
        return this.pool(op, need(), 'MaxPool');
      case Op.ADD:
      case Op.MUL:
      case Op.SUB:
      case Op.DIV:
        return this.binary(op, BINARY_OPS[op.builtin]!, 4);
      case Op.LOGISTIC:
      case Op.RELU:
      case Op.TANH:
      case Op.HARD_SWISH:
        return this.unary(op, UNARY_OPS[op.builtin]!);
      case Op.RELU6:
      case Op.RELU_N1_TO_1: {
        const x = this.input(op.inputs[0]!);
        const [lo, hi] = op.builtin === Op.RELU6 ? [0, 6] : [-1, 1];
        return this.set(op.outputs[0]!, this.clip(x.name, lo, hi), x.nchw);
      }
      case Op.MEAN:
        return this.mean(op);
      case Op.RESIZE_BILINEAR:
        return this.resizeBilinear(op);
      case Op.CONCATENATION:
        return this.concatenation(op);
      case Op.PAD:
        return this.pad(op);
      case Op.RESHAPE:
        return this.reshape(op);
      case Op.SOFTMAX:
        return this.softmax(op);
      case Op.ARG_MAX:
        return this.argMax(op);
      case Op.DEQUANTIZE:
        return this.dequantize(op);
      case Op.QUANTIZE:
        return this.quantize(op);
      case Op.TILE:
        return this.tile(op);
      case Op.SPACE_TO_BATCH_ND:
        return this.spaceToBatch(op);
      case Op.BATCH_TO_SPACE_ND:
        return this.batchToSpace(op);
      case Op.TRANSPOSE_CONV: {
        const stride: [number, number] = [need().int32(8, 1), need().int32(6, 1)];
        return this.transposeConv(op, op.inputs[2]!, op.inputs[1]!, op.inputs[3], stride);
      }
      case Op.CUSTOM:
        return this.custom(op);
      default: {
        const name = OP_NAMES[op.builtin] ?? OTHER_OP_NAMES[op.builtin] ?? `builtin code ${op.builtin}`;
        throw new ModelError(
          `unsupported TFLite op ${name} (operator #${op.index}); supported: ${SUPPORTED_TFLITE_OPS.join(', ')}`,
        );
      }
    }
  }

  convert(
    inputs: readonly number[],
    graphOutputs: readonly number[],
    operators: readonly TfliteOperator[],
  ): Uint8Array {
    for (const index of inputs) {
      const t = this.t.tensor(index);
      const quantizedInput = t.type === TensorType.UINT8 && t.quantization !== null;
      if (t.type !== TensorType.FLOAT32 && !quantizedInput)
        throw new ModelError(
          `TFLite input "${t.name}" is ${typeName(t.type)}; supported inputs are float32 and quantized uint8`,
        );
      const name = this.g.input(t.name, t.shape, quantizedInput ? ONNX_UINT8 : ONNX_FLOAT, 3);
      const [scale, zero] = quantizedInput ? this.t.quantParams(t.quantization, new Uint8Array(0)) : ['', ''];
      const real = quantizedInput ? this.g.node('DequantizeLinear', [name, scale, zero])[0]! : name;
      const nchw = t.shape.length === 4 ? this.g.node('Transpose', [real], [ints('perm', TO_NCHW)])[0]! : real;
      // DQ → Transpose → Q → DQ: the first operator then sees a plain DQ input, as onnxruntime's QDQ fusion wants.
      this.set(
        index,
        t.shape.length === 4 && this.t.kept(index) ? this.t.fakeQuantized(nchw, index, true) : nchw,
        t.shape.length === 4,
      );
    }
    // A graph that ends in ARG_MAX gives its scores instead: tiles, the CRF and multi-scale need them.
    const { outputs, cut, alignedScores } = scoreOutputs(operators, inputs, graphOutputs, this.keepScoreResize);
    if (alignedScores) this.g.metadata.set(SCORES_METADATA_KEY, 'align-corners');
    this.atrous = findAtrous(operators, this.t);
    const folded = new Set([...this.atrous.values()].flatMap((a) => [a.spaceToBatch, a.batchToSpace]));
    for (const op of operators) {
      if (cut.has(op) || folded.has(op)) continue;
      this.operator(op);
      for (const out of op.outputs) {
        const v = this.values.get(out);
        if (!v || !this.t.kept(out)) continue;
        let name = this.t.fakeQuantized(v.name, out, v.nchw);
        const clamp = this.gridClamps.get(out);
        // Grid points clipped to grid points: the second QDQ is exact, and keeps the QDQ form around the Clip.
        if (clamp) name = this.t.fakeQuantized(this.clip(name, clamp[0], clamp[1]), out, v.nchw);
        this.values.set(out, { name, nchw: v.nchw });
      }
    }
    for (const index of outputs) {
      const t = this.t.tensor(index);
      const v = this.values.get(index);
      if (!v) throw new ModelError(`TFLite output "${t.name}" is never computed`);
      this.g.rename(this.toNhwc(v), t.name);
      this.g.output(
        t.name,
        t.shape,
        (t.type === TensorType.INT32 || t.type === TensorType.INT64) && !this.t.quantized(index)
          ? ONNX_INT64
          : ONNX_FLOAT,
      );
    }
    return this.g.toBytes('imported_tflite');
  }
}

export interface ImportOptions {
  /**
   * Keep a quantized graph's arithmetic in QDQ form (default), so that onnxruntime runs its int8
   * kernels; false makes it a plain float graph of the dequantized weights (slower, for comparison).
   */
  readonly keepQuantization?: boolean;
  /**
   * Keep the align-corners upsampling before a final ARG_MAX (scores at the model input's size)
   * rather than cut it (low-resolution scores the pipeline upsamples once, to the frame): for
   * comparisons with the original graph.
   */
  readonly keepScoreResize?: boolean;
  /**
   * Compute the quantized operators in TFLite's own integer arithmetic, bit for bit
   * (tfliteIntegerOps.ts), and float convolutions, pooling and resizing in its kernels' order of
   * summation (tfliteFloatOps.ts): labels as TFLite's interpreter gives them, several times slower
   * than onnxruntime's kernels. For checking an import or a deployment, not for streaming.
   */
  readonly tfliteArithmetic?: boolean;
}

export function importTflite(bytes: Uint8Array, label = 'model.tflite', options: ImportOptions = {}): Uint8Array {
  if (!isTflite(bytes))
    throw new ModelError(`${label} is not a TFLite model (no "TFL3" identifier): pass a .tflite file`);
  let model: TfliteModel;
  try {
    model = readTflite(bytes);
  } catch (error) {
    throw new ModelError(`${label} is a damaged TFLite file (${(error as Error).message})`);
  }
  const graph = model.subgraphs[0];
  if (!graph) throw new ModelError(`${label} has no subgraph`);
  return new TfliteToOnnx(
    model,
    graph.tensors,
    options.keepQuantization ?? true,
    options.keepScoreResize ?? false,
    options.tfliteArithmetic ?? false,
  ).convert(graph.inputs, graph.outputs, graph.operators);
}
