/*
 * The lattice's filtering kernels (lattice.as.ts's splat, addInto, blurDirection, sliceUpdate) in
 * AVX2, over the shared memory the WebAssembly engine uses: the same IEEE operations in the same
 * order, so the same bits.
 */
#include "simd.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)

/* Each point's row added at its d1 corners (d1 a constant for DeepLab's 6 and 3: unrolled). */
INLINE int splat_corners(const int d1, const int full, const int tail, int points, int stride, const int32_t *off, const float *w, const float *q, float *l, uint64_t rows) {
  for (int p = 0; p < points; p++) {
    const Row row = row_load(q + (size_t)p * stride, full, tail);
#pragma GCC unroll 6
    for (int r = 0; r < d1; r++) {
      const size_t k = (size_t)p * d1 + r;
      if ((uint64_t)(uint32_t)off[k] >= rows) return -1;
      row_add_scaled(l + (size_t)off[k] * stride, w[k], &row, full, tail);
    }
  }
  return 0;
}

INLINE int splat_rows(const int full, const int tail, uint8_t *base, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, uint64_t rows) {
  const int32_t *off = at_i32(base, offsets);
  const float *w = at_f32(base, weights);
  const float *q = at_f32(base, values);
  float *l = at_f32(base, lattice);
  if (d1 == 6) return splat_corners(6, full, tail, points, stride, off, w, q, l, rows);
  if (d1 == 3) return splat_corners(3, full, tail, points, stride, off, w, q, l, rows);
  return splat_corners(d1, full, tail, points, stride, off, w, q, l, rows);
}

/* Rows wider than 24 floats: four lanes at a time. */
KERNEL int splat_wide(uint8_t *base, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, uint64_t rows) {
  const int32_t *off = at_i32(base, offsets);
  const float *w = at_f32(base, weights);
  const float *q = at_f32(base, values);
  float *l = at_f32(base, lattice);
  for (int p = 0; p < points; p++)
    for (int r = 0; r < d1; r++) {
      const size_t k = (size_t)p * d1 + r;
      if ((uint64_t)(uint32_t)off[k] >= rows) return -1;
      const __m128 w4 = _mm_set1_ps(w[k]);
      float *o = l + (size_t)off[k] * stride;
      const float *s = q + (size_t)p * stride;
      for (int c = 0; c < stride; c += 4) _mm_storeu_ps(o + c, _mm_add_ps(_mm_loadu_ps(o + c), _mm_mul_ps(w4, _mm_loadu_ps(s + c))));
    }
  return 0;
}

KERNEL int splat(uint8_t *base, uint64_t limit, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, int32_t lattice_floats) {
  if (points < 0 || d1 < 1 || stride < 4 || (stride & 3) || lattice_floats < 0 || !inside(limit, offsets, (uint64_t)points * d1 * 4) ||
      !inside(limit, weights, (uint64_t)points * d1 * 4) || !inside(limit, values, (uint64_t)points * stride * 4) || !inside(limit, lattice, (uint64_t)lattice_floats * 4))
    return -1;
  const uint64_t rows = (uint64_t)lattice_floats / stride;
  memset(base + (uint32_t)lattice, 0, (size_t)lattice_floats * 4);
  switch (stride >> 2) {
    case 1: return splat_rows(0, 1, base, points, d1, stride, offsets, weights, values, lattice, rows);
    case 2: return splat_rows(1, 0, base, points, d1, stride, offsets, weights, values, lattice, rows);
    case 3: return splat_rows(1, 1, base, points, d1, stride, offsets, weights, values, lattice, rows);
    case 4: return splat_rows(2, 0, base, points, d1, stride, offsets, weights, values, lattice, rows);
    case 5: return splat_rows(2, 1, base, points, d1, stride, offsets, weights, values, lattice, rows);
    case 6: return splat_rows(3, 0, base, points, d1, stride, offsets, weights, values, lattice, rows);
    default: return splat_wide(base, points, d1, stride, offsets, weights, values, lattice, rows);
  }
}

