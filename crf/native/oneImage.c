/*
 * One image, whole, in this addon: what a CRF worker and its helper thread do for a one-image
 * `crf` (latticeWasm.ts's order over lattice.as.ts's functions), on a libuv pool thread and one
 * pthread, with no JavaScript thread to boot (a large share of a one-image process).
 *
 * Same results as the WebAssembly engine: the same two-thread split wherever a sum depends on it
 * (each half of the points splatted apart, then added), the lattice built from the same f64
 * arithmetic (JavaScript's Math.round), the unary's log and the softmax's exp with the same
 * polynomials. The memory is an arena addressed like the WebAssembly memory (32-bit offsets from
 * its base), so the kernels above run on it unchanged.
 */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include "simd.h"
#include "oneImage.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2")

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

double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* WasmMeanField.infer for one image: read, checked and normalised probabilities, the labels in play, the unary, the iterations, the labels. */
int infer_image(ImageJob *job) {
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

void execute_image(napi_env env, void *data) {
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

void free_image_job(ImageJob *job) {
  if (job->crf.base) give_back_arena(job->crf.base);
  free(job->path);
  free(job->labels);
  free(job->q);
  free(job);
}

void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, object, name, v);
}

void complete_image(napi_env env, napi_status status, void *data) {
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
napi_value crf_image(napi_env env, napi_callback_info info) {
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

#endif
