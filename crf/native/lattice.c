/*
 * The lattice's construction for the one-image path (lattice.as.ts's pixelFeatures, embedPoint,
 * buildLattice, mergeKeys, normaliseAll …): the same f64 arithmetic as there, JavaScript's
 * Math.round included, so the same vertices in the same order.
 */
#include <math.h>
#include "simd.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2")

/* ---- lattice.as.ts's construction, pixel features and per-pixel steps, over the arena ---- */

void pixel_features(uint8_t *base, int first, int last, int width, int32_t image, double xy, double rgb, int32_t out) {
  const int d = image ? 5 : 2;
  float *o = at_f32(base, out);
  const uint8_t *im = base + (uint32_t)image;
  for (int p = first; p < last; p++) {
    const int y = p / width;
    float *at = o + (size_t)p * d;
    at[0] = (float)((double)(p - y * width) / xy);
    at[1] = (float)((double)y / xy);
    if (image)
      for (int c = 0; c < 3; c++) at[2 + c] = (float)((double)im[(size_t)p * 3 + c] / rgb);
  }
}

/* AssemblyScript's Math.round (JavaScript's): halves go toward +∞. */
double js_round(double x) {
  const double up = ceil(x);
  return up - 0.5 <= x ? up : up - 1.0;
}

/* findKey with insertion: the vertex of `key`, inserted as vertex `count` when new; -2 when out of room. */
int find_or_insert(const int32_t *key, int d, int32_t *keys, int32_t *table, uint32_t mask, int count, int capacity) {
  for (uint32_t slot = key_hash(key, d) & mask;; slot = (slot + 1) & mask) {
    const int32_t entry = table[slot];
    if (entry == 0) {
      if (count >= capacity) return -2;
      memcpy(keys + (size_t)count * d, key, (size_t)d * 4);
      table[slot] = count + 1;
      return count;
    }
    const int32_t *other = keys + (size_t)(entry - 1) * d;
    int same = 1;
    for (int i = 0; i < d; i++) same &= other[i] == key[i];
    if (same) return entry - 1;
  }
}

/* The per-dimension scale of lattice.as.ts's prepareScratch: features onto the lattice's spacing. */
void lattice_scale(int d, double *scale) {
  for (int i = 0; i < d; i++) scale[i] = ((double)(d + 1) * sqrt(2.0 / 3.0)) / sqrt((double)((i + 1) * (i + 2)));
}

/* Point features' enclosing simplex (embedPoint's arithmetic): its d+1 vertices' keys and barycentric weights. */
void simplex_of(int d, const float *feature, const double *scale, int32_t key[][MAX_D], float *weight) {
  const int d1 = d + 1;
  double elevated[MAX_D + 1], bary[MAX_D + 2];
  int32_t rem0[MAX_D + 1], rank[MAX_D + 1];
  const double down = 1.0 / (double)d1;
  double sm = 0;
  for (int j = d; j > 0; j--) {
    const double cf = (double)feature[j - 1] * scale[j - 1];
    elevated[j] = sm - (double)j * cf;
    sm += cf;
  }
  elevated[0] = sm;
  int sum = 0;
  for (int i = 0; i <= d; i++) {
    const double e = elevated[i];
    const double v = down * e;
    const int up = (int)ceil(v) * d1;
    const int lo = (int)floor(v) * d1;
    const int r = (double)up - e < e - (double)lo ? up : lo;
    rem0[i] = r;
    sum += r;
  }
  sum = (int)js_round((double)sum / (double)d1);
  for (int i = 0; i <= d; i++) rank[i] = 0;
  for (int i = 0; i < d; i++) {
    const double di = elevated[i] - (double)rem0[i];
    int rank_i = rank[i];
    for (int j = i + 1; j <= d; j++) {
      const double dj = elevated[j] - (double)rem0[j];
      const int below = di < dj;
      rank_i += below;
      rank[j] += 1 - below;
    }
    rank[i] = rank_i;
  }
  if (sum > 0) {
    for (int i = 0; i <= d; i++) {
      if (rank[i] >= d1 - sum) {
        rank[i] -= d1 - sum;
        rem0[i] -= d1;
      } else rank[i] += sum;
    }
  } else if (sum < 0) {
    for (int i = 0; i <= d; i++) {
      if (rank[i] < -sum) {
        rank[i] += d1 + sum;
        rem0[i] += d1;
      } else rank[i] += sum;
    }
  }
  for (int i = 0; i < d + 2; i++) bary[i] = 0;
  for (int i = 0; i <= d; i++) {
    const double v = (elevated[i] - (double)rem0[i]) * down;
    bary[d - rank[i]] += v;
    bary[d1 - rank[i]] -= v;
  }
  bary[0] = bary[0] + 1.0 + bary[d1];
  for (int remainder = 0; remainder <= d; remainder++) {
    for (int i = 0; i < d; i++) key[remainder][i] = rem0[i] + (rank[i] <= d - remainder ? remainder : remainder - d1);
    weight[remainder] = (float)bary[remainder];
  }
}

