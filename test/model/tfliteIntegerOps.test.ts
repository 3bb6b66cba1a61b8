/**
 * importTflite(…, { tfliteArithmetic: true }): quantized operators in TFLite's own integer
 * arithmetic. Each case computes TFLite's arithmetic here, in the test's own words (BigInt
 * fixed point, float32 steps via Math.fround), and wants every value equal — not within a step.
 * That these formulas are TFLite's was measured against its interpreter (tools/tflite-cross-check.mjs
 * --tflite-arithmetic: 100% of labels on four real int8 graphs).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../core/errors.js';
import { seededRandom } from '../../model/onnxGraph.js';
import { type ImportOptions, importTflite } from '../../model/tflite/importTflite.js';
import { runCli, tempDir } from '../helpers/fixtures.js';
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

const random = seededRandom(41);
const f = Math.fround;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const roundHalfAway = (v: number) => Math.sign(v) * Math.round(Math.abs(v));

/** TFLite's fixed-point multiplier (QuantizeMultiplier) and MultiplyByQuantizedMultiplier, written out. */
function tfliteMultiply(x: number, real: number, half: 'away' | 'up'): number {
  let exponent = Math.ceil(Math.log2(real));
  if (real / 2 ** exponent === 1) exponent += 1;
  let fixed = BigInt(Math.round((real / 2 ** exponent) * 2 ** 31));
  if (fixed === 1n << 31n) {
    fixed = 1n << 30n;
    exponent += 1;
  }
  const product = BigInt(x * 2 ** Math.max(exponent, 0)) * fixed;
  const high = (product + (product >= 0n ? 1n << 30n : 1n - (1n << 30n))) / (1n << 31n);
  const right = BigInt(Math.max(-exponent, 0));
  if (right === 0n) return Number(high);
  const floor = high >> right; // arithmetic shift: floor
  const remainder = high - (floor << right);
  const halfway = 1n << (right - 1n);
  const up = half === 'up' || high >= 0n ? remainder >= halfway : remainder > halfway;
  return Number(floor + (up ? 1n : 0n));
}

/** The imported graph's outputs, unoptimised and fully optimised (both must hold). */
async function run(
  spec: ModelSpec,
  input: Uint8Array | Float32Array,
  options: ImportOptions = {},
): Promise<Float32Array[]> {
  const onnx = importTflite(buildTflite(spec), 'model.tflite', { ...options, tfliteArithmetic: true });
  const shape = spec.tensors[spec.inputs[0]!]!.shape;
  const results: Float32Array[] = [];
  for (const graphOptimizationLevel of ['disabled', 'all'] as const) {
    const session = await ort.InferenceSession.create(onnx, { graphOptimizationLevel });
    const tensor =
      input instanceof Uint8Array ? new ort.Tensor('uint8', input, shape) : new ort.Tensor('float32', input, shape);
    results.push(
      (await session.run({ [session.inputNames[0]!]: tensor }))[session.outputNames[0]!]!.data as Float32Array,
    );
  }
  return results;
}

const codes = (values: Float32Array, q: QuantSpec) =>
  Array.from(values, (v) => Math.round(v / q.scale[0]!) + q.zeroPoint[0]!);
const share = (a: readonly number[], b: readonly number[]) => a.filter((v, i) => v === b[i]).length / a.length;

const convOptions = options(6, [
  [0, 'i8', 0],
  [1, 'i32', 1],
  [2, 'i32', 1],
  [3, 'i8', 0],
  [4, 'i32', 1],
  [5, 'i32', 1],
]);
const depthwiseOptions = options(7, [
  [0, 'i8', 0],
  [1, 'i32', 1],
  [2, 'i32', 1],
  [3, 'i32', 1],
  [4, 'i8', 0],
  [5, 'i32', 1],
  [6, 'i32', 1],
]);

