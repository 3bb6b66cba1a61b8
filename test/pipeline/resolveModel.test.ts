/**
 * Models by name: fetched from a local HTTP server standing in for the published address
 * (DEEPLAB_STREAM_MODEL_MIRROR), checked, imported, cached; every fetch fault leaves the cache empty.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../core/errors.js';
import { catalogEntry, type DownloadSource } from '../../model/catalog.js';
import { cachedFiles, resolveModel } from '../../pipeline/resolveModel.js';
import { cliPath, repoRoot, runCli, tempDir, withCacheDirectory } from '../helpers/fixtures.js';

const entry = catalogEntry('deeplabv3-voc')!;
const source = entry.source as DownloadSource;
const realFile = path.resolve(repoRoot, '../shared/models', source.file);
const haveReal = existsSync(realFile);
if (!haveReal)
  console.warn(
    `skipping the successful fetches: ${realFile} is absent (the team's shared folder beside the repository)`,
  );

const tmp = tempDir('dls-fetch-');
let server: http.Server;
let base = '';
/** A port nothing listens on (a server opened and closed). */
let deadMirror = '';
let served = 0;

/** `/<mode>/<file>`: ok (the real file), missing (404), corrupt (right size, wrong bytes), cut (connection closed halfway), stall (half, then silence). */
function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const [, mode, file] = (req.url ?? '').split('/');
  if (file !== source.file || mode === 'missing') {
    res.writeHead(404).end('not here');
    return;
  }
  served += 1;
  const body = mode === 'ok' && haveReal ? readFileSync(realFile) : randomBytes(source.bytes);
  res.writeHead(200, { 'content-length': String(source.bytes) });
  if (mode === 'ok' || mode === 'corrupt') res.end(body);
  else if (mode === 'cut') res.write(body.subarray(0, 100_000), () => res.destroy());
  else res.write(body.subarray(0, 100_000)); // stall: keeps the connection open, sends nothing more
}

beforeAll(async () => {
  server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  deadMirror = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
  await new Promise((resolve) => closed.close(resolve));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  tmp.cleanup();
});

