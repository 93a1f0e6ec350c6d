// Verifies made at the same moment go out as one verify-batch call, and each
// gets exactly the answer it would have had alone: against a real sessiond,
// and against fakes for an older sessiond and a batch refused as a whole.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startSessiond, type Sessiond } from '@sessiond/testkit';
import { SessiondClient, SessiondError, type SessionVerified, type SessionVerify } from '../src/index.js';

let sd: Sessiond;
let batched: SessiondClient;
let alone: SessiondClient;

before(async () => {
  sd = await startSessiond();
  const key = await sd.newAPIKey('node batch test');
  batched = new SessiondClient({ url: sd.url, apiKey: key.secret });
  alone = new SessiondClient({ url: sd.url, apiKey: key.secret, batch: false });
});
after(async () => {
  batched?.close();
  alone?.close();
  await sd?.close();
});

/** outcome is what a verify settled with, in a form two answers can be compared by. */
async function outcome(p: Promise<SessionVerified>): Promise<unknown> {
  try {
    const v = await p;
    return { ok: v.session.id, user: v.session.user_id, token: v.token !== undefined, mismatch: v.binding_mismatch };
  } catch (err) {
    assert.ok(err instanceof SessiondError, `want a SessiondError, got ${err}`);
    return { code: err.code, httpStatus: err.httpStatus, stepUp: err.stepUp };
  }
}

describe('verify batching against sessiond', () => {
  it('concurrent verifies travel in one batch, each answered as it would be alone', async () => {
    const live = await alone.createSession({ user_id: 'ann', amr: ['pwd'] });
    const revoked = await alone.createSession({ user_id: 'ben' });
    await alone.revokeToken(revoked.token);
    const reqs: SessionVerify[] = [
      { token: live.token },
      { token: live.token, csrf_token: live.csrf_token },
      { token: live.token, csrf_token: 'wrong' },
      { token: live.token, max_auth_age: 0 },
      { token: live.token, min_aal: 2 },
      { token: revoked.token },
      { token: 'junk' },
      { token: '' },
      { token: live.token, device: { ip: '203.0.113.9', user_agent: 'batch-test' } },
    ];
    const before = batched.batchStats()!.verify;
    const together = await Promise.all(reqs.map((r) => outcome(batched.verifySession(r))));
    const after = batched.batchStats()!.verify;
    assert.equal(after.batches - before.batches, 1, 'one batch');
    assert.equal(after.batched - before.batched, reqs.length);
    assert.equal(after.single, before.single);

    const one: unknown[] = [];
    for (const r of reqs) one.push(await outcome(alone.verifySession(r)));
    assert.deepEqual(together, one);
    assert.deepEqual(
      (together as Array<{ code?: string }>).map((o) => o.code),
      [undefined, undefined, 'csrf_mismatch', 'reauth_required', 'step_up_required', 'session_invalid', 'session_invalid', 'session_invalid', undefined],
    );
  });

  it('a verify alone in its turn goes as a plain verify', async () => {
    const s = await alone.createSession({ user_id: 'cat' });
    const before = batched.batchStats()!.verify;
    assert.equal((await batched.verifySession({ token: s.token })).session.user_id, 'cat');
    const after = batched.batchStats()!.verify;
    assert.equal(after.single - before.single, 1);
    assert.equal(after.batches, before.batches);
  });

  it('one request\'s invalid input does not fail the others: the batch is sent again item by item', async () => {
    const s = await alone.createSession({ user_id: 'dan' });
    const [good, bad, other] = await Promise.all([
      outcome(batched.verifySession({ token: s.token })),
      outcome(batched.verifySession({ token: s.token, csrf_token: 'x'.repeat(600) })),
      outcome(batched.verifySession({ token: 'junk' })),
    ]);
    assert.deepEqual(good, { ok: s.session.id, user: 'dan', token: false, mismatch: undefined });
    assert.equal((bad as { code: string }).code, 'invalid_request');
    assert.equal((other as { code: string }).code, 'session_invalid');
  });

  it('more verifies than a batch holds go in several batches', async () => {
    const s = await alone.createSession({ user_id: 'eve' });
    const before = batched.batchStats()!.verify;
    const all = await Promise.all(Array.from({ length: 230 }, () => batched.verifySession({ token: s.token })));
    assert.ok(all.every((v) => v.session.user_id === 'eve'));
    const after = batched.batchStats()!.verify;
    assert.equal(after.batches - before.batches, 3);
    assert.equal(after.batched - before.batched, 230);
  });

  it('concurrent creates travel in one batch, each answered as it would be alone; one invalid item does not fail the rest', async () => {
    const stats = () => batched.batchStats()!.create;
    const before = stats();
    const users = ['fay', 'gus', 'fay', undefined];
    const made = await Promise.all(users.map((user_id) => batched.createSession({ user_id, data: { n: 1 } })));
    const after = stats();
    assert.equal(after.batches - before.batches, 1, 'one batch');
    assert.equal(after.batched - before.batched, users.length);
    assert.deepEqual(made.map((m) => m.session.user_id), users);
    assert.deepEqual(made.map((m) => m.evicted), [[], [], [], []]);
    for (const m of made) assert.equal((await alone.verifySession({ token: m.token })).session.id, m.session.id);

    const mixed = await Promise.all([
      batched.createSession({ user_id: 'hal' }).then((m) => m.session.user_id, (e: SessiondError) => e.code),
      batched.createSession({ user_id: 'x'.repeat(10_000) }).then((m) => m.session.user_id, (e: SessiondError) => e.code),
    ]);
    assert.deepEqual(mixed, ['hal', 'invalid_request']);
  });
});

