/** Small helpers shared by the benchmarks: timing, median, child processes with peak RSS. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface ChildRun {
  readonly code: number | null;
  readonly wallMs: number;
  readonly peakRssMb: number;
  readonly stdout: string;
  readonly stderr: string;
}

function rssKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs a command, sampling its peak resident set (VmHWM) until it exits. */
export function runMeasured(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const sampler = setInterval(() => (peakKb = Math.max(peakKb, rssKb(child.pid!))), 100);
    child.on('error', reject);
    child.on('exit', () => (peakKb = Math.max(peakKb, rssKb(child.pid!))));
    child.on('close', (code) => {
      clearInterval(sampler);
      resolve({ code, wallMs: performance.now() - started, peakRssMb: peakKb / 1024, stdout, stderr });
    });
  });
}

/**
 * Runs of a session per second: `warmup` untimed runs first, then `runs` timed ones, or as many as
 * fit in `seconds` (the session is released after).
 */
export async function sessionRunsPerSecond(
  session: { run(feeds: Record<string, unknown>): Promise<unknown>; release(): Promise<void> },
  feeds: Record<string, unknown>,
  warmup: number,
  timed: { readonly runs: number } | { readonly seconds: number },
): Promise<number> {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const t0 = performance.now();
  let runs = 0;
  const more = () => ('runs' in timed ? runs < timed.runs : performance.now() - t0 < timed.seconds * 1000);
  while (more()) {
    await session.run(feeds);
    runs++;
  }
  const perSecond = runs / ((performance.now() - t0) / 1000);
  await session.release();
  return perSecond;
}
