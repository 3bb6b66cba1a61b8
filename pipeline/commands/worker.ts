/** `worker`: a process that segments chunks for `segment --nats` until stopped. */
import os from 'node:os';
import type { Command } from 'commander';
import { reportFailure, type SetExitCode } from './failure.js';
import { device, positiveInt } from './flags.js';
import { resolveModelFlag } from './modelFlag.js';
import { type Device, parseDevice } from '../../model/device.js';

export function registerWorker(program: Command, setExitCode: SetExitCode): void {
  program
    .command('worker')
    .description('take work from a NATS JetStream cluster — chunks of videos (segment --nats) and live streams (serve --nats) — until Ctrl-C (which hands back what it holds)')
    .requiredOption('--nats <url>', 'the cluster\'s NATS server, e.g. nats://10.0.0.5:4222 (JetStream on)')
    .option('--model <name|path>', 'a model to have ready before the first chunk (jobs bring their own model; this one is then not fetched again)')
    .option('--device <device>', 'auto | cpu | cuda | cuda:N', device, parseDevice('auto'))
    .option('--threads <n>', 'cores for each chunk and each live stream (default: all)', positiveInt('--threads'))
    .option('--max-streams <n>', 'live streams (serve --nats) this worker runs at most, besides chunks', positiveInt('--max-streams'), 4)
    .option('--verbose', 'print stack traces of internal errors')
    .action(async (flags: { nats: string; model?: string; device: Device; threads?: number; maxStreams: number; verbose?: boolean }) => {
      const controller = new AbortController();
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('stopping: the chunk in hand goes back to the queue\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const { runClusterWorker, seedModelCache } = await import('../cluster/clusterWorker.js');
        if (flags.model) await seedModelCache(await resolveModelFlag(flags.model));
        const summary = await runClusterWorker({
          url: flags.nats, device: flags.device, threads: flags.threads ?? os.availableParallelism(), maxStreams: flags.maxStreams, signal: controller.signal,
          onLog: (line) => process.stderr.write(`${line}\n`),
        });
        process.stderr.write(`worker stopped after ${summary.chunks} chunk(s), ${summary.frames} frames\n`);
      } catch (error) {
        setExitCode(reportFailure(error, Boolean(flags.verbose)));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