describe("importTflite with TFLite's integer arithmetic", () => {
  it('rounds a negative half up in CONV_2D and away from zero in DEPTHWISE_CONV_2D, as TFLite does on x86', async () => {
    // Multiplier 0.26: TFLite shifts right by 1 after its fixed-point multiply, so halves are common.
    const [side, channels] = [12, 4];
    // Scales as the file stores them (float32); a uint8 graph's multiplier has a float32 product.
    const inQ: QuantSpec = { scale: [1 / 128], zeroPoint: [128] };
    const wQ: QuantSpec = { scale: [f(0.05)], zeroPoint: [120] };
    const outQ: QuantSpec = { scale: [f((inQ.scale[0]! * wQ.scale[0]!) / 0.26)], zeroPoint: [128] };
    const real = f(inQ.scale[0]! * wQ.scale[0]!) / outQ.scale[0]!;
    const x = Uint8Array.from({ length: side * side * channels }, () => 100 + Math.floor(random() * 57));
    const bias = Int32Array.from({ length: channels }, (_, c) => -300 + c * 97);
    for (const depthwise of [false, true]) {
      const w = Uint8Array.from(
        { length: 9 * channels * (depthwise ? 1 : channels) },
        () => 110 + Math.floor(random() * 21),
      );
      const sums: number[] = [];
      for (let y = 0; y < side; y++)
        for (let xx = 0; xx < side; xx++)
          for (let o = 0; o < channels; o++) {
            let acc = bias[o]!;
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const [iy, ix] = [y - 1 + ky, xx - 1 + kx];
                if (iy < 0 || iy >= side || ix < 0 || ix >= side) continue;
                const pixel = (iy * side + ix) * channels;
                if (depthwise) acc += (x[pixel + o]! - 128) * (w[(ky * 3 + kx) * channels + o]! - 120);
                else
                  for (let c = 0; c < channels; c++)
                    acc += (x[pixel + c]! - 128) * (w[((o * 3 + ky) * 3 + kx) * channels + c]! - 120);
              }
            sums.push(acc);
          }
      const rounded = (half: 'away' | 'up') => sums.map((s) => clamp(tfliteMultiply(s, real, half) + 128, 0, 255));
      const [expected, other] = depthwise ? [rounded('away'), rounded('up')] : [rounded('up'), rounded('away')];
      expect(share(expected, other)).toBeLessThan(0.9); // the case tells the two roundings apart
      const spec: ModelSpec = {
        tensors: [
          { shape: [1, side, side, channels], type: T.UINT8, quantization: inQ },
          {
            shape: depthwise ? [1, 3, 3, channels] : [channels, 3, 3, channels],
            type: T.UINT8,
            data: w,
            quantization: wQ,
          },
          {
            shape: [channels],
            type: T.INT32,
            data: bias,
            quantization: { scale: [inQ.scale[0]! * wQ.scale[0]!], zeroPoint: [0] },
          },
          { shape: [1, side, side, channels], type: T.UINT8, quantization: outQ },
        ],
        inputs: [0],
        outputs: [3],
        operators: [
          depthwise
            ? { builtin: 4, inputs: [0, 1, 2], outputs: [3], optionsType: 2, options: depthwiseOptions }
            : { builtin: 3, inputs: [0, 1, 2], outputs: [3], optionsType: 1, options: convOptions },
        ],
      };
      for (const out of await run(spec, x)) expect(codes(out, outQ)).toEqual(expected);
    }
  });

  it('int8 per-channel CONV_2D behind QUANTIZE: multipliers per channel from a product in double, one shifting right by 16', async () => {
    const [side, inC, outC] = [6, 3, 5];
    const inQ: QuantSpec = { scale: [f(0.02)], zeroPoint: [-3] };
    // 0.00002: a multiplier of 1.3·10^-5, past what float64 requantizes exactly (the int64 path).
    const wQ: QuantSpec = { scale: [0.011, 0.007, 0.023, 0.00002, 0.017].map(f), zeroPoint: [0, 0, 0, 0, 0], axis: 0 };
    const outQ: QuantSpec = { scale: [f(0.03)], zeroPoint: [5] };
    const xCodes = Int8Array.from({ length: side * side * inC }, () => -128 + Math.floor(random() * 256));
    const x = Float32Array.from(xCodes, (q) => inQ.scale[0]! * (q - inQ.zeroPoint[0]!));
    const w = Int8Array.from({ length: outC * inC }, () => -127 + Math.floor(random() * 255));
    const expected = Array.from({ length: side * side * outC }, (_, i) => {
      const [p, o] = [Math.floor(i / outC), i % outC];
      let acc = 0;
      for (let c = 0; c < inC; c++) acc += (xCodes[p * inC + c]! - inQ.zeroPoint[0]!) * w[o * inC + c]!;
      const real = (inQ.scale[0]! * wQ.scale[o]!) / outQ.scale[0]!;
      return clamp(tfliteMultiply(acc, real, 'up') + outQ.zeroPoint[0]!, -128, 127);
    });
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, side, side, inC] },
        { shape: [1, side, side, inC], type: T.INT8, quantization: inQ },
        { shape: [outC, 1, 1, inC], type: T.INT8, data: w, quantization: wQ },
        { shape: [1, side, side, outC], type: T.INT8, quantization: outQ },
      ],
      inputs: [0],
      outputs: [3],
      operators: [
        { builtin: 114, inputs: [0], outputs: [1] },
        { builtin: 3, inputs: [1, 2, -1], outputs: [3], optionsType: 1, options: convOptions },
      ],
    };
    for (const out of await run(spec, x)) expect(codes(out, outQ)).toEqual(expected);
  });

  it('QUANTIZE of a float input rounds halves away from zero, as TFLite does (not to even)', async () => {
    const outQ: QuantSpec = { scale: [0.5], zeroPoint: [-3] };
    // Exact halves of a step, both signs, and a clamp at each end.
    const x = Float32Array.from([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 0.1, -0.1, 100, -100, 63.25, -62.25]);
    const expected = Array.from(x, (v) => clamp(roundHalfAway(v / 0.5) - 3, -128, 127));
    expect(expected.slice(0, 6)).toEqual([-2, -1, 0, -4, -5, -6]); // half to even would give -3, -1, -1, -3, -5, -5
    const spec: ModelSpec = {
      tensors: [{ shape: [1, 1, 12, 1] }, { shape: [1, 1, 12, 1], type: T.INT8, quantization: outQ }],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 114, inputs: [0], outputs: [1] }],
    };
    for (const out of await run(spec, x)) expect(codes(out, outQ)).toEqual(expected);
  });

  it('ADD: every pair of uint8 codes as TFLite adds them (20-bit left shift, three rescalings), with a fused RELU', async () => {
    const aQ: QuantSpec = { scale: [f(0.04)], zeroPoint: [128] };
    const bQ: QuantSpec = { scale: [f(0.07)], zeroPoint: [90] };
    const outQ: QuantSpec = { scale: [f(0.05)], zeroPoint: [100] };
    const a = Uint8Array.from({ length: 65536 }, (_, i) => i >> 8);
    const b = Uint8Array.from({ length: 65536 }, (_, i) => i & 255);
    const twiceMax = 2 * Math.max(aQ.scale[0]!, bQ.scale[0]!);
    const expected = Array.from({ length: 65536 }, (_, i) => {
      const sa = tfliteMultiply((a[i]! - 128) * 2 ** 20, aQ.scale[0]! / twiceMax, 'away');
      const sb = tfliteMultiply((b[i]! - 90) * 2 ** 20, bQ.scale[0]! / twiceMax, 'away');
      const out = tfliteMultiply(sa + sb, twiceMax / (2 ** 20 * outQ.scale[0]!), 'away') + 100;
      return clamp(out, 100, 255); // RELU: from the zero point up
    });
    const shape = [1, 256, 256, 1];
    const spec = oneOperatorModel(
      { shape, type: T.UINT8, quantization: aQ },
      [{ shape, type: T.UINT8, data: b, quantization: bQ }],
      { shape, type: T.UINT8, quantization: outQ },
      { builtin: 0, optionsType: 11, options: options(1, [[0, 'i8', 1]]) }, // ADD with a fused RELU
    );
    for (const out of await run(spec, a)) expect(codes(out, outQ)).toEqual(expected);
  });

  it('QUANTIZE to a finer grid, AVERAGE_POOL_2D with SAME padding, CONCATENATION that rescales, RESIZE_BILINEAR', async () => {
    const [side, channels] = [5, 2];
    const q: QuantSpec = { scale: [f(0.1)], zeroPoint: [10] };
    const fine: QuantSpec = { scale: [f(0.037)], zeroPoint: [3] };
    const joinedQ: QuantSpec = { scale: [f(0.06)], zeroPoint: [7] };
    const x = Uint8Array.from({ length: side * side * channels }, () => Math.floor(random() * 256));
    // QUANTIZE: Requantize, input minus its zero point times the fixed-point ratio of scales.
    const requantized = Array.from(x, (v) =>
      clamp(tfliteMultiply(v - 10, q.scale[0]! / fine.scale[0]!, 'away') + 3, 0, 255),
    );
    // AVERAGE_POOL_2D 3×3, stride 1, SAME: (sum + count/2) / count over the real pixels.
    const pooled = Array.from(x, (_, i) => {
      const [p, c] = [Math.floor(i / channels), i % channels];
      const [py, px] = [Math.floor(p / side), p % side];
      let [sum, count] = [0, 0];
      for (let y = Math.max(py - 1, 0); y <= Math.min(py + 1, side - 1); y++)
        for (let xx = Math.max(px - 1, 0); xx <= Math.min(px + 1, side - 1); xx++) {
          sum += requantized[(y * side + xx) * channels + c]!;
          count++;
        }
      return Math.floor((sum + Math.floor(count / 2)) / count);
    });
    // CONCATENATION onto the joined grid: round(code · scale + bias) in float32, half away from zero.
    const rescale = (values: readonly number[], from: QuantSpec) => {
      const scale = f(from.scale[0]! * f(1 / joinedQ.scale[0]!));
      const bias = f(-from.zeroPoint[0]! * scale);
      return values.map((v) => clamp(roundHalfAway(f(f(v * scale) + bias)) + joinedQ.zeroPoint[0]!, 0, 255));
    };
    const [left, right] = [rescale(Array.from(x), q), rescale(pooled, fine)];
    const joined = Array.from({ length: side * side * channels * 2 }, (_, i) => {
      const [p, c] = [Math.floor(i / (2 * channels)), i % (2 * channels)];
      return c < channels ? left[p * channels + c]! : right[p * channels + c - channels]!;
    });
    // RESIZE_BILINEAR 5 → 8, align corners: float32 weights, ((a·w0 + b·w1) + c·w2) + d·w3 + 0.5, truncated.
    const out = 8;
    const ratio = f((side - 1) / (out - 1));
    const expected: number[] = [];
    for (let oy = 0; oy < out; oy++)
      for (let ox = 0; ox < out; ox++) {
        const [ry, rx] = [f(oy * ratio), f(ox * ratio)];
        const [y0, x0] = [Math.floor(ry), Math.floor(rx)];
        const [y1, x1] = [Math.min(Math.ceil(ry), side - 1), Math.min(Math.ceil(rx), side - 1)];
        const [dy, dx] = [f(ry - y0), f(rx - x0)];
        const weights = [f(f(1 - dy) * f(1 - dx)), f(f(1 - dy) * dx), f(dy * f(1 - dx)), f(dy * dx)];
        const corners = [y0 * side + x0, y0 * side + x1, y1 * side + x0, y1 * side + x1];
        for (let c = 0; c < 2 * channels; c++) {
          let sum = f(joined[corners[0]! * 2 * channels + c]! * weights[0]!);
          for (let k = 1; k < 4; k++) sum = f(sum + f(joined[corners[k]! * 2 * channels + c]! * weights[k]!));
          expected.push(Math.floor(f(sum + 0.5)));
        }
      }
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, side, side, channels], type: T.UINT8, quantization: q },
        { shape: [1, side, side, channels], type: T.UINT8, quantization: fine },
        { shape: [1, side, side, channels], type: T.UINT8, quantization: fine },
        { shape: [1, side, side, 2 * channels], type: T.UINT8, quantization: joinedQ },
        { shape: [2], type: T.INT32, data: Int32Array.from([out, out]) },
        { shape: [1, out, out, 2 * channels], type: T.UINT8, quantization: joinedQ },
      ],
      inputs: [0],
      outputs: [5],
      operators: [
        { builtin: 114, inputs: [0], outputs: [1] },
        {
          builtin: 1,
          inputs: [1],
          outputs: [2],
          ...poolOptions(0, 1, 3),
        },
        { builtin: 2, inputs: [0, 2], outputs: [3], optionsType: 10, options: options(2, [[0, 'i32', 3]]) },
        { builtin: 23, inputs: [3, 4], outputs: [5], optionsType: 15, options: options(4, [[2, 'bool', 1]]) },
      ],
    };
    expect(share(left, Array.from(x))).toBeLessThan(0.5); // the concatenation does rescale
    // The align-corners upsampling kept (by default a graph's last one is cut: scores at their own size).
    for (const got of await run(spec, x, { keepScoreResize: true })) expect(codes(got, joinedQ)).toEqual(expected);
  });

  it('a float CONV_2D reading int8 weights (a hybrid graph): the input quantized per image to int8, then float32 steps', async () => {
    const [side, inC, outC] = [5, 3, 4];
    const x = Float32Array.from({ length: side * side * inC }, () => f(random() * 6 - 2));
    const w = Int8Array.from({ length: outC * inC }, () => -127 + Math.floor(random() * 255));
    const wScale = f(0.013);
    const bias = Float32Array.from({ length: outC }, () => f(random() - 0.5));
    const range = Math.max(...Array.from(x, Math.abs));
    const [scale, inverse] = [f(range / 127), f(127 / range)];
    const q = Array.from(x, (v) => clamp(roundHalfAway(f(v * inverse)), -127, 127));
    const expected = Array.from({ length: side * side * outC }, (_, i) => {
      const [p, o] = [Math.floor(i / outC), i % outC];
      let dot = 0;
      for (let c = 0; c < inC; c++) dot += q[p * inC + c]! * w[o * inC + c]!;
      return f(f(dot * f(scale * wScale)) + bias[o]!);
    });
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, side, side, inC] },
        { shape: [outC, 1, 1, inC], type: T.INT8, data: w, quantization: { scale: [wScale], zeroPoint: [0] } },
        { shape: [outC], data: bias },
        { shape: [1, side, side, outC] },
      ],
      inputs: [0],
      outputs: [3],
      operators: [{ builtin: 3, inputs: [0, 1, 2], outputs: [3], optionsType: 1, options: convOptions }],
    };
    for (const out of await run(spec, x)) expect(Array.from(out)).toEqual(expected);
  });

  it('names a quantized operator it cannot compute as TFLite does, in one line', () => {
    const q: QuantSpec = { scale: [0.1], zeroPoint: [0] };
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 4, 4, 1], type: T.UINT8, quantization: q },
        { shape: [1, 4, 4, 1], type: T.UINT8, quantization: q },
      ],
      inputs: [0],
      outputs: [1],
      operators: [{ builtin: 14, inputs: [0], outputs: [1] }],
    };
    expect(() => importTflite(buildTflite(spec), 'm.tflite', { tfliteArithmetic: true })).toThrow(
      new ModelError(
        "TFLite's integer arithmetic for a quantized LOGISTIC (operator #0) is not implemented: import the graph without it",
      ),
    );
    expect(() => importTflite(buildTflite(spec), 'm.tflite')).not.toThrow();
    // A scale TFLite's arithmetic cannot take (the file is untrusted): one line, not a RangeError.
    const zeroScale: ModelSpec = {
      ...spec,
      tensors: [spec.tensors[0]!, { ...spec.tensors[1]!, quantization: { scale: [0], zeroPoint: [0] } }],
      operators: [{ builtin: 0, inputs: [0, 0], outputs: [1], optionsType: 11, options: options(1, [[0, 'i8', 0]]) }],
    };
    expect(() => importTflite(buildTflite(zeroScale), 'm.tflite', { tfliteArithmetic: true })).toThrow(
      new ModelError(`TFLite tensor "t1" has scale 0: a quantized tensor's scales must be positive and finite`),
    );
  });

  it('import --tflite-arithmetic writes the graph, and names what it cannot compute with exit 3', async () => {
    const q: QuantSpec = { scale: [0.1], zeroPoint: [0] };
    const tensors = [
      { shape: [1, 4, 4, 1], type: T.UINT8, quantization: q },
      { shape: [1, 4, 4, 1], type: T.UINT8, quantization: q },
    ];
    const { dir, cleanup } = tempDir('dls-tflite-arithmetic-');
    try {
      const write = (name: string, builtin: number) => {
        const file = path.join(dir, `${name}.tflite`);
        writeFileSync(
          file,
          buildTflite({ tensors, inputs: [0], outputs: [1], operators: [{ builtin, inputs: [0], outputs: [1] }] }),
        );
        return file;
      };
      const importOf = (name: string, builtin: number) =>
        runCli(['import', write(name, builtin), '-o', path.join(dir, `${name}.onnx`), '--tflite-arithmetic']);
      const ok = await importOf('quantize', 114);
      expect(ok.code).toBe(0);
      expect(existsSync(path.join(dir, 'quantize.onnx'))).toBe(true);
      const refused = await importOf('logistic', 14);
      expect(refused.code).toBe(3);
      expect(refused.stderr.trim()).toBe(
        "error: TFLite's integer arithmetic for a quantized LOGISTIC (operator #0) is not implemented: import the graph without it",
      );
      expect(existsSync(path.join(dir, 'logistic.onnx'))).toBe(false);
    } finally {
      cleanup();
    }
  });
});
