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
 * - crfImage(...): one image's whole CRF, off the JavaScript thread (oneImage.c); only where the CPU has AVX2.
 */
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include "crf.h"

#define HUGE_PAGE ((uintptr_t)2 << 20)

int typed_array_data(napi_env env, napi_value value, uint8_t **data) {
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
#include "simd.h"

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