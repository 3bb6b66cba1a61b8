/*
 * The CRF's native helpers (an N-API addon, `npm run build:native`; everything works without it):
 *
 * - adviseHugePages(view, bytes): transparent huge pages for the WebAssembly memory (madvise
 *   MADV_HUGEPAGE where THP is in "madvise" mode, Ubuntu's default and this project's VMs). A
 *   first-touched 4 KiB page costs 11-14 us on a Firecracker VM; a 2 MiB one about as much as a few
 *   4 KiB ones. Returns the offset from `view` of the first 2 MiB-aligned address (grow the memory to
 *   such boundaries: a huge page is used only where all of it is mapped when first touched), or -1.
 *
 * - bindKernels(view): hot loops of crf/wasm/lattice.as.ts (splat, addInto, blurDirection,
 *   sliceUpdate, splatChange; neighboursOf and linkVertices), over the same shared memory (pointers
 *   are byte offsets from `view`'s first byte) and with the same arguments, in AVX2: eight lanes
 *   where WebAssembly has four. Every lane sees the same IEEE operations in the same order as there
 *   (no FMA: -ffp-contract is off and only AVX2 is enabled; sums across lanes grouped as there), so
 *   the results are bit-identical. null where the CPU has no AVX2 or this is not x86-64.
 *
 * - crfImage(...): one image's whole CRF, off the JavaScript thread (crfOneImage.c, below the
 *   kernels it uses); only where the CPU has AVX2.
 */
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)

static int typed_array_data(napi_env env, napi_value value, uint8_t **data) {
  napi_typedarray_type type;
  size_t length, offset;
  napi_value buffer;
  void *at = NULL;
  if (napi_get_typedarray_info(env, value, &type, &length, &at, &buffer, &offset) != napi_ok || type != napi_uint8_array) return 0;
  *data = (uint8_t *)at;
  return 1;
}

static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  uint8_t *data = NULL;
  double bytes = 0, answer = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !typed_array_data(env, argv[0], &data) ||
      napi_get_value_double(env, argv[1], &bytes) != napi_ok || !(bytes > 0)) {
    napi_throw_type_error(env, NULL, "adviseHugePages(view: Uint8Array, bytes: number)");
    return NULL;
  }
#ifdef MADV_HUGEPAGE
  {
    uintptr_t start = (uintptr_t)data & ~(uintptr_t)4095;
    uintptr_t end = (uintptr_t)data + (uintptr_t)bytes;
    if (madvise((void *)start, end - start, MADV_HUGEPAGE) == 0)
      answer = (double)((((uintptr_t)data + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)) - (uintptr_t)data);
  }
#endif
  napi_create_double(env, answer, &result);
  return result;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define KERNEL __attribute__((target("avx2")))
#define INLINE KERNEL static inline __attribute__((always_inline))

/* A row of up to 24 floats: `full` eight-lane vectors and, when `tail`, four lanes after them. */
typedef struct { __m256 v[3]; __m128 t; } Row;

INLINE Row row_load(const float *at, const int full, const int tail) {
  Row r;
  for (int k = 0; k < full; k++) r.v[k] = _mm256_loadu_ps(at + 8 * k);
  if (tail) r.t = _mm_loadu_ps(at + 8 * full);
  return r;
}

INLINE void row_store(float *at, const Row *r, const int full, const int tail) {
  for (int k = 0; k < full; k++) _mm256_storeu_ps(at + 8 * k, r->v[k]);
  if (tail) _mm_storeu_ps(at + 8 * full, r->t);
}

/* o += w * q, lane by lane (a multiply, then an add: as f32x4.add(o, f32x4.mul(w, q))). */
INLINE void row_add_scaled(float *o, float w, const Row *q, const int full, const int tail) {
  const __m256 w8 = _mm256_set1_ps(w);
  for (int k = 0; k < full; k++) _mm256_storeu_ps(o + 8 * k, _mm256_add_ps(_mm256_loadu_ps(o + 8 * k), _mm256_mul_ps(w8, q->v[k])));
  if (tail) _mm_storeu_ps(o + 8 * full, _mm_add_ps(_mm_loadu_ps(o + 8 * full), _mm_mul_ps(_mm256_castps256_ps128(w8), q->t)));
}

/* acc += w * src, lane by lane. */
INLINE void row_accumulate(Row *acc, float w, const float *src, const int full, const int tail) {
  const __m256 w8 = _mm256_set1_ps(w);
  for (int k = 0; k < full; k++) acc->v[k] = _mm256_add_ps(acc->v[k], _mm256_mul_ps(w8, _mm256_loadu_ps(src + 8 * k)));
  if (tail) acc->t = _mm_add_ps(acc->t, _mm_mul_ps(_mm256_castps256_ps128(w8), _mm_loadu_ps(src + 8 * full)));
}

