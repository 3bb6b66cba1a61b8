import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { socketPair } from '../../io/socketPair.js';
import { withUnusableTempFolder } from '../helpers/fixtures.js';

describe('socketPair', () => {
  it("reads a child's stdout straight into the caller's buffers, and sees its end once the parent's copy is closed", async () => {
    const target = Buffer.alloc(300_000);
    let filled = 0;
    const buffersAsked = new Set<ArrayBufferLike>();
    const pair = await socketPair({
      buffer: () => {
        const view = target.subarray(filled);
        buffersAsked.add(view.buffer);
        return view;
      },
      callback: (bytes) => {
        filled += bytes;
        return true;
      },
    });
    // The listening socket and its private folder are gone once the two ends are joined.
    expect(readdirSync(os.tmpdir()).filter((f) => f.startsWith(`deeplab-stream-${process.pid}-`))).toEqual([]);
    const child = spawn('head', ['-c', '250000', '/dev/urandom'], { stdio: ['ignore', pair.writer, 'inherit'] });
    pair.writer.destroy();
    await new Promise<void>((resolve) => pair.reader.on('end', resolve));
    await new Promise((resolve) => child.on('close', resolve));
    expect(filled).toBe(250_000);
    expect([...buffersAsked]).toEqual([target.buffer]); // every read went into the caller's memory
    expect(target.subarray(0, 250_000).some((b) => b !== 0)).toBe(true);
  });

  it('fails, without leaving a socket file, where the temp folder cannot hold one', async () => {
    await withUnusableTempFolder(async () => {
      await expect(socketPair({ buffer: Buffer.alloc(16), callback: () => true })).rejects.toThrow(/E(NOENT|ACCES)/);
      expect(existsSync(os.tmpdir())).toBe(false);
    });
  });
});
