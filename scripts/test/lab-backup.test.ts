// The host side of the backup commands: what db:restore asks pgBackRest for, how backup:list reads, how a job's
// result is found in its output. (The jobs themselves: backup-job.test.ts and the end-to-end test.)
import { describe, expect, it } from 'vitest';
import { StopError } from '../lib/cli.js';
import {
  checkRestorable,
  formatBackupList,
  lastJsonLine,
  lastOfEachKind,
  pgbackrestOptions,
  restoreTarget,
  type BackupList,
} from '../lib/lab-backup.js';

const backup = (label: string, type: string, start: number) => ({
  label,
  type,
  timestamp: { start, stop: start + 12 },
  info: { size: 30 * 1024 * 1024, repository: { delta: 3 * 1024 * 1024 } },
});

const LIST: BackupList = {
  pgbackrest: [
    {
      name: 'swarmlab',
      status: { code: 0, message: 'ok' },
      backup: [
        backup('20251115-011500F', 'full', 1_763_169_300),
        backup('20251115-011500F_20251116-011500D', 'diff', 1_763_255_700),
        backup('20251122-011500F', 'full', 1_763_774_100),
        backup('20251122-011500F_20251122-031500I', 'incr', 1_763_781_300),
      ],
      archive: [{ min: '000000010000000000000001', max: '00000001000000000000002A' }],
    },
  ],
  dumps: [
    { file: 'swarmlab-20251121T014500Z.dump', size: 1_048_576, time: 1_763_689_500 },
    { file: 'swarmlab-20251122T014500Z.dump', size: 2_097_152, time: 1_763_775_900 },
  ],
};

describe('db:restore targets', () => {
  it('when a time with a zone is given, then pgBackRest gets it in its own format, to promote at the target', () => {
    const target = restoreTarget({ time: '2026-11-22T03:04:05+01:00' });
    expect(target.args).toEqual(['--time', '2026-11-22 02:04:05.000+00']);
    expect(pgbackrestOptions(target)).toEqual([
      '--type=time',
      '--target=2026-11-22 02:04:05.000+00',
      '--target-action=promote',
    ]);
  });

  it('when --latest or --backup is given, then the end of the WAL or of that backup', () => {
    expect(pgbackrestOptions(restoreTarget({ latest: true }))).toEqual(['--type=default']);
    expect(pgbackrestOptions(restoreTarget({ backup: '20261122-011500F_20261122-031500I' }))).toEqual([
      '--set=20261122-011500F_20261122-031500I',
      '--type=immediate',
      '--target-action=promote',
    ]);
  });

  it.each([
    [{}, /exactly one/],
    [{ latest: true, time: '2026-11-22T03:04:05Z' }, /exactly one/],
    [{ time: '2026-11-22 03:04' }, /ISO 8601 with a zone/],
    [{ time: '2026-13-45T03:04:05Z' }, /not a valid moment/],
    [{ time: '2999-01-01T00:00:00Z' }, /in the future/],
    [{ backup: 'latest; rm -rf /' }, /pgBackRest label/],
  ])('when given %j, then it stops with a sentence saying what to give', (flags, message) => {
    expect(() => restoreTarget(flags)).toThrow(StopError);
    expect(() => restoreTarget(flags)).toThrow(message);
  });
});

