/** /metrics from frames segmented on other machines: counted like local ones, and only known stage names kept. */
import { describe, expect, it } from 'vitest';
import { LiveMetrics } from '../../server/metrics.js';

describe('LiveMetrics.frameRelayed', () => {
  it('counts a relayed frame and keeps only the stages there are', async () => {
    const metrics = new LiveMetrics();
    const stageMs = { infer: 12, crf: 3, 'made-up-by-a-worker': 5, postprocess: Number.NaN } as Record<string, number>;
    metrics.frameRelayed('cam', { capturedAt: Date.now() - 80, stageMs });
    metrics.frameRelayed('cam', { capturedAt: Date.now() - 90, stageMs });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/deeplab_frames_total\{stream="cam"\} 2\n/);
    expect(text).toMatch(/deeplab_stage_seconds_count\{stage="infer"\} 2\n/);
    expect(text).toMatch(/deeplab_stage_seconds_count\{stage="crf"\} 2\n/);
    expect(text).not.toMatch(/made-up-by-a-worker/);
    expect(text).not.toMatch(/stage="postprocess"/);
    expect(metrics.streamFps('cam')).toBe(2);
  });
});
