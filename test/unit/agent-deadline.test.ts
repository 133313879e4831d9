import { describe, expect, it } from 'vitest';
import { Deadline } from '../../agent/deadline.ts';
import { DeadlineReachedError } from '../../agent/errors.ts';

describe('Function: Deadline', () => {
  it('rejects a call that ignores its abort signal once the deadline passes', async () => {
    // Prepare
    const deadline = new Deadline(50);
    // Act
    const outcome = deadline.race('waiting for a silent peer', () => new Promise<never>(() => undefined));
    // Assess
    await expect(outcome).rejects.toThrow(new DeadlineReachedError('timed out after 0.1 s waiting for a silent peer'));
    await expect(outcome).rejects.toHaveProperty('exitCode', 3);
    expect(deadline.expired).toBe(true);
  });

  it('aborts the signal handed to the work at the deadline', async () => {
    const deadline = new Deadline(50);
    let seen: AbortSignal | undefined;

    await deadline
      .race('waiting', async (signal) => {
        seen = signal;
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      })
      .catch(() => undefined);

    expect(seen?.aborted).toBe(true);
  });

  it('passes through the value and the errors of work that finishes in time', async () => {
    const deadline = new Deadline(10_000);

    await expect(deadline.race('x', () => Promise.resolve(42))).resolves.toBe(42);
    await expect(deadline.race('x', () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    deadline.dispose();
  });

  it('refuses to start work after the deadline and sleeps report that it passed', async () => {
    const deadline = new Deadline(0);

    expect(await deadline.sleep(10)).toBe(false);
    await expect(deadline.race('waiting for IMDS', () => Promise.resolve(1))).rejects.toBeInstanceOf(DeadlineReachedError);
  });

  it('counts from the given start, so time spent before it is not granted twice', () => {
    const deadline = new Deadline(1000, Date.now() - 5000);

    expect(deadline.remainingMs()).toBe(0);
    expect(deadline.expired).toBe(true);
    deadline.dispose();
  });
});
