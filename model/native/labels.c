/*
 * labelsFromScores in C (model/postprocess.ts has the algorithm and its reasons; this is the same,
 * step for step, in the same double arithmetic — built with -ffp-contract=off — so the labels are
 * the same bytes): argmax at score resolution; output runs whose four score neighbours agree are
 * filled; elsewhere, per run, the classes that can still win the cell, each a line along the run,
 * and their upper envelope walked left to right. Rows between the same two score rows copy the first
 * one and redo its boundary runs only.
 *
 * labelsFromScores(data, offset, classes, height, width, planar, outWidth, outHeight, xLow, xHigh,
 * xWeight, yLow, yHigh, yWeight, labels, classPixels)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "napiArgs.h"

typedef struct {
  const float *data;
  int32_t classes, height, width, classStride, pixelStride;
  uint8_t *list;  /* candidates per cell: classes entries from cell * classes */
  uint8_t *count; /* per cell; 255: not computed yet */
} Candidates;

/* The classes that can still be the argmax inside the cell at (y, x): a class whose largest corner is
   below another's smallest corner never wins. */
static int32_t candidates_of(Candidates *c, int32_t y, int32_t x) {
  int32_t cell = y * c->width + x;
  if (c->count[cell] != 255) return c->count[cell];
  int32_t x1 = x + 1 < c->width ? x + 1 : c->width - 1, y1 = y + 1 < c->height ? y + 1 : c->height - 1;
  const float *b00 = c->data + (size_t)cell * c->pixelStride, *b01 = c->data + (size_t)(y * c->width + x1) * c->pixelStride,
              *b10 = c->data + (size_t)(y1 * c->width + x) * c->pixelStride,
              *b11 = c->data + (size_t)(y1 * c->width + x1) * c->pixelStride;
  float hi[256];
  double floor_ = -INFINITY;
  for (int32_t i = 0; i < c->classes; i++) {
    size_t k = (size_t)i * c->classStride;
    float a = b00[k], b = b01[k], d = b10[k], e = b11[k];
    float minAB = a < b ? a : b, minDE = d < e ? d : e, maxAB = a < b ? b : a, maxDE = d < e ? e : d;
    float min = minAB < minDE ? minAB : minDE;
    hi[i] = maxAB < maxDE ? maxDE : maxAB;
    if (min > floor_) floor_ = min;
  }
  int32_t n = 0;
  uint8_t *list = c->list + (size_t)cell * c->classes;
  for (int32_t i = 0; i < c->classes; i++)
    if (hi[i] >= floor_) list[n++] = (uint8_t)i;
  c->count[cell] = (uint8_t)n;
  return n;
}

typedef struct {
  Candidates cand;
  const int32_t *runs, *xLow, *xHigh;
  const float *xWeight;
  uint8_t *labels;
  uint32_t *classPixels;
  double a[256], slope[256];
  uint8_t ids[256];
} Labelling;

static void boundary_run(Labelling *L, int32_t r, int32_t y0, int32_t y1, float fy32, size_t outRow) {
  Candidates *c = &L->cand;
  int32_t start = L->runs[r], end = L->runs[r + 1], x0 = L->xLow[start], x1 = L->xHigh[start];
  double fy = fy32, gy = 1 - fy;
  int32_t n = candidates_of(c, y0, x0);
  const uint8_t *list = c->list + (size_t)(y0 * c->width + x0) * c->classes;
  const float *b00 = c->data + (size_t)(y0 * c->width + x0) * c->pixelStride,
              *b01 = c->data + (size_t)(y0 * c->width + x1) * c->pixelStride,
              *b10 = c->data + (size_t)(y1 * c->width + x0) * c->pixelStride,
              *b11 = c->data + (size_t)(y1 * c->width + x1) * c->pixelStride;
  double *a = L->a, *slope = L->slope;
  for (int32_t i = 0; i < n; i++) {
    size_t k = (size_t)list[i] * c->classStride;
    double left = gy * b00[k] + fy * b10[k], right = gy * b01[k] + fy * b11[k];
    L->ids[i] = list[i];
    a[i] = left;
    slope[i] = right - left;
  }
  double fx = L->xWeight[start];
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (a[i] + slope[i] * fx > a[best] + slope[best] * fx) best = i;
  int32_t x = start;
  double from = fx;
  for (;;) {
    double switchAt = INFINITY;
    int32_t next = -1;
    for (int32_t i = 0; i < n; i++) {
      double ds = slope[i] - slope[best];
      if (ds <= 0) continue;
      double t = (a[best] - a[i]) / ds;
      if (t >= from && (t < switchAt || (t == switchAt && next >= 0 && slope[i] > slope[next]))) {
        switchAt = t;
        next = i;
      }
    }
    uint8_t label = L->ids[best];
    uint32_t filled = 0;
    for (; x < end && (double)L->xWeight[x] <= switchAt; x++, filled++) L->labels[outRow + x] = label;
    L->classPixels[label] += filled;
    if (x >= end) break;
    best = next;
    from = switchAt;
  }
}

static int taps_in(const int32_t *low, const int32_t *high, size_t n, int32_t size) {
  for (size_t i = 0; i < n; i++)
    if (low[i] < 0 || high[i] < 0 || low[i] >= size || high[i] >= size) return 0;
  return 1;
}

