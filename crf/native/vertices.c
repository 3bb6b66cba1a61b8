/*
 * The lattice's vertices (lattice.as.ts's neighboursOf, linkVertices and movePoints): integers,
 * found in the same hash table, batched so that each lookup's two cache misses overlap.
 */
#include "simd.h"
#include "crf.h"

#if defined(__x86_64__) && defined(__GNUC__)

KERNEL int neighbours_of(uint8_t *base, uint64_t limit, int first, int last, int vertices, int d, int32_t keys, int32_t table, int table_capacity, int32_t neighbours) {
  if (first < 0 || last < first || vertices < last || d < 1 || d > MAX_D || table_capacity < 1 || (table_capacity & (table_capacity - 1)) ||
      !inside(limit, keys, (uint64_t)last * d * 4) || !inside(limit, table, (uint64_t)table_capacity * 4) || !inside(limit, neighbours, (uint64_t)(d + 1) * vertices * 8))
    return -1;
  const HashTable t = { at_i32(base, keys), at_i32(base, table), (uint32_t)table_capacity - 1, ((limit - (uint32_t)keys) / 4) / (uint64_t)d };
  int32_t *out = (int32_t *)at_i32(base, neighbours);
  const int d1 = d + 1;
  int32_t wanted[LOOKUP_BATCH * 2][MAX_D];
  uint32_t hashes[LOOKUP_BATCH * 2];
  for (int j = 0; j <= d; j++) {
    for (int start = first; start < last; start += LOOKUP_BATCH) {
      const int count = last - start < LOOKUP_BATCH ? last - start : LOOKUP_BATCH;
      /* The two neighbours' keys along j: every coordinate -1 (+1), coordinate j +d+1 (-d-1). */
      for (int b = 0; b < count; b++) {
        const int32_t *key = t.keys + (size_t)(start + b) * d;
        for (int k = 0; k < d; k++) {
          wanted[2 * b][k] = key[k] - 1;
          wanted[2 * b + 1][k] = key[k] + 1;
        }
        if (j < d) {
          wanted[2 * b][j] += d1;
          wanted[2 * b + 1][j] -= d1;
        }
        for (int side = 0; side < 2; side++) {
          hashes[2 * b + side] = key_hash(wanted[2 * b + side], d);
          __builtin_prefetch(t.table + (hashes[2 * b + side] & t.mask));
        }
      }
      for (int q = 0; q < 2 * count; q++) {
        const int32_t entry = t.table[hashes[q] & t.mask];
        if (entry > 0 && (uint64_t)entry <= t.key_rows) __builtin_prefetch(t.keys + (size_t)(entry - 1) * d);
      }
      for (int q = 0; q < 2 * count; q++) {
        const int vertex = find_vertex(&t, wanted[q], d, hashes[q]);
        if (vertex == -2) return -1;
        out[((size_t)j * vertices + start + (q >> 1)) * 2 + (q & 1)] = vertex + 1;
      }
    }
  }
  return 0;
}

KERNEL int link_vertices(uint8_t *base, uint64_t limit, int first, int last, int vertices, int d, int32_t keys, int32_t table, int table_capacity, int32_t neighbours) {
  if (neighbours_of(base, limit, first, last, vertices, d, keys, table, table_capacity, neighbours) != 0) return -1;
  int32_t *links = (int32_t *)at_i32(base, neighbours);
  for (int j = 0; j <= d; j++) {
    int32_t *row = links + (size_t)j * vertices * 2;
    for (int v = first; v < last; v++) {
      /* v is its minus-neighbour's plus-neighbour, and its plus-neighbour's minus-neighbour. */
      const int32_t minus = row[(size_t)v * 2], plus = row[(size_t)v * 2 + 1];
      if (minus < 0 || plus < 0 || minus > vertices || plus > vertices) return -1;
      if (minus > 0) row[(size_t)(minus - 1) * 2 + 1] = v + 1;
      if (plus > 0) row[(size_t)(plus - 1) * 2] = v + 1;
    }
  }
  return 0;
}
/*
 * movePoints (lattice.as.ts): the listed pixels (whose colour moved) embedded in the bilateral
 * lattice again — features from `image`, their simplex's vertices found or appended after the
 * `count` there are, in the same order as there (the same vertex numbers). A warm frame's moved
 * pixels are scattered over a large hash table: their keys are computed a batch at a time, every
 * slot of the batch prefetched, then the keys those slots name, then inserted in order. Returns the
 * new vertex count, -1 when more than `capacity` are needed, -2 for an index outside the memory.
 */
