// Mails a report through SMTP: in the lab, the mail sink (mailsink:1025, plain SMTP, no auth, nothing leaves the
// lab). HTML with the charts inlined as <svg>, and a plain-text alternative.
import nodemailer from 'nodemailer';
import type { Config } from './config.js';

export interface ReportMail {
  subject: string;
  html: string;
  text: string;
}

export class MailError extends Error {
  override name = 'MailError';
}

export function createMailer(smtp: Config['smtp'], mail: Config['mail']) {
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: false,
    // The lab's sink has no TLS: do not even try STARTTLS. Elsewhere nodemailer upgrades when the relay offers it.
    ignoreTLS: smtp.labSink,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });

  return {
    async send(message: ReportMail): Promise<{ messageId: string; accepted: string[] }> {
      try {
        const info = await transport.sendMail({
          from: mail.from,
          to: mail.to,
          subject: message.subject,
          html: message.html,
          text: message.text,
        });
        return { messageId: info.messageId, accepted: info.accepted.map(String) };
      } catch (error) {
        throw new MailError(
          `could not mail the report through ${smtp.host}:${smtp.port}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
    close: () => transport.close(),
  };
}

export type Mailer = ReturnType<typeof createMailer>;
