/*
 * One image's mean field on two threads — the caller's and one pthread, a step at a time (spinning,
 * then a futex) — over an arena addressed like the WebAssembly memory (32-bit offsets from its
 * base): the same split of the points as the WebAssembly engine wherever a sum depends on it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "simd.h"
#include "oneImage.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2")


/*
 * One arena kept between images (`crf --stdin` sends many): its pages, touched once, stay mapped,
 * so the next image does not pay their first-touch faults again. Everything the CRF reads from it
 * is written (or zeroed) first, as in the worker's reused WebAssembly memory. Taken and given back
 * atomically (any thread with its own Node environment may run images); an image that finds it
 * taken gets a fresh one.
 */
static void *idle_arena = NULL;

void *take_arena(void) {
  void *arena = __atomic_exchange_n(&idle_arena, NULL, __ATOMIC_ACQ_REL);
  if (arena) return arena;
  arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(arena, ARENA_BYTES, MADV_HUGEPAGE);
#endif
  return arena;
}

void give_back_arena(void *arena) {
  void *none = NULL;
  if (!__atomic_compare_exchange_n(&idle_arena, &none, arena, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) munmap(arena, ARENA_BYTES);
}

static void futex_wait(_Atomic uint32_t *word, uint32_t value) { syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0); }
static void futex_wake(_Atomic uint32_t *word) { syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* Waits until *word != value: a short spin (steps come microseconds apart), then sleeps. */
void wait_change(_Atomic uint32_t *word, uint32_t value) {
  for (int i = 0; i < 20000; i++) {
    if (atomic_load_explicit(word, memory_order_acquire) != value) return;
    _mm_pause();
  }
  while (atomic_load_explicit(word, memory_order_acquire) == value) futex_wait(word, value);
}

void *helper_main(void *arg) {
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
uint32_t helper_start(Crf *crf, Step theirs, const int32_t *args, int count) {
  Helper *h = &crf->helper;
  h->step = theirs;
  memcpy(h->args, args, (size_t)count * 4);
  const uint32_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed) + 1;
  atomic_store_explicit(&h->seq, seq, memory_order_release);
  futex_wake(&h->seq);
  return seq;
}

static void helper_done(Crf *crf, uint32_t seq) { wait_change(&crf->helper.done, seq - 1); }

void both(Crf *crf, Step theirs, const int32_t *args, int count, Step ours, const int32_t *mine) {
  const uint32_t seq = helper_start(crf, theirs, args, count);
  ours(crf, mine);
  helper_done(crf, seq);
}

void stop_helper(Crf *crf) {
  Helper *h = &crf->helper;
  if (!h->started) return;
  h->step = NULL;
  atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
  futex_wake(&h->seq);
  pthread_join(h->thread, NULL);
  h->started = 0;
}

/* Steps: each reads its arguments from `a` (32-bit words; a float as its bits). */
float f32_of(int32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
int32_t bits_of(float f) {
  int32_t bits;
  memcpy(&bits, &f, 4);
  return bits;
}
#define CHECKED(call) do { if ((call) != 0) crf->failed = 1; } while (0)
void step_splat(Crf *crf, const int32_t *a) { CHECKED(splat(crf->base, crf->limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])); }
void step_add_into(Crf *crf, const int32_t *a) { CHECKED(add_into(crf->base, crf->limit, a[0], a[1], a[2])); }
void step_blur(Crf *crf, const int32_t *a) { CHECKED(blur_direction(crf->base, crf->limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])); }
void step_slice_update(Crf *crf, const int32_t *a) { CHECKED(slice_update(crf->base, crf->limit, a[0], a[1], 0, a[2], a[3], a[4], a[5], a[6], a[7])); }
void step_neighbours(Crf *crf, const int32_t *a) { CHECKED(neighbours_of(crf->base, crf->limit, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])); }
void step_build(Crf *crf, const int32_t *a) { ((int32_t *)a)[10] = build_lattice(crf->base, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]); }
void step_splat_ones(Crf *crf, const int32_t *a) { splat_ones(crf->base, a[0], a[1], a[2], a[3], a[4], a[5]); }
void step_normalise_all(Crf *crf, const int32_t *a) { normalise_all(crf->base, a[0], a[1], a[2], a[3], a[4], a[5], f32_of(a[6]), a[7]); }
void step_normalise_probabilities(Crf *crf, const int32_t *a) { ((int32_t *)a)[10] = normalise_probabilities(crf->base, a[0], a[1], a[2]); }
void step_touch(Crf *crf, const int32_t *a) {
  /* The pages' first-touch faults taken on this thread: an atomic add of 0, since the other thread may already be writing there. */
  for (uint64_t i = 0; i < (uint32_t)a[1]; i += 4096) __atomic_fetch_add((uint32_t *)(crf->base + (uint32_t)a[0] + i), 0, __ATOMIC_RELAXED);
}
void step_read(Crf *crf, const int32_t *a) {
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
void run_step(Crf *crf, Step step, const int32_t *theirs, const int32_t *mine, int count) {
  if (crf->two) both(crf, step, theirs, count, step, mine);
  else step(crf, mine);
}

int32_t arena_alloc(Crf *crf, uint64_t bytes) {
  const uint64_t at = (crf->top + 15) & ~(uint64_t)15;
  if (at + bytes + 64 > crf->limit) {
    crf->failed = 2;
    return -1;
  }
  crf->top = at + bytes;
  return (int32_t)at;
}

/* ---- The image: latticeWasm.ts's WasmMeanField.infer for one image with its two kernels ---- */


static float slice_gain(int d) { return (float)(1.0 / (1.0 + pow(2.0, -d))); }

/* WasmEngine.blurLattice: returns where the result is. */
int32_t blur_lattice(Crf *crf, const Kernel *k, int width, int32_t from, int32_t first, int32_t second) {
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
void splat_points(Crf *crf, int n, const Kernel *k, int32_t values, int width, int32_t into, int32_t helper_into) {
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
int add_kernel(Crf *crf, Kernel *k, int n, int width, int32_t image, double xy, double rgb) {
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

void step_peaks(Crf *crf, const int32_t *a) { peaks(crf->base, a[0], a[1], a[2], at_f32(crf->base, a[3])); }
void step_prepare(Crf *crf, const int32_t *a) { prepare(crf->base, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); }

#endif
