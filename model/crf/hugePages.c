/*
 * adviseHugePages(view, bytes): asks Linux to back `bytes` of memory from `view`'s first byte with
 * transparent huge pages (madvise MADV_HUGEPAGE), where THP is in "madvise" mode (Ubuntu's default,
 * and this project's VMs). The CRF's WebAssembly memory is fresh in every process: a first-touched
 * 4 KiB page costs 11-14 us on a Firecracker VM, a 2 MiB one about as much as 4 KiB ones. Returns the
 * offset from `view` of the first 2 MiB-aligned address (grow the memory to such boundaries: a huge
 * page is used only where its whole 2 MiB is mapped when first touched), or -1 where madvise failed
 * or the system has no THP. Built by `npm run build:native`; the CRF runs the same without it.
 */
#include <node_api.h>
#include <stdint.h>
#include <sys/mman.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)

static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_typedarray_type type;
  size_t length, offset;
  void *data = NULL;
  napi_value buffer, result;
  double bytes = 0;
  double answer = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok ||
      type != napi_uint8_array || napi_get_value_double(env, argv[1], &bytes) != napi_ok || !(bytes > 0)) {
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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &fn);
  napi_set_named_property(env, exports, "adviseHugePages", fn);
  return exports;
}
