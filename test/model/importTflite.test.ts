import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../model/onnxGraph.js';
import { importTflite } from '../../model/tflite/importTflite.js';
import { conv2d, type Nhwc, pool, resizeBilinear, toHalf, transposeConv } from '../helpers/nhwcReference.js';
import { buildTflite, type ModelSpec, oneOperatorModel, options, poolOptions, T } from '../helpers/tfliteBuilder.js';

const random = seededRandom(11);
const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);

/** Imports `spec`, runs it on `input` with onnxruntime, returns output 0 (NHWC, as TFLite). */
async function runImported(spec: ModelSpec, input: Float32Array): Promise<Float32Array> {
  const onnx = importTflite(buildTflite(spec));
  const session = await ort.InferenceSession.create(onnx);
  const inShape = spec.tensors[spec.inputs[0]!]!.shape;
  const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, inShape) });
  const result = out[session.outputNames[0]!]!;
  expect(result.dims.map(Number)).toEqual(spec.tensors[spec.outputs[0]!]!.shape);
  return result.data as Float32Array;
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(tolerance);
}

const conv2dOptions = (same: boolean, stride: number[], fused: number, dilation = [1, 1]) =>
  options(6, [
    [0, 'i8', same ? 0 : 1],
    [1, 'i32', stride[1]!],
    [2, 'i32', stride[0]!],
    [3, 'i8', fused],
    [4, 'i32', dilation[1]!],
    [5, 'i32', dilation[0]!],
  ]);
const depthwiseOptions = (same: boolean, stride: number[], multiplier: number, fused: number, dilation = [1, 1]) =>
  options(7, [
    [0, 'i8', same ? 0 : 1],
    [1, 'i32', stride[1]!],
    [2, 'i32', stride[0]!],
    [3, 'i32', multiplier],
    [4, 'i8', fused],
    [5, 'i32', dilation[1]!],
    [6, 'i32', dilation[0]!],
  ]);

