import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELPER_EXPORTS } from '../../crf/meanFieldControl.js';
import { repoRoot } from '../helpers/fixtures.js';

/**
 * The helper thread passes each kernel's arguments through 32-bit words, floats as their bits:
 * which ones are floats must match the kernel's own signature, or memory is corrupted silently.
 * The names and counts are checked by the compiler; the types come from the declarations asc
 * writes beside the module (`npm run build:wasm`), read here.
 */
function parameterTypes(declarations: string, name: string): string[] {
  const doc = new RegExp(
    `/\\*\\*\\s*\\n\\s*\\* crf/wasm/\\w+\\.as/${name}\\n([\\s\\S]*?)\\*/\\s*\\n\\s*export function ${name}\\(`,
  ).exec(declarations);
  if (!doc) throw new Error(`${name} is not declared in lattice.d.ts`);
  return [...doc[1]!.matchAll(/@param \w+ `(\w+)`/g)].map((m) => m[1]!);
}

describe("the helper thread's table of kernels", () => {
  it("passes as floats exactly the arguments that are f32 in each kernel's signature", () => {
    const declarations = readFileSync(path.join(repoRoot, 'dist/crf/lattice.d.ts'), 'utf8');
    for (const { name, argc, floatArgs } of Object.values(HELPER_EXPORTS)) {
      const types = parameterTypes(declarations, name);
      expect({ name, argc: types.length }).toEqual({ name, argc });
      const floats = types.flatMap((type, i) => (type === 'f32' ? [i] : []));
      expect({ name, floatArgs: [...floatArgs] }).toEqual({ name, floatArgs: floats });
      expect(types.filter((t) => t === 'f64' || t === 'i64')).toEqual([]); // 32-bit words only
    }
  });
});
