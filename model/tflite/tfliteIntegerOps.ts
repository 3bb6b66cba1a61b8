/**
 * TFLite's integer arithmetic, bit for bit, in ONNX integer operators: the import's `arithmetic:
 * 'tflite'`. The default import hands a quantized graph to onnxruntime's int8 kernels in QDQ form,
 * which round once, to nearest-even; TFLite's kernels requantize in gemmlowp's fixed point (a
 * doubling high multiply, then a rounding shift: two roundings) and add, pool, concatenate and
 * resize in their own ways. The two differ by one step on a fraction of a percent of a layer's
 * values, and DeepLab's deep layers amplify that (Cityscapes: 93.5% of labels agree). This mode
 * computes what TFLite computes — ConvInteger and int64 requantization, lookup tables for ADD,
 * QUANTIZE and rescaling CONCATENATION, float32 steps in TFLite's own order for RESIZE_BILINEAR —
 * so that an import can be checked against the interpreter exactly (the float operators beside
 * them: tfliteFloatOps.ts). Several times slower than the int8 kernels: for checking, not for streaming.
 *
 * Quantized tensors travel between operators as real values (as in the QDQ import); each operator
 * here takes their integer codes (QuantizeLinear, exact on grid values) as uint8 — an int8 tensor
 * shifted by 128 with its zero point, the same real values — and gives real values back.
 */
import { ModelError } from '../../core/errors.js';
import { ONNX_DOUBLE, ONNX_FLOAT, ONNX_INT32, ONNX_INT64, ONNX_UINT8, OnnxGraphBuilder } from '../onnxGraph.js';
import { bilinearCorners, cornerSum } from './tfliteFloatOps.js';
import { TensorType, type TfliteQuantization } from './tfliteSchema.js';
import { type TfliteTensors, transpose } from './tfliteTensors.js';

const int = OnnxGraphBuilder.int;
const ints = OnnxGraphBuilder.ints;

/** A real multiplier as TFLite keeps it: real = multiplier · 2^(shift − 31), multiplier in [2^30, 2^31) (QuantizeMultiplier). */
export interface QuantizedMultiplier {
  readonly multiplier: number;
  readonly shift: number;
}

export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (real === 0) return { multiplier: 0, shift: 0 };
  // frexp: real = fraction · 2^shift, fraction in [0.5, 1).
  let shift = Math.floor(Math.log2(real)) + 1;
  let fraction = real / 2 ** shift;
  if (fraction >= 1) {
    fraction /= 2;
    shift++;
  }
  if (fraction < 0.5) {
    fraction *= 2;
    shift--;
  }
  let multiplier = Math.round(fraction * 2 ** 31);
  if (multiplier === 2 ** 31) {
    multiplier /= 2;
    shift++;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier, shift };
}

/**
 * How the final shift right rounds a half: 'away' from zero (gemmlowp's RoundingDivideByPOT:
 * DEPTHWISE_CONV_2D, ADD, QUANTIZE), or 'up', towards +∞ (CONV_2D's matrix kernels). Measured
 * against TFLite's x86 interpreter on negative halves (scratch graphs with r = 1): each rule matches
 * its operator on every value, the other one on 60–78%.
 */
export type HalfRounding = 'away' | 'up';

/** gemmlowp's SaturatingRoundingDoublingHighMul then a rounding shift right: TFLite's MultiplyByQuantizedMultiplier. */
export function multiplyByQuantizedMultiplier(
  x: number,
  { multiplier, shift }: QuantizedMultiplier,
  half: HalfRounding = 'away',
): number {
  const left = Math.max(shift, 0);
  const right = Math.max(-shift, 0);
  const product = BigInt(x * 2 ** left) * BigInt(multiplier);
  const high = Number((product + (product >= 0n ? 1n << 30n : 1n - (1n << 30n))) / (1n << 31n));
  if (right === 0) return high;
  const remainder = ((high % 2 ** right) + 2 ** right) % 2 ** right;
  const threshold = 2 ** (right - 1) - 1 + (high < 0 && half === 'away' ? 1 : 0);
  return Math.floor(high / 2 ** right) + (remainder > threshold ? 1 : 0);
}

/** How sums become an output's codes: a multiplier per channel, the half rounding, the zero point, the clamp. */
interface Requantization {
  readonly channels: readonly QuantizedMultiplier[];
  readonly rounding: HalfRounding;
  readonly zero: number;
  readonly lo: number;
  readonly hi: number;
}

