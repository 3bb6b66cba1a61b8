import { describe, expect, it } from 'vitest';
import { requestLines } from '../../pipeline/crfService.js';

async function linesOf(chunks: readonly string[], maxBytes?: number) {
  async function* source() {
    for (const chunk of chunks) yield Buffer.from(chunk);
  }
  const out: unknown[] = [];
  for await (const line of requestLines(source(), maxBytes)) out.push(line);
  return out;
}

describe('requestLines', () => {
  it('splits lines across chunks, \\n or \\r\\n, and keeps a last line without a newline', async () => {
    expect(await linesOf(['{"a"', ':1}\n{"b":2}\r', '\n', '', 'last'])).toEqual(['{"a":1}', '{"b":2}', 'last']);
  });

  it('skips a line longer than the limit to its newline, reports its length, and goes on', async () => {
    expect(await linesOf(['ok\n', 'x'.repeat(6), 'y'.repeat(6), '\nnext\n'], 10)).toEqual([
      'ok',
      { tooLong: 12 },
      'next',
    ]);
    expect(await linesOf(['x'.repeat(20)], 10)).toEqual([{ tooLong: 20 }]);
  });

  it('counts multi-byte characters as bytes', async () => {
    expect(await linesOf(['é'.repeat(6), '\n'], 10)).toEqual([{ tooLong: 12 }]);
    expect(await linesOf(['é'.repeat(5), '\n'], 10)).toEqual(['é'.repeat(5)]);
  });
});
