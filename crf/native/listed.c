/*
 * A warm frame's listed pixels (lattice.as.ts's splatListed and splatChange): only the pixels whose
 * Q changed are splatted again, their rows prefetched ahead.
 */
#include "simd.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)

/*
 * splatChange (lattice.as.ts): a warm frame's kept splats brought up to date for the listed pixels
 * whose Q changed from `before` to `after` — the change splatted at each kernel's corners, `before`
 * made the new Q and `after` left holding the change — for rows of ≤ 24 floats. The listed pixels
 * are scattered over the image and their corners over the lattices: the rows of the pixel
 * SPLAT_AHEAD places on are prefetched, and the corners of the one half as far on.
 */
#ifndef SPLAT_AHEAD
#define SPLAT_AHEAD 8
#endif

INLINE void prefetch_corners(uint8_t *base, int p, int d1, int32_t offsets, int32_t lattice, int stride, uint64_t rows) {
  const int32_t *o = at_i32(base, offsets) + (size_t)p * d1;
  for (int r = 0; r < d1; r++)
    if ((uint64_t)(uint32_t)o[r] < rows) __builtin_prefetch(at_f32(base, lattice) + (size_t)(uint32_t)o[r] * stride, 1);
}

INLINE int splat_change_rows(const int full, const int tail, uint8_t *base, uint64_t limit, const int32_t *list, int n, int d1a, int32_t offsets_a, int32_t weights_a, int32_t lattice_a,
                             int d1b, int32_t offsets_b, int32_t weights_b, int32_t lattice_b, int stride, int32_t before, int32_t after) {
  const uint64_t points = rows_inside(limit, before, stride) < rows_inside(limit, after, stride) ? rows_inside(limit, before, stride) : rows_inside(limit, after, stride);
  const uint64_t rows_a = d1a > 0 ? rows_inside(limit, lattice_a, stride) : 0, rows_b = d1b > 0 ? rows_inside(limit, lattice_b, stride) : 0;
  for (int i = 0; i < n; i++) {
    const uint32_t p = (uint32_t)list[i];
    if (p >= points || (d1a > 0 && !inside(limit, offsets_a, ((uint64_t)p + 1) * d1a * 4)) || (d1a > 0 && !inside(limit, weights_a, ((uint64_t)p + 1) * d1a * 4)) ||
        (d1b > 0 && !inside(limit, offsets_b, ((uint64_t)p + 1) * d1b * 4)) || (d1b > 0 && !inside(limit, weights_b, ((uint64_t)p + 1) * d1b * 4)))
      return -1;
    if (i + SPLAT_AHEAD < n) {
      const uint32_t ahead = (uint32_t)list[i + SPLAT_AHEAD];
      if (ahead < points) {
        __builtin_prefetch(at_f32(base, before) + (size_t)ahead * stride, 1);
        __builtin_prefetch(at_f32(base, after) + (size_t)ahead * stride, 1);
        if (d1a > 0) __builtin_prefetch(at_i32(base, offsets_a) + (size_t)ahead * d1a);
        if (d1b > 0) __builtin_prefetch(at_i32(base, offsets_b) + (size_t)ahead * d1b);
      }
    }
    if (i + SPLAT_AHEAD / 2 < n) {
      const uint32_t ahead = (uint32_t)list[i + SPLAT_AHEAD / 2];
      if (ahead < points) {
        if (d1a > 0 && inside(limit, offsets_a, ((uint64_t)ahead + 1) * d1a * 4)) prefetch_corners(base, (int)ahead, d1a, offsets_a, lattice_a, stride, rows_a);
        if (d1b > 0 && inside(limit, offsets_b, ((uint64_t)ahead + 1) * d1b * 4)) prefetch_corners(base, (int)ahead, d1b, offsets_b, lattice_b, stride, rows_b);
      }
    }
    float *b = at_f32(base, before) + (size_t)p * stride, *a = at_f32(base, after) + (size_t)p * stride;
    /* The change of the new row against the old (f32x4.sub per lane), and the new row made the old one. */
    const Row now = row_load(a, full, tail), then = row_load(b, full, tail);
    Row change;
    for (int k = 0; k < full; k++) change.v[k] = _mm256_sub_ps(now.v[k], then.v[k]);
    if (tail) change.t = _mm_sub_ps(now.t, then.t);
    row_store(b, &now, full, tail);
    row_store(a, &change, full, tail);
    for (int kernel = 0; kernel < 2; kernel++) {
      const int d1 = kernel == 0 ? d1a : d1b;
      if (d1 <= 0) continue;
      const int32_t *o = at_i32(base, kernel == 0 ? offsets_a : offsets_b) + (size_t)p * d1;
      const float *w = at_f32(base, kernel == 0 ? weights_a : weights_b) + (size_t)p * d1;
      float *l = at_f32(base, kernel == 0 ? lattice_a : lattice_b);
      const uint64_t rows = kernel == 0 ? rows_a : rows_b;
      for (int r = 0; r < d1; r++) {
        if ((uint64_t)(uint32_t)o[r] >= rows) return -1;
        row_add_scaled(l + (size_t)(uint32_t)o[r] * stride, w[r], &change, full, tail);
      }
    }
  }
  return 0;
}

