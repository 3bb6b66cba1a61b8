/**
 * Transparent huge pages for the CRF's WebAssembly memory, through the small native addon built
 * from `hugePages.c` (`npm run build:native`). Why: every process's first image faults in tens to
 * hundreds of MB of fresh memory, and a first-touched 4 KiB page costs 11–14 µs on this project's
 * VMs — 170 ms of a 500×375 one-shot CRF. Without the addon (no C compiler at install, not Linux) or
 * with `DEEPLAB_STREAM_HUGE_PAGES=0` the CRF runs the same, on 4 KiB pages.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface HugePagesAddon {
  adviseHugePages(view: Uint8Array, bytes: number): number;
}

/** Linux's transparent huge page size. */
export const HUGE_PAGE_BYTES = 2 ** 21;

let addon: HugePagesAddon | null | undefined;

function loadAddon(): HugePagesAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env['DEEPLAB_STREAM_HUGE_PAGES'] === '0') return addon;
  // Beside this file in dist/; from source (tests) the build's copy in dist/.
  const file = [new URL('./hugePages.node', import.meta.url), new URL('../../dist/model/crf/hugePages.node', import.meta.url)]
    .map((u) => fileURLToPath(u))
    .find((f) => existsSync(f));
  try {
    if (file) addon = createRequire(import.meta.url)(file) as HugePagesAddon;
  } catch {
    addon = null; // built for another Node or platform: 4 KiB pages
  }
  return addon;
}

/**
 * Asks for huge pages over `memory`'s first `bytes` (its maximum: growth keeps the advice) and
 * returns the byte offset of its first 2 MiB-aligned address — grow to such boundaries, since a huge
 * page is used only where its whole 2 MiB is mapped when first touched — or null without huge pages.
 *
 * @example
 * const memory = new WebAssembly.Memory({ initial: 2, maximum: 32768, shared: true });
 * const boundary = adviseHugePages(memory, 32768 * 65536); // e.g. 327680, or null
 */
export function adviseHugePages(memory: WebAssembly.Memory, bytes: number): number | null {
  const native = loadAddon();
  if (!native) return null;
  const offset = native.adviseHugePages(new Uint8Array(memory.buffer, 0, 1), bytes);
  return offset >= 0 ? offset : null;
}

/**
 * The byte length to grow a memory to so that it covers `top` and ends on a huge-page boundary
 * (`boundary` from `adviseHugePages`), at most `limit`.
 */
export function hugePageAlignedEnd(top: number, boundary: number, limit: number): number {
  const end = top <= boundary ? boundary : boundary + Math.ceil((top - boundary) / HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES;
  return Math.min(end, limit);
}
