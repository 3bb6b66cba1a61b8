/**
 * Quantized TFLite graphs, built here op by op (uint8 and int8, per-tensor and per-channel), each
 * imported into QDQ form, run by onnxruntime with every optimisation on (its int8 kernels), and
 * checked against a float reference of the same arithmetic computed here: real values in, the
 * op in float, each quantized output rounded to its grid — within one step of the output's grid.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../core/errors.js';
import { seededRandom } from '../../model/onnxGraph.js';
import { describeModel } from '../../model/descriptor.js';
import { type ImportOptions, importTflite } from '../../model/tflite/importTflite.js';
import { runCli, tempDir } from '../helpers/fixtures.js';
import { activation, conv2d, type Nhwc, pool, resizeBilinear } from '../helpers/nhwcReference.js';
import {
  buildTflite,
  type ModelSpec,
  oneOperatorModel,
  options,
  poolOptions,
  type QuantSpec,
  T,
} from '../helpers/tfliteBuilder.js';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const random = seededRandom(23);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

type Ints = Uint8Array | Int8Array;
const range = (type: number): [number, number] => (type === T.UINT8 ? [0, 255] : [-128, 127]);

/** Random quantized integers of a type. */
function randomInts(n: number, type: number): Ints {
  const [lo, hi] = range(type);
  const values = Array.from({ length: n }, () => lo + Math.floor(random() * (hi - lo + 1)));
  return type === T.UINT8 ? Uint8Array.from(values) : Int8Array.from(values);
}

/** Real values of quantized data, per tensor or per channel (the channel is the innermost `axis` of `shape`). */
function real(data: Ints | Int32Array, q: QuantSpec, shape: readonly number[]): Float32Array {
  const inner = size(shape.slice((q.axis ?? 0) + 1));
  const channels = shape[q.axis ?? 0]!;
  return Float32Array.from(data, (v, i) => {
    const c = q.scale.length > 1 ? Math.floor(i / inner) % channels : 0;
    return q.scale[c]! * (v - q.zeroPoint[c]!);
  });
}

/** Real values rounded to a per-tensor grid, as a quantized output holds them. */
function onGrid(values: Float32Array, q: QuantSpec, type: number): Float32Array {
  const [lo, hi] = range(type);
  return values.map(
    (v) => q.scale[0]! * (Math.min(hi, Math.max(lo, Math.round(v / q.scale[0]!) + q.zeroPoint[0]!)) - q.zeroPoint[0]!),
  );
}

/**
 * Runs the imported graph twice: as ONNX defines each node (no optimisation: the QDQ arithmetic
 * itself) and with every optimisation on (onnxruntime's fused int8 kernels, which read some
 * attributes their own way). Both come back, for the same check.
 */
async function run(
  spec: ModelSpec,
  input: Float32Array | Uint8Array,
  options: ImportOptions = {},
): Promise<{ data: Float32Array; dims: number[] }[]> {
  const onnx = importTflite(buildTflite(spec), 'model.tflite', options);
  const shape = spec.tensors[spec.inputs[0]!]!.shape;
  const results = [];
  for (const graphOptimizationLevel of ['disabled', 'all'] as const) {
    const session = await ort.InferenceSession.create(onnx, { graphOptimizationLevel });
    const tensor =
      input instanceof Uint8Array ? new ort.Tensor('uint8', input, shape) : new ort.Tensor('float32', input, shape);
    const out = (await session.run({ [session.inputNames[0]!]: tensor }))[session.outputNames[0]!]!;
    results.push({ data: out.data as Float32Array, dims: out.dims.map(Number) });
  }
  return results;
}

/** Within `steps` grid steps of the reference everywhere. */
function expectWithinSteps(actual: Float32Array, expected: Float32Array, step: number, steps = 1): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / step).toBeLessThanOrEqual(steps + 1e-3);
}

const conv2dOptions = (fused: number, stride = 1, same = true) =>
  options(6, [
    [0, 'i8', same ? 0 : 1],
    [1, 'i32', stride],
    [2, 'i32', stride],
    [3, 'i8', fused],
    [4, 'i32', 1],
    [5, 'i32', 1],
  ]);
const depthwiseOptions = (fused: number) =>
  options(7, [
    [0, 'i8', 0],
    [1, 'i32', 1],
    [2, 'i32', 1],
    [3, 'i32', 1],
    [4, 'i8', fused],
    [5, 'i32', 1],
    [6, 'i32', 1],
  ]);