describe('db:restore: the restorable window, checked before anything is stopped', () => {
  it.each([
    [{ time: '2025-11-15T01:15:12Z' }, 'the end of the oldest backup'],
    [{ time: '2025-11-20T12:00:00Z' }, 'between two backups'],
    [{ backup: '20251122-011500F_20251122-031500I' }, 'a backup the repository holds'],
    [{ latest: true }, 'the end of the archived WAL'],
  ] as [Parameters<typeof restoreTarget>[0], string][])('when the target is %j (%s), then it passes', (flags) => {
    expect(() => checkRestorable(LIST, restoreTarget(flags))).not.toThrow();
  });

  it('when the time is before the end of the oldest backup, then it stops, naming where the window starts', () => {
    const target = restoreTarget({ time: '2025-11-15T01:15:11Z' });
    expect(() => checkRestorable(LIST, target)).toThrow(StopError);
    expect(() => checkRestorable(LIST, target)).toThrow(
      /before the restorable window, which starts at 2025-11-15T01:15:12Z \(the end of the oldest backup, 20251115-011500F\)\. Nothing was stopped/,
    );
  });

  it('when the label is not in the repository, then it stops, listing those that are', () => {
    expect(() => checkRestorable(LIST, restoreTarget({ backup: '20251108-011500F' }))).toThrow(
      /20251108-011500F is not in the repository[\s\S]*It holds: 20251115-011500F, /,
    );
  });

  it('when the repository holds no backup, then every target stops, saying how to take one', () => {
    const empty: BackupList = { pgbackrest: [{ ...LIST.pgbackrest[0]!, backup: [] }], dumps: [] };
    for (const flags of [{ latest: true }, { time: '2025-11-20T12:00:00Z' }]) {
      expect(() => checkRestorable(empty, restoreTarget(flags))).toThrow(
        /no physical backup yet[\s\S]*npm run backup -- --type full/,
      );
    }
  });
});

describe('backup:list and lab:status', () => {
  it('when backups and dumps exist, then one line each, and the window from the oldest backup', () => {
    const lines = formatBackupList(LIST);
    expect(lines[0]).toMatch(/^label\s+type\s+started/);
    expect(lines[1]).toMatch(/^20251115-011500F\s+full\s+2025-11-15T01:15:00Z\s+12 s\s+30\.0 MiB\s+3\.0 MiB$/);
    expect(lines.filter((line) => /^\d{8}-/.test(line))).toHaveLength(4);
    expect(lines).toContain(
      'restorable to any second from 2025-11-15T01:15:12Z to the last archived WAL (00000001000000000000002A)',
    );
    expect(lines.filter((line) => line.startsWith('dump '))).toHaveLength(2);
  });

  it('when nothing is backed up yet, then it says which command makes the first backup', () => {
    const empty: BackupList = {
      pgbackrest: [{ ...LIST.pgbackrest[0]!, backup: [], status: { code: 2, message: 'no valid backups' } }],
      dumps: [],
    };
    expect(formatBackupList(empty)).toEqual([
      'no physical backup yet (no valid backups): npm run backup -- --type full',
      'no logical dump yet: npm run backup -- --type logical',
    ]);
  });

  it('when summarised for lab:status, then the oldest backup, the newest of each type and the newest dump', () => {
    const summary = lastOfEachKind(LIST);
    expect(summary.pgbackrest[0]!.backup.map((b) => b.label)).toEqual([
      '20251115-011500F',
      '20251115-011500F_20251116-011500D',
      '20251122-011500F',
      '20251122-011500F_20251122-031500I',
    ]);
    const twoFulls = {
      ...LIST,
      pgbackrest: [{ ...LIST.pgbackrest[0]!, backup: LIST.pgbackrest[0]!.backup.slice(0, 3) }],
    };
    expect(lastOfEachKind(twoFulls).pgbackrest[0]!.backup.map((b) => b.type)).toEqual(['full', 'diff', 'full']);
    expect(summary.dumps.map((d) => d.file)).toEqual(['swarmlab-20251122T014500Z.dump']);
  });
});

describe('job results', () => {
  it('when a job prints progress and then its JSON line, then the last JSON object is its result', () => {
    const out = 'WARN: something\n{"not":"last"}\nplain text\n{"job":"backup","result":"success"}\n';
    expect(lastJsonLine(out)).toEqual({ job: 'backup', result: 'success' });
    expect(lastJsonLine('no json at all\n[1,2]\n')).toBeUndefined();
  });
});
