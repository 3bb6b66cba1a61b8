/** The viewer's decoder of label maps: exact maps inflate, a DEFLATE bomb is refused before it is held. */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflateLabels } from '../../viewer/wireFormat.js';

describe('inflateLabels', () => {
  it('inflates a map of exactly width×height', async () => {
    const labels = Uint8Array.from({ length: 160 * 96 }, (_, i) => i % 7);
    expect(await inflateLabels(deflateRawSync(labels), 160, 96)).toEqual(labels);
  });

  it('refuses a map that inflates past its frame, without inflating all of it', async () => {
    // 256 MiB of zeros in ~256 KiB: a tab that inflated it whole would hold 256 MiB per frame.
    const bomb = deflateRawSync(new Uint8Array(256 << 20), { level: 9 });
    expect(bomb.length).toBeLessThan(1 << 20);
    const before = process.memoryUsage().arrayBuffers;
    await expect(inflateLabels(bomb, 160, 96)).rejects.toThrow(/inflates past 160x96 bytes: frame dropped/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('refuses frame sizes no viewer draws before inflating anything', async () => {
    await expect(inflateLabels(new Uint8Array(1), 100_000, 100_000)).rejects.toThrow(/not one the viewer draws/);
    await expect(inflateLabels(new Uint8Array(1), -1, 10)).rejects.toThrow(/not one the viewer draws/);
    await expect(inflateLabels(deflateRawSync(new Uint8Array(10)), 4, 4)).rejects.toThrow(/has 10 bytes, expected 4x4/);
  });
});
