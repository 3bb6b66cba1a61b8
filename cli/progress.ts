/** A progress bar on a TTY (frames done / total, fps, ETA); silent elsewhere. */
import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number | null): void;
  update(done: number): void;
  stop(): void;
}

export function createProgress(enabled: boolean, label = 'segment', unit = 'frames'): Progress {
  if (!enabled) return { start() {}, update() {}, stop() {} };
  const startedAt = performance.now();
  let bar: cliProgress.SingleBar | null = null;
  let known = true;
  return {
    start(total) {
      known = total !== null;
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: known
            ? `${label} |{bar}| {value}/{total} ${unit} | {fps} fps | ETA {eta_formatted}`
            : `${label} {value} ${unit} | {fps} fps`,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 30,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total ?? 0, 0, { fps: '0.0' });
    },
    update(done) {
      const fps = (done / Math.max((performance.now() - startedAt) / 1000, 1e-3)).toFixed(1);
      if (bar && known && done > bar.getTotal()) bar.setTotal(done);
      bar?.update(done, { fps });
    },
    stop() {
      bar?.stop();
    },
  };
}

/** A download's bar on a TTY (MB received / total); silent elsewhere. Returns the progress callback and a stop. */
export function createByteProgress(
  enabled: boolean,
  label: string,
): { onProgress: (received: number, total: number) => void; stop(): void } {
  if (!enabled) return { onProgress() {}, stop() {} };
  let bar: cliProgress.SingleBar | null = null;
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  return {
    onProgress(received, total) {
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${label} |{bar}| {got}/{size} MB | ETA {eta_formatted}`,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { got: mb(0), size: mb(total) });
      }
      bar.update(received, { got: mb(received), size: mb(total) });
    },
    stop() {
      bar?.stop();
    },
  };
}