/** The shift right after the fixed-point multiply (0 for multipliers of 1 and more). */
const right = (m: QuantizedMultiplier) => Math.max(-m.shift, 0);

/** TFLite's quantized activation range for a fused activation (CalculateActivationRangeQuantized), as codes. */
function activationRange(q: TfliteQuantization, offset: number, fused: number): [number, number] {
  const zero = (q.zeroPoint[0] ?? 0) + offset;
  const scale = q.scale[0]!;
  const at = (real: number) => zero + Math.sign(real) * Math.round(Math.abs(Math.fround(real / scale)));
  switch (fused) {
    case 0:
      return [0, 255];
    case 1:
      return [Math.max(0, at(0)), 255];
    case 2:
      return [Math.max(0, at(-1)), Math.min(255, at(1))];
    case 3:
      return [Math.max(0, at(0)), Math.min(255, at(6))];
    default:
      throw new ModelError(`TFLite's integer arithmetic for fused activation ${fused} is not supported`);
  }
}

export class TfliteIntegerOps {
  constructor(
    private readonly g: OnnxGraphBuilder,
    private readonly t: TfliteTensors,
  ) {}

  /** How far a tensor's codes sit from its stored integers: 128 for int8 (carried as uint8), else 0. */
  private offset(index: number): number {
    const type = this.t.tensor(index).type;
    if (type === TensorType.UINT8) return 0;
    if (type === TensorType.INT8) return 128;
    throw new ModelError(
      `TFLite tensor "${this.t.tensor(index).name}" is not uint8 or int8: no integer arithmetic for it`,
    );
  }

  /** A tensor's quantization (its scales and zero points checked as the file is read: TfliteTensors). */
  private quantization(index: number): TfliteQuantization {
    const q = this.t.quantized(index);
    if (!q) throw new ModelError(`TFLite tensor "${this.t.tensor(index).name}" is not quantized`);
    return q;
  }

  /** quantizeMultiplier, refusing what would overflow TFLite's 32-bit kernels (a multiplier of 2^31 or more). */
  private multiplier(real: number, what: string): QuantizedMultiplier {
    const m = quantizeMultiplier(real);
    if (m.shift > 30)
      throw new ModelError(
        `${what} has a requantization multiplier of ${real}, past what TFLite's integer kernels hold`,
      );
    return m;
  }

  private codeZero(index: number): number {
    return (this.quantization(index).zeroPoint[0] ?? 0) + this.offset(index);
  }

  /** A quantized tensor's real values → its codes (uint8). */
  codes(real: string, index: number): string {
    const q = this.quantization(index);
    if (q.scale.length > 1)
      throw new ModelError(`TFLite activation "${this.t.tensor(index).name}" has per-channel scales`);
    return this.g.node1('QuantizeLinear', [
      real,
      this.g.constantFloat(new Float32Array([q.scale[0]!]), []),
      this.g.constantInts(new Uint8Array([this.codeZero(index)]), []),
    ]);
  }

  /** Codes (uint8) → the tensor's real values. */
  real(codes: string, index: number): string {
    const q = this.quantization(index);
    return this.g.node1('DequantizeLinear', [
      codes,
      this.g.constantFloat(new Float32Array([q.scale[0]!]), []),
      this.g.constantInts(new Uint8Array([this.codeZero(index)]), []),
    ]);
  }

  private int64(values: readonly number[], dims: readonly number[]): string {
    return this.g.constantInt64(values, 'i64', dims);
  }

