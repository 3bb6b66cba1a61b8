/** `main(argv)` in-process: the exit code and the one line a user sees, without a child process. */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../pipeline/cli.js';
import { tempDir } from '../helpers/fixtures.js';

const tmp = tempDir('dls-main-');
afterEach(() => vi.restoreAllMocks());

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, stderr };
}

describe('main(argv)', () => {
  it('resolves with the exit code and prints one line for a user mistake', async () => {
    const missing = await run(['segment', path.join(tmp.dir, 'absent.mp4'), '--frames-json', path.join(tmp.dir, 'f.jsonl')]);
    expect(missing).toEqual({ code: 2, stderr: `error: input not found: ${path.join(tmp.dir, 'absent.mp4')}\n` });
    const badFlag = await run(['segment', 'x.mp4', '--batch', 'zero']);
    expect(badFlag.code).toBe(64);
    expect(badFlag.stderr).toMatch(/^error: .*--batch takes a positive whole number, got "zero"\n$/);
    expect((await run(['no-such-command'])).code).toBe(64);
    expect((await run(['crf', '--image', 'a.png', '--probs', 'p.npy', '--out', 'x.png', '--frames', '3'])).stderr).toMatch(/^error: --frames needs printf patterns/);
  });
});
