/*
 * One image, whole, in this addon: what a CRF worker and its helper thread do for a one-image
 * `crf` (latticeWasm.ts's order over lattice.as.ts's functions), on a libuv pool thread and one
 * pthread, with no JavaScript thread to boot (~100 ms of a one-image process). Included by
 * crfNative.c (one translation unit: it uses the kernels there).
 *
 * Same results as the WebAssembly engine: the same two-thread split wherever a sum depends on it
 * (each half of the points splatted apart, then added), the lattice built from the same f64
 * arithmetic (JavaScript's Math.round), the unary's log and the softmax's exp with the same
 * polynomials. The memory is an arena addressed like the WebAssembly memory (32-bit offsets from
 * its base), so the kernels above run on it unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ARENA_BYTES ((uint64_t)2 << 30)

/*
 * One arena kept between images (`crf --stdin` sends many): its pages, touched once, stay mapped,
 * so the next image does not pay their first-touch faults again. Everything the CRF reads from it
 * is written (or zeroed) first, as in the worker's reused WebAssembly memory. Taken and given back
 * atomically (any thread with its own Node environment may run images); an image that finds it
 * taken gets a fresh one.
 */
static void *idle_arena = NULL;

static void *take_arena(void) {
  void *arena = __atomic_exchange_n(&idle_arena, NULL, __ATOMIC_ACQ_REL);
  if (arena) return arena;
  arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(arena, ARENA_BYTES, MADV_HUGEPAGE);
#endif
  return arena;
}