static napi_value labels_from_scores(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value argv[16];
  float *data, *xWeight, *yWeight;
  int32_t *xLow, *xHigh, *yLow, *yHigh;
  uint8_t *labels;
  uint32_t *classPixels;
  size_t dataLength, nx[3], ny[3], labelsLength, pixelsLength;
  int32_t offset, classes, height, width, planar, outWidth, outHeight;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 16 ||
      !typed(env, argv[0], napi_float32_array, (void **)&data, &dataLength) ||
      napi_get_value_int32(env, argv[1], &offset) != napi_ok || offset < 0 || !int_arg(env, argv[2], &classes) ||
      classes > 256 || !int_arg(env, argv[3], &height) || !int_arg(env, argv[4], &width) ||
      napi_get_value_int32(env, argv[5], &planar) != napi_ok || !int_arg(env, argv[6], &outWidth) ||
      !int_arg(env, argv[7], &outHeight) || !typed(env, argv[8], napi_int32_array, (void **)&xLow, &nx[0]) ||
      !typed(env, argv[9], napi_int32_array, (void **)&xHigh, &nx[1]) ||
      !typed(env, argv[10], napi_float32_array, (void **)&xWeight, &nx[2]) ||
      !typed(env, argv[11], napi_int32_array, (void **)&yLow, &ny[0]) ||
      !typed(env, argv[12], napi_int32_array, (void **)&yHigh, &ny[1]) ||
      !typed(env, argv[13], napi_float32_array, (void **)&yWeight, &ny[2]) ||
      !typed(env, argv[14], napi_uint8_array, (void **)&labels, &labelsLength) ||
      !typed(env, argv[15], napi_uint32_array, (void **)&classPixels, &pixelsLength) ||
      dataLength < (size_t)offset + (size_t)classes * height * width || nx[0] != (size_t)outWidth || nx[1] != nx[0] ||
      nx[2] != nx[0] || ny[0] != (size_t)outHeight || ny[1] != ny[0] || ny[2] != ny[0] ||
      labelsLength != (size_t)outWidth * outHeight || pixelsLength != (size_t)classes ||
      !taps_in(xLow, xHigh, nx[0], width) || !taps_in(yLow, yHigh, ny[0], height)) {
    napi_throw_type_error(env, NULL, "labelsFromScores(data, offset, classes, height, width, planar, outWidth, outHeight, xLow, xHigh, xWeight, yLow, yHigh, yWeight, labels, classPixels): arguments out of range");
    return NULL;
  }
  size_t cells = (size_t)height * width;
  data += offset;
  int32_t classStride = planar ? (int32_t)cells : 1, pixelStride = planar ? 1 : classes;
  /* Runs of output columns that share their left score column. */
  int32_t *runs = malloc(((size_t)outWidth + 1) * sizeof(int32_t));
  int32_t *boundaryRuns = malloc(((size_t)outWidth + 1) * sizeof(int32_t));
  uint8_t *low = malloc(cells), *list = malloc(cells * classes), *count = malloc(cells);
  Labelling *L = malloc(sizeof(Labelling));
  if (!runs || !boundaryRuns || !low || !list || !count || !L) {
    free(runs), free(boundaryRuns), free(low), free(list), free(count), free(L);
    napi_throw_error(env, NULL, "labelsFromScores: out of memory");
    return NULL;
  }
  int32_t runCount = 0;
  runs[runCount++] = 0;
  for (int32_t x = 1; x < outWidth; x++)
    if (xLow[x] != xLow[x - 1]) runs[runCount++] = x;
  runs[runCount] = outWidth; /* runCount runs: [runs[r], runs[r + 1]) */
  for (size_t p = 0; p < cells; p++) {
    const float *base = data + p * pixelStride;
    int32_t best = 0;
    float bestValue = base[0];
    for (int32_t c = 1; c < classes; c++) {
      float v = base[(size_t)c * classStride];
      if (v > bestValue) bestValue = v, best = c;
    }
    low[p] = (uint8_t)best;
  }
  memset(count, 255, cells);
  memset(classPixels, 0, (size_t)classes * sizeof(uint32_t));
  *L = (Labelling){.cand = {data, classes, height, width, classStride, pixelStride, list, count},
                   .runs = runs, .xLow = xLow, .xHigh = xHigh, .xWeight = xWeight, .labels = labels,
                   .classPixels = classPixels};
  uint32_t interior[256];
  int32_t boundaryCount = 0, lastY0 = -1, lastY1 = -1;
  for (int32_t y = 0; y < outHeight; y++) {
    int32_t y0 = yLow[y], y1 = yHigh[y];
    size_t outRow = (size_t)y * outWidth;
    if (y0 == lastY0 && y1 == lastY1) {
      memcpy(labels + outRow, labels + outRow - outWidth, outWidth);
      for (int32_t c = 0; c < classes; c++) classPixels[c] += interior[c];
      for (int32_t i = 0; i < boundaryCount; i++) boundary_run(L, boundaryRuns[i], y0, y1, yWeight[y], outRow);
      continue;
    }
    lastY0 = y0, lastY1 = y1, boundaryCount = 0;
    memset(interior, 0, sizeof(interior));
    const uint8_t *row0 = low + (size_t)y0 * width, *row1 = low + (size_t)y1 * width;
    for (int32_t r = 0; r < runCount; r++) {
      int32_t start = runs[r], end = runs[r + 1], x0 = xLow[start], x1 = xHigh[start];
      uint8_t l = row0[x0];
      if (row0[x1] == l && row1[x0] == l && row1[x1] == l) {
        memset(labels + outRow + start, l, (size_t)(end - start));
        interior[l] += (uint32_t)(end - start);
        continue;
      }
      boundaryRuns[boundaryCount++] = r;
      boundary_run(L, r, y0, y1, yWeight[y], outRow);
    }
    for (int32_t c = 0; c < classes; c++) classPixels[c] += interior[c];
  }
  free(runs), free(boundaryRuns), free(low), free(list), free(count), free(L);
  return NULL;
}

napi_value image_labels_function(napi_env env) {
  napi_value fn;
  return napi_create_function(env, "labelsFromScores", NAPI_AUTO_LENGTH, labels_from_scores, NULL, &fn) == napi_ok ? fn : NULL;
}
