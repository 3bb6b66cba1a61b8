import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real ffmpeg and onnxruntime work: generous per-test time, files run one at a time on 2 cores.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default', './test/helpers/summaryReporter.ts'],
  },
});