  /**
   * CONV_2D / DEPTHWISE_CONV_2D: int32 sums (ConvInteger, padded with the input's zero point, as
   * TFLite pads), the int32 bias, then each output channel's requantization.
   * `x`: real values, NCHW; `perm`: the weights' OHWI (or 1HWC) → OIHW permutation.
   */
  conv(
    x: string,
    input: number,
    weights: number,
    bias: number | undefined,
    output: number,
    perm: readonly number[],
    attributes: Record<string, unknown>[],
    fused: number,
    depthwise: boolean,
  ): string {
    const [qx, qw, qy] = [input, weights, output].map((i) => this.quantization(i)) as [
      TfliteQuantization,
      TfliteQuantization,
      TfliteQuantization,
    ];
    const wt = this.t.tensor(weights);
    const stored = this.t.rawInts(weights);
    if (stored instanceof Int32Array) throw new ModelError(`TFLite weights "${wt.name}" are int32`);
    const wOffset = this.offset(weights);
    const wZero = new Set(qw.zeroPoint);
    if (wZero.size > 1) throw new ModelError(`TFLite weights "${wt.name}" have a zero point per channel`);
    const codes = Uint8Array.from(stored, (v) => v + wOffset);
    const dims = perm.map((p) => wt.shape[p]!);
    const outChannels = dims[0]!;
    const sums = this.g.node1(
      'ConvInteger',
      [
        this.codes(x, input),
        this.g.constantInts(transpose(codes, wt.shape, perm), dims, 'w'),
        this.g.constantInts(new Uint8Array([this.codeZero(input)]), []),
        this.g.constantInts(new Uint8Array([(qw.zeroPoint[0] ?? 0) + wOffset]), []),
      ],
      attributes,
    );
    const biased =
      bias !== undefined && bias >= 0
        ? this.g.node1('Add', [sums, this.g.constantInts(this.t.rawInts(bias), [outChannels, 1, 1], 'bias')])
        : sums;
    // A uint8 input takes TFLite's legacy multiplier, whose scale product is a float32 one
    // (GetQuantizedConvolutionMultipler); int8 ones a product in double, per channel.
    const product = (c: number) => qx.scale[0]! * (qw.scale.length > 1 ? qw.scale[c]! : qw.scale[0]!);
    const legacy = this.t.tensor(input).type === TensorType.UINT8;
    const multipliers = Array.from({ length: outChannels }, (_, c) =>
      this.multiplier((legacy ? Math.fround(product(c)) : product(c)) / qy.scale[0]!, `TFLite tensor "${wt.name}"`),
    );
    const [lo, hi] = activationRange(qy, this.offset(output), fused);
    return this.real(
      this.requantize(biased, {
        channels: multipliers,
        rounding: depthwise ? 'away' : 'up',
        zero: this.codeZero(output),
        lo,
        hi,
      }),
      output,
    );
  }

  /**
   * A float convolution whose weights are int8 (a dynamic-range "hybrid" graph), as TFLite's
   * EvalHybrid computes it: each image's input quantized symmetrically to int8 (scale max|x| / 127,
   * rounded half away from zero), integer sums (exact in float32: they stay below 2^24), then
   * sum · (scale · weight scale) + bias in float32, one rounding per step.
   */
  hybridConv(
    x: string,
    weights: number,
    bias: string | undefined,
    perm: readonly number[],
    attributes: Record<string, unknown>[],
  ): string {
    const wt = this.t.tensor(weights);
    const qw = this.quantization(weights);
    const stored = this.t.rawInts(weights);
    if (!(stored instanceof Int8Array) || qw.scale.length > 1 || (qw.zeroPoint[0] ?? 0) !== 0)
      throw new ModelError(
        `TFLite's hybrid arithmetic for weights "${wt.name}" (not int8 with one scale and zero point 0) is not supported`,
      );
    const range = this.g.node1('ReduceMax', [this.g.node1('Abs', [x])], [ints('axes', [1, 2, 3]), int('keepdims', 1)]);
    // An all-zero input: TFLite quantizes it to zeros; any positive range does the same here.
    const safeRange = this.g.node1('Max', [range, this.float([1e-30])]);
    const scale = this.g.node1('Div', [safeRange, this.float([127])]);
    const scaled = this.g.node1('Mul', [x, this.g.node1('Div', [this.float([127]), safeRange])]);
    const rounded = this.g.node1('Mul', [
      this.g.node1('Sign', [scaled]),
      this.g.node1('Floor', [this.g.node1('Add', [this.g.node1('Abs', [scaled]), this.float([0.5])])]),
    ]);
    const quantized = this.g.node1('Clip', [rounded, this.float([-127]), this.float([127])]);
    const dims = perm.map((p) => wt.shape[p]!);
    const sums = this.g.node1(
      'Conv',
      [quantized, this.g.constantFloat(transpose(Float32Array.from(stored), wt.shape, perm), dims, 'w')],
      attributes,
    );
    const product = this.g.node1('Mul', [sums, this.g.node1('Mul', [scale, this.float([qw.scale[0]!])])]);
    return bias ? this.g.node1('Add', [product, bias]) : product;
  }

