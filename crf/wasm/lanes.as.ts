// Four-lane arithmetic the CRF's kernels share: e^x and ln x by polynomial (the native addon's
// AVX2 copies in crf/native/ use the same constants), and reductions across lanes.

/**
 * e^x for four lanes (x ≤ 88; relative error < 1e-7): x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
 * polynomial for e^r and 2^n written into the exponent bits. n is rounded by adding 1.5·2^23 (its
 * integer then sits in the low mantissa bits), and `pmax` clamps: V8 turns f32x4.max (IEEE −0/NaN
 * rules), f32x4.nearest and trunc_sat into long sequences; this exp took 8.6 ns per vector with them,
 * 5.0 without.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  x = f32x4.pmax(x, f32x4.splat(-87.0));
  const shifted = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504)), f32x4.splat(12582912.0));
  const n = f32x4.sub(shifted, f32x4.splat(12582912.0));
  // ln 2 in two parts, so n·ln2 is exact enough for the subtraction.
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  return f32x4.mul(p, i32x4.shl(i32x4.sub(shifted, i32x4.splat(0x4b400000 - 127)), 23));
}

/** The largest of four lanes, in every lane (pmax: plain maxps; the inputs hold no NaN). */
// @ts-ignore: decorator
@inline export function lanesMax(v: v128): v128 {
  const pairs = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.pmax(pairs, v128.shuffle<f32>(pairs, pairs, 1, 0, 3, 2));
}

/** The sum of four lanes, in every lane. */
// @ts-ignore: decorator
@inline export function lanesSum(v: v128): v128 {
  const pairs = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.add(pairs, v128.shuffle<f32>(pairs, pairs, 1, 0, 3, 2));
}


/**
 * ln x for four lanes of positive, finite x (relative error ~1e-7): x = 2^e · m with m in
 * [√½, √2), ln m by a degree-9 polynomial in m − 1, e·ln2 added in two parts.
 */
// @ts-ignore: decorator
@inline export function log4(x: v128): v128 {
  const bits = i32x4.sub(x, i32x4.splat(0x3f3504f3)); // x / √½ in the exponent: e rounds so that m ≥ √½
  const e = f32x4.convert_i32x4_s(i32x4.shr_s(bits, 23));
  const m = i32x4.add(v128.and(bits, i32x4.splat(0x007fffff)), i32x4.splat(0x3f3504f3));
  const t = f32x4.sub(m, f32x4.splat(1));
  const z = f32x4.mul(t, t);
  let y = f32x4.splat(7.0376836292e-2);
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.1514610310e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(1.1676998740e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.2420140846e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(1.4249322787e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.6668057665e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(2.0000714765e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-2.4999993993e-1));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(3.3333331174e-1));
  y = f32x4.mul(f32x4.mul(y, t), z);
  y = f32x4.add(y, f32x4.mul(e, f32x4.splat(-2.12194440e-4)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(t, y), f32x4.mul(e, f32x4.splat(0.693359375)));
}

/**
 * Checks N×classes probabilities and makes each pixel's sum 1, in place, as TypeScript would (sum
 * and quotient in f64): −1 when all is well; else the first problem in pixel order — the index
 * p·classes + c of a value that is negative, NaN or infinite, or −2 − p for a pixel summing to 0.
 */
