/*
 * The native CRF's functions that one file defines and another calls (the addon's kernels, the
 * one-image path's steps). Everything here is hidden from the addon's exports (-fvisibility=hidden).
 */
#ifndef CRF_H
#define CRF_H
#include <stdint.h>
#include <node_api.h>

/* addon.c */
int typed_array_data(napi_env env, napi_value value, uint8_t **data);

#if defined(__x86_64__) && defined(__GNUC__)
#include "simd.h"
#include "oneImage.h"

/* filter.c */
int splat_wide(uint8_t *base, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, uint64_t rows);
int splat(uint8_t *base, uint64_t limit, int points, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int32_t lattice, int32_t lattice_floats);
int add_into(uint8_t *base, uint64_t limit, int32_t dst, int32_t src, int floats);
int blur_direction(uint8_t *base, uint64_t limit, int j, int first, int last, int vertices, int stride, int32_t neighbours, int32_t from, int32_t to);
int slice_update(uint8_t *base, uint64_t limit, int first, int last, int32_t list, int channels, int stride, int32_t unary, int32_t next, int32_t kernels, int count);

/* vertices.c */
int neighbours_of(uint8_t *base, uint64_t limit, int first, int last, int vertices, int d, int32_t keys, int32_t table, int table_capacity, int32_t neighbours);
int link_vertices(uint8_t *base, uint64_t limit, int first, int last, int vertices, int d, int32_t keys, int32_t table, int table_capacity, int32_t neighbours);
int move_points(uint8_t *base, uint64_t limit, int32_t list, int n, int width, int32_t image, double xy, double rgb, int32_t offsets, int32_t weights, int32_t keys, int capacity, int32_t table, int table_capacity, int count);

/* listed.c */
int splat_listed(uint8_t *base, uint64_t limit, int32_t list, int n, int d1, int stride, int32_t offsets, int32_t weights, int32_t values, int value_row_bytes, int32_t lattice, float sign);
int splat_change(uint8_t *base, uint64_t limit, int32_t list, int n, int d1a, int32_t offsets_a, int32_t weights_a, int32_t lattice_a, int d1b, int32_t offsets_b, int32_t weights_b, int32_t lattice_b, int stride, int32_t before, int32_t after);

/* lattice.c */
void pixel_features(uint8_t *base, int first, int last, int width, int32_t image, double xy, double rgb, int32_t out);
double js_round(double x);
int find_or_insert(const int32_t *key, int d, int32_t *keys, int32_t *table, uint32_t mask, int count, int capacity);
void lattice_scale(int d, double *scale);
void simplex_of(int d, const float *feature, const double *scale, int32_t key[][MAX_D], float *weight);
int embed_point(int k, int d, const float *feature, int32_t *offsets, float *weights, int32_t *keys, int capacity, int32_t *table, uint32_t mask, int count, const double *scale);
int build_lattice(uint8_t *base, int points, int d, int32_t features, int32_t offsets, int32_t weights, int32_t keys, int capacity, int32_t table, int table_capacity);
int merge_keys(uint8_t *base, int count_b, int d, int32_t keys_b, int32_t keys, int32_t table, int table_capacity, int count, int capacity, int32_t remap);
void remap_offsets(uint8_t *base, int32_t offsets, int count, int32_t remap);
void splat_ones(uint8_t *base, int points, int d1, int32_t offsets, int32_t weights, int32_t lattice, int lattice_floats);
void normalise_all(uint8_t *base, int first, int last, int d1, int32_t offsets, int32_t weights, int32_t ones, float alpha, int32_t scale);

/* unary.c */
void prepare(uint8_t *base, int points, int classes, int32_t active, int m, int stride, int32_t probabilities, int32_t unary, int32_t q);
int normalise_probabilities(uint8_t *base, int points, int classes, int32_t probabilities);
void peaks(uint8_t *base, int points, int classes, int32_t probabilities, float *peak);
void expand(uint8_t *base, int points, int m, int stride, int32_t q, int classes, const int32_t *active, float *full, uint8_t *labels);

/* meanField.c */
void *take_arena(void);
void give_back_arena(void *arena);
void wait_change(_Atomic uint32_t *word, uint32_t value);
void *helper_main(void *arg);
uint32_t helper_start(Crf *crf, Step theirs, const int32_t *args, int count);
void both(Crf *crf, Step theirs, const int32_t *args, int count, Step ours, const int32_t *mine);
void stop_helper(Crf *crf);
float f32_of(int32_t bits);
int32_t bits_of(float f);
void step_splat(Crf *crf, const int32_t *a);
void step_add_into(Crf *crf, const int32_t *a);
void step_blur(Crf *crf, const int32_t *a);
void step_slice_update(Crf *crf, const int32_t *a);
void step_neighbours(Crf *crf, const int32_t *a);
void step_build(Crf *crf, const int32_t *a);
void step_splat_ones(Crf *crf, const int32_t *a);
void step_normalise_all(Crf *crf, const int32_t *a);
void step_normalise_probabilities(Crf *crf, const int32_t *a);
void step_peaks(Crf *crf, const int32_t *a);
void step_prepare(Crf *crf, const int32_t *a);
void step_touch(Crf *crf, const int32_t *a);
void step_read(Crf *crf, const int32_t *a);
void run_step(Crf *crf, Step step, const int32_t *theirs, const int32_t *mine, int count);
int32_t arena_alloc(Crf *crf, uint64_t bytes);
int32_t blur_lattice(Crf *crf, const Kernel *k, int width, int32_t from, int32_t first, int32_t second);
void splat_points(Crf *crf, int n, const Kernel *k, int32_t values, int width, int32_t into, int32_t helper_into);
int add_kernel(Crf *crf, Kernel *k, int n, int width, int32_t image, double xy, double rgb);

/* oneImage.c */
napi_value crf_image(napi_env env, napi_callback_info info);
#endif
#endif
