/**
 * importTflite(…, { tfliteArithmetic: true }) on float operators: sums taken in the order TFLite's
 * kernels take them, every product and partial sum rounded to float32. Each case writes that
 * order out here with Math.fround and wants every value equal; each also checks that another
 * order gives other values on the case's data, so the test would see a wrong order. That these
 * orders are TFLite's was measured against its interpreter (from its own inputs, every value;
 * tools/tflite-cross-check.mjs --tflite-arithmetic on the hybrid ADE20K graph: 100% of labels).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../core/errors.js';
import { seededRandom } from '../../model/onnxGraph.js';
import { type ImportOptions, importTflite } from '../../model/tflite/importTflite.js';
import { buildTflite, type ModelSpec, oneOperatorModel, options, poolOptions, T } from '../helpers/tfliteBuilder.js';

const random = seededRandom(7);
const f = Math.fround;
/** Values over four decades, both signs: sums of them round differently in different orders. */
const spread = (length: number) => Float32Array.from({ length }, () => f((random() - 0.5) * 10 ** (random() * 4 - 2)));
const share = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).filter((v, i) => v === b[i]).length / a.length;
/** Float32 terms added left to right, each product and sum rounded. */
const inOrder = (start: number, terms: readonly (readonly [number, number])[]) =>
  terms.reduce((sum, [x, w]) => f(sum + f(x * w)), start);

async function run(spec: ModelSpec, input: Float32Array, importOptions: ImportOptions = {}): Promise<Float32Array[]> {
  const onnx = importTflite(buildTflite(spec), 'model.tflite', { ...importOptions, tfliteArithmetic: true });
  const results: Float32Array[] = [];
  for (const graphOptimizationLevel of ['disabled', 'all'] as const) {
    const session = await ort.InferenceSession.create(onnx, { graphOptimizationLevel });
    const tensor = new ort.Tensor('float32', input, spec.tensors[spec.inputs[0]!]!.shape);
    results.push(
      (await session.run({ [session.inputNames[0]!]: tensor }))[session.outputNames[0]!]!.data as Float32Array,
    );
  }
  return results;
}

/** The in-bounds taps of a window: [input pixel, tap index] in (ky, kx) order. */
function window(
  side: number,
  [oy, ox]: [number, number],
  { kernel, stride, dilation, pad }: { kernel: number; stride: number; dilation: number; pad: number },
): [number, number][] {
  const taps: [number, number][] = [];
  for (let ky = 0; ky < kernel; ky++)
    for (let kx = 0; kx < kernel; kx++) {
      const [iy, ix] = [oy * stride - pad + ky * dilation, ox * stride - pad + kx * dilation];
      if (iy >= 0 && iy < side && ix >= 0 && ix < side) taps.push([iy * side + ix, ky * kernel + kx]);
    }
  return taps;
}