KERNEL int move_points(uint8_t *base, uint64_t limit, int32_t list, int n, int width, int32_t image, double xy, double rgb, int32_t offsets, int32_t weights, int32_t keys, int capacity,
                              int32_t table, int table_capacity, int count) {
  const int d = 5, d1 = 6;
  if (n < 0 || width < 1 || count < 0 || count > capacity || table_capacity < 1 || (table_capacity & (table_capacity - 1)) || !inside(limit, list, (uint64_t)n * 4) ||
      !inside(limit, keys, (uint64_t)capacity * d * 4) || !inside(limit, table, (uint64_t)table_capacity * 4))
    return -2;
  double scale[MAX_D];
  lattice_scale(d, scale);
  const int32_t *pixels = at_i32(base, list);
  int32_t *k = (int32_t *)at_i32(base, keys), *t = (int32_t *)at_i32(base, table);
  const uint32_t mask = (uint32_t)table_capacity - 1;
  int32_t wanted[LOOKUP_BATCH][MAX_D + 1][MAX_D];
  float bary[LOOKUP_BATCH][MAX_D + 1];
  uint32_t hashes[LOOKUP_BATCH][MAX_D + 1];
  for (int start = 0; start < n; start += LOOKUP_BATCH) {
    const int batch = n - start < LOOKUP_BATCH ? n - start : LOOKUP_BATCH;
    for (int b = 0; b < batch; b++) {
      const uint32_t p = (uint32_t)pixels[start + b];
      if (!inside(limit, image, ((uint64_t)p + 1) * 3) || !inside(limit, offsets, ((uint64_t)p + 1) * d1 * 4) || !inside(limit, weights, ((uint64_t)p + 1) * d1 * 4)) return -2;
      const uint32_t y = p / (uint32_t)width;
      const uint8_t *colour = base + (uint32_t)image + (size_t)p * 3;
      const float feature[5] = {(float)((double)(p - y * (uint32_t)width) / xy), (float)((double)y / xy), (float)((double)colour[0] / rgb), (float)((double)colour[1] / rgb), (float)((double)colour[2] / rgb)};
      simplex_of(d, feature, scale, wanted[b], bary[b]);
      for (int r = 0; r < d1; r++) {
        hashes[b][r] = key_hash(wanted[b][r], d);
        __builtin_prefetch(t + (hashes[b][r] & mask));
      }
    }
    for (int b = 0; b < batch; b++)
      for (int r = 0; r < d1; r++) {
        const int32_t entry = t[hashes[b][r] & mask];
        if (entry > 0 && entry <= count) __builtin_prefetch(k + (size_t)(entry - 1) * d);
      }
    for (int b = 0; b < batch; b++) {
      const uint32_t p = (uint32_t)pixels[start + b];
      for (int r = 0; r < d1; r++) {
        /* findKey with insertion, each entry checked: it names one of the `count` vertices so far. */
        int vertex = -1;
        for (uint32_t slot = hashes[b][r] & mask, probes = 0;; slot = (slot + 1) & mask, probes++) {
          const int32_t entry = t[slot];
          if (probes > mask || entry < 0 || entry > count) return -2;
          if (entry == 0) {
            if (count >= capacity) return -1;
            memcpy(k + (size_t)count * d, wanted[b][r], (size_t)d * 4);
            t[slot] = count + 1;
            vertex = count++;
            break;
          }
          const int32_t *other = k + (size_t)(entry - 1) * d;
          int same = 1;
          for (int i = 0; i < d; i++) same &= other[i] == wanted[b][r][i];
          if (same) {
            vertex = entry - 1;
            break;
          }
        }
        ((int32_t *)at_i32(base, offsets))[(size_t)p * d1 + r] = vertex + 1;
        at_f32(base, weights)[(size_t)p * d1 + r] = bary[b][r];
      }
    }
  }
  return count;
}

#endif
