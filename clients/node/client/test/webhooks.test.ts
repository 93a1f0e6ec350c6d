import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyWebhook, WebhookVerificationError } from '../src/index.js';

// The Standard Webhooks reference vector, which sessiond's Go test checks too.
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const body = '{"type":"session.created","timestamp":"2021-02-25T15:02:10Z","data":{"id":"msg_p5jXN8AQM9LWM0D4loKWxJek","tenant_id":"tn_x"}}';
const vectorBody = '{"test": 2432232314}';
const at = new Date(1614265330 * 1000);

describe('verifyWebhook', () => {
  it('accepts the reference signature, alone or second of two', () => {
    const h = {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    assert.deepEqual(verifyWebhook(secret, h, vectorBody, at), { test: 2432232314 });
    assert.deepEqual(verifyWebhook(secret, new Headers(h), Buffer.from(vectorBody), at), { test: 2432232314 });
  });
  it('refuses a changed body, a wrong secret, an old timestamp, missing headers', () => {
    const h = {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    assert.throws(() => verifyWebhook(secret, h, body, at), WebhookVerificationError);
    assert.throws(() => verifyWebhook('whsec_' + Buffer.alloc(24).toString('base64'), h, vectorBody, at), WebhookVerificationError);
    assert.throws(() => verifyWebhook(secret, h, vectorBody, new Date(at.getTime() + 6 * 60 * 1000)), WebhookVerificationError);
    assert.throws(() => verifyWebhook(secret, {}, vectorBody, at), WebhookVerificationError);
  });
});
