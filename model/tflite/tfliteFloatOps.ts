/**
 * TFLite's float kernels' order of summation, for the import's TFLite arithmetic: float32 sums
 * round at every step, so a sum taken in another order differs in its last bits, and where a
 * hybrid convolution quantizes that value to int8 next (ADE20K's 150-class graph) the last bit
 * can move a step. Each product and each partial sum here is one float32 ONNX op, in the order of
 * TFLite's builtin x86 kernels (measured against the interpreter from its own inputs, every value):
 *
 *   CONV_2D            0 + x·w over (ky, kx, input channel) in that order, then + bias
 *   DEPTHWISE_CONV_2D  bias + x·w over (ky, kx)
 *   AVERAGE_POOL_2D    0 + the window's pixels in row order, then / their count
 *   RESIZE_BILINEAR    (((a·w00 + b·w01) + c·w10) + d·w11), the weights as TFLite computes them
 *
 * No fused multiply-add: TFLite's kernels round the product first. Padding adds zeros, which
 * leaves a sum as it is, so a padded input stands for the kernels' skipped taps. Slow (one ONNX op
 * per step): for checking an import against the interpreter, not for streaming.
 */
import { ModelError } from '../../core/errors.js';
import { OnnxGraphBuilder } from '../onnxGraph.js';

const int = OnnxGraphBuilder.int;
const str = OnnxGraphBuilder.string;

/** An unrolled sum longer than this is refused rather than written as a graph of that many nodes. */
const MAX_TERMS = 262_144;

const tooLong = (what: string) =>
  new ModelError(
    `${what} is too long a sum to take in TFLite's order (over ${MAX_TERMS} terms): import the graph without TFLite's arithmetic`,
  );

/** A convolution's or pool's geometry on NCHW: [height, width] pairs, pads [top, left, bottom, right]. */
export interface WindowGeometry {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly pads: readonly number[];
  /** The output's [height, width]. */
  readonly output: readonly [number, number];
}

/** One of bilinear resizing's four corners for every output pixel: its input pixel (y·w + x) and weight. */
export interface BilinearCorner {
  readonly index: Int32Array;
  readonly weight: Float32Array;
}

/**
 * RESIZE_BILINEAR's corners as TFLite computes them (ComputeInterpolationValues, float32 steps):
 * [(y0, x0), (y0, x1), (y1, x0), (y1, x1)], in the order its kernels add them.
 */
export function bilinearCorners(
  [h, w]: readonly [number, number],
  [ho, wo]: readonly [number, number],
  alignCorners: boolean,
  halfPixel: boolean,
): BilinearCorner[] {
  const f = Math.fround;
  const scaleOf = (inSize: number, outSize: number) =>
    alignCorners && outSize > 1 ? f((inSize - 1) / (outSize - 1)) : f(inSize / outSize);
  const axis = (value: number, scale: number, size: number) => {
    const at = halfPixel ? f(f(f(value + 0.5) * scale) - 0.5) : f(value * scale);
    return { at, lower: Math.max(Math.floor(at), 0), upper: Math.min(Math.ceil(at), size - 1) };
  };
  const [sh, sw] = [scaleOf(h, ho), scaleOf(w, wo)];
  const corners = Array.from({ length: 4 }, () => ({
    index: new Int32Array(ho * wo),
    weight: new Float32Array(ho * wo),
  }));
  for (let oy = 0; oy < ho; oy++) {
    const ry = axis(oy, sh, h);
    const dy = f(ry.at - ry.lower);
    for (let ox = 0; ox < wo; ox++) {
      const rx = axis(ox, sw, w);
      const dx = f(rx.at - rx.lower);
      const p = oy * wo + ox;
      const set = (k: number, y: number, x: number, weight: number) => {
        corners[k]!.index[p] = y * w + x;
        corners[k]!.weight[p] = weight;
      };
      set(0, ry.lower, rx.lower, f(f(1 - dy) * f(1 - dx)));
      set(1, ry.lower, rx.upper, f(f(1 - dy) * dx));
      set(2, ry.upper, rx.lower, f(dy * f(1 - dx)));
      set(3, ry.upper, rx.upper, f(dy * dx));
    }
  }
  return corners;
}