describe("importTflite with TFLite's order of float summation", () => {
  it('CONV_2D: 0 + x·w over (ky, kx, input channel), then + bias; no fused multiply-add', async () => {
    const [side, inC, outC, out] = [9, 3, 4, 5]; // 3×3, stride 2, SAME
    const x = spread(side * side * inC);
    const w = spread(outC * 9 * inC);
    const bias = spread(outC).map((v) => v * 30);
    const sums = (bias0: boolean, fused: boolean) =>
      Array.from({ length: out * out * outC }, (_, i) => {
        const [p, o] = [Math.floor(i / outC), i % outC];
        const terms = window(side, [Math.floor(p / out), p % out], {
          kernel: 3,
          stride: 2,
          dilation: 1,
          pad: 1,
        }).flatMap(([pixel, tap]) =>
          Array.from({ length: inC }, (_, c) => [x[pixel * inC + c]!, w[(o * 9 + tap) * inC + c]!] as const),
        );
        if (fused) return f(terms.reduce((sum, [a, b]) => f(sum + a * b), 0) + bias[o]!);
        return bias0 ? inOrder(bias[o]!, terms) : f(inOrder(0, terms) + bias[o]!);
      });
    const expected = sums(false, false);
    expect(share(expected, sums(true, false))).toBeLessThan(0.9);
    expect(share(expected, sums(false, true))).toBeLessThan(0.9);
    const spec = oneOperatorModel(
      { shape: [1, side, side, inC] },
      [
        { shape: [outC, 3, 3, inC], data: w },
        { shape: [outC], data: bias },
      ],
      { shape: [1, out, out, outC] },
      {
        builtin: 3,
        optionsType: 1,
        options: options(6, [
          [0, 'i8', 0],
          [1, 'i32', 2],
          [2, 'i32', 2],
        ]),
      },
    );
    for (const got of await run(spec, x)) expect(Array.from(got)).toEqual(expected);
  });

  it('DEPTHWISE_CONV_2D (dilated, two outputs per channel): bias + x·w over (ky, kx), with a fused RELU6', async () => {
    const [side, inC, multiplier] = [8, 3, 2];
    const outC = inC * multiplier;
    const x = spread(side * side * inC).map((v) => v + 1);
    const w = spread(9 * outC);
    const bias = spread(outC).map((v) => v * 10 + 1);
    const geometry = { kernel: 3, stride: 1, dilation: 2, pad: 2 }; // SAME
    const sums = (biasFirst: boolean) =>
      Array.from({ length: side * side * outC }, (_, i) => {
        const [p, o] = [Math.floor(i / outC), i % outC];
        const terms = window(side, [Math.floor(p / side), p % side], geometry).map(
          ([pixel, tap]) => [x[pixel * inC + Math.floor(o / multiplier)]!, w[tap * outC + o]!] as const,
        );
        const sum = biasFirst ? inOrder(bias[o]!, terms) : f(inOrder(0, terms) + bias[o]!);
        return Math.min(6, Math.max(0, sum));
      });
    const expected = sums(true);
    expect(share(expected, sums(false))).toBeLessThan(0.9);
    const spec = oneOperatorModel(
      { shape: [1, side, side, inC] },
      [
        { shape: [1, 3, 3, outC], data: w },
        { shape: [outC], data: bias },
      ],
      { shape: [1, side, side, outC] },
      {
        builtin: 4,
        optionsType: 2,
        options: options(7, [
          [0, 'i8', 0],
          [1, 'i32', 1],
          [2, 'i32', 1],
          [3, 'i32', multiplier],
          [4, 'i8', 3],
          [5, 'i32', 2],
          [6, 'i32', 2],
        ]),
      },
    );
    for (const got of await run(spec, x)) expect(Array.from(got)).toEqual(expected);
  });

  it('AVERAGE_POOL_2D: the window pixels in row order from 0, then / their count — over the whole image and in SAME windows', async () => {
    const [side, channels] = [7, 8];
    const x = spread(side * side * channels);
    const pool = (kernel: number, stride: number, pad: number, out: number, wide: boolean) =>
      Array.from({ length: out * out * channels }, (_, i) => {
        const [p, c] = [Math.floor(i / channels), i % channels];
        const taps = window(side, [Math.floor(p / out), p % out], { kernel, stride, dilation: 1, pad });
        const sum = wide
          ? f(taps.reduce((s, [pixel]) => s + x[pixel * channels + c]!, 0)) // float64, rounded once
          : taps.reduce((s, [pixel]) => f(s + x[pixel * channels + c]!), 0);
        return f(sum / taps.length);
      });
    const cases = [
      { kernel: side, stride: 1, pad: 0, out: 1, padding: 1 as const }, // the whole image (VALID)
      { kernel: 3, stride: 2, pad: 1, out: 4, padding: 0 as const }, // SAME: corner windows hold 4 pixels
    ];
    for (const { kernel, stride, pad, out, padding } of cases) {
      const expected = pool(kernel, stride, pad, out, false);
      expect(share(expected, pool(kernel, stride, pad, out, true))).toBeLessThan(0.95);
      const spec = oneOperatorModel(
        { shape: [1, side, side, channels] },
        [],
        { shape: [1, out, out, channels] },
        {
          builtin: 1,
          ...poolOptions(padding, stride, kernel),
        },
      );
      for (const got of await run(spec, x)) expect(Array.from(got)).toEqual(expected);
    }
  });

  it('RESIZE_BILINEAR of float values: (((a·w00 + b·w01) + c·w10) + d·w11), not a lerp', async () => {
    const [side, channels, out] = [4, 3, 7];
    const x = spread(side * side * channels);
    for (const [alignCorners, halfPixel] of [
      [true, false],
      [false, true],
    ] as const) {
      const scale = alignCorners ? f((side - 1) / (out - 1)) : f(side / out);
      const at = (v: number) => (halfPixel ? f(f(f(v + 0.5) * scale) - 0.5) : f(v * scale));
      const resized = (lerp: boolean) => {
        const values: number[] = [];
        for (let oy = 0; oy < out; oy++)
          for (let ox = 0; ox < out; ox++) {
            const [ry, rx] = [at(oy), at(ox)];
            const [y0, x0] = [Math.max(Math.floor(ry), 0), Math.max(Math.floor(rx), 0)];
            const [y1, x1] = [Math.min(Math.ceil(ry), side - 1), Math.min(Math.ceil(rx), side - 1)];
            const [dy, dx] = [f(ry - y0), f(rx - x0)];
            for (let c = 0; c < channels; c++) {
              const v = (y: number, xx: number) => x[(y * side + xx) * channels + c]!;
              if (lerp) {
                const top = f(v(y0, x0) + f(f(v(y0, x1) - v(y0, x0)) * dx));
                const bottom = f(v(y1, x0) + f(f(v(y1, x1) - v(y1, x0)) * dx));
                values.push(f(top + f(f(bottom - top) * dy)));
              } else
                values.push(
                  inOrder(0, [
                    [v(y0, x0), f(f(1 - dy) * f(1 - dx))],
                    [v(y0, x1), f(f(1 - dy) * dx)],
                    [v(y1, x0), f(dy * f(1 - dx))],
                    [v(y1, x1), f(dy * dx)],
                  ]),
                );
            }
          }
        return values;
      };
      const expected = resized(false);
      expect(share(expected, resized(true))).toBeLessThan(0.9);
      const spec = oneOperatorModel(
        { shape: [1, side, side, channels] },
        [{ shape: [2], type: T.INT32, data: Int32Array.from([out, out]) }],
        { shape: [1, out, out, channels] },
        {
          builtin: 23,
          optionsType: 15,
          options: options(4, [
            [2, 'bool', alignCorners ? 1 : 0],
            [3, 'bool', halfPixel ? 1 : 0],
          ]),
        },
      );
      for (const got of await run(spec, x, { keepScoreResize: true })) expect(Array.from(got)).toEqual(expected);
    }
  });

  it('refuses, in one line, a sum too long to unroll', () => {
    const side = 600; // a global average of 360,000 pixels
    const spec = oneOperatorModel(
      { shape: [1, side, side, 1] },
      [],
      { shape: [1, 1, 1, 1] },
      {
        builtin: 1,
        ...poolOptions(1, 1, side),
      },
    );
    expect(() => importTflite(buildTflite(spec), 'm.tflite', { tfliteArithmetic: true })).toThrow(
      new ModelError(
        `a 600×600 average is too long a sum to take in TFLite's order (over 262144 terms): import the graph without TFLite's arithmetic`,
      ),
    );
    expect(() => importTflite(buildTflite(spec), 'm.tflite')).not.toThrow();
  });
});
