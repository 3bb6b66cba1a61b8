import { type Transferable, Worker } from 'node:worker_threads';

/**
 * Starts the worker module that sits beside `importMetaUrl` with the same extension: `.js` in the
 * built package; `.ts` when running from source (tests), where tsx's loader is registered inside
 * the worker first (a worker does not inherit the parent's loader hooks).
 */
export function startWorker(
  importMetaUrl: string,
  moduleName: string,
  workerData: unknown,
  transferList: readonly Transferable[] = [],
): Worker {
  const fromSource = importMetaUrl.endsWith('.ts');
  const url = new URL(`./${moduleName}${fromSource ? '.ts' : '.js'}`, importMetaUrl);
  if (!fromSource) return new Worker(url, { workerData, transferList: [...transferList] });
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, transferList: [...transferList] });
}
