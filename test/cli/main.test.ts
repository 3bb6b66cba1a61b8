/** `main(argv)` in-process: the exit code and the one line a user sees, without a child process. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { repoRoot, tempDir } from '../helpers/fixtures.js';

const tmp = tempDir('dls-main-');
afterEach(() => vi.restoreAllMocks());

async function run(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, stderr, stdout };
}

describe('main(argv)', () => {
  it('resolves with the exit code and prints one line for a user mistake', async () => {
    const missing = await run([
      'segment',
      path.join(tmp.dir, 'absent.mp4'),
      '--frames-json',
      path.join(tmp.dir, 'f.jsonl'),
    ]);
    expect(missing).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: input not found: ${path.join(tmp.dir, 'absent.mp4')}\n`,
    });
    const badFlag = await run(['segment', 'x.mp4', '--batch', 'zero']);
    expect(badFlag.code).toBe(64);
    expect(badFlag.stderr).toMatch(/^error: .*--batch takes a positive whole number, got "zero"\n$/);
    expect((await run(['no-such-command'])).code).toBe(64);
    expect(
      (await run(['crf', '--image', 'a.png', '--probs', 'p.npy', '--out', 'x.png', '--frames', '3'])).stderr,
    ).toMatch(/^error: --frames needs printf patterns/);
  });

  it('prints the help with no arguments and the version with --version, both exit 0', async () => {
    const bare = await run([]);
    expect(bare.code).toBe(0);
    expect(bare.stderr).toBe('');
    expect(bare.stdout).toMatch(/^Usage: deeplab-stream \[options\] \[command\]/);
    expect(bare.stdout).toMatch(/\nExamples:\n {2}deeplab-stream demo /);
    const version = await run(['--version']);
    const { version: packaged } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version).toEqual({ code: 0, stderr: '', stdout: `${packaged}\n` });
  });

  it('shows defaults as a user types them, each once, model flags before CRF flags', async () => {
    for (const command of ['segment', 'serve', 'eval']) {
      const help = (await run([command, '--help'])).stdout;
      expect(help).not.toMatch(/\{"kind"|default: false|default: true/);
      expect(help).toMatch(/--device <device> +auto \| cpu \| cuda \| cuda:N \(default: auto\)/);
      expect(help).toMatch(/--crf <on\|off>[^]*\(default: off\)/);
      for (const line of help.split('\n')) expect(line.match(/\(default/g)?.length ?? 0).toBeLessThanOrEqual(1);
      expect(help.indexOf('\nModel:')).toBeGreaterThan(0);
      expect(help.indexOf('\nCRF:')).toBeGreaterThan(help.indexOf('\nModel:'));
      expect(help.indexOf('--crf-bi-rgb')).toBeGreaterThan(help.indexOf('--crf <on|off>'));
    }
  });
});
