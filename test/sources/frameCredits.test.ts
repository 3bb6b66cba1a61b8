import { describe, expect, it } from 'vitest';
import { FrameCredits } from '../../sources/frameCredits.js';

describe('FrameCredits', () => {
  it('hands out at most `limit` credits until some come back', async () => {
    const credits = new FrameCredits(2);
    await credits.acquire();
    await credits.acquire();
    let third = false;
    const pending = credits.acquire().then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    expect(credits.inFlight).toBe(2);
    credits.release();
    await pending;
    expect(third).toBe(true);
  });

  it('releases every waiter on cancel', async () => {
    const credits = new FrameCredits(1);
    await credits.acquire();
    const waiting = Promise.all([credits.acquire(), credits.acquire()]);
    credits.cancel();
    await expect(waiting).resolves.toBeDefined();
  });
});