KERNEL int add_into(uint8_t *base, uint64_t limit, int32_t dst, int32_t src, int floats) {
  if (floats < 0 || (floats & 3) || !inside(limit, dst, (uint64_t)floats * 4) || !inside(limit, src, (uint64_t)floats * 4)) return -1;
  float *d = at_f32(base, dst);
  const float *s = at_f32(base, src);
  int i = 0;
  for (; i + 8 <= floats; i += 8) _mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(d + i), _mm256_loadu_ps(s + i)));
  for (; i < floats; i += 4) _mm_storeu_ps(d + i, _mm_add_ps(_mm_loadu_ps(d + i), _mm_loadu_ps(s + i)));
  return 0;
}

#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 32 /* vertices: 32 and 64 measured alike, 8 and 16 slower */
#endif

KERNEL int blur_direction(uint8_t *base, uint64_t limit, int j, int first, int last, int vertices, int stride, int32_t neighbours, int32_t from, int32_t to) {
  if (j < 0 || first < 0 || last < first || vertices < last || stride < 4 || (stride & 3) || !inside(limit, neighbours, ((uint64_t)j * vertices + last) * 8)) return -1;
  /* Rows read (neighbours, and i + 1 ≤ last) and written (i + 1 ≤ last) must lie in the memory. */
  const uint64_t rows = rows_inside(limit, from, stride);
  if ((uint64_t)last + 1 > rows || (uint64_t)last + 1 > rows_inside(limit, to, stride)) return -1;
  const int32_t *n = at_i32(base, neighbours);
  const float *f = at_f32(base, from);
  float *t = at_f32(base, to);
  const __m256 half8 = _mm256_set1_ps(0.5f);
  const __m128 half4 = _mm_set1_ps(0.5f);
  for (int i = first; i < last; i++) {
    const size_t at = ((size_t)j * vertices + i) * 2;
    if (i + PREFETCH_AHEAD < last) {
      /* The neighbours' rows are scattered over the lattice: fetched ahead, their misses overlap (a
         whole-lattice blur 25% faster). A prefetch never faults: these indices are checked when used. */
      __builtin_prefetch(f + (size_t)(uint32_t)n[at + 2 * PREFETCH_AHEAD] * stride);
      __builtin_prefetch(f + (size_t)(uint32_t)n[at + 2 * PREFETCH_AHEAD + 1] * stride);
    }
    if ((uint64_t)(uint32_t)n[at] >= rows || (uint64_t)(uint32_t)n[at + 1] >= rows) return -1;
    const float *o = f + (size_t)(i + 1) * stride, *l = f + (size_t)n[at] * stride, *r = f + (size_t)n[at + 1] * stride;
    float *out = t + (size_t)(i + 1) * stride;
    int c = 0;
    for (; c + 8 <= stride; c += 8) _mm256_storeu_ps(out + c, _mm256_add_ps(_mm256_loadu_ps(o + c), _mm256_mul_ps(half8, _mm256_add_ps(_mm256_loadu_ps(l + c), _mm256_loadu_ps(r + c)))));
    for (; c < stride; c += 4) _mm_storeu_ps(out + c, _mm_add_ps(_mm_loadu_ps(o + c), _mm_mul_ps(half4, _mm_add_ps(_mm_loadu_ps(l + c), _mm_loadu_ps(r + c)))));
  }
  return 0;
}

/*
 * sliceUpdate for rows of 4·chunks ≤ 24 floats (lattice.as.ts's one-block path): the message from
 * up to two kernels' corners, then the softmax in registers. The four-lane groups g0..g5 of the row
 * live in eight-lane vectors [g0|g1] [g2|g3] [g4|g5] (and a four-lane tail); the normaliser's sum is
 * grouped ((g0 + g1) + (g2 + g3)) + (g4 + g5) lane-wise, then lanesSum — as there.
 */
