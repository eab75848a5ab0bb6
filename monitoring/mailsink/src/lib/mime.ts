// Reading messages with postal-mime: the summary the index keeps, and the parts the web UI and API show.
import PostalMime, { type Address, type Email } from 'postal-mime';

/** What the index keeps of a message besides its id, time and size. */
export interface MessageSummary {
  from: string;
  to: string[];
  subject: string;
}

/** The SMTP envelope: used when the headers lack From or To (a Bcc recipient, a bare message). */
export interface Envelope {
  mailFrom?: string | undefined;
  rcptTo: string[];
}

export interface AttachmentInfo {
  /** Its position among the message's attachments: /messages/:id/attachments/:index. */
  index: number;
  filename: string;
  contentType: string;
  size: number;
  disposition: string | null;
}

// The index holds a line per message: no header, however long, makes it big.
const MAX_FIELD = 998;
const MAX_RECIPIENTS = 100;
const clip = (value: string) => (value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD - 1)}…` : value);

export function parseMessage(raw: Uint8Array): Promise<Email> {
  return PostalMime.parse(raw, { attachmentEncoding: 'arraybuffer' });
}

/** "Name <address>" or "address"; a group gives its members. */
export function formatAddress(address: Address): string[] {
  if (address.group) return address.group.flatMap(formatAddress);
  return [address.name ? `${address.name} <${address.address}>` : address.address];
}

/** The summary of a parsed message (undefined when it could not be parsed), falling back to the envelope. */
export function summarize(email: Email | undefined, envelope: Envelope): MessageSummary {
  const from = email?.from ? formatAddress(email.from).join(', ') : (envelope.mailFrom ?? '');
  const headerTo = (email?.to ?? []).flatMap(formatAddress);
  const to = headerTo.length > 0 ? headerTo : envelope.rcptTo;
  return {
    from: clip(from),
    to: to.slice(0, MAX_RECIPIENTS).map(clip),
    subject: clip(email?.subject ?? ''),
  };
}

export function attachmentContent(attachment: Email['attachments'][number]): Buffer {
  const { content } = attachment;
  if (typeof content === 'string') return Buffer.from(content, attachment.encoding === 'base64' ? 'base64' : 'utf8');
  return content instanceof ArrayBuffer
    ? Buffer.from(content)
    : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

export function attachmentInfos(email: Email): AttachmentInfo[] {
  return email.attachments.map((attachment, index) => ({
    index,
    filename: attachment.filename ?? `attachment-${index + 1}`,
    contentType: attachment.mimeType,
    size: attachmentContent(attachment).byteLength,
    disposition: attachment.disposition,
  }));
}
