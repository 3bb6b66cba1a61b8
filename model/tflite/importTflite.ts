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
import { type Atrous, findAtrous, scoreOutputs } from './graphRewrites.js';
import { NHWC_TO_NCHW_AXIS, TfliteTensors, transpose, typeName } from './tfliteTensors.js';
import { Op, OP_NAMES, OTHER_OP_NAMES, SUPPORTED_TFLITE_OPS } from './tfliteOps.js';

export { SUPPORTED_TFLITE_OPS } from './tfliteOps.js';

const BINARY_OPS: Record<number, string> = { [Op.ADD]: 'Add', [Op.MUL]: 'Mul', [Op.SUB]: 'Sub', [Op.DIV]: 'Div' };
const UNARY_OPS: Record<number, string> = {
  [Op.LOGISTIC]: 'Sigmoid',
  [Op.RELU]: 'Relu',
  [Op.TANH]: 'Tanh',
  [Op.HARD_SWISH]: 'HardSwish',
};
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

const ints = OnnxGraphBuilder.ints;
const int = OnnxGraphBuilder.int;
const str = OnnxGraphBuilder.string;

/** TF "SAME" padding along one axis: [before, after] (the extra pixel goes after). */
function samePads(input: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - input, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** An ONNX value; `nchw`: a 4-D activation carried as NCHW (TFLite's own layout is NHWC). */
interface Value {
  readonly name: string;
  readonly nchw: boolean;
}

class TfliteToOnnx {
  private readonly g = new OnnxGraphBuilder();
  private readonly values = new Map<number, Value>();
  /** Quantized outputs whose fused activation clamps inside their grid: [lo, hi] in real values, applied after their QDQ. */
  private readonly gridClamps = new Map<number, [number, number]>();
  /** Convolutions between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, run as one dilated convolution: by conv operator. */
  private atrous = new Map<TfliteOperator, Atrous>();

  private readonly t: TfliteTensors;

  constructor(
    model: TfliteModel,
    tensors: readonly TfliteTensor[],
    /** False: a quantized graph becomes plain float (constants dequantized, no QDQ), for comparison. */
    keepQuantization: boolean,
    /** True: a graph ending in upsampling + ARG_MAX keeps the upsampling (scores at the input size). */
    private readonly keepScoreResize: boolean,
  ) {
    this.t = new TfliteTensors(model, tensors, this.g, keepQuantization);
  }

  /** An op input as an ONNX value, with constants materialised as initializers in NCHW where 4-D. */
  private input(index: number, wantNchw = true): Value {
    const known = this.values.get(index);
    if (known) return known;
    const t = this.t.tensor(index);
    if (!this.t.isConstant(index))
      throw new ModelError(`TFLite tensor "${t.name}" is used before any operator produces it`);
    const data = this.t.constant(index);
    if (t.shape.length === 4 && wantNchw) {
      const name = this.g.constantFloat(
        transpose(data, t.shape, TO_NCHW),
        TO_NCHW.map((p) => t.shape[p]!),
        'c',
      );
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
    const out = op.outputs[0]!;
    const bounds: Record<number, [number, number]> = { 1: [0, Infinity], 2: [-1, 1], 3: [0, 6] };
    const range = bounds[fused];
    if (range && this.t.kept(out)) {
      // A quantized output clamps as TFLite's integer kernels do, to the grid points inside the
      // range (a float Clip between Conv and its QuantizeLinear would break onnxruntime's QDQ fusion).
      const clamp = this.t.gridClamp(out, range);
      if (clamp) this.gridClamps.set(out, clamp);
      return x;
    }
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
        throw new ModelError(
          `TFLite operator #${op.index} (${OP_NAMES[op.builtin]}) has fused activation ${fused}, which is not supported`,
        );
    }
  }

  private clip(x: string, lo: number, hi: number): string {
    return this.g.node('Clip', [
      x,
      this.g.constantFloat(new Float32Array([lo]), []),
      this.g.constantFloat(new Float32Array([hi]), []),
    ])[0]!;
  }

  /** Conv-like pads from TFLite padding (0 SAME, 1 VALID) and the NHWC input shape. */
  private pads(
    op: TfliteOperator,
    padding: number,
    kernel: [number, number],
    stride: [number, number],
    dilation: [number, number],
  ): number[] {
    if (padding === 1) return [0, 0, 0, 0];
    const shape = this.t.tensor(op.inputs[0]!).shape;
    const [top, bottom] = samePads(shape[1]!, kernel[0], stride[0], dilation[0]);
    const [left, right] = samePads(shape[2]!, kernel[1], stride[1], dilation[1]);
    return [top, left, bottom, right];
  }

  private conv(op: TfliteOperator, o: FlatTable, depthwise: boolean): void {
    const atrous = this.atrous.get(op);
    const x = this.input(atrous ? atrous.spaceToBatch.inputs[0]! : op.inputs[0]!);
    const wt = this.t.tensor(op.inputs[1]!);
    const [stride, dilation, fused] = depthwise
      ? [
          [o.int32(8, 1), o.int32(6, 1)] as [number, number],
          [o.int32(16, 1), o.int32(14, 1)] as [number, number],
          o.int8(12, 0),
        ]
      : [
          [o.int32(8, 1), o.int32(6, 1)] as [number, number],
          [o.int32(14, 1), o.int32(12, 1)] as [number, number],
          o.int8(10, 0),
        ];
    const [kh, kw] = [wt.shape[1]!, wt.shape[2]!];
    const inChannels = this.t.tensor(op.inputs[0]!).shape[3]!;
    const dilations = atrous ? atrous.dilation : dilation;
    // OHWI → OIHW; depthwise [1, H, W, C·M] → [C·M, 1, H, W] with one group per input channel.
    const perm = depthwise ? [3, 0, 1, 2] : [0, 3, 1, 2];
    const weights = this.t.isQuantizedConstant(op.inputs[1]!)
      ? this.t.dequantizedConstant(op.inputs[1]!, perm)
      : this.g.constantFloat(
          transpose(this.t.constant(op.inputs[1]!), wt.shape, perm),
          perm.map((p) => wt.shape[p]!),
          'w',
        );
    const inputs = [x.name, weights];
    const bias = op.inputs[2];
    if (bias !== undefined && bias >= 0)
      inputs.push(
        this.t.isQuantizedConstant(bias) ? this.t.dequantizedConstant(bias, null) : this.input(bias, false).name,
      );
    const [y] = this.g.node('Conv', inputs, [
      ints('kernel_shape', [kh, kw]),
      ints('strides', stride),
      ints('dilations', dilations),
      ints('pads', atrous ? atrous.pads : this.pads(op, o.int8(4, 0), [kh, kw], stride, dilation)),
      int('group', depthwise ? inChannels : 1),
    ]);
    this.set(atrous ? atrous.batchToSpace.outputs[0]! : op.outputs[0]!, this.activation(y!, fused, op), true);
  }

  private pool(op: TfliteOperator, o: FlatTable, kind: 'AveragePool' | 'MaxPool'): void {
    const x = this.input(op.inputs[0]!);
    const stride: [number, number] = [o.int32(8, 1), o.int32(6, 1)];
    const kernel: [number, number] = [o.int32(12, 1), o.int32(10, 1)];
    const attributes: Record<string, unknown>[] = [
      ints('kernel_shape', kernel),
      ints('strides', stride),
      ints('pads', this.pads(op, o.int8(4, 0), kernel, stride, [1, 1])),
    ];
    // TF's average pooling divides by the number of real (unpadded) pixels.
    if (kind === 'AveragePool') attributes.push(int('count_include_pad', 0));
    const [y] = this.g.node(kind, [x.name], attributes);
    this.set(op.outputs[0]!, this.activation(y!, o.int8(14, 0), op), true);
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
    const inputs = op.inputs.map((i) => this.input(i, nchw));
    const [y] = this.g.node(
      'Concat',
      inputs.map((v) => v.name),
      [int('axis', nchw ? NHWC_TO_NCHW_AXIS[axis]! : axis)],
    );
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

  /** ConvTranspose from OHWI weights; pads chosen so the output has the TFLite output's size. */
  private transposeConv(
    op: TfliteOperator,
    input: number,
    weights: number,
    bias: number | undefined,
    stride: [number, number],
  ): void {
    const x = this.input(input);
    const wt = this.t.tensor(weights);
    const [kh, kw] = [wt.shape[1]!, wt.shape[2]!];
    const inShape = this.t.tensor(input).shape;
    const outShape = this.t.tensor(op.outputs[0]!).shape;
    const total = (axis: 1 | 2, k: number, s: number) => Math.max((inShape[axis]! - 1) * s + k - outShape[axis]!, 0);
    const [th, tw] = [total(1, kh, stride[0]), total(2, kw, stride[1])];
    const w = this.g.constantFloat(
      transpose(this.t.constant(weights), wt.shape, [3, 0, 1, 2]),
      [wt.shape[3]!, wt.shape[0]!, kh, kw],
      'w',
    );
    const inputs = [x.name, w];
    if (bias !== undefined && bias >= 0) inputs.push(this.input(bias, false).name);
    const pads = [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
    const [y] = this.g.node('ConvTranspose', inputs, [
      ints('kernel_shape', [kh, kw]),
      ints('strides', stride),
      ints('pads', pads),
    ]);
    this.set(op.outputs[0]!, y!, true);
  }

  private custom(op: TfliteOperator): void {
    if (op.customCode !== 'Convolution2DTransposeBias') {
      throw new ModelError(
        `unsupported TFLite custom op "${op.customCode}" (operator #${op.index}); supported: ${SUPPORTED_TFLITE_OPS.join(', ')}`,
      );
    }
    // Options are 12 raw bytes (not a flexbuffer): int32 padding, stride_w, stride_h.
    const raw = op.customOptions ?? new Uint8Array(12);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const stride: [number, number] = raw.length >= 12 ? [view.getInt32(8, true), view.getInt32(4, true)] : [1, 1];
    this.transposeConv(op, op.inputs[0]!, op.inputs[1]!, op.inputs[2], stride);
  }

  /** A constant (fp16, int8 weights of a float graph) is folded to float32; a computed tensor is already float here. */
  private dequantize(op: TfliteOperator): void {
    if (this.t.isConstant(op.inputs[0]!)) this.t.folded.set(op.outputs[0]!, this.t.constant(op.inputs[0]!));
    else this.values.set(op.outputs[0]!, this.input(op.inputs[0]!));
  }

  /** The value as it is; the output's own scale and zero point are applied after the op (fakeQuantized). */
  private quantize(op: TfliteOperator): void {
    this.values.set(op.outputs[0]!, this.input(op.inputs[0]!));
  }

  /**
   * SPACE_TO_BATCH_ND (how TF1 graphs write an atrous convolution: space to batch, a plain conv,
   * batch to space): pad, then each of the block's b0×b1 offsets becomes a batch entry.
   * NCHW [N,C,H,W] → [N,C,H/b0,b0,W/b1,b1] → [b0,b1,N,C,H/b0,W/b1] → [b0·b1·N,C,H/b0,W/b1].
   */
  private spaceToBatch(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const [n, h, w, c] = this.t.tensor(op.inputs[0]!).shape as [number, number, number, number];
    const [b0, b1] = this.t.constInts(op.inputs[1]!) as [number, number];
    const [top, bottom, left, right] = this.t.constInts(op.inputs[2]!) as [number, number, number, number];
    if (!x.nchw)
      throw new ModelError(
        `TFLite SPACE_TO_BATCH_ND (operator #${op.index}) on a tensor that is not an image is not supported`,
      );
    const padded =
      top || bottom || left || right
        ? this.g.node(
            'Pad',
            [x.name, this.g.constantInt64([0, 0, top, left, 0, 0, bottom, right])],
            [str('mode', 'constant')],
          )[0]!
        : x.name;
    const [hp, wp] = [(h + top + bottom) / b0, (w + left + right) / b1];
    const split = this.g.node('Reshape', [padded, this.g.constantInt64([n, c, hp, b0, wp, b1])])[0]!;
    const moved = this.g.node('Transpose', [split], [ints('perm', [3, 5, 0, 1, 2, 4])])[0]!;
    this.set(op.outputs[0]!, this.g.node('Reshape', [moved, this.g.constantInt64([b0 * b1 * n, c, hp, wp])])[0]!, true);
  }

  /** BATCH_TO_SPACE_ND, the inverse: [b0·b1·N,C,h,w] → [b0,b1,N,C,h,w] → [N,C,h,b0,w,b1] → [N,C,h·b0,w·b1], then cropped. */
  private batchToSpace(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const [batch, h, w, c] = this.t.tensor(op.inputs[0]!).shape as [number, number, number, number];
    const [b0, b1] = this.t.constInts(op.inputs[1]!) as [number, number];
    const [top, bottom, left, right] = this.t.constInts(op.inputs[2]!) as [number, number, number, number];
    if (!x.nchw)
      throw new ModelError(
        `TFLite BATCH_TO_SPACE_ND (operator #${op.index}) on a tensor that is not an image is not supported`,
      );
    const n = batch / (b0 * b1);
    const split = this.g.node('Reshape', [x.name, this.g.constantInt64([b0, b1, n, c, h, w])])[0]!;
    const moved = this.g.node('Transpose', [split], [ints('perm', [2, 3, 4, 0, 5, 1])])[0]!;
    const joined = this.g.node('Reshape', [moved, this.g.constantInt64([n, c, h * b0, w * b1])])[0]!;
    const cropped =
      top || bottom || left || right
        ? this.g.node('Slice', [
            joined,
            this.g.constantInt64([top, left]),
            this.g.constantInt64([h * b0 - bottom, w * b1 - right]),
            this.g.constantInt64([2, 3]),
          ])[0]!
        : joined;
    this.set(op.outputs[0]!, cropped, true);
  }

  private tile(op: TfliteOperator): void {
    const x = this.input(op.inputs[0]!);
    const multiples = this.t.constInts(op.inputs[1]!);
    const repeats = x.nchw && multiples.length === 4 ? TO_NCHW.map((p) => multiples[p]!) : multiples;
    this.set(op.outputs[0]!, this.g.node('Tile', [x.name, this.g.constantInt64(repeats)])[0]!, x.nchw);
  }

  private operator(op: TfliteOperator): void {
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
  ).convert(graph.inputs, graph.outputs, graph.operators);
}
