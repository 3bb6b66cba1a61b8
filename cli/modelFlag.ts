/**
 * `--model` as every command reads it: a file, a catalogue name (fetched once, with a progress bar
 * on a terminal), or nothing (the embedded default). Ctrl-C during a download removes the partial
 * file and ends the command with 130.
 */

export async function resolveModelFlag(
  value: string | undefined,
  quiet = false,
  tfliteArithmetic = false,
): Promise<string> {
  const [{ createByteProgress }, { resolveModel }] = await Promise.all([
    import('./progress.js'),
    import('../pipeline/resolveModel.js'),
  ]);
  const bar = createByteProgress(Boolean(process.stderr.isTTY) && !quiet, `fetch ${value}`);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await resolveModel(value, {
      onProgress: bar.onProgress,
      onNote: (message) => {
        bar.stop();
        process.stderr.write(`note: ${message}\n`);
      },
      signal: controller.signal,
      ...(tfliteArithmetic ? { tfliteArithmetic: true } : {}),
    });
  } finally {
    bar.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
