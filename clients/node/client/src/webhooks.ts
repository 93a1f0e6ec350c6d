/**
 * verifyWebhook checks a webhook sessiond sent, as Standard Webhooks 1.0
 * has it: `webhook-timestamp` within five minutes of now, and one of the
 * signatures in `webhook-signature` ("v1,<base64>", space separated; two
 * during a secret rotation) equal, in constant time, to the base64
 * HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` keyed with the
 * base64 decoding of the secret after "whsec_".
 *
 * Pass the raw body exactly as received (before any JSON parsing). It
 * returns the parsed payload, or throws WebhookVerificationError.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A webhook that does not verify. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** How far webhook-timestamp may be from the receiver's clock, seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(h: HeaderSource, name: string): string {
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? '';
  const rec = h as Record<string, string | string[] | undefined>;
  const v = rec[name] ?? rec[Object.keys(rec).find((k) => k.toLowerCase() === name) ?? ''];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** The payload of a sessiond webhook (api/openapi.yaml, WebhookPayload). */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: {
    id: string;
    tenant_id: string;
    session_id?: string;
    user_id?: string;
    device?: { ip?: string; user_agent?: string; label?: string };
    actor?: { name: string; ip?: string; user_agent?: string };
    reason?: string;
    detail?: Record<string, string>;
  };
}

export function verifyWebhook(
  secret: string,
  headers: HeaderSource,
  body: string | Uint8Array,
  now: Date = new Date(),
): WebhookPayload {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  const sec = Number(ts);
  if (!/^[0-9]+$/.test(ts) || Math.abs(now.getTime() / 1000 - sec) > WEBHOOK_TOLERANCE_SECONDS) {
    throw new WebhookVerificationError('webhook-timestamp is missing or too far from now');
  }
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  const want = Buffer.from(
    'v1,' + createHmac('sha256', key).update(`${id}.${ts}.`).update(raw).digest('base64'),
  );
  const ok = sigs.split(' ').some((s) => {
    const got = Buffer.from(s);
    return got.length === want.length && timingSafeEqual(got, want);
  });
  if (!ok) throw new WebhookVerificationError('no matching signature');
  return JSON.parse(raw.toString('utf8')) as WebhookPayload;
}