/** A float input, int8 per-channel weights and the float convolution they make: a dynamic-range graph's. */
function floatConvWithInt8Weights() {
  const x: Nhwc = { shape: [1, 5, 5, 2], data: Float32Array.from({ length: 50 }, () => random() * 2 - 1) };
  const wQ: QuantSpec = { scale: [0.01, 0.03, 0.02], zeroPoint: [0, 0, 0], axis: 0 };
  const w = randomInts(3 * 3 * 3 * 2, T.INT8);
  const reference = conv2d(x, { shape: [3, 3, 3, 2], data: real(w, wQ, [3, 3, 3, 2]) }, null, {
    stride: [1, 1],
    dilation: [1, 1],
    same: true,
    depthwise: false,
    fused: 0,
  });
  return { x, wQ, w, reference };
}

describe('importTflite: quantized graphs in QDQ form', () => {
  it('CONV_2D uint8 (per-tensor weights, int32 bias, fused RELU6) from a uint8 input: the Coral form', async () => {
    const inQ: QuantSpec = { scale: [1 / 128], zeroPoint: [128] };
    const wQ: QuantSpec = { scale: [0.02], zeroPoint: [120] };
    const outQ: QuantSpec = { scale: [6 / 255], zeroPoint: [0] };
    const x = randomInts(1 * 9 * 10 * 3, T.UINT8) as Uint8Array;
    const w = randomInts(4 * 3 * 3 * 3, T.UINT8);
    const biasScale = inQ.scale[0]! * wQ.scale[0]!;
    const bias = Int32Array.from({ length: 4 }, () => Math.round((random() - 0.5) * 400));
    const xs: Nhwc = { shape: [1, 9, 10, 3], data: real(x, inQ, [1, 9, 10, 3]) };
    const reference = conv2d(
      xs,
      { shape: [4, 3, 3, 3], data: real(w, wQ, [4, 3, 3, 3]) },
      Float32Array.from(bias, (b) => b * biasScale),
      { stride: [2, 2], dilation: [1, 1], same: true, depthwise: false, fused: 3 },
    );
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 9, 10, 3], type: T.UINT8, quantization: inQ },
        { shape: [4, 3, 3, 3], type: T.UINT8, data: w, quantization: wQ },
        { shape: [4], type: T.INT32, data: bias, quantization: { scale: [biasScale], zeroPoint: [0] } },
        { shape: reference.shape, type: T.UINT8, quantization: outQ },
      ],
      inputs: [0],
      outputs: [3],
      operators: [{ builtin: 3, inputs: [0, 1, 2], outputs: [3], optionsType: 1, options: conv2dOptions(3, 2) }],
    };
    for (const out of await run(spec, x)) {
      expect(out.dims).toEqual(reference.shape);
      expectWithinSteps(out.data, onGrid(reference.data, outQ, T.UINT8), outQ.scale[0]!);
    }
    // Dequantized to float (the bench's comparison): the int32 bias in real values too.
    for (const out of await run(spec, x, { keepQuantization: false }))
      expectWithinSteps(out.data, onGrid(reference.data, outQ, T.UINT8), outQ.scale[0]!);
  });

  it('DEPTHWISE_CONV_2D int8 with per-channel weights, behind QUANTIZE of a float input and before DEQUANTIZE', async () => {
    const shape: [number, number, number, number] = [1, 8, 7, 4];
    const inQ: QuantSpec = { scale: [0.05], zeroPoint: [-3] };
    const wQ: QuantSpec = { scale: [0.01, 0.02, 0.005, 0.04], zeroPoint: [0, 0, 0, 0], axis: 3 };
    const outQ: QuantSpec = { scale: [0.03], zeroPoint: [5] };
    const input = Float32Array.from({ length: size(shape) }, () => (random() * 2 - 1) * 5);
    const w = randomInts(36, T.INT8);
    const bias = Int32Array.from({ length: 4 }, () => Math.round((random() - 0.5) * 300));
    const biasQ: QuantSpec = { scale: wQ.scale.map((s) => s * inQ.scale[0]!), zeroPoint: [0, 0, 0, 0] };
    const xs: Nhwc = { shape, data: onGrid(input, inQ, T.INT8) };
    const reference = conv2d(xs, { shape: [1, 3, 3, 4], data: real(w, wQ, [1, 3, 3, 4]) }, real(bias, biasQ, [4]), {
      stride: [1, 1],
      dilation: [1, 1],
      same: true,
      depthwise: true,
      fused: 0,
    });
    const spec: ModelSpec = {
      tensors: [
        { shape },
        { shape, type: T.INT8, quantization: inQ },
        { shape: [1, 3, 3, 4], type: T.INT8, data: w, quantization: wQ },
        { shape: [4], type: T.INT32, data: bias, quantization: { ...biasQ, axis: 0 } },
        { shape: reference.shape, type: T.INT8, quantization: outQ },
        { shape: reference.shape },
      ],
      inputs: [0],
      outputs: [5],
      operators: [
        { builtin: 114, inputs: [0], outputs: [1] },
        { builtin: 4, inputs: [1, 2, 3], outputs: [4], optionsType: 2, options: depthwiseOptions(0) },
        { builtin: 6, inputs: [4], outputs: [5] },
      ],
    };
    for (const out of await run(spec, input))
      expectWithinSteps(out.data, onGrid(reference.data, outQ, T.INT8), outQ.scale[0]!);
  });

  it('ADD of uint8 tensors at different scales with a fused RELU whose zero point is not 0 (the clamp inside the grid)', async () => {
    const shape = [1, 5, 6, 3];
    const aQ: QuantSpec = { scale: [0.04], zeroPoint: [128] };
    const bQ: QuantSpec = { scale: [0.07], zeroPoint: [90] };
    const outQ: QuantSpec = { scale: [0.05], zeroPoint: [100] }; // [−5, 7.75]: the RELU clamps at 0, inside the grid
    const a = randomInts(size(shape), T.UINT8) as Uint8Array;
    const b = randomInts(size(shape), T.UINT8);
    const sum = real(a, aQ, shape).map((v, i) => activation(v + real(b, bQ, shape)[i]!, 1));
    const spec = oneOperatorModel(
      { shape, type: T.UINT8, quantization: aQ },
      [{ shape, type: T.UINT8, data: b, quantization: bQ }],
      { shape, type: T.UINT8, quantization: outQ },
      { builtin: 0, optionsType: 11, options: options(1, [[0, 'i8', 1]]) }, // ADD with a fused RELU
    );
    for (const out of await run(spec, a)) {
      expectWithinSteps(out.data, onGrid(sum, outQ, T.UINT8), outQ.scale[0]!);
      expect(Math.min(...out.data)).toBeGreaterThanOrEqual(0);
    }
  });

  it('AVERAGE_POOL_2D, TILE, CONCATENATION and RESIZE_BILINEAR on uint8, ending in ARG_MAX: the scores come out instead, before the upsampling', async () => {
    const q: QuantSpec = { scale: [0.1], zeroPoint: [10] };
    const x = randomInts(6 * 6 * 3, T.UINT8) as Uint8Array;
    const xs: Nhwc = { shape: [1, 6, 6, 3], data: real(x, q, [1, 6, 6, 3]) };
    const pooled = onGrid(pool(xs, { kernel: [6, 6], stride: [1, 1], same: false, max: false }).data, q, T.UINT8);
    const tiled = Float32Array.from({ length: 6 * 6 * 3 }, (_, i) => pooled[i % 3]!);
    const joined: Nhwc = {
      shape: [1, 6, 6, 6],
      data: Float32Array.from({ length: 6 * 6 * 6 }, (_, i) =>
        i % 6 < 3 ? xs.data[Math.floor(i / 6) * 3 + (i % 6)]! : tiled[Math.floor(i / 6) * 3 + (i % 6) - 3]!,
      ),
    };
    const scores = onGrid(resizeBilinear(joined, 11, 11, 'align').data, q, T.UINT8);
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 6, 6, 3], type: T.UINT8, quantization: q },
        { shape: [1, 1, 1, 3], type: T.UINT8, quantization: q },
        { shape: [4], type: T.INT32, data: Int32Array.from([1, 6, 6, 1]) },
        { shape: [1, 6, 6, 3], type: T.UINT8, quantization: q },
        { shape: [1, 6, 6, 6], type: T.UINT8, quantization: q },
        { shape: [2], type: T.INT32, data: Int32Array.from([11, 11]) },
        { shape: [1, 11, 11, 6], type: T.UINT8, quantization: q },
        { shape: [1], type: T.INT32, data: Int32Array.from([3]) },
        { shape: [1, 11, 11], type: T.INT64 },
      ],
      inputs: [0],
      outputs: [8],
      operators: [
        {
          builtin: 1,
          inputs: [0],
          outputs: [1],
          ...poolOptions(1, 1, 6),
        },
        { builtin: 69, inputs: [1, 2], outputs: [3] },
        { builtin: 2, inputs: [0, 3], outputs: [4], optionsType: 10, options: options(2, [[0, 'i32', 3]]) },
        { builtin: 23, inputs: [4, 5], outputs: [6], optionsType: 15, options: options(4, [[2, 'bool', 1]]) },
        { builtin: 56, inputs: [6, 7], outputs: [8], optionsType: 40, options: options(1, [[0, 'i8', T.INT64]]) },
      ],
    };
    // Kept: the upsampled scores, as the graph computes them.
    for (const out of await run(spec, x, { keepScoreResize: true })) {
      expect(out.dims).toEqual([1, 11, 11, 6]);
      expectWithinSteps(out.data, scores, q.scale[0]!);
    }
    // By default the align-corners upsampling goes too, and the model says how its scores sit on its input.
    for (const out of await run(spec, x)) {
      expect(out.dims).toEqual([1, 6, 6, 6]);
      expectWithinSteps(out.data, joined.data, q.scale[0]!);
    }
    expect(describeModel(importTflite(buildTflite(spec))).scoresAlignCorners).toBe(true);
    expect(
      describeModel(importTflite(buildTflite(spec), 'm', { keepScoreResize: true })).scoresAlignCorners,
    ).toBeUndefined();
  });

  it('SPACE_TO_BATCH_ND → CONV_2D → BATCH_TO_SPACE_ND, how TF1 writes an atrous convolution, equals it', async () => {
    const x: Nhwc = { shape: [1, 8, 8, 3], data: Float32Array.from({ length: 192 }, () => random() * 2 - 1) };
    const w = { shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, () => random() * 2 - 1) };
    const bias = Float32Array.from({ length: 4 }, () => random() - 0.5);
    const reference = conv2d(x, w, bias, { stride: [1, 1], dilation: [2, 2], same: true, depthwise: false, fused: 0 });
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 8, 8, 3] },
        { shape: [2], type: T.INT32, data: Int32Array.from([2, 2]) },
        { shape: [2, 2], type: T.INT32, data: Int32Array.from([2, 2, 2, 2]) },
        { shape: [4, 6, 6, 3] },
        { shape: [4, 3, 3, 3], data: w.data },
        { shape: [4], data: bias },
        { shape: [4, 4, 4, 4] },
        { shape: [2, 2], type: T.INT32, data: Int32Array.from([0, 0, 0, 0]) },
        { shape: [1, 8, 8, 4] },
      ],
      inputs: [0],
      outputs: [8],
      operators: [
        { builtin: 38, inputs: [0, 1, 2], outputs: [3] },
        { builtin: 3, inputs: [3, 4, 5], outputs: [6], optionsType: 1, options: conv2dOptions(0, 1, false) },
        { builtin: 37, inputs: [6, 1, 7], outputs: [8] },
      ],
    };
    for (const out of await run(spec, x.data)) expectWithinSteps(out.data, reference.data, 1e-5, 1);
    // With a RELU between the conv and BATCH_TO_SPACE_ND the three are not folded into one dilated conv: the batch is rearranged.
    const withRelu: ModelSpec = {
      ...spec,
      tensors: [...spec.tensors, { shape: [4, 4, 4, 4] }],
      operators: [
        spec.operators[0]!,
        spec.operators[1]!,
        { builtin: 19, inputs: [6], outputs: [9] },
        { builtin: 37, inputs: [9, 1, 7], outputs: [8] },
      ],
    };
    for (const out of await run(withRelu, x.data))
      expectWithinSteps(
        out.data,
        reference.data.map((v) => Math.max(0, v)),
        1e-5,
        1,
      );
  });

  it('int8 per-channel weights behind DEQUANTIZE in a float graph (dynamic-range quantized models) fold to float', async () => {
    const { x, wQ, w, reference } = floatConvWithInt8Weights();
    const spec: ModelSpec = {
      tensors: [
        { shape: x.shape },
        { shape: [3, 3, 3, 2], type: T.INT8, data: w, quantization: wQ },
        { shape: [3, 3, 3, 2] },
        { shape: reference.shape },
      ],
      inputs: [0],
      outputs: [3],
      operators: [
        { builtin: 6, inputs: [1], outputs: [2] },
        { builtin: 3, inputs: [0, 2, -1], outputs: [3], optionsType: 1, options: conv2dOptions(0) },
      ],
    };
    for (const out of await run(spec, x.data)) expectWithinSteps(out.data, reference.data, 1e-5, 1);
  });

  it("rounds a ReLU convolution's sums as TFLite's integer kernels do (two roundings), not once", async () => {
    // A 1×1 uint8 conv whose multiplier sx·sw/sy = 0.26 has TFLite shift right by 1 after its
    // fixed-point multiply: a value from 0.25 below a half rounds up. Computed here bit for bit.
    const inQ: QuantSpec = { scale: [1 / 128], zeroPoint: [128] };
    const wQ: QuantSpec = { scale: [0.05], zeroPoint: [120] };
    const multiplier = 0.26;
    const outQ: QuantSpec = { scale: [(inQ.scale[0]! * wQ.scale[0]!) / multiplier], zeroPoint: [0] };
    const [pixels, inC, outC] = [24 * 24, 4, 8];
    const x = Uint8Array.from({ length: pixels * inC }, () => 108 + Math.floor(random() * 41));
    const w = Uint8Array.from({ length: outC * inC }, () => 117 + Math.floor(random() * 7));
    const bias = Int32Array.from({ length: outC }, () => 200 + Math.floor(random() * 200));
    // gemmlowp: QuantizeMultiplier, SaturatingRoundingDoublingHighMul, RoundingDivideByPOT.
    const real = (inQ.scale[0]! * wQ.scale[0]!) / outQ.scale[0]!;
    const shift = Math.ceil(Math.log2(real));
    const fixed = BigInt(Math.round((real / 2 ** shift) * 2 ** 31));
    const tflite = (acc: number) => {
      const ab = BigInt(acc) * fixed;
      const high = Number((ab + (ab >= 0n ? 1n << 30n : 1n - (1n << 30n))) / (1n << 31n));
      const e = -shift;
      const mask = (1 << e) - 1;
      return (high >> e) + ((high & mask) > (mask >> 1) + (high < 0 ? 1 : 0) ? 1 : 0);
    };
    const accumulators = Array.from({ length: pixels * outC }, (_, i) => {
      const [p, o] = [Math.floor(i / outC), i % outC];
      let acc = bias[o]!;
      for (let c = 0; c < inC; c++) acc += (x[p * inC + c]! - 128) * (w[o * inC + c]! - 120);
      return acc;
    });
    const expected = accumulators.map((acc) => Math.min(255, Math.max(0, tflite(acc))));
    const roundedOnce = accumulators.map((acc) => Math.min(255, Math.max(0, Math.round(acc * real))));
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 24, 24, inC], type: T.UINT8, quantization: inQ },
        { shape: [outC, 1, 1, inC], type: T.UINT8, data: w, quantization: wQ },
        {
          shape: [outC],
          type: T.INT32,
          data: bias,
          quantization: { scale: [inQ.scale[0]! * wQ.scale[0]!], zeroPoint: [0] },
        },
        { shape: [1, 24, 24, outC], type: T.UINT8, quantization: outQ },
      ],
      inputs: [0],
      outputs: [3],
      operators: [{ builtin: 3, inputs: [0, 1, 2], outputs: [3], optionsType: 1, options: conv2dOptions(1) }],
    };
    const agreement = (values: ArrayLike<number>) =>
      Array.from(values).filter((v, i) => v === expected[i]).length / expected.length;
    // Rounding once parts from TFLite on about a quarter of the values: the case this is about.
    expect(agreement(roundedOnce)).toBeLessThan(0.85);
    for (const out of await run(spec, x)) {
      const steps = Array.from(out.data, (v) => Math.round(v / outQ.scale[0]!));
      expect(agreement(steps)).toBeGreaterThan(0.97);
      expect(Math.max(...steps.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThanOrEqual(1);
    }
  });

  it('int8 weights read straight by a float convolution (a hybrid graph) fold to float, which onnxruntime prepacks', async () => {
    const { x, wQ, w, reference } = floatConvWithInt8Weights();
    const spec: ModelSpec = {
      tensors: [
        { shape: x.shape },
        { shape: [3, 3, 3, 2], type: T.INT8, data: w, quantization: wQ },
        { shape: reference.shape },
      ],
      inputs: [0],
      outputs: [2],
      operators: [{ builtin: 3, inputs: [0, 1, -1], outputs: [2], optionsType: 1, options: conv2dOptions(0) }],
    };
    const onnx = Buffer.from(importTflite(buildTflite(spec), 'model.tflite'));
    expect(onnx.includes('DequantizeLinear')).toBe(false);
    for (const out of await run(spec, x.data)) expectWithinSteps(out.data, reference.data, 1e-5, 1);
  });

  it('names what it cannot take in one line: an int8 input, a quantized op it does not map (exit 3 from import)', async () => {
    const q: QuantSpec = { scale: [0.1], zeroPoint: [0] };
    const int8Input: ModelSpec = {
      tensors: [
        { shape: [1, 4, 4, 1], type: T.INT8, quantization: q },
        { shape: [1, 4, 4, 1], type: T.INT8, quantization: q },
      ],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 19, inputs: [0], outputs: [1] }],
    };
    expect(() => importTflite(buildTflite(int8Input))).toThrow(
      new ModelError('TFLite input "t0" is int8; supported inputs are float32 and quantized uint8'),
    );
    const nearest: ModelSpec = {
      tensors: [
        { shape: [1, 4, 4, 1], type: T.UINT8, quantization: q },
        { shape: [2], type: T.INT32, data: Int32Array.from([8, 8]) },
        { shape: [1, 8, 8, 1], type: T.UINT8, quantization: q },
      ],
      inputs: [0],
      outputs: [2],
      operators: [{ builtin: 97, inputs: [0, 1], outputs: [2] }],
    };
    const { dir, cleanup } = tempDir('dls-quant-import-');
    try {
      const file = path.join(dir, 'nearest.tflite');
      writeFileSync(file, buildTflite(nearest));
      const r = await runCli(['import', file, '-o', path.join(dir, 'nearest.onnx')]);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toMatch(
        /^error: unsupported TFLite op RESIZE_NEAREST_NEIGHBOR \(operator #0\); supported: .*QUANTIZE/,
      );
    } finally {
      cleanup();
    }
  });

  it('refuses a damaged quantization in one line (the file is untrusted): scales, zero points, per-channel lengths', async () => {
    const withOutput = (quantization: QuantSpec, type: number = T.UINT8): ModelSpec => ({
      tensors: [
        { shape: [1, 4, 4, 2], type: T.UINT8, quantization: { scale: [0.1], zeroPoint: [0] } },
        { shape: [1, 4, 4, 2], type, quantization },
      ],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 114, inputs: [0], outputs: [1] }],
    });
    const cases: [QuantSpec, number, string][] = [
      [{ scale: [0], zeroPoint: [0] }, T.UINT8, "has scale 0: a quantized tensor's scales must be positive and finite"],
      [
        { scale: [NaN], zeroPoint: [0] },
        T.UINT8,
        "has scale NaN: a quantized tensor's scales must be positive and finite",
      ],
      [{ scale: [0.1], zeroPoint: [300] }, T.UINT8, '(uint8) has zero point 300, outside 0..255'],
      [{ scale: [0.1], zeroPoint: [-129] }, T.INT8, '(int8) has zero point -129, outside -128..127'],
      [{ scale: [0.1, 0.2], zeroPoint: [0] }, T.UINT8, 'has 1 zero points for 2 scales'],
      [{ scale: [0.1, 0.2, 0.3], zeroPoint: [0, 0, 0], axis: 3 }, T.UINT8, 'has 3 scales along axis 3, which holds 2'],
    ];
    for (const [quantization, type, message] of cases)
      for (const tfliteArithmetic of [false, true])
        expect(() =>
          importTflite(buildTflite(withOutput(quantization, type)), 'm.tflite', { tfliteArithmetic }),
        ).toThrow(new ModelError(`TFLite tensor "t1" ${message}`));
    const { dir, cleanup } = tempDir('dls-quant-damaged-');
    try {
      const file = path.join(dir, 'nan.tflite');
      writeFileSync(file, buildTflite(withOutput({ scale: [NaN], zeroPoint: [0] })));
      const r = await runCli(['import', file, '-o', path.join(dir, 'nan.onnx')]);
      expect([r.code, r.stderr.trim()]).toEqual([
        3,
        'error: TFLite tensor "t1" has scale NaN: a quantized tensor\'s scales must be positive and finite',
      ]);
      expect(existsSync(path.join(dir, 'nan.onnx'))).toBe(false);
    } finally {
      cleanup();
    }
  });
});
