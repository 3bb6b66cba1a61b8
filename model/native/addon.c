/*
 * The image addon (N-API, `npm run build:native`; everything works without it, in JavaScript, to the
 * same bytes): the uint8 frame resize (resize.c) and the labels from a score map (labels.c).
 */
#include <node_api.h>

napi_value image_resize_function(napi_env env);
napi_value image_labels_function(napi_env env);

NAPI_MODULE_INIT() {
  napi_value resize = image_resize_function(env), labels = image_labels_function(env);
  if (!resize || !labels || napi_set_named_property(env, exports, "resizeRgbUint8", resize) != napi_ok ||
      napi_set_named_property(env, exports, "labelsFromScores", labels) != napi_ok)
    return NULL;
  return exports;
}
