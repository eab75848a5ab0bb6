// Test mails. buildAlertMail() looks like Alertmanager's: multipart/alternative text + HTML, here with an
// attachment as well; its HTML carries what a sink must never run or load (script, remote image, handler).
import { randomBytes } from 'node:crypto';
import type { SendMailOptions } from 'nodemailer';

export const ATTACHMENT_BYTES = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(2048)]);

export function buildAlertMail(overrides: Partial<SendMailOptions> = {}): SendMailOptions {
  const alert = `ApiDown-${randomBytes(3).toString('hex')}`;
  return {
    from: 'Alertmanager <alertmanager@lab.localhost>',
    to: 'ops@lab.localhost',
    subject: `[FIRING:1] ${alert} (api critical)`,
    text: `[FIRING:1] ${alert}\nseverity: critical\nsummary: the API answers no health check <for 1m>\n`,
    html:
      `<html><body><h1 onclick="alert(1)">[FIRING:1] ${alert}</h1>` +
      '<script>document.title = "pwned"</script>' +
      '<img src="http://tracker.invalid/pixel.gif"><p>severity: <b>critical</b></p></body></html>',
    attachments: [{ filename: 'runbook.pdf', content: ATTACHMENT_BYTES, contentType: 'application/pdf' }],
    ...overrides,
  };
}

/** A small plain mail with a unique subject. */
export function buildMail(overrides: Partial<SendMailOptions> = {}): SendMailOptions {
  return {
    from: 'report@lab.localhost',
    to: 'ops@lab.localhost',
    subject: `weekly report ${randomBytes(3).toString('hex')}`,
    text: 'All good.\n',
    ...overrides,
  };
}
