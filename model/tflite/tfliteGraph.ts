/**
 * The importer's state and the operators of the convolution family (conv, depthwise, pooling,
 * transposed conv, TF1's space-to-batch): every 4-D activation carried as NCHW, TF "SAME" padding
 * made explicit from the static shapes, fused activations, and quantized outputs clamped on their
 * grid. importTflite.ts maps the other operators over it.
 */
import { ModelError } from '../../core/errors.js';
import { OnnxGraphBuilder } from '../onnxGraph.js';
import type { Atrous } from './graphRewrites.js';
import { OP_NAMES, SUPPORTED_TFLITE_OPS } from './tfliteOps.js';
import {
  type FlatTable,
  TensorType,
  type TfliteModel,
  type TfliteOperator,
  type TfliteTensor,
} from './tfliteSchema.js';
import { TfliteFloatOps, type WindowGeometry } from './tfliteFloatOps.js';
import { TfliteIntegerOps } from './tfliteIntegerOps.js';
import { TfliteTensors, transpose } from './tfliteTensors.js';

export const TO_NCHW = [0, 3, 1, 2];
export const TO_NHWC = [0, 2, 3, 1];
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
export interface Value {
  readonly name: string;
  readonly nchw: boolean;
}

export abstract class TfliteGraph {
  protected readonly g = new OnnxGraphBuilder();
  protected readonly values = new Map<number, Value>();
  /** Quantized outputs whose fused activation clamps inside their grid: [lo, hi] in real values, applied after their QDQ. */
  protected readonly gridClamps = new Map<number, [number, number]>();
  /** Convolutions between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, run as one dilated convolution: by conv operator. */
  protected atrous = new Map<TfliteOperator, Atrous>();
  protected readonly t: TfliteTensors;
  /** TFLite's integer arithmetic bit for bit for quantized operators (ImportOptions.tfliteArithmetic); null: onnxruntime's int8 kernels. */
  protected readonly integer: TfliteIntegerOps | null;
  /** The same mode's float convolutions, pooling and resizing, summed in TFLite's order; null: onnxruntime's kernels. */
  protected readonly floatOrder: TfliteFloatOps | null;

  constructor(
    model: TfliteModel,
    tensors: readonly TfliteTensor[],
    keepQuantization: boolean,
    tfliteArithmetic: boolean,
  ) {
    this.t = new TfliteTensors(model, tensors, this.g, keepQuantization);
    this.integer = tfliteArithmetic && keepQuantization ? new TfliteIntegerOps(this.g, this.t) : null;
    this.floatOrder = tfliteArithmetic && keepQuantization ? new TfliteFloatOps(this.g) : null;
  }

