/*
 * The SIMD building blocks every native CRF file shares (static inline: each file gets its own,
 * inlined into its loops): AVX2 rows of up to 24 floats, lattice.as.ts's exp polynomial eight
 * lanes wide, lane reductions grouped as lattice.as.ts groups them, the bounds checks that stand in
 * for WebAssembly's traps, and the lattice's hash table.
 */
#ifndef CRF_SIMD_H
#define CRF_SIMD_H
#include <stdint.h>
#include <string.h>

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

static inline float *at_f32(uint8_t *base, int32_t offset) { return (float *)(base + (uint32_t)offset); }
static inline const int32_t *at_i32(uint8_t *base, int32_t offset) { return (const int32_t *)(base + (uint32_t)offset); }

/*
 * Bounds: WebAssembly traps on an access outside its memory; these kernels check instead, against
 * `limit` (the memory's byte length): each array's extent before a loop, each index read from memory
 * (lattice corners, neighbours, listed pixels) where it is used. A kernel that finds one returns -1
 * and touches nothing past it; the caller throws (the frame fails, as on a trap).
 */
static inline int inside(uint64_t limit, int32_t offset, uint64_t bytes) {
  return offset >= 0 && (uint64_t)(uint32_t)offset + bytes <= limit;
}

/* Rows of `stride` floats that fit between `offset` and `limit`. */
static inline uint64_t rows_inside(uint64_t limit, int32_t offset, int stride) {
  return offset < 0 || (uint64_t)(uint32_t)offset > limit ? 0 : (limit - (uint32_t)offset) / ((uint64_t)stride * 4);
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
#endif
#endif