  /**
   * int32 sums [N, C, H, W] → codes: TFLite's MultiplyByQuantizedMultiplier per channel, plus the
   * output's zero point, clamped to [lo, hi]. Its two roundings, for a shift right by r, are one
   * floor: floor((s·M + 2^30 + 2^(30+r)) / 2^(31+r)) where halves go up, which float64 computes
   * exactly while r ≤ 11 (the fraction it must see, 2^-(31+r), stays above its error on values
   * near the grid). Halves away from zero (DEPTHWISE_CONV_2D) matter only below the zero point:
   * where the range starts at or above it, they clamp as the others do.
   */
  private requantize(sums: string, r: Requantization): string {
    const { channels, rounding, zero, lo, hi } = r;
    const oneFloor = (rounding === 'up' || lo >= zero) && channels.every((m) => right(m) <= 11);
    if (!oneFloor) return this.requantizeInt64(sums, r);
    const perChannel = (f: (m: QuantizedMultiplier) => number) =>
      this.g.constantDouble(Float64Array.from(channels, f), [channels.length, 1, 1]);
    const wide = this.g.node1('Cast', [sums], [int('to', ONNX_DOUBLE)]);
    const scaled = this.g.node1('Mul', [
      wide,
      perChannel((m) => (m.multiplier * 2 ** Math.max(m.shift, 0)) / 2 ** (31 + right(m))),
    ]);
    const offset = perChannel((m) => 2 ** -(right(m) + 1) + (right(m) > 0 ? 0.5 : 0) + zero);
    const floored = this.g.node1('Floor', [this.g.node1('Add', [scaled, offset])]);
    const double = (v: number) => this.g.constantDouble(Float64Array.from([v]), []);
    const clamped = this.g.node1('Clip', [floored, double(lo), double(hi)]);
    return this.g.node1('Cast', [clamped], [int('to', ONNX_UINT8)]);
  }

  /**
   * The same in int64, for halves away from zero below the zero point (a linear DEPTHWISE_CONV_2D)
   * and for shifts past 11: floor((s·M + 2^30) / 2^31), then floor((x + 2^(r−1) − [s < 0]) / 2^r).
   * Values are lifted above zero first, so that onnxruntime's truncating Div floors.
   */
  private requantizeInt64(sums: string, { channels, rounding, zero, lo, hi }: Requantization): string {
    const perChannel = (f: (m: QuantizedMultiplier) => number) => this.int64(channels.map(f), [channels.length, 1, 1]);
    const half = (m: QuantizedMultiplier) => (right(m) > 0 ? 2 ** (right(m) - 1) : 0);
    const wide = this.g.node1('Cast', [sums], [int('to', ONNX_INT64)]);
    const product = this.g.node1('Mul', [wide, perChannel((m) => m.multiplier * 2 ** Math.max(m.shift, 0))]);
    // |s·M| < 2^62: + 2^62 makes it positive; the quotient comes out 2^31 high.
    const high = this.g.node1('Div', [
      this.g.node1('Add', [product, this.int64([2 ** 30 + 2 ** 62], [])]),
      this.int64([2 ** 31], []),
    ]);
    const negative = this.g.node1('Less', [wide, this.int64([0], [])]);
    const lifted = this.g.node1('Add', [
      high,
      this.g.node1('Where', [
        negative,
        perChannel((m) => half(m) - (right(m) > 0 && rounding === 'away' ? 1 : 0)),
        perChannel(half),
      ]),
    ]);
    const shifted = this.g.node1('Div', [lifted, perChannel((m) => 2 ** right(m))]);
    const out = this.g.node1('Add', [shifted, perChannel((m) => zero - 2 ** (31 - right(m)))]);
    const clamped = this.g.node1('Clip', [out, this.int64([lo], []), this.int64([hi], [])]);
    return this.g.node1('Cast', [clamped], [int('to', ONNX_UINT8)]);
  }

  /** A 256-entry table applied to codes: code → code. */
  private lookup(codes: string, table: Uint8Array): string {
    const index = this.g.node1('Cast', [codes], [int('to', ONNX_INT32)]);
    return this.g.node1('Gather', [this.g.constantInts(table, [table.length], 'table'), index]);
  }

