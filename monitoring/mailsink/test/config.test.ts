import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const REQUIRED = { MAILSINK_PASSWORD_FILE: '/run/secrets/mailsink_password' };

describe('config', () => {
  it('when only the password file is set, then the lab defaults', () => {
    const config = loadConfig(REQUIRED);

    expect(config).toMatchObject({
      host: '0.0.0.0',
      smtp: { port: 1025, maxBytes: 10 * 1024 * 1024 },
      http: { port: 8025, passwordFile: '/run/secrets/mailsink_password' },
      store: { dataDir: '/var/lib/mailsink', maxMessages: 1000 },
      log: { level: 'info' },
      shutdown: { timeoutMs: 10_000 },
    });
  });

  it('when sizes are given with units or as bytes, then they are read as bytes; empty means unset', () => {
    expect(loadConfig({ ...REQUIRED, MAILSINK_MAX_BYTES: '512kb' }).smtp.maxBytes).toBe(512 * 1024);
    expect(loadConfig({ ...REQUIRED, MAILSINK_MAX_BYTES: '2MB' }).smtp.maxBytes).toBe(2 * 1024 * 1024);
    expect(loadConfig({ ...REQUIRED, MAILSINK_MAX_BYTES: '4096' }).smtp.maxBytes).toBe(4096);
    expect(loadConfig({ ...REQUIRED, MAILSINK_MAX_MESSAGES: '' }).store.maxMessages).toBe(1000);
  });

  it('when several variables are wrong, then one error names each of them', () => {
    const error = (() => {
      try {
        loadConfig({
          SMTP_PORT: '70000',
          HTTP_PORT: 'http',
          MAILSINK_DATA_DIR: 'relative/dir',
          MAILSINK_MAX_MESSAGES: '0',
          MAILSINK_MAX_BYTES: '10 GB',
          LOG_LEVEL: 'loud',
        });
      } catch (caught) {
        return caught;
      }
    })();

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((problem) => problem.split(':')[0])).toEqual([
      'SMTP_PORT',
      'MAILSINK_MAX_BYTES',
      'HTTP_PORT',
      'MAILSINK_PASSWORD_FILE',
      'MAILSINK_DATA_DIR',
      'MAILSINK_MAX_MESSAGES',
      'LOG_LEVEL',
    ]);
  });

  it('when no password file is given, then an error: the pages and the API never go without a password', () => {
    expect(() => loadConfig({})).toThrow(/MAILSINK_PASSWORD_FILE: required, an absolute path/);
    expect(() => loadConfig({ MAILSINK_PASSWORD_FILE: 'secret' })).toThrow(
      /MAILSINK_PASSWORD_FILE: must be an absolute/,
    );
  });

  it('when SMTP and HTTP are given the same port, then an error', () => {
    expect(() => loadConfig({ ...REQUIRED, SMTP_PORT: '2525', HTTP_PORT: '2525' })).toThrow(
      /SMTP_PORT and HTTP_PORT: must differ/,
    );
  });
});
