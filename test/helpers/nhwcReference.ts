/** Plain NHWC reference computations of TFLite ops, written from their definitions for tests. */

export interface Nhwc {
  shape: [number, number, number, number];
  data: Float32Array;
}

export const at = (t: Nhwc, n: number, y: number, x: number, c: number) =>
  t.data[((n * t.shape[1] + y) * t.shape[2] + x) * t.shape[3] + c]!;

/** TF SAME / VALID output size and pad-before. */
export function geometry(
  input: number,
  kernel: number,
  stride: number,
  dilation: number,
  same: boolean,
): { out: number; before: number } {
  const effective = (kernel - 1) * dilation + 1;
  if (!same) return { out: Math.floor((input - effective) / stride) + 1, before: 0 };
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + effective - input, 0);
  return { out, before: Math.floor(total / 2) };
}

export function activation(v: number, fused: number): number {
  if (fused === 1) return Math.max(v, 0);
  if (fused === 3) return Math.min(Math.max(v, 0), 6);
  return v;
}

/** CONV_2D / DEPTHWISE_CONV_2D: weights OHWI (conv) or 1HW(C·M) (depthwise). */
export function conv2d(
  x: Nhwc,
  w: { shape: number[]; data: Float32Array },
  bias: Float32Array | null,
  o: { stride: number[]; dilation: number[]; same: boolean; depthwise: boolean; fused: number },
): Nhwc {
  const [n, h, wd, c] = x.shape;
  const [kh, kw] = [w.shape[1]!, w.shape[2]!];
  const gy = geometry(h, kh, o.stride[0]!, o.dilation[0]!, o.same);
  const gx = geometry(wd, kw, o.stride[1]!, o.dilation[1]!, o.same);
  const outC = o.depthwise ? w.shape[3]! : w.shape[0]!;
  const out: Nhwc = { shape: [n, gy.out, gx.out, outC], data: new Float32Array(n * gy.out * gx.out * outC) };
  const multiplier = outC / c;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < gy.out; y++)
      for (let xx = 0; xx < gx.out; xx++)
        for (let oc = 0; oc < outC; oc++) {
          let sum = bias ? bias[oc]! : 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = y * o.stride[0]! - gy.before + ky * o.dilation[0]!;
              const ix = xx * o.stride[1]! - gx.before + kx * o.dilation[1]!;
              if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
              if (o.depthwise)
                sum += at(x, b, iy, ix, Math.floor(oc / multiplier)) * w.data[(ky * kw + kx) * outC + oc]!;
              else
                for (let ic = 0; ic < c; ic++)
                  sum += at(x, b, iy, ix, ic) * w.data[((oc * kh + ky) * kw + kx) * c + ic]!;
            }
          out.data[((b * gy.out + y) * gx.out + xx) * outC + oc] = activation(sum, o.fused);
        }
  return out;
}

export function pool(x: Nhwc, o: { kernel: number[]; stride: number[]; same: boolean; max: boolean }): Nhwc {
  const [n, h, w, c] = x.shape;
  const gy = geometry(h, o.kernel[0]!, o.stride[0]!, 1, o.same);
  const gx = geometry(w, o.kernel[1]!, o.stride[1]!, 1, o.same);
  const out: Nhwc = { shape: [n, gy.out, gx.out, c], data: new Float32Array(n * gy.out * gx.out * c) };
  for (let b = 0; b < n; b++)
    for (let y = 0; y < gy.out; y++)
      for (let xx = 0; xx < gx.out; xx++)
        for (let ch = 0; ch < c; ch++) {
          let acc = o.max ? -Infinity : 0;
          let count = 0;
          for (let ky = 0; ky < o.kernel[0]!; ky++)
            for (let kx = 0; kx < o.kernel[1]!; kx++) {
              const iy = y * o.stride[0]! - gy.before + ky;
              const ix = xx * o.stride[1]! - gx.before + kx;
              if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
              const v = at(x, b, iy, ix, ch);
              acc = o.max ? Math.max(acc, v) : acc + v;
              count += 1;
            }
          out.data[((b * gy.out + y) * gx.out + xx) * c + ch] = o.max ? acc : acc / count;
        }
  return out;
}

/** RESIZE_BILINEAR as TFLite defines it (half-pixel, align-corners or asymmetric). */
export function resizeBilinear(x: Nhwc, outH: number, outW: number, mode: 'half' | 'align' | 'asym'): Nhwc {
  const [n, h, w, c] = x.shape;
  const out: Nhwc = { shape: [n, outH, outW, c], data: new Float32Array(n * outH * outW * c) };
  const src = (o: number, inSize: number, outSize: number) => {
    if (mode === 'align') return outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
    if (mode === 'half') return Math.max((o + 0.5) * (inSize / outSize) - 0.5, 0);
    return o * (inSize / outSize);
  };
  for (let b = 0; b < n; b++)
    for (let y = 0; y < outH; y++)
      for (let xx = 0; xx < outW; xx++) {
        const sy = src(y, h, outH);
        const sx = src(xx, w, outW);
        const y0 = Math.min(Math.floor(sy), h - 1);
        const x0 = Math.min(Math.floor(sx), w - 1);
        const y1 = Math.min(y0 + 1, h - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const fy = sy - y0;
        const fx = sx - x0;
        for (let ch = 0; ch < c; ch++) {
          const top = at(x, b, y0, x0, ch) * (1 - fx) + at(x, b, y0, x1, ch) * fx;
          const bottom = at(x, b, y1, x0, ch) * (1 - fx) + at(x, b, y1, x1, ch) * fx;
          out.data[((b * outH + y) * outW + xx) * c + ch] = top * (1 - fy) + bottom * fy;
        }
      }
  return out;
}

/** Convolution2DTransposeBias / TRANSPOSE_CONV with SAME padding: weights OHWI. */
export function transposeConv(
  x: Nhwc,
  w: { shape: number[]; data: Float32Array },
  bias: Float32Array | null,
  stride: number[],
  outH: number,
  outW: number,
): Nhwc {
  const [n, h, wd, c] = x.shape;
  const [oc, kh, kw] = [w.shape[0]!, w.shape[1]!, w.shape[2]!];
  const padY = Math.floor(Math.max((h - 1) * stride[0]! + kh - outH, 0) / 2);
  const padX = Math.floor(Math.max((wd - 1) * stride[1]! + kw - outW, 0) / 2);
  const out: Nhwc = { shape: [n, outH, outW, oc], data: new Float32Array(n * outH * outW * oc) };
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < wd; xx++)
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const oy = y * stride[0]! + ky - padY;
            const ox = xx * stride[1]! + kx - padX;
            if (oy < 0 || ox < 0 || oy >= outH || ox >= outW) continue;
            for (let o = 0; o < oc; o++) {
              let sum = 0;
              for (let ic = 0; ic < c; ic++) sum += at(x, b, y, xx, ic) * w.data[((o * kh + ky) * kw + kx) * c + ic]!;
              out.data[((b * outH + oy) * outW + ox) * oc + o]! += sum;
            }
          }
  if (bias) for (let i = 0; i < out.data.length; i++) out.data[i]! += bias[i % oc]!;
  return out;
}

/** float32 → IEEE half bits (round to nearest). */
export function toHalf(value: number): number {
  const f = new Float32Array([value]);
  const bits = new Uint32Array(f.buffer)[0]!;
  const sign = (bits >> 16) & 0x8000;
  const exponent = ((bits >> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return sign | ((exponent << 10) + Math.round(mantissa / 8192));
}