/** fake starts an HTTP server answering with handle; it records each request's path. */
async function fake(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const paths: string[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      paths.push(req.url ?? '');
      handle(req, body, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as import('node:net').AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, paths, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

const verified = (id: string) => JSON.stringify({ session: { id, created_at: '2026-01-01T00:00:00Z' }, csrf_token: 'c' });

describe('verify batching against other servers', () => {
  it('a sessiond without the batch route gets single verifies, and from then on only those', async () => {
    const srv = await fake((req, body, res) => {
      if (req.url === '/v1/sessions/verify') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(verified(JSON.parse(body).token));
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'x', title: 'Not found', status: 404, code: 'not_found', request_id: 'r' }));
    });
    const c = new SessiondClient({ url: srv.url, apiKey: 'sk_x' });
    try {
      const first = await Promise.all(['a', 'b', 'c'].map((token) => c.verifySession({ token })));
      assert.deepEqual(first.map((v) => v.session.id), ['a', 'b', 'c']);
      const second = await Promise.all(['d', 'e'].map((token) => c.verifySession({ token })));
      assert.deepEqual(second.map((v) => v.session.id), ['d', 'e']);
      assert.deepEqual(srv.paths.filter((p) => p.endsWith('verify-batch')).length, 1, 'the batch route is tried once');
      assert.equal(srv.paths.filter((p) => p === '/v1/sessions/verify').length, 5);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it('with traceContext, each verify goes alone with its own trace', async () => {
    const seen: Array<string | undefined> = [];
    const srv = await fake((req, body, res) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(verified(JSON.parse(body).token));
    });
    let n = 0;
    const c = new SessiondClient({
      url: srv.url,
      apiKey: 'sk_x',
      traceContext: () => ({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e473${n++}-00f067aa0ba902b7-01` }),
    });
    try {
      const out = await Promise.all(['a', 'b', 'c'].map((token) => c.verifySession({ token })));
      assert.deepEqual(out.map((v) => v.session.id), ['a', 'b', 'c']);
      assert.deepEqual(srv.paths, ['/v1/sessions/verify', '/v1/sessions/verify', '/v1/sessions/verify']);
      assert.equal(new Set(seen).size, 3, 'three traces');
      assert.equal(c.batchStats(), undefined);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it('a batch refused as a whole (503) fails each of its verifies as unavailable', async () => {
    const srv = await fake((_req, _body, res) => {
      res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '3' });
      res.end(JSON.stringify({ type: 'x', title: 'Unavailable', status: 503, code: 'unavailable', request_id: 'r' }));
    });
    const c = new SessiondClient({ url: srv.url, apiKey: 'sk_x' });
    try {
      const out = await Promise.all(['a', 'b'].map((token) => outcome(c.verifySession({ token }))));
      assert.deepEqual(out, [
        { code: 'unavailable', httpStatus: 503, stepUp: undefined },
        { code: 'unavailable', httpStatus: 503, stepUp: undefined },
      ]);
      assert.deepEqual(srv.paths, ['/v1/sessions/verify-batch']);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it('a batch answered with the wrong number of results fails its verifies instead of mixing answers up', async () => {
    const srv = await fake((_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ results: [{ status: 200, body: JSON.parse(verified('a')) }] }));
    });
    const c = new SessiondClient({ url: srv.url, apiKey: 'sk_x' });
    try {
      const out = await Promise.all(['a', 'b'].map((token) => outcome(c.verifySession({ token }))));
      assert.deepEqual(out.map((o) => (o as { code: string }).code), ['internal', 'internal']);
    } finally {
      c.close();
      await srv.close();
    }
  });
});