  /** An op input as an ONNX value, with constants materialised as initializers in NCHW where 4-D. */
  protected input(index: number, wantNchw = true): Value {
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

  protected set(index: number, name: string, nchw: boolean): void {
    this.values.set(index, { name, nchw });
  }

  protected toNhwc(v: Value): string {
    return v.nchw ? this.g.node('Transpose', [v.name], [ints('perm', TO_NHWC)])[0]! : v.name;
  }

  protected activation(x: string, fused: number, op: TfliteOperator): string {
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

  protected clip(x: string, lo: number, hi: number): string {
    return this.g.node('Clip', [
      x,
      this.g.constantFloat(new Float32Array([lo]), []),
      this.g.constantFloat(new Float32Array([hi]), []),
    ])[0]!;
  }

  /** Conv-like pads from TFLite padding (0 SAME, 1 VALID) and the NHWC input shape. */
  protected pads(
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

  protected conv(op: TfliteOperator, o: FlatTable, depthwise: boolean): void {
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
    const quantizedOp = this.t.kept(op.inputs[0]!) !== null;
    const bias = op.inputs[2];
    const pads = atrous ? atrous.pads : this.pads(op, o.int8(4, 0), [kh, kw], stride, dilation);
    const attributes = [
      ints('kernel_shape', [kh, kw]),
      ints('strides', stride),
      ints('dilations', dilations),
      ints('pads', pads),
      int('group', depthwise ? inChannels : 1),
    ];
    const output = atrous ? atrous.batchToSpace.outputs[0]! : op.outputs[0]!;
    if (this.integer && quantizedOp && this.t.kept(op.outputs[0]!)) {
      const input = atrous ? atrous.spaceToBatch.inputs[0]! : op.inputs[0]!;
      const y = this.integer.conv(
        x.name,
        input,
        op.inputs[1]!,
        bias,
        op.outputs[0]!,
        perm,
        attributes,
        fused,
        depthwise,
      );
      return this.set(output, y, true);
    }
    if (this.integer && !quantizedOp && this.t.quantized(op.inputs[1]!) && this.t.isConstant(op.inputs[1]!)) {
      const biasValue = bias !== undefined && bias >= 0 ? this.biasNchw(bias) : undefined;
      const y = this.integer.hybridConv(x.name, op.inputs[1]!, biasValue, perm, attributes);
      return this.set(output, this.activation(y, fused, op), true);
    }
    if (this.floatOrder && !quantizedOp && this.t.isConstant(op.inputs[1]!)) {
      const [, oh, ow] = this.t.tensor(output).shape as [number, number, number, number];
      const geometry: WindowGeometry = { kernel: [kh, kw], stride, dilation: dilations, pads, output: [oh, ow] };
      const weights = this.t.constant(op.inputs[1]!);
      const biasValues = bias !== undefined && bias >= 0 ? this.t.constant(bias) : null;
      const y = depthwise
        ? this.floatOrder.depthwiseConv(x.name, weights, wt.shape, inChannels, biasValues, geometry)
        : this.floatOrder.conv(x.name, weights, wt.shape, biasValues, geometry);
      return this.set(output, this.activation(y, fused, op), true);
    }
    // Integer weights stay integer (QDQ) only beside a quantized input: with a float input (a
    // dynamic-range "hybrid" graph) they are folded to float, which onnxruntime prepacks once —
    // behind a DequantizeLinear it cannot (ADE20K's 150-class model: 113 → 82 ms a frame).
    const weights =
      quantizedOp && this.t.isQuantizedConstant(op.inputs[1]!)
        ? this.t.dequantizedConstant(op.inputs[1]!, perm)
        : this.g.constantFloat(
            transpose(this.t.constant(op.inputs[1]!), wt.shape, perm),
            perm.map((p) => wt.shape[p]!),
            'w',
          );
    const inputs = [x.name, weights];
    if (bias !== undefined && bias >= 0)
      inputs.push(
        quantizedOp && this.t.isQuantizedConstant(bias)
          ? this.t.dequantizedConstant(bias, null, this.roundingNudge(op, fused))
          : this.input(bias, false).name,
      );
    const [y] = this.g.node('Conv', inputs, attributes);
    this.set(output, this.activation(y!, fused, op), true);
  }

  /** A float bias as a [C, 1, 1] constant, to add to an NCHW value. */
  private biasNchw(bias: number): string {
    const data = this.t.constant(bias);
    return this.g.constantFloat(data, [data.length, 1, 1], 'bias');
  }

  /**
   * TFLite requantizes a convolution's int32 sums in two roundings (gemmlowp's fixed-point multiply,
   * then a rounding shift right by r, for a multiplier m = sx·sw/sy in [2^-r/2, 2^-r)), so a value up
   * to 2^-(r+1) of a step below a half rounds up; onnxruntime rounds once (tools/
   * tflite-requantization-check.mjs measures it). One more in the int32 bias moves every value up by
   * m: most of TFLite's rounding, where the outputs are ≥ 0 (for negative ones it rounds the other
   * way, so linear layers keep their bias). Labels agreeing with TFLite's interpreter, 16 images:
   * VOC 513 98.4% → 99.1%, Cityscapes 91.4% → 93.5%. Per output channel; none where m ≥ ½.
   */
  private roundingNudge(op: TfliteOperator, fused: number): Int32Array | undefined {
    const [x, w, y] = [op.inputs[0]!, op.inputs[1]!, op.outputs[0]!].map((i) => this.t.kept(i));
    if (!x || !w || !y) return undefined;
    // Non-negative outputs: a fused ReLU, or a grid that starts at 0 (a ReLU folded into the range).
    const lowest = this.t.tensor(op.outputs[0]!).type === TensorType.UINT8 ? 0 : -128;
    if (fused !== 1 && fused !== 3 && y.zeroPoint[0] !== lowest) return undefined;
    const biasLength = this.t.tensor(op.inputs[2]!).shape[0] ?? 0;
    return Int32Array.from({ length: biasLength }, (_, c) => {
      const m = (x.scale[0]! * (w.scale.length > 1 ? w.scale[c]! : w.scale[0]!)) / y.scale[0]!;
      return m < 0.5 ? 1 : 0;
    });
  }

  protected pool(op: TfliteOperator, o: FlatTable, kind: 'AveragePool' | 'MaxPool'): void {
    const x = this.input(op.inputs[0]!);
    const stride: [number, number] = [o.int32(8, 1), o.int32(6, 1)];
    const kernel: [number, number] = [o.int32(12, 1), o.int32(10, 1)];
    const pads = this.pads(op, o.int8(4, 0), kernel, stride, [1, 1]);
    if (this.integer && kind === 'AveragePool' && this.t.kept(op.outputs[0]!)) {
      const y = this.integer.averagePool(x.name, op.inputs[0]!, op.outputs[0]!, kernel, stride, pads, o.int8(14, 0));
      return this.set(op.outputs[0]!, y, true);
    }
    if (this.floatOrder && kind === 'AveragePool') {
      const [, h, w, c] = this.t.tensor(op.inputs[0]!).shape as [number, number, number, number];
      const [, oh, ow] = this.t.tensor(op.outputs[0]!).shape as [number, number, number, number];
      const geometry: WindowGeometry = { kernel, stride, dilation: [1, 1], pads, output: [oh, ow] };
      const y = this.floatOrder.averagePool(x.name, c, [h, w], geometry);
      return this.set(op.outputs[0]!, this.activation(y, o.int8(14, 0), op), true);
    }
    const attributes: Record<string, unknown>[] = [
      ints('kernel_shape', kernel),
      ints('strides', stride),
      ints('pads', pads),
    ];
    // TF's average pooling divides by the number of real (unpadded) pixels.
    if (kind === 'AveragePool') attributes.push(int('count_include_pad', 0));
    const [y] = this.g.node(kind, [x.name], attributes);
    this.set(op.outputs[0]!, this.activation(y!, o.int8(14, 0), op), true);
  }

  /** ConvTranspose from OHWI weights; pads chosen so the output has the TFLite output's size. */
  protected transposeConv(
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

  protected custom(op: TfliteOperator): void {
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

  /**
   * SPACE_TO_BATCH_ND (how TF1 graphs write an atrous convolution: space to batch, a plain conv,
   * batch to space): pad, then each of the block's b0×b1 offsets becomes a batch entry.
   * NCHW [N,C,H,W] → [N,C,H/b0,b0,W/b1,b1] → [b0,b1,N,C,H/b0,W/b1] → [b0·b1·N,C,H/b0,W/b1].
   */
  protected spaceToBatch(op: TfliteOperator): void {
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
  protected batchToSpace(op: TfliteOperator): void {
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
}