/* embedPoint: point k's enclosing simplex found or inserted; the new vertex count, or -1 when out of room. */
int embed_point(int k, int d, const float *feature, int32_t *offsets, float *weights, int32_t *keys, int capacity, int32_t *table, uint32_t mask, int count, const double *scale) {
  const int d1 = d + 1;
  int32_t key[MAX_D + 1][MAX_D];
  float weight[MAX_D + 1];
  simplex_of(d, feature, scale, key, weight);
  for (int remainder = 0; remainder <= d; remainder++) {
    const int vertex = find_or_insert(key[remainder], d, keys, table, mask, count, capacity);
    if (vertex == -2) return -1;
    if (vertex == count) count++;
    offsets[(size_t)k * d1 + remainder] = vertex + 1;
    weights[(size_t)k * d1 + remainder] = weight[remainder];
  }
  return count;
}

int build_lattice(uint8_t *base, int points, int d, int32_t features, int32_t offsets, int32_t weights, int32_t keys, int capacity, int32_t table, int table_capacity) {
  double scale[MAX_D];
  lattice_scale(d, scale);
  int32_t *t = (int32_t *)at_i32(base, table);
  memset(t, 0, (size_t)table_capacity * 4);
  const float *f = at_f32(base, features);
  int count = 0;
  for (int k = 0; k < points; k++) {
    count = embed_point(k, d, f + (size_t)k * d, (int32_t *)at_i32(base, offsets), at_f32(base, weights), (int32_t *)at_i32(base, keys), capacity, t, (uint32_t)table_capacity - 1, count, scale);
    if (count < 0) return -1;
  }
  return count;
}

int merge_keys(uint8_t *base, int count_b, int d, int32_t keys_b, int32_t keys, int32_t table, int table_capacity, int count, int capacity, int32_t remap) {
  const int32_t *from = at_i32(base, keys_b);
  int32_t *to = (int32_t *)at_i32(base, remap);
  for (int v = 0; v < count_b; v++) {
    const int vertex = find_or_insert(from + (size_t)v * d, d, (int32_t *)at_i32(base, keys), (int32_t *)at_i32(base, table), (uint32_t)table_capacity - 1, count, capacity);
    if (vertex == -2) return -1;
    if (vertex == count) count++;
    to[v] = vertex;
  }
  return count;
}

void remap_offsets(uint8_t *base, int32_t offsets, int count, int32_t remap) {
  int32_t *o = (int32_t *)at_i32(base, offsets);
  const int32_t *r = at_i32(base, remap);
  for (int k = 0; k < count; k++) o[k] = r[o[k] - 1] + 1;
}

void splat_ones(uint8_t *base, int points, int d1, int32_t offsets, int32_t weights, int32_t lattice, int lattice_floats) {
  float *l = at_f32(base, lattice);
  const int32_t *o = at_i32(base, offsets);
  const float *w = at_f32(base, weights);
  memset(l, 0, (size_t)lattice_floats * 4);
  for (size_t k = 0, corners = (size_t)points * d1; k < corners; k++) l[(size_t)o[k] * 4] += w[k];
}

void normalise_all(uint8_t *base, int first, int last, int d1, int32_t offsets, int32_t weights, int32_t ones, float alpha, int32_t scale) {
  const int32_t *o = at_i32(base, offsets);
  const float *w = at_f32(base, weights), *blurred = at_f32(base, ones);
  float *s = at_f32(base, scale);
  for (int p = first; p < last; p++) {
    float total = 0;
    for (int r = 0; r < d1; r++) {
      const size_t k = (size_t)p * d1 + r;
      total += (w[k] * alpha) * blurred[(size_t)o[k] * 4];
    }
    s[p] = (float)(1.0 / ((double)total + 1e-20));
  }
}

#endif
