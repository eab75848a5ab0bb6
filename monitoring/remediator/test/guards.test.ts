import { describe, expect, it } from 'vitest';
import { Guards, markDuplicates } from '../src/guards.js';

function clock(start = Date.UTC(2025, 0, 1)) {
  let now = start;
  return { now: () => now, advance: (seconds: number) => (now += seconds * 1000) };
}

describe('Guards', () => {
  it('when nothing ran yet, then an action is allowed', () => {
    const guards = new Guards({ cooldownSeconds: 300, maxActionsPerHour: 12 }, clock().now);
    expect(guards.check('scale_out', 'api')).toEqual({ allowed: true });
  });

  it('when the same action on the same service ran within the cooldown, then it is skipped until the cooldown ends', () => {
    const time = clock();
    const guards = new Guards({ cooldownSeconds: 300, maxActionsPerHour: 12 }, time.now);
    guards.record('scale_out', 'api');
    time.advance(299);
    expect(guards.check('scale_out', 'api')).toEqual({
      allowed: false,
      result: 'skipped_cooldown',
      detail: 'scale_out of api ran 299s ago (cooldown 300s)',
    });
    time.advance(1);
    expect(guards.check('scale_out', 'api')).toEqual({ allowed: true });
  });

  it('when another action or another service is in cooldown, then this one is not', () => {
    const guards = new Guards({ cooldownSeconds: 300, maxActionsPerHour: 12 }, clock().now);
    guards.record('scale_out', 'api');
    guards.record('restart', 'db-router');
    expect(guards.check('scale_in', 'api')).toEqual({ allowed: true });
    expect(guards.check('restart', 'api')).toEqual({ allowed: true });
  });

  it('when the hourly cap is reached, then every action is skipped until the oldest leaves the rolling hour', () => {
    const time = clock();
    const guards = new Guards({ cooldownSeconds: 0, maxActionsPerHour: 3 }, time.now);
    guards.record('scale_out', 'api');
    time.advance(600);
    guards.record('restart', 'api');
    guards.record('backup', 'backup');
    expect(guards.check('scale_in', 'api')).toEqual({
      allowed: false,
      result: 'skipped_rate_limit',
      detail: '3 actions in the last hour (cap 3)',
    });
    time.advance(3000); // 3600 s after the first
    expect(guards.check('scale_in', 'api')).toEqual({ allowed: true });
  });

  it('when the cooldown and the cap both apply, then the cooldown is reported', () => {
    const guards = new Guards({ cooldownSeconds: 300, maxActionsPerHour: 1 }, clock().now);
    guards.record('scale_out', 'api');
    expect(guards.check('scale_out', 'api')).toMatchObject({ result: 'skipped_cooldown' });
    expect(guards.check('restart', 'api')).toMatchObject({ result: 'skipped_rate_limit' });
  });

  it('when history is recorded with past times (a restart), then the cooldown counts from those times', () => {
    const time = clock();
    const guards = new Guards({ cooldownSeconds: 300, maxActionsPerHour: 12 }, time.now);
    guards.record('scale_out', 'api', time.now() - 200_000);
    expect(guards.check('scale_out', 'api')).toMatchObject({ result: 'skipped_cooldown' });
    guards.record('restart', 'api', time.now() - 400_000);
    expect(guards.check('restart', 'api')).toEqual({ allowed: true });
  });
});

describe('markDuplicates', () => {
  it('when a fingerprint repeats within one notification, then only its first alert is kept', () => {
    const marked = markDuplicates([{ fingerprint: 'a' }, { fingerprint: 'b' }, { fingerprint: 'a' }]);
    expect(marked.map((item) => item.duplicate)).toEqual([false, false, true]);
  });
});