static void give_back_arena(void *arena) {
  void *none = NULL;
  if (!__atomic_compare_exchange_n(&idle_arena, &none, arena, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) munmap(arena, ARENA_BYTES);
}
#define TWO_THREADS_FROM 65536 /* wasmEngine.ts's MIN_POINTS_FOR_TWO_THREADS */

/* ---- lattice.as.ts's construction, pixel features and per-pixel steps, over the arena ---- */

static void pixel_features(uint8_t *base, int first, int last, int width, int32_t image, double xy, double rgb, int32_t out) {
  const int d = image ? 5 : 2;
  float *o = at_f32(base, out);
  const uint8_t *im = base + (uint32_t)image;
  for (int p = first; p < last; p++) {
    const int y = p / width;
    float *at = o + (size_t)p * d;
    at[0] = (float)((double)(p - y * width) / xy);
    at[1] = (float)((double)y / xy);
    if (image)
      for (int c = 0; c < 3; c++) at[2 + c] = (float)((double)im[(size_t)p * 3 + c] / rgb);
  }
}

/* AssemblyScript's Math.round (JavaScript's): halves go toward +∞. */
static double js_round(double x) {
  const double up = ceil(x);
  return up - 0.5 <= x ? up : up - 1.0;
}

/* findKey with insertion: the vertex of `key`, inserted as vertex `count` when new; -2 when out of room. */
static int find_or_insert(const int32_t *key, int d, int32_t *keys, int32_t *table, uint32_t mask, int count, int capacity) {
  for (uint32_t slot = key_hash(key, d) & mask;; slot = (slot + 1) & mask) {
    const int32_t entry = table[slot];
    if (entry == 0) {
      if (count >= capacity) return -2;
      memcpy(keys + (size_t)count * d, key, (size_t)d * 4);
      table[slot] = count + 1;
      return count;
    }
    const int32_t *other = keys + (size_t)(entry - 1) * d;
    int same = 1;
    for (int i = 0; i < d; i++) same &= other[i] == key[i];
    if (same) return entry - 1;
  }
}

/* The per-dimension scale of lattice.as.ts's prepareScratch: features onto the lattice's spacing. */
static void lattice_scale(int d, double *scale) {
  for (int i = 0; i < d; i++) scale[i] = ((double)(d + 1) * sqrt(2.0 / 3.0)) / sqrt((double)((i + 1) * (i + 2)));
}

/* Point features' enclosing simplex (embedPoint's arithmetic): its d+1 vertices' keys and barycentric weights. */
static void simplex_of(int d, const float *feature, const double *scale, int32_t key[][MAX_D], float *weight) {
  const int d1 = d + 1;
  double elevated[MAX_D + 1], bary[MAX_D + 2];
  int32_t rem0[MAX_D + 1], rank[MAX_D + 1];
  const double down = 1.0 / (double)d1;
  double sm = 0;
  for (int j = d; j > 0; j--) {
    const double cf = (double)feature[j - 1] * scale[j - 1];
    elevated[j] = sm - (double)j * cf;
    sm += cf;
  }
  elevated[0] = sm;
  int sum = 0;
  for (int i = 0; i <= d; i++) {
    const double e = elevated[i];
    const double v = down * e;
    const int up = (int)ceil(v) * d1;
    const int lo = (int)floor(v) * d1;
    const int r = (double)up - e < e - (double)lo ? up : lo;
    rem0[i] = r;
    sum += r;
  }
  sum = (int)js_round((double)sum / (double)d1);
  for (int i = 0; i <= d; i++) rank[i] = 0;
  for (int i = 0; i < d; i++) {
    const double di = elevated[i] - (double)rem0[i];
    int rank_i = rank[i];
    for (int j = i + 1; j <= d; j++) {
      const double dj = elevated[j] - (double)rem0[j];
      const int below = di < dj;
      rank_i += below;
      rank[j] += 1 - below;
    }
    rank[i] = rank_i;
  }
  if (sum > 0) {
    for (int i = 0; i <= d; i++) {
      if (rank[i] >= d1 - sum) {
        rank[i] -= d1 - sum;
        rem0[i] -= d1;
      } else rank[i] += sum;
    }
  } else if (sum < 0) {
    for (int i = 0; i <= d; i++) {
      if (rank[i] < -sum) {
        rank[i] += d1 + sum;
        rem0[i] += d1;
      } else rank[i] += sum;
    }
  }
  for (int i = 0; i < d + 2; i++) bary[i] = 0;
  for (int i = 0; i <= d; i++) {
    const double v = (elevated[i] - (double)rem0[i]) * down;
    bary[d - rank[i]] += v;
    bary[d1 - rank[i]] -= v;
  }
  bary[0] = bary[0] + 1.0 + bary[d1];
  for (int remainder = 0; remainder <= d; remainder++) {
    for (int i = 0; i < d; i++) key[remainder][i] = rem0[i] + (rank[i] <= d - remainder ? remainder : remainder - d1);
    weight[remainder] = (float)bary[remainder];
  }
}

/* embedPoint: point k's enclosing simplex found or inserted; the new vertex count, or -1 when out of room. */
static int embed_point(int k, int d, const float *feature, int32_t *offsets, float *weights, int32_t *keys, int capacity, int32_t *table, uint32_t mask, int count, const double *scale) {
  const int d1 = d + 1;
  int32_t key[MAX_D + 1][MAX_D];
  float weight[MAX_D + 1];
  simplex_of(d, feature, scale, key, weight);
  for (int remainder = 0; remainder <= d; remainder++) {
    const int vertex = find_or_insert(key[remainder], d, keys, table, mask, count, capacity);
    if (vertex == -2) return -1;
    if (vertex == count) count++;
    offsets[(size_t)k * d1 + remainder] = vertex + 1;
    weights[(size_t)k * d1 + remainder] = weight[remainder];
  }
  return count;
}

static int build_lattice(uint8_t *base, int points, int d, int32_t features, int32_t offsets, int32_t weights, int32_t keys, int capacity, int32_t table, int table_capacity) {
  const int d1 = d + 1;
  double scale[MAX_D];
  lattice_scale(d, scale);
  int32_t *t = (int32_t *)at_i32(base, table);
  memset(t, 0, (size_t)table_capacity * 4);
  const float *f = at_f32(base, features);
  int count = 0;
  for (int k = 0; k < points; k++) {
    count = embed_point(k, d, f + (size_t)k * d, (int32_t *)at_i32(base, offsets), at_f32(base, weights), (int32_t *)at_i32(base, keys), capacity, t, (uint32_t)table_capacity - 1, count, scale);
    if (count < 0) return -1;
  }
  return count;
}

static int merge_keys(uint8_t *base, int count_b, int d, int32_t keys_b, int32_t keys, int32_t table, int table_capacity, int count, int capacity, int32_t remap) {
  const int32_t *from = at_i32(base, keys_b);
  int32_t *to = (int32_t *)at_i32(base, remap);
  for (int v = 0; v < count_b; v++) {
    const int vertex = find_or_insert(from + (size_t)v * d, d, (int32_t *)at_i32(base, keys), (int32_t *)at_i32(base, table), (uint32_t)table_capacity - 1, count, capacity);
    if (vertex == -2) return -1;
    if (vertex == count) count++;
    to[v] = vertex;
  }
  return count;
}

static void remap_offsets(uint8_t *base, int32_t offsets, int count, int32_t remap) {
  int32_t *o = (int32_t *)at_i32(base, offsets);
  const int32_t *r = at_i32(base, remap);
  for (int k = 0; k < count; k++) o[k] = r[o[k] - 1] + 1;
}

static void splat_ones(uint8_t *base, int points, int d1, int32_t offsets, int32_t weights, int32_t lattice, int lattice_floats) {
  float *l = at_f32(base, lattice);
  const int32_t *o = at_i32(base, offsets);
  const float *w = at_f32(base, weights);
  memset(l, 0, (size_t)lattice_floats * 4);
  for (size_t k = 0, corners = (size_t)points * d1; k < corners; k++) l[(size_t)o[k] * 4] += w[k];
}

static void normalise_all(uint8_t *base, int first, int last, int d1, int32_t offsets, int32_t weights, int32_t ones, float alpha, int32_t scale) {
  const int32_t *o = at_i32(base, offsets);
  const float *w = at_f32(base, weights), *blurred = at_f32(base, ones);
  float *s = at_f32(base, scale);
  for (int p = first; p < last; p++) {
    float total = 0;
    for (int r = 0; r < d1; r++) {
      const size_t k = (size_t)p * d1 + r;
      total += (w[k] * alpha) * blurred[(size_t)o[k] * 4];
    }
    s[p] = (float)(1.0 / ((double)total + 1e-20));
  }
}

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
KERNEL static void prepare(uint8_t *base, int points, int classes, int32_t active, int m, int stride, int32_t probabilities, int32_t unary, int32_t q) {
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
static int normalise_probabilities(uint8_t *base, int points, int classes, int32_t probabilities) {
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

static void peaks(uint8_t *base, int points, int classes, int32_t probabilities, float *peak) {
  for (int c = 0; c < classes; c++) peak[c] = 0;
  for (int p = 0; p < points; p++) {
    const float *row = at_f32(base, probabilities) + (size_t)p * classes;
    for (int c = 0; c < classes; c++)
      if (row[c] > peak[c]) peak[c] = row[c];
  }
}

/* expand: the argmax labels (and, when `full`, Q over all labels) of points' rows of Q. */
static void expand(uint8_t *base, int points, int m, int stride, int32_t q, int classes, const int32_t *active, float *full, uint8_t *labels) {
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

/* ---- Two threads: the caller's and one pthread, a step at a time (spinning, then a futex) ---- */

typedef struct Crf Crf;
typedef void (*Step)(Crf *crf, const int32_t *a);

typedef struct {
  pthread_t thread;
  _Atomic uint32_t seq, done;
  Step step;
  int32_t args[12];
  Crf *crf;
  int started;
} Helper;

struct Crf {
  uint8_t *base;
  uint64_t limit, top;
  int failed; /* a kernel refused an index (-1), or a read failed */
  Helper helper;
  int two;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t value) { syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0); }
static void futex_wake(_Atomic uint32_t *word) { syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* Waits until *word != value: a short spin (steps come microseconds apart), then sleeps. */
static void wait_change(_Atomic uint32_t *word, uint32_t value) {
  for (int i = 0; i < 20000; i++) {
    if (atomic_load_explicit(word, memory_order_acquire) != value) return;
    _mm_pause();
  }
  while (atomic_load_explicit(word, memory_order_acquire) == value) futex_wait(word, value);
}

static void *helper_main(void *arg) {
  Helper *h = arg;
  for (uint32_t seen = 0;;) {
    wait_change(&h->seq, seen);
    seen = atomic_load_explicit(&h->seq, memory_order_acquire);
    if (!h->step) return NULL;
    h->step(h->crf, h->args);
    atomic_store_explicit(&h->done, seen, memory_order_release);
    futex_wake(&h->done);
  }
}

/* The helper runs `theirs(args)` while this thread runs `ours(mine)`; returns when both are done. */
/* Hands the helper `theirs(args)`; returns the step's number, for helper_done. */
static uint32_t helper_start(Crf *crf, Step theirs, const int32_t *args, int count) {
  Helper *h = &crf->helper;
  h->step = theirs;
  memcpy(h->args, args, (size_t)count * 4);
  const uint32_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed) + 1;
  atomic_store_explicit(&h->seq, seq, memory_order_release);
  futex_wake(&h->seq);
  return seq;
}

static void helper_done(Crf *crf, uint32_t seq) { wait_change(&crf->helper.done, seq - 1); }

static void both(Crf *crf, Step theirs, const int32_t *args, int count, Step ours, const int32_t *mine) {
  const uint32_t seq = helper_start(crf, theirs, args, count);
  ours(crf, mine);
  helper_done(crf, seq);
}

static void stop_helper(Crf *crf) {
  Helper *h = &crf->helper;
  if (!h->started) return;
  h->step = NULL;
  atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
  futex_wake(&h->seq);
  pthread_join(h->thread, NULL);
  h->started = 0;
}

/* Steps: each reads its arguments from `a` (32-bit words; a float as its bits). */
static float f32_of(int32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
static int32_t bits_of(float f) {
  int32_t bits;
  memcpy(&bits, &f, 4);
  return bits;
}
#define CHECKED(call) do { if ((call) != 0) crf->failed = 1; } while (0)
static void step_splat(Crf *crf, const int32_t *a) { CHECKED(splat(crf->base, crf->limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])); }
static void step_add_into(Crf *crf, const int32_t *a) { CHECKED(add_into(crf->base, crf->limit, a[0], a[1], a[2])); }
static void step_blur(Crf *crf, const int32_t *a) { CHECKED(blur_direction(crf->base, crf->limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])); }
static void step_slice_update(Crf *crf, const int32_t *a) { CHECKED(slice_update(crf->base, crf->limit, a[0], a[1], 0, a[2], a[3], a[4], a[5], a[6], a[7])); }
static void step_neighbours(Crf *crf, const int32_t *a) { CHECKED(neighbours_of(crf->base, crf->limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])); }
static void step_build(Crf *crf, const int32_t *a) { ((int32_t *)a)[10] = build_lattice(crf->base, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]); }
static void step_splat_ones(Crf *crf, const int32_t *a) { splat_ones(crf->base, a[0], a[1], a[2], a[3], a[4], a[5]); }
static void step_normalise_all(Crf *crf, const int32_t *a) { normalise_all(crf->base, a[0], a[1], a[2], a[3], a[4], a[5], f32_of(a[6]), a[7]); }
static void step_normalise_probabilities(Crf *crf, const int32_t *a) { ((int32_t *)a)[10] = normalise_probabilities(crf->base, a[0], a[1], a[2]); }
static void step_touch(Crf *crf, const int32_t *a) {
  /* The pages' first-touch faults taken on this thread: an atomic add of 0, since the other thread may already be writing there. */
  for (uint64_t i = 0; i < (uint32_t)a[1]; i += 4096) __atomic_fetch_add((uint32_t *)(crf->base + (uint32_t)a[0] + i), 0, __ATOMIC_RELAXED);
}
static void step_read(Crf *crf, const int32_t *a) {
  /* fd, at, bytes, file position: a[10] = bytes read, or -1. */
  uint8_t *into = crf->base + (uint32_t)a[1];
  int64_t done = 0;
  while (done < a[2]) {
    const ssize_t got = pread(a[0], into + done, (size_t)(a[2] - done), (off_t)a[3] + done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += got;
  }
  ((int32_t *)a)[10] = (int32_t)done;
}

/* Runs `step` over `a` for the helper's part and `mine` for ours (on one thread when there is no helper: `mine` only). */
static void run_step(Crf *crf, Step step, const int32_t *theirs, const int32_t *mine, int count) {
  if (crf->two) both(crf, step, theirs, count, step, mine);
  else step(crf, mine);
}

static int32_t arena_alloc(Crf *crf, uint64_t bytes) {
  const uint64_t at = (crf->top + 15) & ~(uint64_t)15;
  if (at + bytes + 64 > crf->limit) {
    crf->failed = 2;
    return -1;
  }
  crf->top = at + bytes;
  return (int32_t)at;
}

/* ---- The image: latticeWasm.ts's WasmMeanField.infer for one image with its two kernels ---- */

typedef struct {
  int d;
  int vertices;
  int32_t offsets, weights, neighbours, scale;
} Kernel;

static float slice_gain(int d) { return (float)(1.0 / (1.0 + pow(2.0, -d))); }

/* WasmEngine.blurLattice: returns where the result is. */
static int32_t blur_lattice(Crf *crf, const Kernel *k, int width, int32_t from, int32_t first, int32_t second) {
  int32_t src = from, dst = first;
  const int half = k->vertices >> 1;
  for (int j = 0; j <= k->d; j++) {
    const int32_t theirs[8] = { j, half, k->vertices, k->vertices, width, k->neighbours, src, dst };
    const int32_t mine[8] = { j, 0, crf->two ? half : k->vertices, k->vertices, width, k->neighbours, src, dst };
    run_step(crf, step_blur, theirs, mine, 8);
    src = dst;
    dst = dst == first ? second : first;
  }
  return src;
}

/* WasmEngine.splatPoints: each half of the points into its own buffer, then added. */
static void splat_points(Crf *crf, int n, const Kernel *k, int32_t values, int width, int32_t into, int32_t helper_into) {
  const int d1 = k->d + 1;
  const int floats = (k->vertices + 1) * width;
  if (!crf->two) {
    const int32_t mine[8] = { n, d1, width, k->offsets, k->weights, values, into, floats };
    step_splat(crf, mine);
    return;
  }
  const int h = n >> 1;
  const int32_t theirs[8] = { n - h, d1, width, k->offsets + h * d1 * 4, k->weights + h * d1 * 4, values + h * width * 4, helper_into, floats };
  const int32_t mine[8] = { h, d1, width, k->offsets, k->weights, values, into, floats };
  both(crf, step_splat, theirs, 8, step_splat, mine);
  const int m = (floats >> 1) & ~3;
  const int32_t add_theirs[3] = { into + m * 4, helper_into + m * 4, floats - m };
  const int32_t add_mine[3] = { into, helper_into, m };
  both(crf, step_add_into, add_theirs, 3, step_add_into, add_mine);
}

/* WasmMeanField.build + normalise: a kernel's lattice over the image's pixels, linked, and its 1/(K·1). */
static int add_kernel(Crf *crf, Kernel *k, int n, int width, int32_t image, double xy, double rgb) {
  const int d = k->d, d1 = d + 1, h = n >> 1;
  k->offsets = arena_alloc(crf, (uint64_t)n * d1 * 4);
  k->weights = arena_alloc(crf, (uint64_t)n * d1 * 4);
  const uint64_t mark = crf->top;
  int32_t keys = 0, table = 0;
  int vertices = -1, table_capacity = 1;
  /* Room for one vertex per point first, as WasmEngine.buildLattice tries. */
  for (int attempt = 0; attempt < 2 && vertices < 0; attempt++) {
    const int capacity = attempt == 0 ? n : n * d1;
    crf->top = mark;
    keys = arena_alloc(crf, (uint64_t)capacity * d * 4);
    for (table_capacity = 1; table_capacity < capacity * 2;) table_capacity <<= 1;
    table = arena_alloc(crf, (uint64_t)table_capacity * 4);
    const int32_t input = arena_alloc(crf, (uint64_t)n * d * 4);
    if (crf->failed) return -1;
    /* The helper takes the second half's first-touch faults while this thread computes the features. */
    const int bytes = n * d * 4, ours = (bytes >> 13) << 12;
    const int32_t touch[2] = { input + ours, bytes - ours };
    const uint32_t seq = crf->two ? helper_start(crf, step_touch, touch, 2) : 0;
    pixel_features(crf->base, 0, n, width, image, xy, rgb, input);
    if (crf->two) {
      helper_done(crf, seq);
      /* Each half of the points into its own table, then the second merged into the first. */
      const int32_t keys_b = arena_alloc(crf, (uint64_t)capacity * d * 4);
      const int32_t table_b = arena_alloc(crf, (uint64_t)table_capacity * 4);
      if (crf->failed) return -1;
      int32_t theirs[11] = { n - h, d, input + h * d * 4, k->offsets + h * d1 * 4, k->weights + h * d1 * 4, keys_b, capacity, table_b, table_capacity, 0, 0 };
      int32_t mine[11] = { h, d, input, k->offsets, k->weights, keys, capacity, table, table_capacity, 0, 0 };
      both(crf, step_build, theirs, 11, step_build, mine);
      const int count_a = mine[10], count_b = crf->helper.args[10];
      if (count_a < 0 || count_b < 0) continue;
      const int32_t remap = arena_alloc(crf, (uint64_t)count_b * 4);
      if (crf->failed) return -1;
      vertices = merge_keys(crf->base, count_b, d, keys_b, keys, table, table_capacity, count_a, capacity, remap);
      if (vertices >= 0) remap_offsets(crf->base, k->offsets + h * d1 * 4, (n - h) * d1, remap);
    } else {
      vertices = build_lattice(crf->base, n, d, input, k->offsets, k->weights, keys, capacity, table, table_capacity);
    }
  }
  if (vertices < 0) {
    crf->failed = 2;
    return -1;
  }
  const int32_t linked = arena_alloc(crf, (uint64_t)d1 * vertices * 2 * 4);
  if (crf->failed) return -1;
  const int half = vertices >> 1;
  const int32_t theirs[8] = { half, vertices, vertices, d, keys, table, table_capacity, linked };
  const int32_t mine[8] = { 0, crf->two ? half : vertices, vertices, d, keys, table, table_capacity, linked };
  run_step(crf, step_neighbours, theirs, mine, 8);
  /* Keep the neighbours, drop the hash table, keys and scratch: moved down over the keys. */
  const uint64_t bytes = (uint64_t)d1 * vertices * 2 * 4;
  memmove(crf->base + (uint32_t)keys, crf->base + (uint32_t)linked, bytes);
  k->neighbours = keys;
  k->vertices = vertices;
  crf->top = ((uint64_t)(uint32_t)keys + bytes + 15) & ~(uint64_t)15;
  /* The normalisation, from one filtered column of ones. */
  k->scale = arena_alloc(crf, (uint64_t)n * 4);
  const uint64_t before = crf->top;
  const int floats = (vertices + 1) * 4;
  const int32_t a = arena_alloc(crf, (uint64_t)floats * 4), b = arena_alloc(crf, (uint64_t)floats * 4);
  if (crf->failed) return -1;
  memset(crf->base + (uint32_t)b, 0, 16);
  const float gain = slice_gain(d);
  if (crf->two) {
    const int32_t ones_theirs[6] = { n - h, d1, k->offsets + h * d1 * 4, k->weights + h * d1 * 4, b, floats };
    const int32_t ones_mine[6] = { h, d1, k->offsets, k->weights, a, floats };
    both(crf, step_splat_ones, ones_theirs, 6, step_splat_ones, ones_mine);
    const int m = (floats >> 1) & ~3;
    const int32_t add_theirs[3] = { a + m * 4, b + m * 4, floats - m };
    const int32_t add_mine[3] = { a, b, m };
    both(crf, step_add_into, add_theirs, 3, step_add_into, add_mine);
  } else splat_ones(crf->base, n, d1, k->offsets, k->weights, a, floats);
  const int32_t blurred = blur_lattice(crf, k, 4, a, b, a);
  const int32_t norm_theirs[8] = { h, n, d1, k->offsets, k->weights, blurred, bits_of(gain), k->scale };
  const int32_t norm_mine[8] = { 0, crf->two ? h : n, d1, k->offsets, k->weights, blurred, bits_of(gain), k->scale };
  run_step(crf, step_normalise_all, norm_theirs, norm_mine, 8);
  crf->top = before;
  return crf->failed ? -1 : 0;
}

static void step_peaks(Crf *crf, const int32_t *a) { peaks(crf->base, a[0], a[1], a[2], at_f32(crf->base, a[3])); }
static void step_prepare(Crf *crf, const int32_t *a) { prepare(crf->base, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); }

/* What JavaScript asks for and gets back; `status` says how it went. */
enum { DONE = 0, BAD_PROBABILITY = 1, NO_ROOM = 2, READ_FAILED = 3, TRUNCATED = 4, BAD_INDEX = 5, TOO_WIDE = 6 };

typedef struct {
  /* in */
  int width, height, classes, iterations, want_q;
  double prune, position_weight, position_xy, bilateral_weight, bilateral_xy, bilateral_rgb;
  char *path;
  double data_offset;
  /* the arena, made (and the image copied in) on the JavaScript thread */
  Crf crf;
  int32_t image;
  /* out */
  int status, problem, m;
  int32_t active[256];
  uint8_t *labels;
  float *q;
  double ms_setup, ms_inference;
  napi_async_work work;
  napi_deferred deferred;
} ImageJob;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* WasmMeanField.infer for one image: read, checked and normalised probabilities, the labels in play, the unary, the iterations, the labels. */
static int infer_image(ImageJob *job) {
  Crf *crf = &job->crf;
  const int n = job->width * job->height, classes = job->classes, h = n >> 1;
  const double started = now_ms();
  Kernel kernels[2];
  int count = 0;
  if (job->position_weight != 0) {
    kernels[count] = (Kernel){ .d = 2 };
    if (add_kernel(crf, &kernels[count], n, job->width, 0, job->position_xy, 1) != 0) return crf->failed == 1 ? BAD_INDEX : NO_ROOM;
    count++;
  }
  double weights[2] = { job->position_weight, job->bilateral_weight };
  if (job->bilateral_weight != 0) {
    weights[count] = job->bilateral_weight;
    kernels[count] = (Kernel){ .d = 5 };
    if (add_kernel(crf, &kernels[count], n, job->width, job->image, job->bilateral_xy, job->bilateral_rgb) != 0) return crf->failed == 1 ? BAD_INDEX : NO_ROOM;
    count++;
  }
  const double built = now_ms();
  job->ms_setup = built - started;
  /* The unary's rows are made where the probabilities lie (see latticeWasm.ts): read one row plus n·(widest − row) bytes in. */
  const int row = classes * 4, widest = ((classes + 3) & ~3) * 4;
  const int32_t unary = arena_alloc(crf, (uint64_t)n * widest + widest + 16);
  if (crf->failed) return NO_ROOM;
  const int32_t probabilities = unary + n * (widest - row) + widest;
  const int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return READ_FAILED;
  const int total = n * row;
  int got;
  if (crf->two) {
    const int half = (total >> 13) << 12;
    int32_t theirs[11] = { fd, probabilities + half, total - half, (int32_t)job->data_offset + half };
    int32_t mine[11] = { fd, probabilities, half, (int32_t)job->data_offset };
    both(crf, step_read, theirs, 11, step_read, mine);
    got = mine[10] < 0 || crf->helper.args[10] < 0 ? -1 : mine[10] + crf->helper.args[10];
  } else {
    int32_t mine[11] = { fd, probabilities, total, (int32_t)job->data_offset };
    step_read(crf, mine);
    got = mine[10];
  }
  close(fd);
  if (got < 0) return READ_FAILED;
  if (got < total) return TRUNCATED;
  int problem;
  if (crf->two) {
    int32_t theirs[11] = { n - h, classes, probabilities + h * classes * 4 };
    int32_t mine[11] = { h, classes, probabilities };
    both(crf, step_normalise_probabilities, theirs, 11, step_normalise_probabilities, mine);
    const int first = mine[10], second = crf->helper.args[10];
    problem = first != -1 || second == -1 ? first : second >= 0 ? second + h * classes : second - h;
  } else problem = normalise_probabilities(crf->base, n, classes, probabilities);
  if (problem != -1) {
    job->problem = problem;
    return BAD_PROBABILITY;
  }
  /* The labels in play: each one's peak over the image (halves on two threads). */
  const int32_t peak = arena_alloc(crf, (uint64_t)classes * 8);
  if (crf->failed) return NO_ROOM;
  if (crf->two) {
    const int32_t theirs[4] = { n - h, classes, probabilities + h * classes * 4, peak + classes * 4 };
    const int32_t mine[4] = { h, classes, probabilities, peak };
    both(crf, step_peaks, theirs, 4, step_peaks, mine);
  } else peaks(crf->base, n, classes, probabilities, at_f32(crf->base, peak));
  const float *peak_a = at_f32(crf->base, peak), *peak_b = peak_a + classes;
  int m = 0;
  for (int c = 0; c < classes; c++) {
    const float top = crf->two && peak_b[c] > peak_a[c] ? peak_b[c] : peak_a[c];
    if ((double)top >= job->prune || job->prune <= 0) job->active[m++] = c;
  }
  if (m == 0)
    for (; m < classes; m++) job->active[m] = m;
  job->m = m;
  const int stride = (m + 3) & ~3;
  if (stride > 24) return TOO_WIDE;
  int32_t blur_a[2], blur_b[2];
  for (int k = 0; k < count; k++) {
    const uint64_t bytes = (uint64_t)(kernels[k].vertices + 1) * stride * 4;
    blur_a[k] = arena_alloc(crf, bytes);
    blur_b[k] = arena_alloc(crf, bytes);
    if (crf->failed) return NO_ROOM;
    memset(crf->base + (uint32_t)blur_b[k], 0, (size_t)stride * 4);
  }
  const int32_t q = arena_alloc(crf, (uint64_t)n * stride * 4);
  const int32_t describe = arena_alloc(crf, 2 * KERNEL_BYTES);
  const int32_t list = arena_alloc(crf, (uint64_t)m * 4);
  if (crf->failed) return NO_ROOM;
  memcpy(crf->base + (uint32_t)list, job->active, (size_t)m * 4);
  /* prepare runs in place, on one thread; the helper meanwhile takes the faults of Q's last 60%. */
  const int32_t prep[8] = { n, classes, list, m, stride, probabilities, unary, q };
  if (crf->two) {
    const uint64_t q_bytes = (uint64_t)n * stride * 4, ours = (uint64_t)((double)q_bytes * 0.4 / 4096) * 4096;
    const int32_t touch[2] = { q + (int32_t)ours, (int32_t)(q_bytes - ours) };
    both(crf, step_touch, touch, 2, step_prepare, prep);
  } else step_prepare(crf, prep);
  for (int it = 0; it < job->iterations; it++) {
    int32_t blurred[2];
    for (int k = 0; k < count; k++) {
      splat_points(crf, n, &kernels[k], q, stride, blur_a[k], crf->two ? blur_b[k] : 0);
      blurred[k] = blur_lattice(crf, &kernels[k], stride, blur_a[k], blur_b[k], blur_a[k]);
    }
    int32_t *words = (int32_t *)at_i32(crf->base, describe);
    for (int k = 0; k < count; k++) {
      const int32_t w[6] = { kernels[k].offsets, kernels[k].weights, kernels[k].d + 1, blurred[k], kernels[k].scale, bits_of((float)(weights[k] * (1.0 / (1.0 + pow(2.0, -kernels[k].d))))) };
      memcpy(words + k * 6, w, sizeof w);
    }
    const int32_t theirs[8] = { h, n, m, stride, unary, q, describe, count };
    const int32_t mine[8] = { 0, crf->two ? h : n, m, stride, unary, q, describe, count };
    run_step(crf, step_slice_update, theirs, mine, 8);
    if (crf->failed) return BAD_INDEX;
  }
  job->labels = malloc((size_t)n);
  job->q = job->want_q ? calloc((size_t)n * classes, 4) : NULL;
  if (!job->labels || (job->want_q && !job->q)) return NO_ROOM;
  expand(crf->base, n, m, stride, q, classes, job->active, job->q, job->labels);
  job->ms_inference = now_ms() - built;
  return crf->failed ? BAD_INDEX : DONE;
}

static void execute_image(napi_env env, void *data) {
  (void)env;
  ImageJob *job = data;
  Crf *crf = &job->crf;
  if (crf->two) {
    crf->helper.crf = crf;
    crf->helper.started = pthread_create(&crf->helper.thread, NULL, helper_main, &crf->helper) == 0;
    if (!crf->helper.started) crf->two = 0;
  }
  job->status = infer_image(job);
  stop_helper(crf);
}

static void free_image_job(ImageJob *job) {
  if (job->crf.base) give_back_arena(job->crf.base);
  free(job->path);
  free(job->labels);
  free(job->q);
  free(job);
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, object, name, v);
}

