/** Assertions about a CLI run, shared by the command tests. */
import { readdirSync } from 'node:fs';
import { expect } from 'vitest';
import { runCli } from './fixtures.js';

/** What a user mistake must look like: one line, non-zero, no stack, nothing left behind. */
export async function expectCleanFailure(
  args: string[],
  outDir: string,
  message: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  const r = await runCli(args, { env });
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(readdirSync(outDir)).toEqual([]);
}