INLINE int slice_update_rows(const int full, const int tail, uint8_t *base, uint64_t limit, int first, int last, int32_t list, int channels, int stride, int32_t unary, int32_t next, int32_t kernels, int count) {
  const int32_t *kd = at_i32(base, kernels);
  const int32_t *offsetsA = at_i32(base, kd[0]), *offsetsB = at_i32(base, kd[6]);
  const float *weightsA = at_f32(base, kd[1]), *weightsB = at_f32(base, kd[7]);
  const int d1a = count > 0 ? kd[2] : 0, d1b = count > 1 ? kd[8] : 0;
  const float *latticeA = at_f32(base, kd[3]), *latticeB = at_f32(base, kd[9]);
  const float *scaleA = at_f32(base, kd[4]), *scaleB = at_f32(base, kd[10]);
  float coefA, coefB;
  memcpy(&coefA, kd + 5, 4);
  memcpy(&coefB, kd + 11, 4);
  if (first < 0 || last < first || count < 0 || count > 2 || d1a < 0 || d1a > 16 || d1b < 0 || d1b > 16 || (list && !inside(limit, list, (uint64_t)last * 4))) return -1;
  /* Pixels whose rows (unary, next, scales, corners) all lie in the memory; corners' lattice rows likewise. */
  uint64_t pixelsInside = rows_inside(limit, unary, stride);
  if (rows_inside(limit, next, stride) < pixelsInside) pixelsInside = rows_inside(limit, next, stride);
  if (count > 0) {
    const uint64_t a[3] = {rows_inside(limit, kd[4], 1) * 4, d1a ? rows_inside(limit, kd[0], d1a) * 4 : 0, d1a ? rows_inside(limit, kd[1], d1a) * 4 : 0};
    for (int k = 0; k < 3; k++) if (a[k] / 4 < pixelsInside) pixelsInside = a[k] / 4;
  }
  if (count > 1) {
    const uint64_t b[3] = {rows_inside(limit, kd[10], 1) * 4, d1b ? rows_inside(limit, kd[6], d1b) * 4 : 0, d1b ? rows_inside(limit, kd[7], d1b) * 4 : 0};
    for (int k = 0; k < 3; k++) if (b[k] / 4 < pixelsInside) pixelsInside = b[k] / 4;
  }
  const uint64_t rowsA = count > 0 ? rows_inside(limit, kd[3], stride) : 0, rowsB = count > 1 ? rows_inside(limit, kd[9], stride) : 0;
  const int32_t *pixels = list ? at_i32(base, list) : NULL;
  const float *u = at_f32(base, unary);
  float *out = at_f32(base, next);
  /* The last four-lane group's lanes past `channels` are padding: −∞ there, 0 out. */
  const int lastValid = channels - (stride - 4);
  const __m128i lanes = _mm_setr_epi32(0, 1, 2, 3);
  const __m128 valid4 = _mm_castsi128_ps(_mm_cmplt_epi32(lanes, _mm_set1_epi32(lastValid)));
  const __m128 none4 = _mm_set1_ps(-__builtin_inff());
  const __m128 sign4 = _mm_set1_ps(-0.0f);
  const __m256 sign8 = _mm256_set1_ps(-0.0f);
  for (int i = first; i < last; i++) {
    const int p = pixels ? pixels[i] : i;
    if ((uint64_t)(uint32_t)p >= pixelsInside) return -1;
    const size_t row = (size_t)p * stride;
    const float a = count > 0 ? coefA * scaleA[p] : 0;
    const float b = count > 1 ? coefB * scaleB[p] : 0;
    Row acc;
    for (int k = 0; k < full; k++) acc.v[k] = _mm256_xor_ps(_mm256_loadu_ps(u + row + 8 * k), sign8);
    if (tail) acc.t = _mm_xor_ps(_mm_loadu_ps(u + row + 8 * full), sign4);
    if (d1a == 6 && d1b == 3) {
      /* DeepLab's kernels (5-D bilateral, 2-D Gaussian): the corner loops unrolled. */
      const size_t ka = (size_t)p * 6, kb = (size_t)p * 3;
#pragma GCC unroll 6
      for (int r = 0; r < 6; r++) {
        if ((uint64_t)(uint32_t)offsetsA[ka + r] >= rowsA) return -1;
        row_accumulate(&acc, weightsA[ka + r] * a, latticeA + (size_t)offsetsA[ka + r] * stride, full, tail);
      }
#pragma GCC unroll 3
      for (int r = 0; r < 3; r++) {
        if ((uint64_t)(uint32_t)offsetsB[kb + r] >= rowsB) return -1;
        row_accumulate(&acc, weightsB[kb + r] * b, latticeB + (size_t)offsetsB[kb + r] * stride, full, tail);
      }
    } else {
      for (int r = 0; r < d1a; r++) {
        const size_t k = (size_t)p * d1a + r;
        if ((uint64_t)(uint32_t)offsetsA[k] >= rowsA) return -1;
        row_accumulate(&acc, weightsA[k] * a, latticeA + (size_t)offsetsA[k] * stride, full, tail);
      }
      for (int r = 0; r < d1b; r++) {
        const size_t k = (size_t)p * d1b + r;
        if ((uint64_t)(uint32_t)offsetsB[k] >= rowsB) return -1;
        row_accumulate(&acc, weightsB[k] * b, latticeB + (size_t)offsetsB[k] * stride, full, tail);
      }
    }
    /* Padding lanes of the last group to −∞. */
    if (tail) acc.t = _mm_blendv_ps(none4, acc.t, valid4);
    else acc.v[full - 1] = _mm256_insertf128_ps(acc.v[full - 1], _mm_blendv_ps(none4, _mm256_extractf128_ps(acc.v[full - 1], 1), valid4), 1);
    /* The largest lane. */
    __m128 top = none4;
    for (int k = 0; k < full; k++) top = _mm_max_ps(top, _mm_max_ps(_mm256_castps256_ps128(acc.v[k]), _mm256_extractf128_ps(acc.v[k], 1)));
    if (tail) top = _mm_max_ps(top, acc.t);
    const __m128 max4 = lanes_max(top);
    const __m256 max8 = _mm256_set_m128(max4, max4);
    for (int k = 0; k < full; k++) acc.v[k] = exp8(_mm256_sub_ps(acc.v[k], max8));
    if (tail) acc.t = exp4(_mm_sub_ps(acc.t, max4));
    if (tail) acc.t = _mm_and_ps(acc.t, valid4);
    else acc.v[full - 1] = _mm256_insertf128_ps(acc.v[full - 1], _mm_and_ps(_mm256_extractf128_ps(acc.v[full - 1], 1), valid4), 1);
    /* ((g0 + g1) + (g2 + g3)) + (g4 + g5), the groups that exist. */
    __m128 pair[3];
    int pairs = 0;
    for (int k = 0; k < full; k++) pair[pairs++] = _mm_add_ps(_mm256_castps256_ps128(acc.v[k]), _mm256_extractf128_ps(acc.v[k], 1));
    if (tail) pair[pairs++] = acc.t;
    __m128 sum = pair[0];
    if (pairs > 1) sum = _mm_add_ps(sum, pair[1]);
    if (pairs > 2) sum = _mm_add_ps(sum, pair[2]);
    const __m128 inv4 = _mm_div_ps(_mm_set1_ps(1.0f), lanes_sum(sum));
    const __m256 inv8 = _mm256_set_m128(inv4, inv4);
    for (int k = 0; k < full; k++) acc.v[k] = _mm256_mul_ps(acc.v[k], inv8);
    if (tail) acc.t = _mm_mul_ps(acc.t, inv4);
    row_store(out + row, &acc, full, tail);
  }
  return 0;
}

KERNEL int slice_update(uint8_t *base, uint64_t limit, int first, int last, int32_t list, int channels, int stride, int32_t unary, int32_t next, int32_t kernels, int count) {
  if (!inside(limit, kernels, 2 * KERNEL_BYTES) || channels < 1 || channels > stride || channels <= stride - 4) return -1;
  switch (stride >> 2) {
    case 1: return slice_update_rows(0, 1, base, limit, first, last, list, channels, stride, unary, next, kernels, count);
    case 2: return slice_update_rows(1, 0, base, limit, first, last, list, channels, stride, unary, next, kernels, count);
    case 3: return slice_update_rows(1, 1, base, limit, first, last, list, channels, stride, unary, next, kernels, count);
    case 4: return slice_update_rows(2, 0, base, limit, first, last, list, channels, stride, unary, next, kernels, count);
    case 5: return slice_update_rows(2, 1, base, limit, first, last, list, channels, stride, unary, next, kernels, count);
    case 6: return slice_update_rows(3, 0, base, limit, first, last, list, channels, stride, unary, next, kernels, count);
    default: return -1;
  }
}

#endif
