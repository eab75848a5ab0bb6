import { describe, expect, it } from 'vitest';
import { intFlag, parseFlags, StopError } from '../lib/cli.js';
import { fillTemplate } from '../lib/load.js';

describe('parseFlags', () => {
  it('when the flags are known, then their values are returned', () => {
    const flags = parseFlags(['--port', '4000'], { port: { type: 'string' } }, 'help');

    expect(flags).toEqual({ port: '4000' });
  });

  it('when a flag is unknown, then it stops with the flag named and a pointer to --help', () => {
    const parse = () => parseFlags(['--prot', '4000'], { port: { type: 'string' } }, 'help');

    expect(parse).toThrow(StopError);
    expect(parse).toThrow(/--prot[\s\S]*See --help/);
  });
});

describe('intFlag', () => {
  it.each(['0', '65536', '3.5', 'abc', ''])('when the value is %j, then it stops naming the flag and range', (raw) => {
    expect(() => intFlag('port', raw, 1, 65_535)).toThrow(/--port must be a whole number from 1 to 65535/);
  });

  it('when the value is in range, then it is a number', () => {
    expect(intFlag('port', '3000', 1, 65_535)).toBe(3000);
  });
});

describe('fillTemplate', () => {
  it('when a path holds {userId}, then each request gets an id within the range', () => {
    const ids = Array.from({ length: 200 }, () =>
      Number(
        fillTemplate('/v1/users/{userId}', { userIds: { min: 5, max: 7 } }, '')
          .split('/')
          .at(-1),
      ),
    );

    expect(new Set(ids)).toEqual(new Set([5, 6, 7]));
  });

  it('when a body holds {seq}, then it is replaced by the given value', () => {
    expect(fillTemplate('{"email":"bench-{seq}@lab.localhost"}', {}, 'r1-42')).toBe(
      '{"email":"bench-r1-42@lab.localhost"}',
    );
  });
});
