/*
 * The frame → float model input (in the image addon, addon.c; model/preprocess.ts's
 * preprocessRgbInJavaScript does the same in JavaScript, to the same bits):
 *
 * preprocessRgb(rgb, width, height, out, outWidth, outHeight, planar, xLow, xHigh, xWeight, yLow,
 * yHigh, yWeight, affine): bilinear (low/high source pixel indices, the high tap's weight in float32),
 * then value · scale[c] + shift[c] (affine = [scale0, scale1, scale2, shift0, shift1, shift2]) — the
 * JavaScript's double arithmetic, step for step in the same order (built with -ffp-contract=off: no
 * fused multiply-adds), stored as float32.
 */
#include "napiArgs.h"

static int float_taps_ok(const int32_t *low, const int32_t *high, const float *weight, size_t n, int32_t size) {
  for (size_t i = 0; i < n; i++)
    if (low[i] < 0 || high[i] < 0 || low[i] >= size || high[i] >= size || !(weight[i] >= 0.0f && weight[i] <= 1.0f))
      return 0;
  return 1;
}

static napi_value preprocess_rgb(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  uint8_t *rgb;
  float *out, *xWeight, *yWeight;
  int32_t *xLow, *xHigh, *yLow, *yHigh;
  double *affine;
  size_t rgbLength, outLength, nx[3], ny[3], affineLength;
  int32_t width, height, outWidth, outHeight, planar;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 14 ||
      !typed(env, argv[0], napi_uint8_array, (void **)&rgb, &rgbLength) || !int_arg(env, argv[1], &width) ||
      !int_arg(env, argv[2], &height) || !typed(env, argv[3], napi_float32_array, (void **)&out, &outLength) ||
      !int_arg(env, argv[4], &outWidth) || !int_arg(env, argv[5], &outHeight) ||
      napi_get_value_int32(env, argv[6], &planar) != napi_ok || !typed(env, argv[7], napi_int32_array, (void **)&xLow, &nx[0]) ||
      !typed(env, argv[8], napi_int32_array, (void **)&xHigh, &nx[1]) ||
      !typed(env, argv[9], napi_float32_array, (void **)&xWeight, &nx[2]) ||
      !typed(env, argv[10], napi_int32_array, (void **)&yLow, &ny[0]) ||
      !typed(env, argv[11], napi_int32_array, (void **)&yHigh, &ny[1]) ||
      !typed(env, argv[12], napi_float32_array, (void **)&yWeight, &ny[2]) ||
      !typed(env, argv[13], napi_float64_array, (void **)&affine, &affineLength) || affineLength != 6 ||
      rgbLength < (size_t)width * height * 3 || outLength != (size_t)outWidth * outHeight * 3 || nx[0] != (size_t)outWidth ||
      nx[1] != nx[0] || nx[2] != nx[0] || ny[0] != (size_t)outHeight || ny[1] != ny[0] || ny[2] != ny[0] ||
      !float_taps_ok(xLow, xHigh, xWeight, nx[0], width) || !float_taps_ok(yLow, yHigh, yWeight, ny[0], height)) {
    napi_throw_type_error(env, NULL, "preprocessRgb(rgb, width, height, out, outWidth, outHeight, planar, xLow, xHigh, xWeight, yLow, yHigh, yWeight, affine): arguments out of range");
    return NULL;
  }
  const size_t plane = (size_t)outWidth * outHeight, rowBytes = (size_t)width * 3;
  const size_t o1 = planar ? plane : 1, o2 = planar ? 2 * plane : 2, step = planar ? 1 : 3;
  const double s0 = affine[0], s1 = affine[1], s2 = affine[2], h0 = affine[3], h1 = affine[4], h2 = affine[5];
  for (int32_t y = 0; y < outHeight; y++) {
    const uint8_t *r0 = rgb + yLow[y] * rowBytes, *r1 = rgb + yHigh[y] * rowBytes;
    const double fy = yWeight[y], gy = 1 - fy;
    size_t q = (size_t)y * outWidth * step;
    for (int32_t x = 0; x < outWidth; x++, q += step) {
      const uint8_t *a = r0 + xLow[x] * 3, *b = r0 + xHigh[x] * 3, *c = r1 + xLow[x] * 3, *d = r1 + xHigh[x] * 3;
      const double fx = xWeight[x];
      const double w00 = (1 - fx) * gy, w01 = fx * gy, w10 = (1 - fx) * fy, w11 = fx * fy;
      out[q] = (float)((a[0] * w00 + b[0] * w01 + c[0] * w10 + d[0] * w11) * s0 + h0);
      out[q + o1] = (float)((a[1] * w00 + b[1] * w01 + c[1] * w10 + d[1] * w11) * s1 + h1);
      out[q + o2] = (float)((a[2] * w00 + b[2] * w01 + c[2] * w10 + d[2] * w11) * s2 + h2);
    }
  }
  return NULL;
}

napi_value image_preprocess_function(napi_env env) {
  napi_value fn;
  return napi_create_function(env, "preprocessRgb", NAPI_AUTO_LENGTH, preprocess_rgb, NULL, &fn) == napi_ok ? fn : NULL;
}
