/**
 * The demo's footage taken out of a Debian package (a small .deb built here, standing in for
 * opencv-doc), and the demo itself on a video of the user's own.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../../core/errors.js';
import { demoFootage, type Footage } from '../../../sources/demoFootage.js';
import { runCli, tempDir, writeClip, withCacheDirectory } from '../../helpers/fixtures.js';

const tmp = tempDir('dls-demo-');
afterAll(() => tmp.cleanup());

/** A .deb holding one file at `member`, as dpkg-deb builds it. */
function buildDeb(member: string, content: Buffer): string {
  const root = path.join(tmp.dir, 'pkg');
  mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  writeFileSync(
    path.join(root, 'DEBIAN/control'),
    'Package: footage-test\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test footage\n',
  );
  mkdirSync(path.join(root, path.dirname(member)), { recursive: true });
  writeFileSync(path.join(root, member), content);
  const deb = path.join(tmp.dir, 'footage-test.deb');
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], { stdio: 'ignore' });
  return deb;
}

describe('demo footage', () => {
  const content = Buffer.from('not really a video, but bytes with a known sha256');
  const deb = buildDeb('usr/share/doc/footage-test/clip.avi', content);
  const footage: Footage = {
    debianPackage: 'footage-test',
    member: './usr/share/doc/footage-test/clip.avi',
    sha256: createHash('sha256').update(content).digest('hex'),
    licence: 'test',
  };

  it('takes the one file out of the package, checks it and caches it', async () => {
    const cache = path.join(tmp.dir, 'cache-ok');
    const file = await withCacheDirectory(cache, () => demoFootage(footage, { debFile: deb }));
    expect(file).toBe(path.join(cache, 'media', 'clip.avi'));
    expect(readFileSync(file)).toEqual(content);
    // Cached: no package needed any more.
    expect(await withCacheDirectory(cache, () => demoFootage(footage, { debFile: '/nonexistent.deb' }))).toBe(file);
  });

  it('a wrong checksum or a missing member: a clear error, and nothing cached', async () => {
    const cache = path.join(tmp.dir, 'cache-bad');
    const wrong = withCacheDirectory(cache, () =>
      demoFootage({ ...footage, sha256: '0'.repeat(64) }, { debFile: deb }),
    );
    await expect(wrong).rejects.toThrow(EnvironmentError);
    await expect(wrong).rejects.toThrow(
      /clip.avi from footage-test.deb is not the expected file \(sha256 [0-9a-f]{64}\), or give a video of your own: deeplab-stream demo --input VIDEO/,
    );
    const missing = withCacheDirectory(cache, () =>
      demoFootage({ ...footage, member: './usr/share/doc/footage-test/other.avi' }, { debFile: deb }),
    );
    await expect(missing).rejects.toThrow(
      /could not take \.\/usr\/share\/doc\/footage-test\/other\.avi out of footage-test\.deb/,
    );
    expect(existsSync(path.join(cache, 'media')) ? readdirSync(path.join(cache, 'media')) : []).toEqual([]);
  });
});

describe('demo', () => {
  it("segments a video of the user's own with the default model, tiled, and says what it found", async () => {
    const clip = await writeClip(tmp.dir, 'own.mp4', { width: 320, height: 240, frames: 20 });
    const out = path.join(tmp.dir, 'out');
    const r = await runCli(['demo', '--input', clip, '--out-dir', out, '--seconds', '0.4', '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['demo-input.mp4', 'demo.frames.jsonl', 'demo.seg.mp4']);
    const frames = readFileSync(path.join(out, 'demo.frames.jsonl'), 'utf8').trim().split('\n');
    expect(frames).toHaveLength(10);
    expect(r.stderr).toMatch(
      /^(found: nothing but background in 10 frames|found in 10 frames:\n {2}person {2}in \d+ of 10 frames, [\d.]+% of the picture on average, [\d.]+% at most)$/m,
    );
    const bad = await runCli(['demo', '--input', path.join(tmp.dir, 'none.mp4'), '--out-dir', out, '--device', 'cpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^error: could not read .*none\.mp4 .*: give a video ffmpeg can decode$/);
    // Failed runs — an input that does not decode, a model that is not there — leave the last demo's files as they were.
    const before = new Map(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f)).toString('base64')]));
    const noModel = await runCli([
      'demo',
      '--input',
      clip,
      '--out-dir',
      out,
      '--seconds',
      '0.2',
      '--model',
      path.join(tmp.dir, 'none.onnx'),
    ]);
    expect(noModel.code).not.toBe(0);
    expect(new Map(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f)).toString('base64')]))).toEqual(
      before,
    );
  });
});
