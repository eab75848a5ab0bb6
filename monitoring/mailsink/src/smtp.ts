// The SMTP side: plain SMTP for the lab's senders (Alertmanager, the weekly report), no TLS, any or no
// authentication. Each message is stored whole or refused: 552 over the size limit, 451 (try again) when it could
// not be written. Never listens by itself (see start.ts).
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import { parseMessage, summarize } from './lib/mime.js';
import type { MailStore } from './lib/store.js';

export interface SmtpDeps {
  store: MailStore;
  metrics: Metrics;
  logger: Logger;
  maxBytes: number;
}

class SmtpReply extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'SmtpReply';
  }
}

/** Reads the whole DATA stream; keeps at most maxBytes of it (the rest is read and dropped). */
async function readMessage(stream: SMTPServerDataStream, maxBytes: number) {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes <= maxBytes) chunks.push(chunk);
  }
  return { raw: Buffer.concat(chunks), bytes, tooBig: stream.sizeExceeded || bytes > maxBytes };
}

export function createSmtpServer(deps: SmtpDeps) {
  const { store, metrics, logger, maxBytes } = deps;

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const envelope = {
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
      rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
    };
    const { raw, bytes, tooBig } = await readMessage(stream, maxBytes);
    if (tooBig) {
      metrics.rejected.inc({ reason: 'size' });
      logger.warn('message rejected', { reason: 'size', bytes, maxBytes, ...envelope, client: session.remoteAddress });
      throw new SmtpReply(552, `Error: message exceeds fixed maximum message size of ${maxBytes} bytes`);
    }
    // A message postal-mime cannot read is kept all the same, summarized from its envelope.
    const email = await parseMessage(raw).catch((error: unknown) => {
      logger.warn('message not parsed; stored as received', { error, bytes });
      return undefined;
    });
    const summary = summarize(email, envelope);
    let stored;
    try {
      stored = await store.add(raw, summary);
    } catch (error) {
      metrics.rejected.inc({ reason: 'storage' });
      logger.error('message not stored', { reason: 'storage', error, bytes, ...envelope });
      throw new SmtpReply(451, 'Requested action aborted: the message could not be stored, try again later');
    }
    const { entry, evicted } = stored;
    metrics.received.inc();
    metrics.receivedBytes.inc(bytes);
    metrics.evicted.inc(evicted.length);
    logger.info('message received', {
      id: entry.id,
      from: entry.from,
      to: entry.to,
      subject: entry.subject,
      bytes,
      ...(evicted.length > 0 ? { evicted: evicted.length } : {}),
    });
    return `OK: message stored as ${entry.id}`;
  }

  const server = new SMTPServer({
    banner: 'swarmlab mail sink',
    // Plain text only: no STARTTLS offered (so no certificate, and clients with requireTLS false go on in clear).
    disabledCommands: ['STARTTLS'],
    // No authentication needed; a client configured with credentials may send them, and any are accepted.
    authOptional: true,
    allowInsecureAuth: true,
    onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'anonymous' }),
    // Announced in EHLO (SIZE); a message over it is read to its end, then refused with 552.
    size: maxBytes,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: 60_000,
    // Connections still open this long after close() are cut (shutdown).
    closeTimeout: 5_000,
    onData: (stream, session, callback) => {
      receive(stream, session).then(
        (reply) => callback(null, reply),
        (error: unknown) => {
          if (error instanceof SmtpReply) return callback(error);
          if ((error as NodeJS.ErrnoException).code === 'ECONNECTION') {
            // The client went away in the middle of DATA: nothing stored, nobody to answer.
            logger.warn('message aborted by the client', { client: session.remoteAddress });
            return callback(error as Error);
          }
          logger.error('message handling failed', { error });
          callback(new SmtpReply(451, 'Requested action aborted: local error in processing'));
        },
      );
    },
  });
  // Client sockets that fail (reset, timeout) are reported here; without a listener they would end the process.
  server.on('error', (error) => logger.warn('smtp connection error', { error }));
  return server;
}