static void complete_image(napi_env env, napi_status status, void *data) {
  ImageJob *job = data;
  napi_value result;
  napi_create_object(env, &result);
  set_number(env, result, "status", status == napi_ok ? job->status : NO_ROOM);
  set_number(env, result, "problem", job->problem);
  set_number(env, result, "msSetup", job->ms_setup);
  set_number(env, result, "msInference", job->ms_inference);
  napi_value active;
  napi_create_array_with_length(env, (size_t)job->m, &active);
  for (int k = 0; k < job->m; k++) {
    napi_value v;
    napi_create_int32(env, job->active[k], &v);
    napi_set_element(env, active, (uint32_t)k, v);
  }
  napi_set_named_property(env, result, "activeLabels", active);
  const size_t n = (size_t)job->width * job->height;
  if (job->status == DONE && job->labels) {
    void *bytes;
    napi_value buffer, array;
    napi_create_arraybuffer(env, n, &bytes, &buffer);
    memcpy(bytes, job->labels, n);
    napi_create_typedarray(env, napi_uint8_array, n, buffer, 0, &array);
    napi_set_named_property(env, result, "labels", array);
    if (job->q) {
      napi_create_arraybuffer(env, n * job->classes * 4, &bytes, &buffer);
      memcpy(bytes, job->q, n * job->classes * 4);
      napi_create_typedarray(env, napi_float32_array, n * job->classes, buffer, 0, &array);
      napi_set_named_property(env, result, "q", array);
    }
  }
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free_image_job(job);
}

