/* The one-image CRF's state, shared by meanField.c (the steps, the helper thread) and oneImage.c (the image). */
#ifndef CRF_ONE_IMAGE_H
#define CRF_ONE_IMAGE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

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

typedef struct {
  int d;
  int vertices;
  int32_t offsets, weights, neighbours, scale;
} Kernel;

/* The arena: addressed like a WebAssembly memory, 32-bit offsets from its base. */
#define ARENA_BYTES ((uint64_t)2 << 30)
#define TWO_THREADS_FROM 65536 /* wasmEngine.ts's MIN_POINTS_FOR_TWO_THREADS */
#endif
