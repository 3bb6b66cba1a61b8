/**
 * Loading an optional N-API addon that `npm run build:native` compiles where a C compiler is: beside
 * the calling module in dist/, or (running from source, as the tests do) the build's copy in dist/.
 *
 *   loadNativeAddon<T>(import.meta.url, 'crf/crfNative.node') → the addon, or null (not built, or
 *   built for another Node or platform: the caller's JavaScript or WebAssembly path runs)
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export function loadNativeAddon<T>(callerUrl: string, distPath: string): T | null {
  const file = [new URL(`./${distPath.split('/').pop()!}`, callerUrl), new URL(`../dist/${distPath}`, callerUrl)]
    .map((u) => fileURLToPath(u))
    .find((f) => existsSync(f));
  try {
    return file ? (createRequire(callerUrl)(file) as T) : null;
  } catch {
    return null;
  }
}
