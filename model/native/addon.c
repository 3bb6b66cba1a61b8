/*
 * The image addon (N-API, `npm run build:native`; everything works without it, in JavaScript, to the
 * same bytes): the uint8 frame resize (resize.c), the float model input (normalize.c) and the labels
 * from a score map (labels.c).
 */
#include <node_api.h>

napi_value image_resize_function(napi_env env);
napi_value image_labels_function(napi_env env);
napi_value image_preprocess_function(napi_env env);

NAPI_MODULE_INIT() {
  napi_value resize = image_resize_function(env), labels = image_labels_function(env),
             preprocess = image_preprocess_function(env);
  if (!resize || !labels || !preprocess || napi_set_named_property(env, exports, "resizeRgbUint8", resize) != napi_ok ||
      napi_set_named_property(env, exports, "labelsFromScores", labels) != napi_ok ||
      napi_set_named_property(env, exports, "preprocessRgb", preprocess) != napi_ok)
    return NULL;
  return exports;
}
