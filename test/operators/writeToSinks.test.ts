import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { writeToSinks } from '../../operators/writeToSinks.js';
import type { Segmentation } from '../../core/frames.js';
import type { SegmentationSink } from '../../core/sink.js';

function segmentation(index: number): Segmentation {
  return {
    frame: { streamId: 's', index, ptsMs: 0, width: 1, height: 1, rgb: new Uint8Array(3), capturedAt: 0, decodeMs: 0 },
    labels: new Uint8Array(1),
    classPixels: new Uint32Array(1),
    inferredAt: 0,
    timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, crf: 0, write: 0 },
  };
}

/** A sink that takes a while per write and records how many writes overlapped. */
function slowSink(name: string, log: string[], state: { active: number; maxActive: number }): SegmentationSink {
  return {
    name,
    async write(s) {
      state.active += 1;
      state.maxActive = Math.max(state.maxActive, state.active);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`${name}:${s.frame.index}`);
      state.active -= 1;
    },
    async flush() {},
    commit() {},
    async abort() {},
  };
}

describe('writeToSinks', () => {
  it('writes each segmentation to every sink before the next, in order', async () => {
    const log: string[] = [];
    const a = { active: 0, maxActive: 0 };
    const b = { active: 0, maxActive: 0 };
    const out = await firstValueFrom(
      from([0, 1, 2].map(segmentation)).pipe(writeToSinks([slowSink('a', log, a), slowSink('b', log, b)]), toArray()),
    );
    expect(out.map((s) => s.frame.index)).toEqual([0, 1, 2]);
    expect(out.every((s) => s.timings.write >= 4)).toBe(true); // two 5 ms sinks, in parallel
    expect(a.maxActive).toBe(1);
    expect(b.maxActive).toBe(1);
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a:0', 'a:1', 'a:2']);
    expect(log.indexOf('b:0')).toBeLessThan(log.indexOf('a:1'));
  });
});
