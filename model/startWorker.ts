import { Worker } from 'node:worker_threads';

/**
 * Starts the worker module that sits beside `importMetaUrl` with the same extension: `.js` in the
 * built package, `.ts` when running from source (tests), where tsx compiles it.
 */
export function startWorker(importMetaUrl: string, moduleName: string, workerData: unknown): Worker {
  const fromSource = importMetaUrl.endsWith('.ts');
  const url = new URL(`./${moduleName}${fromSource ? '.ts' : '.js'}`, importMetaUrl);
  return new Worker(url, { workerData, execArgv: fromSource ? ['--import', 'tsx'] : [] });
}