/* lattice.as.ts's exp4, eight lanes (the same constants and operations, lane by lane). */
INLINE __m256 exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _mm256_set1_ps(12582912.0f));
  const __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(12582912.0f));
  const __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f))), _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4b400000 - 127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

INLINE __m128 exp4(__m128 x) {
  return _mm256_castps256_ps128(exp8(_mm256_castps128_ps256(x)));
}

static float *at_f32(uint8_t *base, int32_t offset) { return (float *)(base + (uint32_t)offset); }
static const int32_t *at_i32(uint8_t *base, int32_t offset) { return (const int32_t *)(base + (uint32_t)offset); }

/*
 * Bounds: WebAssembly traps on an access outside its memory; these kernels check instead, against
 * `limit` (the memory's byte length): each array's extent before a loop, each index read from memory
 * (lattice corners, neighbours, listed pixels) where it is used. A kernel that finds one returns -1
 * and touches nothing past it; the caller throws (the frame fails, as on a trap).
 */
static int inside(uint64_t limit, int32_t offset, uint64_t bytes) {
  return offset >= 0 && (uint64_t)(uint32_t)offset + bytes <= limit;
}

/* Rows of `stride` floats that fit between `offset` and `limit`. */
static uint64_t rows_inside(uint64_t limit, int32_t offset, int stride) {
  return offset < 0 || (uint64_t)(uint32_t)offset > limit ? 0 : (limit - (uint32_t)offset) / ((uint64_t)stride * 4);
}

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
KERNEL static int splat_wide(uint8_t *base, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, uint64_t rows) {
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

KERNEL static int splat(uint8_t *base, uint64_t limit, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, int32_t lattice_floats) {
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

KERNEL static int add_into(uint8_t *base, uint64_t limit, int32_t dst, int32_t src, int floats) {
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

KERNEL static int blur_direction(uint8_t *base, uint64_t limit, int j, int first, int last, int vertices, int stride, int32_t neighbours, int32_t from, int32_t to) {
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
 * Lattice neighbours (lattice.as.ts's neighboursOf and linkVertices, the same results: integers,
 * found in the same hash table). A lookup is two cache misses — the table slot, then the key it
 * points at — so vertices go through in batches: every slot of a batch prefetched, then every key
 * those slots name, then compared (~3× faster on DeepLab's fine colour grid, σβ 3: 400k vertices).
 */
#define LOOKUP_BATCH 16
#define MAX_D 8

/* The polynomial hash lattice.as.ts's findKey uses (u32, wrapping). */
INLINE uint32_t key_hash(const int32_t *key, int d) {
  uint32_t h = 0;
  for (int i = 0; i < d; i++) h = h * 2531011u + (uint32_t)key[i];
  return h;
}

typedef struct {
  const int32_t *keys;
  const int32_t *table;
  uint32_t mask;
  uint64_t key_rows; /* keys that lie in the memory */
} HashTable;

/* The vertex whose key is `key` from slot h & mask on, or -1; -2 for an index outside the memory. */
INLINE int find_vertex(const HashTable *t, const int32_t *key, int d, uint32_t h) {
  for (uint32_t slot = h & t->mask, probes = 0; probes <= t->mask; slot = (slot + 1) & t->mask, probes++) {
    const int32_t entry = t->table[slot];
    if (entry == 0) return -1;
    if (entry < 0 || (uint64_t)entry > t->key_rows) return -2;
    const int32_t *other = t->keys + (size_t)(entry - 1) * d;
    int same = 1;
    for (int i = 0; i < d; i++) same &= other[i] == key[i];
    if (same) return entry - 1;
  }
  return -1;
}

KERNEL static int neighbours_of(uint8_t *base, uint64_t limit, int first, int last, int vertices, int d, int32_t keys, int32_t table, int table_capacity, int32_t neighbours) {
  if (first < 0 || last < first || vertices < last || d < 1 || d > MAX_D || table_capacity < 1 || (table_capacity & (table_capacity - 1)) ||
      !inside(limit, keys, (uint64_t)last * d * 4) || !inside(limit, table, (uint64_t)table_capacity * 4) || !inside(limit, neighbours, (uint64_t)(d + 1) * vertices * 8))
    return -1;
  const HashTable t = { at_i32(base, keys), at_i32(base, table), (uint32_t)table_capacity - 1, ((limit - (uint32_t)keys) / 4) / (uint64_t)d };
  int32_t *out = (int32_t *)at_i32(base, neighbours);
  const int d1 = d + 1;
  int32_t wanted[LOOKUP_BATCH * 2][MAX_D];
  uint32_t hashes[LOOKUP_BATCH * 2];
  for (int j = 0; j <= d; j++) {
    for (int start = first; start < last; start += LOOKUP_BATCH) {
      const int count = last - start < LOOKUP_BATCH ? last - start : LOOKUP_BATCH;
      /* The two neighbours' keys along j: every coordinate -1 (+1), coordinate j +d+1 (-d-1). */
      for (int b = 0; b < count; b++) {
        const int32_t *key = t.keys + (size_t)(start + b) * d;
        for (int k = 0; k < d; k++) {
          wanted[2 * b][k] = key[k] - 1;
          wanted[2 * b + 1][k] = key[k] + 1;
        }
        if (j < d) {
          wanted[2 * b][j] += d1;
          wanted[2 * b + 1][j] -= d1;
        }
        for (int side = 0; side < 2; side++) {
          hashes[2 * b + side] = key_hash(wanted[2 * b + side], d);
          __builtin_prefetch(t.table + (hashes[2 * b + side] & t.mask));
        }
      }
      for (int q = 0; q < 2 * count; q++) {
        const int32_t entry = t.table[hashes[q] & t.mask];
        if (entry > 0 && (uint64_t)entry <= t.key_rows) __builtin_prefetch(t.keys + (size_t)(entry - 1) * d);
      }
      for (int q = 0; q < 2 * count; q++) {
        const int vertex = find_vertex(&t, wanted[q], d, hashes[q]);
        if (vertex == -2) return -1;
        out[((size_t)j * vertices + start + (q >> 1)) * 2 + (q & 1)] = vertex + 1;
      }
    }
  }
  return 0;
}

KERNEL static int link_vertices(uint8_t *base, uint64_t limit, int first, int last, int vertices, int d, int32_t keys, int32_t table, int table_capacity, int32_t neighbours) {
  if (neighbours_of(base, limit, first, last, vertices, d, keys, table, table_capacity, neighbours) != 0) return -1;
  int32_t *links = (int32_t *)at_i32(base, neighbours);
  for (int j = 0; j <= d; j++) {
    int32_t *row = links + (size_t)j * vertices * 2;
    for (int v = first; v < last; v++) {
      /* v is its minus-neighbour's plus-neighbour, and its plus-neighbour's minus-neighbour. */
      const int32_t minus = row[(size_t)v * 2], plus = row[(size_t)v * 2 + 1];
      if (minus < 0 || plus < 0 || minus > vertices || plus > vertices) return -1;
      if (minus > 0) row[(size_t)(minus - 1) * 2 + 1] = v + 1;
      if (plus > 0) row[(size_t)(plus - 1) * 2] = v + 1;
    }
  }
  return 0;
}

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

KERNEL static int splat_listed(uint8_t *base, uint64_t limit, int32_t list, int n, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int value_row_bytes, int32_t lattice, float sign) {
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

KERNEL static int splat_change(uint8_t *base, uint64_t limit, int32_t list, int n, int d1a, int32_t offsets_a, int32_t weights_a, int32_t lattice_a, int d1b, int32_t offsets_b, int32_t weights_b,
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

/* lanesMax: the largest lane, in every lane. */
INLINE __m128 lanes_max(__m128 v) {
  const __m128 pairs = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_max_ps(pairs, _mm_shuffle_ps(pairs, pairs, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* lanesSum: (v0 + v2) + (v1 + v3), in every lane, as lattice.as.ts pairs them. */
INLINE __m128 lanes_sum(__m128 v) {
  const __m128 pairs = _mm_add_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_add_ps(pairs, _mm_shuffle_ps(pairs, pairs, _MM_SHUFFLE(2, 3, 0, 1)));
}

#define KERNEL_BYTES 24

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

KERNEL static int slice_update(uint8_t *base, uint64_t limit, int first, int last, int32_t list, int channels, int stride, int32_t unary, int32_t next, int32_t kernels, int count) {
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

/* The one-image path runs only where the kernels do (AVX2): compiled for it, like them. */
#pragma GCC push_options
#pragma GCC target("avx2")
#include "crfOneImage.c"
#pragma GCC pop_options

/*
 * movePoints (lattice.as.ts): the listed pixels (whose colour moved) embedded in the bilateral
 * lattice again — features from `image`, their simplex's vertices found or appended after the
 * `count` there are, in the same order as there (the same vertex numbers). A warm frame's moved
 * pixels are scattered over a large hash table: their keys are computed a batch at a time, every
 * slot of the batch prefetched, then the keys those slots name, then inserted in order. Returns the
 * new vertex count, -1 when more than `capacity` are needed, -2 for an index outside the memory.
 */
KERNEL static int move_points(uint8_t *base, uint64_t limit, int32_t list, int n, int width, int32_t image, double xy, double rgb, int32_t offsets, int32_t weights, int32_t keys, int capacity,
                              int32_t table, int table_capacity, int count) {
  const int d = 5, d1 = 6;
  if (n < 0 || width < 1 || count < 0 || count > capacity || table_capacity < 1 || (table_capacity & (table_capacity - 1)) || !inside(limit, list, (uint64_t)n * 4) ||
      !inside(limit, keys, (uint64_t)capacity * d * 4) || !inside(limit, table, (uint64_t)table_capacity * 4))
    return -2;
  double scale[MAX_D];
  lattice_scale(d, scale);
  const int32_t *pixels = at_i32(base, list);
  int32_t *k = (int32_t *)at_i32(base, keys), *t = (int32_t *)at_i32(base, table);
  const uint32_t mask = (uint32_t)table_capacity - 1;
  int32_t wanted[LOOKUP_BATCH][MAX_D + 1][MAX_D];
  float bary[LOOKUP_BATCH][MAX_D + 1];
  uint32_t hashes[LOOKUP_BATCH][MAX_D + 1];
  for (int start = 0; start < n; start += LOOKUP_BATCH) {
    const int batch = n - start < LOOKUP_BATCH ? n - start : LOOKUP_BATCH;
    for (int b = 0; b < batch; b++) {
      const uint32_t p = (uint32_t)pixels[start + b];
      if (!inside(limit, image, ((uint64_t)p + 1) * 3) || !inside(limit, offsets, ((uint64_t)p + 1) * d1 * 4) || !inside(limit, weights, ((uint64_t)p + 1) * d1 * 4)) return -2;
      const uint32_t y = p / (uint32_t)width;
      const uint8_t *colour = base + (uint32_t)image + (size_t)p * 3;
      const float feature[5] = {(float)((double)(p - y * (uint32_t)width) / xy), (float)((double)y / xy), (float)((double)colour[0] / rgb), (float)((double)colour[1] / rgb), (float)((double)colour[2] / rgb)};
      simplex_of(d, feature, scale, wanted[b], bary[b]);
      for (int r = 0; r < d1; r++) {
        hashes[b][r] = key_hash(wanted[b][r], d);
        __builtin_prefetch(t + (hashes[b][r] & mask));
      }
    }
    for (int b = 0; b < batch; b++)
      for (int r = 0; r < d1; r++) {
        const int32_t entry = t[hashes[b][r] & mask];
        if (entry > 0 && entry <= count) __builtin_prefetch(k + (size_t)(entry - 1) * d);
      }
    for (int b = 0; b < batch; b++) {
      const uint32_t p = (uint32_t)pixels[start + b];
      for (int r = 0; r < d1; r++) {
        /* findKey with insertion, each entry checked: it names one of the `count` vertices so far. */
        int vertex = -1;
        for (uint32_t slot = hashes[b][r] & mask, probes = 0;; slot = (slot + 1) & mask, probes++) {
          const int32_t entry = t[slot];
          if (probes > mask || entry < 0 || entry > count) return -2;
          if (entry == 0) {
            if (count >= capacity) return -1;
            memcpy(k + (size_t)count * d, wanted[b][r], (size_t)d * 4);
            t[slot] = count + 1;
            vertex = count++;
            break;
          }
          const int32_t *other = k + (size_t)(entry - 1) * d;
          int same = 1;
          for (int i = 0; i < d; i++) same &= other[i] == wanted[b][r][i];
          if (same) {
            vertex = entry - 1;
            break;
          }
        }
        ((int32_t *)at_i32(base, offsets))[(size_t)p * d1 + r] = vertex + 1;
        at_f32(base, weights)[(size_t)p * d1 + r] = bary[b][r];
      }
    }
  }
  return count;
}

/*
 * Arguments as the WebAssembly exports take them — each as an i32 (`args`) and as a number
 * (`numbers`, for the f32 ones) — then the memory's byte length (the bounds every access is checked
 * against); the memory's base is the function's data.
 */
static int kernel_args(napi_env env, napi_callback_info info, int32_t *args, double *numbers, size_t want, uint8_t **base, uint64_t *limit) {
  napi_value argv[16];
  size_t argc = 16;
  void *data;
  double bytes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok || argc < want + 1) goto bad;
  for (size_t i = 0; i < want; i++)
    if (napi_get_value_int32(env, argv[i], &args[i]) != napi_ok || napi_get_value_double(env, argv[i], &numbers[i]) != napi_ok) goto bad;
  if (napi_get_value_double(env, argv[want], &bytes) != napi_ok || !(bytes >= 0) || bytes > 4294967296.0) goto bad;
  *base = (uint8_t *)data;
  *limit = (uint64_t)bytes;
  return 1;
bad:
  napi_throw_type_error(env, NULL, "a CRF kernel called with the wrong arguments");
  return 0;
}

static napi_value outcome(napi_env env, int rc) {
  if (rc != 0) napi_throw_range_error(env, NULL, "a CRF kernel was given an index outside its memory");
  return NULL;
}

/*
 * One N-API function per kernel: `count` arguments, then the memory's length; `call` uses `a` (the
 * arguments as i32), `f` (as numbers: an f32 argument is `(float)f[i]`), `base` and `limit`.
 */
#define NAPI_KERNEL(name, count, call)                                                     \
  static napi_value name(napi_env env, napi_callback_info info) {                          \
    int32_t a[count];                                                                      \
    double f[count];                                                                       \
    uint8_t *base;                                                                         \
    uint64_t limit;                                                                        \
    return kernel_args(env, info, a, f, count, &base, &limit) ? outcome(env, call) : NULL; \
  }

NAPI_KERNEL(js_splat, 8, splat(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]))
NAPI_KERNEL(js_add_into, 3, add_into(base, limit, a[0], a[1], a[2]))
NAPI_KERNEL(js_blur_direction, 8, blur_direction(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]))
NAPI_KERNEL(js_neighbours_of, 9, neighbours_of(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]))
NAPI_KERNEL(js_link_vertices, 9, link_vertices(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]))
NAPI_KERNEL(js_splat_listed, 10, splat_listed(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], (float)f[9]))
NAPI_KERNEL(js_splat_change, 13, splat_change(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]))
/* movePoints answers the new vertex count (or -1: out of room); an index outside the memory throws. */
static napi_value js_move_points(napi_env env, napi_callback_info info) {
  int32_t a[14];
  double f[14];
  uint8_t *base;
  uint64_t limit;
  if (!kernel_args(env, info, a, f, 14, &base, &limit)) return NULL;
  const int count = move_points(base, limit, a[0], a[1], a[2], a[3], f[4], f[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
  if (count == -2) return outcome(env, -1);
  napi_value result;
  napi_create_int32(env, count, &result);
  return result;
}

NAPI_KERNEL(js_slice_update, 9, slice_update(base, limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]))

static napi_value bind_kernels(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, fn;
  uint8_t *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !typed_array_data(env, argv[0], &data)) {
    napi_throw_type_error(env, NULL, "bindKernels(view: Uint8Array)");
    return NULL;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2")) {
    napi_get_null(env, &result);
    return result;
  }
  static const struct { const char *name; napi_callback call; } kernels[] = {
    { "splat", js_splat }, { "addInto", js_add_into }, { "blurDirection", js_blur_direction }, { "neighboursOf", js_neighbours_of },
    { "linkVertices", js_link_vertices }, { "splatListed", js_splat_listed }, { "splatChange", js_splat_change }, { "sliceUpdate", js_slice_update }, { "movePoints", js_move_points },
  };
  napi_create_object(env, &result);
  for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
    napi_create_function(env, kernels[k].name, NAPI_AUTO_LENGTH, kernels[k].call, data, &fn);
    napi_set_named_property(env, result, kernels[k].name, fn);
  }
  return result;
}
#else
static napi_value bind_kernels(napi_env env, napi_callback_info info) {
  napi_value result;
  (void)info;
  napi_get_null(env, &result);
  return result;
}
#endif

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &fn);
  napi_set_named_property(env, exports, "adviseHugePages", fn);
  napi_create_function(env, "bindKernels", NAPI_AUTO_LENGTH, bind_kernels, NULL, &fn);
  napi_set_named_property(env, exports, "bindKernels", fn);
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) {
    napi_create_function(env, "crfImage", NAPI_AUTO_LENGTH, crf_image, NULL, &fn);
    napi_set_named_property(env, exports, "crfImage", fn);
  }
#endif
  return exports;
}