export class TfliteFloatOps {
  constructor(private readonly g: OnnxGraphBuilder) {}

  private padded(x: string, pads: readonly number[]): string {
    const [top, left, bottom, right] = pads as [number, number, number, number];
    if (!(top || left || bottom || right)) return x;
    const all = [0, 0, top, left, 0, 0, bottom, right];
    return this.g.node1('Pad', [x, this.g.constantInt64(all)], [str('mode', 'constant')]);
  }

  /** Each kernel tap's window of the zero-padded input, (ky, kx) in row order: [N, C, OH, OW] each. */
  private taps(x: string, geometry: WindowGeometry): string[] {
    const { kernel, stride, dilation, output } = geometry;
    const input = this.padded(x, geometry.pads);
    const terms = kernel[0] * kernel[1];
    if (terms > MAX_TERMS) throw tooLong(`a ${kernel[0]}×${kernel[1]} window`);
    const windows: string[] = [];
    for (let ky = 0; ky < kernel[0]; ky++)
      for (let kx = 0; kx < kernel[1]; kx++) {
        const start = [ky * dilation[0], kx * dilation[1]];
        const end = [start[0]! + (output[0] - 1) * stride[0] + 1, start[1]! + (output[1] - 1) * stride[1] + 1];
        windows.push(
          this.g.node1('Slice', [
            input,
            this.g.constantInt64(start),
            this.g.constantInt64(end),
            this.g.constantInt64([2, 3]),
            this.g.constantInt64([...stride]),
          ]),
        );
      }
    return windows;
  }

  /**
   * CONV_2D: `x` NCHW, `weights` OHWI as TFLite stores them, `bias` one per output channel.
   * Every tap and input channel adds a [1, O, 1, 1] column of weights times one input plane.
   */
  conv(
    x: string,
    weights: Float32Array,
    shape: readonly number[],
    bias: Float32Array | null,
    geometry: WindowGeometry,
  ): string {
    const [outChannels, kh, kw, inChannels] = shape as [number, number, number, number];
    if (kh * kw * inChannels > MAX_TERMS) throw tooLong(`a convolution of ${kh * kw * inChannels} terms`);
    const products: string[] = [];
    this.taps(x, geometry).forEach((window, tap) => {
      const planes = inChannels > 1 ? this.g.node('Split', [window], [int('axis', 1)], inChannels) : [window];
      planes.forEach((plane, ic) => {
        const column = Float32Array.from(
          { length: outChannels },
          (_, oc) => weights[(oc * kh * kw + tap) * inChannels + ic]!,
        );
        products.push(this.g.node1('Mul', [plane, this.g.constantFloat(column, [1, outChannels, 1, 1], 'w')]));
      });
    });
    const sum = addInOrder(this.g, products);
    return bias ? this.g.node1('Add', [sum, this.g.constantFloat(bias, [1, outChannels, 1, 1], 'bias')]) : sum;
  }

  /**
   * DEPTHWISE_CONV_2D: `x` NCHW, `weights` [1, KH, KW, C·M] as TFLite stores them (output channel
   * o reads input channel ⌊o / M⌋); the bias starts the sum.
   */
  depthwiseConv(
    x: string,
    weights: Float32Array,
    shape: readonly number[],
    inChannels: number,
    bias: Float32Array | null,
    geometry: WindowGeometry,
  ): string {
    const outChannels = shape[3]!;
    const multiplier = outChannels / inChannels;
    const widened =
      multiplier === 1
        ? x
        : this.g.node1(
            'Gather',
            [
              x,
              this.g.constantInts(
                Int32Array.from({ length: outChannels }, (_, o) => Math.floor(o / multiplier)),
                [outChannels],
                'channel',
              ),
            ],
            [int('axis', 1)],
          );
    const products = this.taps(widened, geometry).map((window, tap) =>
      this.g.node1('Mul', [
        window,
        this.g.constantFloat(weights.slice(tap * outChannels, (tap + 1) * outChannels), [1, outChannels, 1, 1], 'w'),
      ]),
    );
    return addInOrder(
      this.g,
      bias ? [this.g.constantFloat(bias, [1, outChannels, 1, 1], 'bias'), ...products] : products,
    );
  }