  /** QUANTIZE of a float tensor: round(x / scale) half away from zero, plus the zero point (TFLite's AffineQuantize). */
  quantizeFloat(x: string, output: number): string {
    const q = this.quantization(output);
    const steps = this.g.node1('Div', [x, this.float([q.scale[0]!])]);
    const rounded = this.g.node1('Mul', [
      this.g.node1('Sign', [steps]),
      this.g.node1('Floor', [this.g.node1('Add', [this.g.node1('Abs', [steps]), this.float([0.5])])]),
    ]);
    const codes = this.g.node1('Clip', [
      this.g.node1('Add', [rounded, this.float([this.codeZero(output)])]),
      this.float([0]),
      this.float([255]),
    ]);
    return this.real(this.g.node1('Cast', [codes], [int('to', ONNX_UINT8)]), output);
  }

  /** QUANTIZE from one integer grid to another (TFLite's Requantize). */
  requantizeTensor(x: string, input: number, output: number): string {
    const [qi, qo] = [this.quantization(input), this.quantization(output)];
    const m = this.multiplier(qi.scale[0]! / qo.scale[0]!, `TFLite tensor "${this.t.tensor(output).name}"`);
    const [zi, zo] = [this.codeZero(input), this.codeZero(output)];
    const table = Uint8Array.from({ length: 256 }, (_, c) =>
      Math.min(255, Math.max(0, multiplyByQuantizedMultiplier(c - zi, m) + zo)),
    );
    return this.real(this.lookup(this.codes(x, input), table), output);
  }

  /** ADD of two quantized tensors: TFLite's arithmetic (inputs shifted left 20 bits, rescaled, summed, requantized), as one 65,536-entry table. */
  add(a: string, b: string, inputA: number, inputB: number, output: number, fused: number): string {
    const [qa, qb, qo] = [inputA, inputB, output].map((i) => this.quantization(i)) as [
      TfliteQuantization,
      TfliteQuantization,
      TfliteQuantization,
    ];
    const leftShift = 20;
    const twiceMax = 2 * Math.max(qa.scale[0]!, qb.scale[0]!);
    const what = `TFLite tensor "${this.t.tensor(output).name}"`;
    const ma = this.multiplier(qa.scale[0]! / twiceMax, what);
    const mb = this.multiplier(qb.scale[0]! / twiceMax, what);
    const mo = this.multiplier(twiceMax / (2 ** leftShift * qo.scale[0]!), what);
    const [za, zb, zo] = [this.codeZero(inputA), this.codeZero(inputB), this.codeZero(output)];
    const [lo, hi] = activationRange(qo, this.offset(output), fused);
    const scaledA = Array.from({ length: 256 }, (_, c) => multiplyByQuantizedMultiplier((c - za) * 2 ** leftShift, ma));
    const scaledB = Array.from({ length: 256 }, (_, c) => multiplyByQuantizedMultiplier((c - zb) * 2 ** leftShift, mb));
    const table = new Uint8Array(65536);
    for (let i = 0; i < 256; i++)
      for (let j = 0; j < 256; j++)
        table[i * 256 + j] = Math.min(
          hi,
          Math.max(lo, multiplyByQuantizedMultiplier(scaledA[i]! + scaledB[j]!, mo) + zo),
        );
    const wide = (codes: string) => this.g.node1('Cast', [codes], [int('to', ONNX_INT32)]);
    const index = this.g.node1('Add', [
      this.g.node1('Mul', [wide(this.codes(a, inputA)), this.g.constantInts(new Int32Array([256]), [])]),
      wide(this.codes(b, inputB)),
    ]);
    return this.real(this.g.node1('Gather', [this.g.constantInts(table, [table.length], 'table'), index]), output);
  }

  /** One input of a CONCATENATION whose grid differs from the output's (TFLite's ConcatenationWithScaling, in float32). */
  rescaled(x: string, input: number, output: number): string {
    const [qi, qo] = [this.quantization(input), this.quantization(output)];
    if (qi.scale[0] === qo.scale[0] && this.codeZero(input) === this.codeZero(output)) return x;
    if (this.t.tensor(input).type !== TensorType.UINT8)
      throw new ModelError(`TFLite's integer arithmetic for an int8 CONCATENATION that rescales is not supported`);
    const f = Math.fround;
    const scale = f(qi.scale[0]! * f(1 / qo.scale[0]!));
    const offset = f(-(qi.zeroPoint[0] ?? 0) * scale);
    const zo = this.codeZero(output);
    const table = Uint8Array.from({ length: 256 }, (_, c) => {
      const v = f(f(c * scale) + offset);
      return Math.min(255, Math.max(0, Math.sign(v) * Math.round(Math.abs(v)) + zo));
    });
    return this.real(this.lookup(this.codes(x, input), table), output);
  }

