/*
 * The unary and the labels for the one-image path (lattice.as.ts's prepare, normaliseProbabilities,
 * peaks, expand): −log p with lattice.as.ts's log polynomial, four lanes.
 */
#include <math.h>
#include "simd.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2")

/* lattice.as.ts's log4, four lanes (the same constants and operations). */
INLINE __m128 log4(__m128 x) {
  const __m128i bits = _mm_sub_epi32(_mm_castps_si128(x), _mm_set1_epi32(0x3f3504f3));
  const __m128 e = _mm_cvtepi32_ps(_mm_srai_epi32(bits, 23));
  const __m128 m = _mm_castsi128_ps(_mm_add_epi32(_mm_and_si128(bits, _mm_set1_epi32(0x007fffff)), _mm_set1_epi32(0x3f3504f3)));
  const __m128 t = _mm_sub_ps(m, _mm_set1_ps(1));
  const __m128 z = _mm_mul_ps(t, t);
  __m128 y = _mm_set1_ps(7.0376836292e-2f);
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(-1.1514610310e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(1.1676998740e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(-1.2420140846e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(1.4249322787e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(-1.6668057665e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(2.0000714765e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(-2.4999993993e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, t), _mm_set1_ps(3.3333331174e-1f));
  y = _mm_mul_ps(_mm_mul_ps(y, t), z);
  y = _mm_add_ps(y, _mm_mul_ps(e, _mm_set1_ps(-2.12194440e-4f)));
  y = _mm_sub_ps(y, _mm_mul_ps(z, _mm_set1_ps(0.5f)));
  return _mm_add_ps(_mm_add_ps(t, y), _mm_mul_ps(e, _mm_set1_ps(0.693359375f)));
}

/* −log of four lanes, floored at 1e-8 first (f32x4.pmax; no NaN here). */
INLINE __m128 minus_log4(__m128 p) {
  return _mm_xor_ps(log4(_mm_max_ps(p, _mm_set1_ps(1e-8f))), _mm_set1_ps(-0.0f));
}

/* prepare: the unary −log p and the starting Q (the probabilities) of the m labels in play, rows of `stride`. */
KERNEL void prepare(uint8_t *base, int points, int classes, int32_t active, int m, int stride, int32_t probabilities, int32_t unary, int32_t q) {
  const int32_t *list = at_i32(base, active);
  if (m == classes) {
    /* All labels in play: four at a time, the last vector's padding lanes masked (reads ≤ 12 bytes past the last row). */
    const int tail = stride - 4;
    const __m128 valid = _mm_castsi128_ps(_mm_cmplt_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(classes - tail)));
    for (int p = 0; p < points; p++) {
      const float *src = at_f32(base, probabilities) + (size_t)p * classes;
      float *u = at_f32(base, unary) + (size_t)p * stride, *o = at_f32(base, q) + (size_t)p * stride;
      __m128 sum = _mm_setzero_ps();
      for (int c = 0; c < stride; c += 4) {
        __m128 probability = _mm_loadu_ps(src + c), begin = probability;
        if (c == tail) {
          probability = _mm_or_ps(_mm_and_ps(valid, probability), _mm_andnot_ps(valid, _mm_set1_ps(1)));
          begin = _mm_and_ps(begin, valid);
        }
        _mm_storeu_ps(u + c, minus_log4(probability));
        _mm_storeu_ps(o + c, begin);
        sum = _mm_add_ps(sum, begin);
      }
      const float total = _mm_cvtss_f32(lanes_sum(sum));
      if (total > 0) {
        const __m128 inv = _mm_set1_ps(1 / total);
        for (int c = 0; c < stride; c += 4) _mm_storeu_ps(o + c, _mm_mul_ps(_mm_loadu_ps(o + c), inv));
      } else {
        for (int c = 0; c < classes; c++) o[c] = 1 / (float)classes;
      }
    }
    return;
  }
  for (int p = 0; p < points; p++) {
    const float *src = at_f32(base, probabilities) + (size_t)p * classes;
    float *u = at_f32(base, unary) + (size_t)p * stride, *o = at_f32(base, q) + (size_t)p * stride;
    float sum = 0;
    for (int k = 0; k < m; k++) {
      u[k] = src[list[k]];
      o[k] = src[list[k]];
      sum += o[k];
    }
    for (int k = m; k < stride; k++) {
      u[k] = 1;
      o[k] = 0;
    }
    for (int c = 0; c < stride; c += 4) _mm_storeu_ps(u + c, minus_log4(_mm_loadu_ps(u + c)));
    const float inv = sum > 0 ? 1 / sum : 0;
    const float uniform = 1 / (float)m;
    for (int k = 0; k < m; k++) o[k] = sum > 0 ? o[k] * inv : uniform;
  }
}

/* normaliseProbabilities: -1 when all is well, else the index of a bad value or -2 - p for a pixel summing to 0. */
int normalise_probabilities(uint8_t *base, int points, int classes, int32_t probabilities) {
  for (int p = 0; p < points; p++) {
    float *row = at_f32(base, probabilities) + (size_t)p * classes;
    double sum = 0;
    for (int c = 0; c < classes; c++) {
      const float v = row[c];
      if (!(v >= 0 && v < INFINITY)) return p * classes + c;
      sum += (double)v;
    }
    if (sum <= 0) return -2 - p;
    for (int c = 0; c < classes; c++) row[c] = (float)((double)row[c] / sum);
  }
  return -1;
}

void peaks(uint8_t *base, int points, int classes, int32_t probabilities, float *peak) {
  for (int c = 0; c < classes; c++) peak[c] = 0;
  for (int p = 0; p < points; p++) {
    const float *row = at_f32(base, probabilities) + (size_t)p * classes;
    for (int c = 0; c < classes; c++)
      if (row[c] > peak[c]) peak[c] = row[c];
  }
}

/* expand: the argmax labels (and, when `full`, Q over all labels) of points' rows of Q. */
void expand(uint8_t *base, int points, int m, int stride, int32_t q, int classes, const int32_t *active, float *full, uint8_t *labels) {
  for (int p = 0; p < points; p++) {
    const float *row = at_f32(base, q) + (size_t)p * stride;
    int best = 0;
    float best_value = row[0];
    for (int k = 0; k < m; k++) {
      if (full) full[(size_t)p * classes + active[k]] = row[k];
      if (row[k] > best_value) {
        best_value = row[k];
        best = k;
      }
    }
    labels[p] = (uint8_t)active[best];
  }
}

#endif
