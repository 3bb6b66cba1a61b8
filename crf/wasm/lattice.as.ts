// AssemblyScript (compiled by `asc` to dist/crf/lattice.wasm, SIMD enabled): the hot loops
// of permutohedral filtering over linear memory. Values are interleaved with a channel stride
// that is a multiple of 4, so every inner step is one f32x4 multiply-add. Pointers are byte
// offsets the JavaScript side lays out (see latticeWasm.ts).
//
// The module's exports, by seam: filtering (filter.as.ts), the unary and labels (unary.as.ts), the
// lattice's construction (build.as.ts), and a video's kept state (video.as.ts).
export { splat, splatOnes, normaliseAll, addInto, blurDirection, sliceUpdate } from './filter.as';
export { prepare, normaliseProbabilities, touchPages, peaks, expand } from './unary.as';
export { pixelFeatures, buildLattice, mergeKeys, remapOffsets, neighboursOf } from './build.as';
export { movePoints, linkVertices, splatListed, splatChange, normaliseListed, selectActive, remember, prepareListed, labelsListed } from './video.as';