/*
 * crfImage(rgb: Uint8Array, width, height, classes, probabilitiesPath, dataOffset, iterations, prune,
 *          positionWeight, positionXy, bilateralWeight, bilateralXy, bilateralRgb, wantQ, threads): Promise<result>
 */
static napi_value crf_image(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15], promise;
  ImageJob *job = NULL;
  uint8_t *rgb = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 15 || !(job = calloc(1, sizeof *job))) goto bad;
  size_t path_length = 0;
  bool want_q = false;
  double number[15];
  for (int i = 1; i < 15; i++)
    if (i != 4 && i != 13 && napi_get_value_double(env, argv[i], &number[i]) != napi_ok) goto bad_job;
  job->width = (int)number[1];
  job->height = (int)number[2];
  job->classes = (int)number[3];
  job->data_offset = number[5];
  job->iterations = (int)number[6];
  job->prune = number[7];
  job->position_weight = number[8];
  job->position_xy = number[9];
  job->bilateral_weight = number[10];
  job->bilateral_xy = number[11];
  job->bilateral_rgb = number[12];
  napi_get_value_bool(env, argv[13], &want_q);
  job->want_q = want_q;
  const uint64_t n = (uint64_t)job->width * job->height;
  if (job->width < 1 || job->height < 1 || n > (1u << 26) || job->classes < 1 || job->classes > 24 || n * job->classes * 4 > (1u << 30) || job->iterations < 0 || !(job->data_offset >= 0) ||
      !typed_array_data(env, argv[0], &rgb) || napi_get_value_string_utf8(env, argv[4], NULL, 0, &path_length) != napi_ok)
    goto bad_job;
  size_t rgb_length = 0;
  {
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    void *at;
    napi_get_typedarray_info(env, argv[0], &type, &rgb_length, &at, &buffer, &offset);
  }
  if (rgb_length != n * 3) goto bad_job;
  job->path = malloc(path_length + 1);
  if (!job->path) goto bad_job;
  napi_get_value_string_utf8(env, argv[4], job->path, path_length + 1, &path_length);
  /* The arena: address space reserved whole (memory is used as it is touched), huge pages asked for. */
  void *arena = take_arena();
  if (!arena) goto bad_job;
  job->crf.base = arena;
  job->crf.limit = ARENA_BYTES;
  job->crf.top = 64; /* offset 0 means "no image" */
  job->crf.two = number[14] > 1 && n >= TWO_THREADS_FROM;
  job->image = arena_alloc(&job->crf, n * 3);
  memcpy(job->crf.base + (uint32_t)job->image, rgb, n * 3);
  napi_value name;
  napi_create_string_utf8(env, "deeplab-stream crf", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok || napi_create_async_work(env, NULL, name, execute_image, complete_image, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok)
    goto bad_job;
  return promise;
bad_job:
  if (job) free_image_job(job);
bad:
  napi_throw_type_error(env, NULL, "crfImage(rgb, width, height, classes, path, dataOffset, iterations, prune, positionWeight, positionXy, bilateralWeight, bilateralXy, bilateralRgb, wantQ, threads)");
  return NULL;
}