describe('importTflite: each op against a reference on random data', () => {
  for (const [name, same, stride, dilation, fused] of [
    ['SAME stride 2 (lopsided padding)', true, [2, 2], [1, 1], 1],
    ['VALID stride 1, RELU6', false, [1, 1], [1, 1], 3],
    ['SAME atrous rate 2', true, [1, 1], [2, 2], 0],
  ] as const) {
    it(`CONV_2D ${name}`, async () => {
      const x: Nhwc = { shape: [1, 10, 9, 3], data: rand(270) };
      const w = { shape: [4, 3, 3, 3], data: rand(108) };
      const bias = rand(4);
      const expected = conv2d(x, w, bias, {
        stride: [...stride],
        dilation: [...dilation],
        same,
        depthwise: false,
        fused,
      });
      const spec: ModelSpec = {
        tensors: [
          { shape: x.shape },
          { shape: w.shape, data: w.data },
          { shape: [4], data: bias },
          { shape: expected.shape },
        ],
        inputs: [0],
        outputs: [3],
        operators: [
          {
            builtin: 3,
            inputs: [0, 1, 2],
            outputs: [3],
            optionsType: 1,
            options: conv2dOptions(same, [...stride], fused, [...dilation]),
          },
        ],
      };
      expectClose(await runImported(spec, x.data), expected.data);
    });
  }

  it('DEPTHWISE_CONV_2D with dilation (atrous) and depth multiplier 2', async () => {
    const x: Nhwc = { shape: [1, 11, 12, 3], data: rand(396) };
    const w = { shape: [1, 3, 3, 6], data: rand(54) };
    const bias = rand(6);
    const expected = conv2d(x, w, bias, { stride: [1, 1], dilation: [2, 2], same: true, depthwise: true, fused: 0 });
    const spec: ModelSpec = {
      tensors: [
        { shape: x.shape },
        { shape: w.shape, data: w.data },
        { shape: [6], data: bias },
        { shape: expected.shape },
      ],
      inputs: [0],
      outputs: [3],
      operators: [
        {
          builtin: 4,
          inputs: [0, 1, 2],
          outputs: [3],
          optionsType: 2,
          options: depthwiseOptions(true, [1, 1], 2, 0, [2, 2]),
        },
      ],
    };
    expectClose(await runImported(spec, x.data), expected.data);
  });

  it('DEQUANTIZE of float16 weights feeding a stride-2 depthwise conv', async () => {
    const x: Nhwc = { shape: [1, 8, 8, 4], data: rand(256) };
    const weights = rand(36);
    const half = Uint16Array.from(weights, toHalf);
    const w = {
      shape: [1, 3, 3, 4],
      data: Float32Array.from(
        half,
        (h) =>
          new (class {
            v = 0;
          })().v + halfBack(h),
      ),
    };
    const expected = conv2d(x, w, null, { stride: [2, 2], dilation: [1, 1], same: true, depthwise: true, fused: 0 });
    const spec: ModelSpec = {
      tensors: [
        { shape: x.shape },
        { shape: w.shape, type: T.FLOAT16, data: half },
        { shape: w.shape },
        { shape: expected.shape },
      ],
      inputs: [0],
      outputs: [3],
      operators: [
        { builtin: 6, inputs: [1], outputs: [2] },
        { builtin: 4, inputs: [0, 2, -1], outputs: [3], optionsType: 2, options: depthwiseOptions(true, [2, 2], 1, 0) },
      ],
    };
    expectClose(await runImported(spec, x.data), expected.data);
  });

  for (const [op, builtin, max] of [
    ['AVERAGE_POOL_2D', 1, false],
    ['MAX_POOL_2D', 17, true],
  ] as const) {
    it(`${op} SAME 3×3 stride 2 (padding excluded from the mean)`, async () => {
      const x: Nhwc = { shape: [1, 7, 8, 2], data: rand(112) };
      const expected = pool(x, { kernel: [3, 3], stride: [2, 2], same: true, max });
      const spec: ModelSpec = {
        tensors: [{ shape: x.shape }, { shape: expected.shape }],
        inputs: [0],
        outputs: [1],
        operators: [
          {
            builtin,
            inputs: [0],
            outputs: [1],
            ...poolOptions(0, 2, 3),
          },
        ],
      };
      expectClose(await runImported(spec, x.data), expected.data);
    });
  }

  it('ADD with RELU and MUL broadcasting a [1,1,1,C] constant (squeeze-excite gating)', async () => {
    const x = rand(2 * 3 * 4);
    const y = rand(2 * 3 * 4);
    const gate = rand(4);
    const expected = Float32Array.from(x, (v, i) => Math.max(v + y[i]!, 0) * gate[i % 4]!);
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 2, 3, 4] },
        { shape: [1, 2, 3, 4], data: y },
        { shape: [1, 2, 3, 4] },
        { shape: [1, 1, 1, 4], data: gate },
        { shape: [1, 2, 3, 4] },
      ],
      inputs: [0],
      outputs: [4],
      operators: [
        { builtin: 0, inputs: [0, 1], outputs: [2], optionsType: 11, options: options(1, [[0, 'i8', 1]]) },
        { builtin: 18, inputs: [2, 3], outputs: [4], optionsType: 21, options: options(1, [[0, 'i8', 0]]) },
      ],
    };
    expectClose(await runImported(spec, x), expected);
  });

  it('MEAN over H and W with keep_dims, then LOGISTIC and HARD_SWISH', async () => {
    const x: Nhwc = { shape: [1, 3, 5, 2], data: rand(30, 3) };
    const means = [0, 1].map(
      (c) => Array.from({ length: 15 }, (_, p) => x.data[p * 2 + c]!).reduce((a, b) => a + b) / 15,
    );
    const hardSwish = (v: number) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6;
    const expected = Float32Array.from(means, (m) => hardSwish(1 / (1 + Math.exp(-m))));
    const spec: ModelSpec = {
      tensors: [
        { shape: x.shape },
        { shape: [2], type: T.INT32, data: Int32Array.from([1, 2]) },
        { shape: [1, 1, 1, 2] },
        { shape: [1, 1, 1, 2] },
        { shape: [1, 1, 1, 2] },
      ],
      inputs: [0],
      outputs: [4],
      operators: [
        { builtin: 40, inputs: [0, 1], outputs: [2], optionsType: 27, options: options(1, [[0, 'bool', 1]]) },
        { builtin: 14, inputs: [2], outputs: [3] },
        { builtin: 117, inputs: [3], outputs: [4] },
      ],
    };
    expectClose(await runImported(spec, x.data), expected);
  });

  for (const mode of ['half', 'align', 'asym'] as const) {
    it(`RESIZE_BILINEAR ×2 (${mode})`, async () => {
      const x: Nhwc = { shape: [1, 4, 5, 3], data: rand(60) };
      const expected = resizeBilinear(x, 8, 10, mode);
      const spec = oneOperatorModel(
        { shape: x.shape },
        [{ shape: [2], type: T.INT32, data: Int32Array.from([8, 10]) }],
        { shape: expected.shape },
        {
          builtin: 23,
          optionsType: 15,
          options: options(4, [
            [2, 'bool', mode === 'align' ? 1 : 0],
            [3, 'bool', mode === 'half' ? 1 : 0],
          ]),
        },
      );
      expectClose(await runImported(spec, x.data), expected.data);
    });
  }

  it('CONCATENATION on channels, PAD, RESHAPE and RELU', async () => {
    const x = rand(2 * 2 * 3);
    const other = rand(2 * 2 * 2);
    // concat [1,2,2,3] ++ [1,2,2,2] on C, pad H by (1, 0), reshape to [1, 3, 10], relu
    const concat = new Float32Array(20);
    for (let p = 0; p < 4; p++) concat.set([...x.slice(p * 3, p * 3 + 3), ...other.slice(p * 2, p * 2 + 2)], p * 5);
    const padded = new Float32Array(30);
    padded.set(concat, 10);
    const expected = padded.map((v) => Math.max(v, 0));
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 2, 2, 3] },
        { shape: [1, 2, 2, 2], data: other },
        { shape: [1, 2, 2, 5] },
        { shape: [4, 2], type: T.INT32, data: Int32Array.from([0, 0, 1, 0, 0, 0, 0, 0]) },
        { shape: [1, 3, 2, 5] },
        { shape: [3], type: T.INT32, data: Int32Array.from([1, 3, 10]) },
        { shape: [1, 3, 10] },
        { shape: [1, 3, 10] },
      ],
      inputs: [0],
      outputs: [7],
      operators: [
        { builtin: 2, inputs: [0, 1], outputs: [2], optionsType: 10, options: options(2, [[0, 'i32', 3]]) },
        { builtin: 34, inputs: [2, 3], outputs: [4] },
        { builtin: 22, inputs: [4, 5], outputs: [6] },
        { builtin: 19, inputs: [6], outputs: [7] },
      ],
    };
    expectClose(await runImported(spec, x), expected);
  });

  it('SUB and DIV with a broadcast constant, TANH and RELU_N1_TO_1', async () => {
    const x = rand(1 * 2 * 2 * 3, 2);
    const k = Float32Array.from([0.5, -1, 2]);
    const expected = Float32Array.from(x, (v, i) => Math.min(1, Math.max(-1, Math.tanh((v - k[i % 3]!) / k[i % 3]!))));
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 2, 2, 3] },
        { shape: [3], data: k },
        { shape: [1, 2, 2, 3] },
        { shape: [1, 2, 2, 3] },
        { shape: [1, 2, 2, 3] },
        { shape: [1, 2, 2, 3] },
      ],
      inputs: [0],
      outputs: [5],
      operators: [
        { builtin: 41, inputs: [0, 1], outputs: [2], optionsType: 28, options: options(1, [[0, 'i8', 0]]) },
        { builtin: 42, inputs: [2, 1], outputs: [3], optionsType: 29, options: options(1, [[0, 'i8', 0]]) },
        { builtin: 28, inputs: [3], outputs: [4] },
        { builtin: 20, inputs: [4], outputs: [5] },
      ],
    };
    expectClose(await runImported(spec, x), expected);
  });

  it('SOFTMAX (beta 2) over channels, then ARG_MAX', async () => {
    const x = rand(1 * 3 * 2 * 4, 2);
    const softmax = new Float32Array(x.length);
    const argmax: number[] = [];
    for (let p = 0; p < 6; p++) {
      const row = Array.from(x.subarray(p * 4, p * 4 + 4), (v) => Math.exp(2 * v));
      const sum = row.reduce((a, b) => a + b);
      row.forEach((v, c) => (softmax[p * 4 + c] = v / sum));
      argmax.push(row.indexOf(Math.max(...row)));
    }
    const softmaxSpec: ModelSpec = {
      tensors: [{ shape: [1, 3, 2, 4] }, { shape: [1, 3, 2, 4] }],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 25, inputs: [0], outputs: [1], optionsType: 9, options: options(1, [[0, 'f32', 2]]) }],
    };
    expectClose(await runImported(softmaxSpec, x), softmax);
    const argmaxSpec: ModelSpec = {
      tensors: [
        { shape: [1, 3, 2, 4] },
        { shape: [1], type: T.INT32, data: Int32Array.from([3]) },
        { shape: [1, 3, 2], type: T.INT32 },
      ],
      inputs: [0],
      outputs: [2],
      operators: [{ builtin: 56, inputs: [0, 1], outputs: [2] }],
    };
    const session = await ort.InferenceSession.create(importTflite(buildTflite(argmaxSpec)));
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, 2, 4]) });
    expect(Array.from(out[session.outputNames[0]!]!.data as BigInt64Array, Number)).toEqual(argmax);
  });

  it('TRANSPOSE_CONV (stride 2, SAME) matches the reference', async () => {
    const x: Nhwc = { shape: [1, 3, 4, 2], data: rand(24) };
    const w = { shape: [3, 3, 3, 2], data: rand(54) };
    const expected = transposeConv(x, w, null, [2, 2], 6, 8);
    const spec: ModelSpec = {
      tensors: [
        { shape: [4], type: T.INT32, data: Int32Array.from(expected.shape) },
        { shape: w.shape, data: w.data },
        { shape: x.shape },
        { shape: expected.shape },
      ],
      inputs: [2],
      outputs: [3],
      operators: [
        {
          builtin: 67,
          inputs: [0, 1, 2],
          outputs: [3],
          optionsType: 49,
          options: options(3, [
            [0, 'i8', 0],
            [1, 'i32', 2],
            [2, 'i32', 2],
          ]),
        },
      ],
    };
    expectClose(await runImported(spec, x.data), expected.data);
  });

  it('the custom Convolution2DTransposeBias (kernel 2, stride 2, 12 raw option bytes)', async () => {
    const x: Nhwc = { shape: [1, 4, 5, 3], data: rand(60) };
    const w = { shape: [2, 2, 2, 3], data: rand(24) };
    const bias = rand(2);
    const expected = transposeConv(x, w, bias, [2, 2], 8, 10);
    const raw = new Uint8Array(new Int32Array([1, 2, 2]).buffer); // padding SAME (1 in this enum), stride_w, stride_h
    const spec: ModelSpec = {
      tensors: [
        { shape: x.shape },
        { shape: w.shape, data: w.data },
        { shape: [2], data: bias },
        { shape: expected.shape },
      ],
      inputs: [0],
      outputs: [3],
      operators: [
        { builtin: 32, custom: 'Convolution2DTransposeBias', inputs: [0, 1, 2], outputs: [3], customOptions: raw },
      ],
    };
    expectClose(await runImported(spec, x.data), expected.data);
  });
});

function halfBack(h: number): number {
  const exponent = (h >> 10) & 0x1f;
  const value = exponent === 0 ? 2 ** -14 * ((h & 0x3ff) / 1024) : 2 ** (exponent - 15) * (1 + (h & 0x3ff) / 1024);
  return h & 0x8000 ? -value : value;
}