/*
 * splatListed (lattice.as.ts): lattice[corners(p)] += sign · weight · values[p] for the listed points
 * (`value_row_bytes` 0: the same row for every point), rows of ≤ 24 floats — a moved pixel's old
 * splat taken out and its new one put back. Corners prefetched as in splatChange.
 */
INLINE int splat_listed_rows(const int full, const int tail, uint8_t *base, uint64_t limit, const int32_t *list, int n, int d1, int stride, int32_t offsets, int32_t weights, int32_t values,
                             int value_row_bytes, int32_t lattice, float sign) {
  const uint64_t rows = rows_inside(limit, lattice, stride);
  for (int i = 0; i < n; i++) {
    const uint32_t p = (uint32_t)list[i];
    if (!inside(limit, offsets, ((uint64_t)p + 1) * d1 * 4) || !inside(limit, weights, ((uint64_t)p + 1) * d1 * 4) ||
        !inside(limit, values, (uint64_t)p * (uint32_t)value_row_bytes + (uint64_t)stride * 4))
      return -1;
    if (i + SPLAT_AHEAD / 2 < n) {
      const uint32_t ahead = (uint32_t)list[i + SPLAT_AHEAD / 2];
      if (inside(limit, offsets, ((uint64_t)ahead + 1) * d1 * 4)) prefetch_corners(base, (int)ahead, d1, offsets, lattice, stride, rows);
    }
    const Row q = row_load(at_f32(base, values + (int32_t)(p * (uint32_t)value_row_bytes)), full, tail);
    const int32_t *o = at_i32(base, offsets) + (size_t)p * d1;
    const float *w = at_f32(base, weights) + (size_t)p * d1;
    float *l = at_f32(base, lattice);
    for (int r = 0; r < d1; r++) {
      if ((uint64_t)(uint32_t)o[r] >= rows) return -1;
      row_add_scaled(l + (size_t)(uint32_t)o[r] * stride, sign * w[r], &q, full, tail);
    }
  }
  return 0;
}

KERNEL int splat_listed(uint8_t *base, uint64_t limit, int32_t list, int n, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int value_row_bytes, int32_t lattice, float sign) {
  if (n < 0 || d1 < 1 || d1 > MAX_D + 1 || stride < 4 || (stride & 3) || value_row_bytes < 0 || !inside(limit, list, (uint64_t)n * 4)) return -1;
  const int32_t *l = at_i32(base, list);
  switch (stride >> 2) {
    case 1: return splat_listed_rows(0, 1, base, limit, l, n, d1, stride, offsets, weights, values, value_row_bytes, lattice, sign);
    case 2: return splat_listed_rows(1, 0, base, limit, l, n, d1, stride, offsets, weights, values, value_row_bytes, lattice, sign);
    case 3: return splat_listed_rows(1, 1, base, limit, l, n, d1, stride, offsets, weights, values, value_row_bytes, lattice, sign);
    case 4: return splat_listed_rows(2, 0, base, limit, l, n, d1, stride, offsets, weights, values, value_row_bytes, lattice, sign);
    case 5: return splat_listed_rows(2, 1, base, limit, l, n, d1, stride, offsets, weights, values, value_row_bytes, lattice, sign);
    case 6: return splat_listed_rows(3, 0, base, limit, l, n, d1, stride, offsets, weights, values, value_row_bytes, lattice, sign);
    default: return -1;
  }
}

KERNEL int splat_change(uint8_t *base, uint64_t limit, int32_t list, int n, int d1a, int32_t offsets_a, int32_t weights_a, int32_t lattice_a, int d1b, int32_t offsets_b, int32_t weights_b,
                               int32_t lattice_b, int stride, int32_t before, int32_t after) {
  if (n < 0 || d1a > MAX_D + 1 || d1b > MAX_D + 1 || stride < 4 || (stride & 3) || !inside(limit, list, (uint64_t)n * 4)) return -1;
  const int32_t *l = at_i32(base, list);
  switch (stride >> 2) {
    case 1: return splat_change_rows(0, 1, base, limit, l, n, d1a, offsets_a, weights_a, lattice_a, d1b, offsets_b, weights_b, lattice_b, stride, before, after);
    case 2: return splat_change_rows(1, 0, base, limit, l, n, d1a, offsets_a, weights_a, lattice_a, d1b, offsets_b, weights_b, lattice_b, stride, before, after);
    case 3: return splat_change_rows(1, 1, base, limit, l, n, d1a, offsets_a, weights_a, lattice_a, d1b, offsets_b, weights_b, lattice_b, stride, before, after);
    case 4: return splat_change_rows(2, 0, base, limit, l, n, d1a, offsets_a, weights_a, lattice_a, d1b, offsets_b, weights_b, lattice_b, stride, before, after);
    case 5: return splat_change_rows(2, 1, base, limit, l, n, d1a, offsets_a, weights_a, lattice_a, d1b, offsets_b, weights_b, lattice_b, stride, before, after);
    case 6: return splat_change_rows(3, 0, base, limit, l, n, d1a, offsets_a, weights_a, lattice_a, d1b, offsets_b, weights_b, lattice_b, stride, before, after);
    default: return -1;
  }
}

#endif