  /**
   * AVERAGE_POOL_2D: each window's real (unpadded) pixels summed in row order, divided by their
   * count. A window over the whole image is summed pixel by pixel over a split of it.
   */
  averagePool(x: string, channels: number, input: readonly [number, number], geometry: WindowGeometry): string {
    const [h, w] = input;
    const { kernel, stride, pads, output } = geometry;
    const counts = new Float32Array(output[0] * output[1]);
    for (let oy = 0; oy < output[0]; oy++)
      for (let ox = 0; ox < output[1]; ox++) {
        const y0 = oy * stride[0] - pads[0]!;
        const x0 = ox * stride[1] - pads[1]!;
        const rows = Math.min(y0 + kernel[0], h) - Math.max(y0, 0);
        const cols = Math.min(x0 + kernel[1], w) - Math.max(x0, 0);
        counts[oy * output[1] + ox] = rows * cols;
      }
    const whole = output[0] === 1 && output[1] === 1 && kernel[0] >= h && kernel[1] >= w && pads.every((p) => p === 0);
    let sum: string;
    if (whole) {
      if (h * w > MAX_TERMS) throw tooLong(`a ${h}×${w} average`);
      const flat = this.g.node1('Reshape', [x, this.g.constantInt64([0, channels, h * w])]);
      const pixels = h * w > 1 ? this.g.node('Split', [flat], [int('axis', 2)], h * w) : [flat];
      sum = this.g.node1('Reshape', [addInOrder(this.g, pixels), this.g.constantInt64([0, channels, 1, 1])]);
    } else sum = addInOrder(this.g, this.taps(x, geometry));
    return this.g.node1('Div', [sum, this.g.constantFloat(counts, [1, 1, output[0], output[1]], 'count')]);
  }

  /** RESIZE_BILINEAR of NCHW float values: the four corners' terms added in TFLite's order. */
  resizeBilinear(
    x: string,
    [n, c, h, w]: readonly [number, number, number, number],
    outSize: readonly [number, number],
    alignCorners: boolean,
    halfPixel: boolean,
  ): string {
    const flat = this.g.node1('Reshape', [x, this.g.constantInt64([n, c, h * w])]);
    const summed = cornerSum(this.g, flat, bilinearCorners([h, w], outSize, alignCorners, halfPixel));
    return this.g.node1('Reshape', [summed, this.g.constantInt64([n, c, outSize[0], outSize[1]])]);
  }
}

/** [N, C, H·W] values → [N, C, HO·WO]: each corner's pixels times its weights, added in order. */
export function cornerSum(g: OnnxGraphBuilder, flat: string, corners: readonly BilinearCorner[]): string {
  const pixels = corners[0]!.index.length;
  const terms = corners.map(({ index, weight }) =>
    g.node1('Mul', [
      g.node1('Gather', [flat, g.constantInts(index, [pixels], 'corner')], [int('axis', 2)]),
      g.constantFloat(weight, [pixels], 'weight'),
    ]),
  );
  return addInOrder(g, terms);
}

/** Float terms added left to right, one Add each: ((t0 + t1) + t2) + … */
function addInOrder(g: OnnxGraphBuilder, terms: readonly string[]): string {
  return terms.slice(1).reduce((sum, term) => g.node1('Add', [sum, term]), terms[0]!);
}
