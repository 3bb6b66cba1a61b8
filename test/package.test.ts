/**
 * deeplab-stream as a package: `npm pack`, the tarball unpacked into a fresh project's
 * node_modules as npm would place it, and the README's "Library" example run there by name
 * (`import … from 'deeplab-stream'`) and type-checked against the published declarations.
 * The package's dependencies are linked from this checkout's node_modules, so nothing is fetched.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, tempDir, writeClip } from './helpers/fixtures.js';

const tmp = tempDir('dls-pack-');
afterAll(() => tmp.cleanup());

/** The first ```js block under "## Library" in the README. */
function readmeExample(): string {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('README "Library" has no ```js example');
  return code;
}

describe('the published package', () => {
  it('installs from its tarball and runs the README example by package name, typed', async () => {
    // The suite's build is already in dist/: pack it as is (prepare would build again).
    const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp.dir], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .at(-1)!;
    const app = path.join(tmp.dir, 'app');
    const installed = path.join(app, 'node_modules', 'deeplab-stream');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['xzf', path.join(tmp.dir, tarball), '-C', installed, '--strip-components', '1']);
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const dependency of Object.keys(manifest.dependencies)) {
      const link = path.join(app, 'node_modules', dependency);
      mkdirSync(path.dirname(link), { recursive: true });
      symlinkSync(path.join(repoRoot, 'node_modules', dependency), link);
    }
    // Nothing of the checkout's sources or tests is shipped; the build, the WebAssembly and the viewer are.
    const shipped = readdirSync(installed);
    expect(shipped.sort()).toEqual(['LICENSE', 'README.md', 'deploy', 'dist', 'package.json', 'viewer']);
    expect(readdirSync(path.join(installed, 'dist', 'crf'))).toContain('lattice.wasm');
    // Benchmarks and the builders tests use are not part of it.
    expect(readdirSync(path.join(installed, 'dist'))).not.toEqual(expect.arrayContaining(['bench']));
    expect(readdirSync(path.join(installed, 'dist'))).not.toEqual(expect.arrayContaining(['test']));

    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await writeClip(app, 'clip.mp4', { width: 160, height: 96, frames: 6 });
    const example = readmeExample();
    writeFileSync(path.join(app, 'example.mjs'), example);
    const out = execFileSync(process.execPath, ['example.mjs'], {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, DEEPLAB_STREAM_CACHE: path.join(tmp.dir, 'cache') },
    });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(6);
    lines.forEach((line, i) => expect(line).toMatch(new RegExp(`^frame ${i} at ${i * 40} ms: \\d+ person pixels$`)));

    // The same code as TypeScript against the package's declarations.
    writeFileSync(path.join(app, 'example.ts'), example);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          noUncheckedIndexedAccess: true,
        },
        files: ['example.ts'],
      }),
    );
    expect(() =>
      execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', app], {
        cwd: app,
        encoding: 'utf8',
      }),
    ).not.toThrow();
  });
});