/** A fresh, empty cache directory for one case. */
function freshCache(name: string): string {
  const dir = path.join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const visibleFiles = (dir: string) => readdirSync(dir);

describe('--model NAME', () => {
  it.skipIf(!haveReal)(
    'fetches once through the mirror, imports with a sidecar, then runs from the cache with no network',
    async () => {
      const cache = freshCache('ok');
      const image = path.resolve(repoRoot, '../shared/media/chelsea.png');
      const before = served;
      const first = await runCli(
        [
          'segment',
          image,
          '--model',
          'deeplabv3-voc',
          '--device',
          'cpu',
          '--frames-json',
          path.join(tmp.dir, 'cat1.jsonl'),
        ],
        {
          env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: `${base}/ok/` },
        },
      );
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(
        /note: fetched deeplabv3-voc \(2\.8 MB, sha256 checked\) from http:\/\/127\.0\.0\.1:\d+\/ok\/deeplabv3_257_mv_gpu\.tflite/,
      );
      expect(served).toBe(before + 1);
      const stats = JSON.parse(readFileSync(path.join(tmp.dir, 'cat1.jsonl'), 'utf8')) as {
        pixels: Record<string, number>;
      };
      expect(Object.keys(stats.pixels).sort()).toEqual(['background', 'cat']);
      const imported = path.basename(cachedFiles(entry, source, cache).onnx);
      expect(imported).toMatch(/^deeplabv3-voc-68a53978-[0-9a-f]{8}\.onnx$/);
      expect(visibleFiles(cache).sort()).toEqual([imported, `${imported}.json`, source.file]);
      const sidecar = JSON.parse(readFileSync(path.join(cache, `${imported}.json`), 'utf8')) as {
        classes: string;
        crf: unknown;
      };
      expect(sidecar.classes).toBe('voc');
      expect(sidecar.crf).toEqual(entry.crf);

      // The mirror now points nowhere: the cache alone serves.
      const second = await runCli(
        [
          'segment',
          image,
          '--model',
          'deeplabv3-voc',
          '--device',
          'cpu',
          '--frames-json',
          path.join(tmp.dir, 'cat2.jsonl'),
        ],
        {
          env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: deadMirror },
        },
      );
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).not.toMatch(/fetched/);
      expect(readFileSync(path.join(tmp.dir, 'cat2.jsonl'), 'utf8')).toBe(
        readFileSync(path.join(tmp.dir, 'cat1.jsonl'), 'utf8'),
      );

      const listed = await runCli(['models', '--json'], { env: { DEEPLAB_STREAM_CACHE: cache } });
      const rows = listed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { name: string; cached: boolean; default: boolean });
      expect(rows.find((r) => r.name === 'deeplabv3-voc')?.cached).toBe(true);
      expect(rows.filter((r) => r.default).map((r) => r.name)).toEqual(['mediapipe-selfie']);
    },
  );

  it.skipIf(!haveReal)('uses a file put in the cache by hand, without the network', async () => {
    const cache = freshCache('by-hand');
    copyFileSync(realFile, path.join(cache, source.file));
    // An import an older importer made (another name): not used, made again from the file, removed.
    writeFileSync(path.join(cache, 'deeplabv3-voc-68a53978.onnx'), 'an older import');
    writeFileSync(path.join(cache, 'deeplabv3-voc-68a53978.onnx.json'), '{}');
    const model = await withCacheDirectory(cache, () => resolveModel('deeplabv3-voc', { mirror: deadMirror }));
    expect(model).toBe(cachedFiles(entry, source, cache).onnx);
    expect(existsSync(`${model}.json`)).toBe(true);
    expect(visibleFiles(cache).sort()).toEqual(
      [path.basename(model), `${path.basename(model)}.json`, source.file].sort(),
    );
  });

  it.skipIf(!haveReal)(
    'fetches from a file:// mirror (a file share of an air-gapped site), checked the same way',
    async () => {
      const cache = freshCache('file-mirror');
      const share = path.join(tmp.dir, 'share');
      mkdirSync(share, { recursive: true });
      copyFileSync(realFile, path.join(share, source.file));
      const model = await withCacheDirectory(cache, () => resolveModel('deeplabv3-voc', { mirror: `file://${share}` }));
      expect(model).toBe(cachedFiles(entry, source, cache).onnx);
      // The library takes the cache as an option too (DEEPLAB_STREAM_CACHE's default for it).
      const elsewhere = freshCache('file-mirror-option');
      const there = await resolveModel('deeplabv3-voc', { mirror: `file://${share}`, cacheDir: elsewhere });
      expect(there).toBe(cachedFiles(entry, source, elsewhere).onnx);
      expect(existsSync(there)).toBe(true);
    },
  );

  it('says where to place the file by hand when a file:// mirror lacks it', async () => {
    const cache = freshCache('file-mirror-empty');
    const r = await runCli(['segment', 'whatever.mp4', '--model', 'deeplabv3-voc', '--device', 'cpu'], {
      env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: `file://${tmp.dir}/nothing-here/` },
    });
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toMatch(
      /^error: could not fetch deeplabv3-voc from file:\/\/.*nothing-here\/deeplabv3_257_mv_gpu\.tflite \(cannot read .*\): put deeplabv3_257_mv_gpu\.tflite .* by hand/,
    );
    expect(visibleFiles(cache)).toEqual([]);
  });

  const faults: [string, string, RegExp][] = [
    ['no server', 'dead', /connection refused/],
    ['HTTP 404', 'missing', /HTTP 404 Not Found/],
    ['a wrong sha256', 'corrupt', /sha256 is [0-9a-f]{64}, not the published 68a53978/],
    ['a connection cut halfway', 'cut', /the connection (broke|ended) after \d+ of 2779264 bytes/],
  ];
  for (const [what, mode, reason] of faults) {
    it(`${what}: one line saying what happened and where to put the file by hand, exit 3, nothing cached`, async () => {
      const cache = freshCache(`fault-${mode.replace(/\W/g, '')}`);
      const mirror = mode === 'dead' ? deadMirror : `${base}/${mode}/`;
      const r = await runCli(['segment', 'whatever.mp4', '--model', 'deeplabv3-voc', '--device', 'cpu'], {
        env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: mirror },
      });
      expect(r.code).toBe(3);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^error: could not fetch deeplabv3-voc from http:\/\/127\.0\.0\.1:\d+\/.*deeplabv3_257_mv_gpu\.tflite \(/,
      );
      expect(lines[0]).toMatch(reason);
      expect(lines[0]).toContain(`at ${path.join(cache, source.file)} by hand`);
      expect(visibleFiles(cache)).toEqual([]);
    });
  }

  it('draws a download bar on a terminal', async () => {
    const cache = freshCache('tty');
    // `script` gives the CLI a pseudo-terminal; the corrupt mirror sends all 2.8 MB, then the sha256 fails.
    const command = [process.execPath, cliPath, 'segment', 'x.mp4', '--model', 'deeplabv3-voc']
      .map((a) => `'${a}'`)
      .join(' ');
    // Not spawnSync: this process serves the download.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: `${base}/corrupt/` },
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    expect(text).toMatch(/fetch deeplabv3-voc \|.*\| 2\.8\/2\.8 MB/);
    expect(text).toMatch(/error: could not fetch deeplabv3-voc/);
    expect(visibleFiles(cache)).toEqual([]);
  });

  it('a stalled download fails after its stall time and leaves nothing', async () => {
    const cache = freshCache('stall');
    const started = performance.now();
    const error = await withCacheDirectory(cache, () =>
      resolveModel('deeplabv3-voc', { mirror: `${base}/stall/`, stallMs: 400 }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as Error).message).toMatch(/stalled: no data for 0.4 s after 100000 of 2779264 bytes/);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(visibleFiles(cache)).toEqual([]);
  });

  it('Ctrl-C during a download removes the partial file', async () => {
    const cache = freshCache('abort');
    const controller = new AbortController();
    const pending = withCacheDirectory(cache, () =>
      resolveModel('deeplabv3-voc', { mirror: `${base}/stall/`, signal: controller.signal }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    await expect(pending).rejects.toThrow(/interrupted: the partial download was removed/);
    expect(visibleFiles(cache)).toEqual([]);
  });

  it('a name that is no model and no file lists the known names; a bad mirror is told', async () => {
    const r = await runCli(['segment', 'x.mp4', '--model', 'deeplabv4-voc']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(
      'error: there is no model file "deeplabv4-voc" and no model of that name: known names are mediapipe-selfie, deeplabv3-voc, deeplabv3-voc-513, deeplabv3-voc-513-small, deeplab-cityscapes, deeplabv3plus-ade20k, deeplabv3plus-ade20k-32 (deeplab-stream models lists them)',
    );
    const cache = freshCache('bad-mirror');
    const m = await runCli(['eval', '--images', '.', '--labels', '.', '--model', 'deeplabv3-voc'], {
      env: { DEEPLAB_STREAM_CACHE: cache, DEEPLAB_STREAM_MODEL_MIRROR: 'ftp://mirror/' },
    });
    expect(m.code).toBe(3);
    expect(m.stderr.trim()).toBe(
      'error: DEEPLAB_STREAM_MODEL_MIRROR="ftp://mirror/" is not an http(s) or file URL: give a base such as http://mirror.example/models/ or file:///srv/models/',
    );
    expect(visibleFiles(cache)).toEqual([]);
  });

  it.skipIf(!haveReal)(
    "--tflite-arithmetic: the catalogue model imported in TFLite's arithmetic, cached beside the default import",
    async () => {
      const cache = freshCache('tflite-arithmetic');
      const mirror = `${base}/ok/`;
      const exact = await resolveModel('deeplabv3-voc', { cacheDir: cache, mirror, tfliteArithmetic: true });
      const plain = await resolveModel('deeplabv3-voc', { cacheDir: cache, mirror });
      expect(exact).toBe(cachedFiles(entry, source, cache, true).onnx);
      expect(path.basename(exact)).toMatch(/^deeplabv3-voc-68a53978-[0-9a-f]{8}\.tflite-arithmetic\.onnx$/);
      expect(plain).toBe(cachedFiles(entry, source, cache).onnx);
      // Neither import removes the other; both carry the catalogue's sidecar.
      expect(visibleFiles(cache).sort()).toEqual(
        [
          path.basename(plain),
          `${path.basename(plain)}.json`,
          path.basename(exact),
          `${path.basename(exact)}.json`,
          source.file,
        ].sort(),
      );
      expect(readFileSync(`${exact}.json`, 'utf8')).toBe(readFileSync(`${plain}.json`, 'utf8'));
      // The float graph's convolutions as sums in TFLite's order: a graph of another make.
      expect(readFileSync(exact).equals(readFileSync(plain))).toBe(false);
      expect(await resolveModel('deeplabv3-voc', { cacheDir: cache, mirror: deadMirror, tfliteArithmetic: true })).toBe(
        exact,
      );
    },
  );

  it('--tflite-arithmetic on a file or the default model: one line naming the models it is for, exit 3', async () => {
    const r = await runCli(['segment', 'x.mp4', '--tflite-arithmetic']);
    expect([r.code, r.stderr.trim()]).toEqual([
      3,
      "error: the default model is not a catalogue model fetched by name: TFLite's arithmetic (--tflite-arithmetic) is for deeplabv3-voc, deeplabv3-voc-513, deeplabv3-voc-513-small, deeplab-cityscapes, deeplabv3plus-ade20k, deeplabv3plus-ade20k-32; for a .tflite file of your own, run deeplab-stream import FILE -o OUT.onnx --tflite-arithmetic",
    ]);
    await expect(resolveModel(cliPath, { tfliteArithmetic: true })).rejects.toThrow(
      new RegExp(`^${cliPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a catalogue model fetched by name`),
    );
  });

  it('a wrong file put in the cache by hand is told apart, not used', async () => {
    const cache = freshCache('wrong-by-hand');
    const wrong = path.join(cache, source.file);
    writeFileSync(wrong, 'not a model');
    const error = await withCacheDirectory(cache, () => resolveModel('deeplabv3-voc', { mirror: deadMirror })).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toMatch(
      new RegExp(
        `^${wrong.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not deeplabv3-voc's published file \\(sha256 [0-9a-f]{64}, expected 68a5`,
      ),
    );
    expect(visibleFiles(cache)).toEqual([source.file]);
  });
});