  /**
   * AVERAGE_POOL_2D of uint8: the sum of the window's real (unpadded) codes, (sum + count/2) / count
   * in integers. Sums and counts stay below 2^24, so float32 holds them exactly.
   */
  averagePool(
    x: string,
    input: number,
    output: number,
    kernel: [number, number],
    stride: [number, number],
    pads: readonly number[],
    fused: number,
  ): string {
    if (this.t.tensor(input).type !== TensorType.UINT8)
      throw new ModelError(`TFLite's integer arithmetic for an int8 AVERAGE_POOL_2D is not supported`);
    const [, h, w] = this.t.tensor(input).shape as [number, number, number, number];
    const [, ho, wo] = this.t.tensor(output).shape as [number, number, number, number];
    const window = kernel[0] * kernel[1];
    const real = this.g.node1('Cast', [this.codes(x, input)], [int('to', ONNX_FLOAT)]);
    const mean = this.g.node1(
      'AveragePool',
      [real],
      [ints('kernel_shape', kernel), ints('strides', stride), ints('pads', pads), int('count_include_pad', 1)],
    );
    const sum = this.g.node1('Round', [this.g.node1('Mul', [mean, this.float([window])])]);
    const counts = new Float32Array(ho * wo);
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const y0 = oy * stride[0] - pads[0]!;
        const x0 = ox * stride[1] - pads[1]!;
        const rows = Math.min(y0 + kernel[0], h) - Math.max(y0, 0);
        const cols = Math.min(x0 + kernel[1], w) - Math.max(x0, 0);
        counts[oy * wo + ox] = rows * cols;
      }
    const count = this.g.constantFloat(counts, [1, 1, ho, wo], 'count');
    const halves = this.g.constantFloat(
      counts.map((c) => Math.floor(c / 2)),
      [1, 1, ho, wo],
      'half',
    );
    const pooled = this.g.node1('Floor', [this.g.node1('Div', [this.g.node1('Add', [sum, halves]), count])]);
    const [lo, hi] = activationRange(this.quantization(output), 0, fused);
    const clamped = this.g.node1('Clip', [pooled, this.float([lo]), this.float([hi])]);
    return this.real(this.g.node1('Cast', [clamped], [int('to', ONNX_UINT8)]), output);
  }

  private float(values: readonly number[]): string {
    return this.g.constantFloat(Float32Array.from(values), values.length === 1 ? [] : [values.length]);
  }

  /**
   * RESIZE_BILINEAR of uint8 as TFLite's kernel computes it: each output pixel's four corner weights
   * in float32, (((a·w0 + b·w1) + c·w2) + d·w3) + 0.5, truncated — one ONNX op per float step, so
   * every step rounds as TFLite's does. Corner indices and weights are constants of the graph.
   */
  resizeBilinear(x: string, input: number, output: number, alignCorners: boolean, halfPixel: boolean): string {
    if (this.t.tensor(input).type !== TensorType.UINT8)
      throw new ModelError(`TFLite's integer arithmetic for an int8 RESIZE_BILINEAR is not supported`);
    const [n, h, w, c] = this.t.tensor(input).shape as [number, number, number, number];
    const [, ho, wo] = this.t.tensor(output).shape as [number, number, number, number];
    const flat = this.g.node1('Reshape', [
      this.g.node1('Cast', [this.codes(x, input)], [int('to', ONNX_FLOAT)]),
      this.g.constantInt64([n, c, h * w]),
    ]);
    const summed = cornerSum(this.g, flat, bilinearCorners([h, w], [ho, wo], alignCorners, halfPixel));
    const rounded = this.g.node1('Floor', [this.g.node1('Add', [summed, this.float([0.5])])]);
    const image = this.g.node1('Reshape', [rounded, this.g.constantInt64([n, c, ho, wo])]);
    return this.real(this.g.node1('Cast', [image], [int('to', ONNX_UINT8)]), output);
  }
}
