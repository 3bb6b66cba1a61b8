/* Reading the image addon's arguments: typed arrays of one type, positive integers. */
#ifndef IMAGE_NAPI_ARGS_H
#define IMAGE_NAPI_ARGS_H
#include <node_api.h>
#include <stdint.h>

static inline int typed(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  size_t offset;
  napi_value buffer;
  return napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) == napi_ok && type == want;
}

static inline int int_arg(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok && *out > 0;
}
#endif
