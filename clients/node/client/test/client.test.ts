// @sessiond/client against a real sessiond (and, for the outage shapes, a
// fake one): the calls the middleware relies on and how failures surface.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startSessiond, freePort, eventually, type Sessiond } from '@sessiond/testkit';
import { SessiondClient, SessiondError, isSessionEnded, isStepUpRequired, isUnavailable } from '../src/index.js';

let sd: Sessiond;
let client: SessiondClient;

async function rejects(p: Promise<unknown>, code: string): Promise<SessiondError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SessiondError, `want a SessiondError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.equal((err as unknown as Record<string, unknown>).status, undefined, 'no status property for frameworks to forward');
    return err;
  }
  assert.fail(`want ${code}, got success`);
}

before(async () => {
  sd = await startSessiond();
  const key = await sd.newAPIKey('node client test');
  client = new SessiondClient({ url: sd.url, apiKey: key.secret });
});
after(async () => sd?.close());

describe('@sessiond/client against sessiond', () => {
  it('creates, verifies, patches, regenerates and lists sessions', async () => {
    const anon = await client.createSession({ data: { views: 1 }, device: { user_agent: 'node-test', ip: '203.0.113.7' } });
    assert.equal(anon.session.user_id, undefined);
    assert.deepEqual(anon.evicted, []);
    const v = await client.verifySession({ token: anon.token, csrf_token: anon.csrf_token });
    assert.equal(v.session.id, anon.session.id);
    assert.equal(v.token, undefined, 'no re-signed token without a rotation');

    const patched = await client.patchSessionData(anon.session.id, { views: 2, cart: { items: 1 } }, { ifVersion: anon.session.version });
    assert.deepEqual(patched.data, { views: 2, cart: { items: 1 } });
    await rejects(client.patchSessionData(anon.session.id, { views: 3 }, { ifVersion: anon.session.version }), 'version_conflict');

    const login = await client.regenerateSession({ token: anon.token, user_id: 'alice' });
    assert.equal(login.session.user_id, 'alice');
    assert.deepEqual(login.session.data, { views: 2, cart: { items: 1 } });
    assert.ok(login.session.auth_time, 'login sets auth_time');
    await rejects(client.verifySession({ token: anon.token }), 'session_invalid');

    const devices = await client.allUserSessions('alice');
    assert.deepEqual(devices.map((s) => s.id), [login.session.id]);
    const page = await client.listSessions({ userId: 'alice', limit: 10 });
    assert.equal(page.sessions.length, 1);
    assert.deepEqual((await client.getSession(login.session.id)).data, login.session.data);
  });

  it('a create with user_id is a login: auth_time is set', async () => {
    const s = await client.createSession({ user_id: 'bob' });
    assert.ok(s.session.auth_time);
    const v = await client.verifySession({ token: s.token, max_auth_age: 60 });
    assert.equal(v.session.user_id, 'bob');
  });

  it('revokeToken logs out in one call and is idempotent, even for junk', async () => {
    const s = await client.createSession({ user_id: 'carol' });
    await client.revokeToken(s.token);
    await rejects(client.verifySession({ token: s.token }), 'session_invalid');
    await client.revokeToken(s.token);
    await client.revokeToken('not-a-token');
  });

  it('any string as a token is session_invalid (cookies pass through), never invalid_request', async () => {
    for (const token of ['', 'junk', 'v1.k_x.ab.c.d', 'x'.repeat(600), '{"a": 1}']) {
      const err = await rejects(client.verifySession({ token }), 'session_invalid');
      assert.ok(isSessionEnded(err));
      await rejects(client.regenerateSession({ token, user_id: 'alice' }), 'session_invalid');
    }
  });

  it('re-authentication: max_auth_age, and regenerate with reauthenticated', async () => {
    const s = await client.createSession({ user_id: 'dave' });
    await new Promise((r) => setTimeout(r, 1100));
    await rejects(client.verifySession({ token: s.token, max_auth_age: 1 }), 'reauth_required');
    const again = await client.regenerateSession({ token: s.token, reauthenticated: true });
    await client.verifySession({ token: again.token, max_auth_age: 1 });
    await rejects(client.verifySession({ token: again.token, csrf_token: 'forged' }), 'csrf_mismatch');
  });

  it('step-up: amr at login, min_aal 2 → step_up_required naming what is missing; a step-up with otp → aal 2', async () => {
    const s = await client.createSession({ user_id: 'frank', amr: ['pwd'] });
    assert.deepEqual(s.session.amr.map((f) => f.method), ['pwd']);
    assert.equal(s.session.aal, 1);
    const err = await rejects(client.verifySession({ token: s.token, min_aal: 2 }), 'step_up_required');
    assert.equal(err.httpStatus, 403);
    assert.ok(isStepUpRequired(err));
    assert.equal(err.stepUp?.aal, 2);
    assert.equal(err.stepUp?.have_aal, 1);
    assert.ok(Array.isArray(err.stepUp?.factors));
    await rejects(client.verifySession({ token: s.token, max_factor_age: { otp: 300 } }), 'step_up_required').then((e) => assert.deepEqual(e.stepUp?.factors, ['otp']));

    const up = await client.regenerateSession({ token: s.token, reauthenticated: true, amr: ['otp'] });
    assert.equal(up.session.aal, 2);
    assert.deepEqual(up.session.amr.map((f) => f.method).sort(), ['otp', 'pwd']);
    await rejects(client.verifySession({ token: s.token }), 'session_invalid');
    const v = await client.verifySession({ token: up.token, min_aal: 2, max_factor_age: { otp: 300, pwd: 3600 } });
    assert.equal(v.session.aal, 2);
    await new Promise((r) => setTimeout(r, 5)); // as max_auth_age 0 below: a few ms, not the 300 s
    const stale = await rejects(client.verifySession({ token: up.token, max_factor_age: { otp: 0 } }), 'step_up_required');
    assert.deepEqual(stale.stepUp?.factors, ['otp']);
    assert.equal(stale.stepUp?.have_aal, 2);
  });

  it('log out other devices keeps exactly the named session', async () => {
    const ds = [];
    for (const ua of ['laptop', 'phone', 'tablet']) {
      ds.push(await client.createSession({ user_id: 'erin', device: { user_agent: ua } }));
      await new Promise((r) => setTimeout(r, 3)); // listings are oldest first by the created millisecond; a tie has no order
    }
    const first = await client.listUserSessions('erin', { limit: 2 });
    assert.equal(first.sessions.length, 2);
    assert.ok(first.next_cursor, 'a second page');
    const second = await client.listUserSessions('erin', { cursor: first.next_cursor, limit: 2 });
    assert.deepEqual(second.sessions.map((s) => s.id), [ds[2]!.session.id]);
    assert.equal((await client.allUserSessions('erin')).length, 3);
    const ended = await client.revokeUserSessions('erin', { except: ds[2]!.session.id });
    assert.deepEqual(ended.sort(), [ds[0]!.session.id, ds[1]!.session.id].sort());
    await client.verifySession({ token: ds[2]!.token });
    await rejects(client.verifySession({ token: ds[0]!.token }), 'session_invalid');
  });

  it('key rotation: verify hands back a re-signed token', async () => {
    const admin = new SessiondClient({ url: sd.url, apiKey: sd.adminKey });
    const s = await client.createSession({ user_id: 'frank' });
    const before = await admin.listKeys();
    const rotated = await admin.rotateKey();
    assert.equal(rotated.state, 'active');
    const v = await client.verifySession({ token: s.token });
    assert.ok(v.token && v.token !== s.token, 're-signed token');
    await admin.retireKey(before[0]!.kid);
    await rejects(client.verifySession({ token: s.token }), 'session_invalid');
    assert.equal((await client.verifySession({ token: v.token })).session.user_id, 'frank');
  });

  it('a bad or revoked API key is unauthorized (401 like session_invalid: switch on code)', async () => {
    const bad = new SessiondClient({ url: sd.url, apiKey: 'sk_nope' });
    const err = await rejects(bad.verifySession({ token: 'whatever' }), 'unauthorized');
    assert.equal(err.httpStatus, 401);
    assert.ok(!isSessionEnded(err));

    const admin = new SessiondClient({ url: sd.url, apiKey: sd.adminKey });
    const k = await admin.createAPIKey({ name: 'short-lived', scopes: ['sessions'] });
    const doomed = new SessiondClient({ url: sd.url, apiKey: k.secret });
    const s = await doomed.createSession({ user_id: 'gina' });
    await admin.revokeAPIKey(k.id);
    await eventually(() => rejects(doomed.verifySession({ token: s.token }), 'unauthorized'));
    assert.equal((await client.verifySession({ token: s.token })).session.user_id, 'gina', 'the user is still logged in');
  });

  it('a network error is unavailable with httpStatus 0, never a session error', async () => {
    const port = await freePort();
    const down = new SessiondClient({ url: `http://127.0.0.1:${port}`, apiKey: 'sk_x', timeoutMs: 2000 });
    const err = await rejects(down.verifySession({ token: 'x' }), 'unavailable');
    assert.equal(err.httpStatus, 0);
    assert.ok(isUnavailable(err) && !isSessionEnded(err));
  });
});

describe('@sessiond/client against a failing server', () => {
  let fake: Server;
  let url: string;
  let reply: (res: import('node:http').ServerResponse) => void = () => {};
  before(async () => {
    fake = createServer((_req, res) => reply(res));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const a = fake.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => new Promise<void>((r) => fake.close(() => r())));

  it('503 unavailable carries Retry-After', async () => {
    reply = (res) => {
      res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '7' });
      res.end(JSON.stringify({ type: 'x', title: 'Unavailable', status: 503, code: 'unavailable', request_id: 'r1' }));
    };
    const err = await rejects(new SessiondClient({ url, apiKey: 'sk_x' }).verifySession({ token: 't' }), 'unavailable');
    assert.equal(err.retryAfter, 7);
    assert.equal(err.requestId, 'r1');
  });

  it('a 502 from a proxy (no problem body) is unavailable', async () => {
    reply = (res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<h1>Bad gateway</h1>');
    };
    await rejects(new SessiondClient({ url, apiKey: 'sk_x' }).verifySession({ token: 't' }), 'unavailable');
  });

  it('a hung server times out as unavailable', async () => {
    reply = () => {};
    await rejects(new SessiondClient({ url, apiKey: 'sk_x', timeoutMs: 200 }).verifySession({ token: 't' }), 'unavailable');
  });
});

describe('@sessiond/client forwards the app\'s trace context', () => {
  it('sends traceparent and tracestate from traceContext, and drops a malformed traceparent', async () => {
    const seen: Array<[string | undefined, string | undefined]> = [];
    const srv = createServer((req, res) => {
      seen.push([req.headers.traceparent as string | undefined, req.headers.tracestate as string | undefined]);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"keys":[]}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as import('node:net').AddressInfo).port;
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    let next: { traceparent?: string; tracestate?: string } | undefined;
    const c = new SessiondClient({ url: `http://127.0.0.1:${port}`, apiKey: 'sk_test', traceContext: () => next });
    try {
      for (const [give, want] of [
        [undefined, [undefined, undefined]],
        [{ traceparent: tp, tracestate: 'k=v' }, [tp, 'k=v']],
        [{ traceparent: 'junk\r\nX-Evil: 1', tracestate: 'k=v' }, [undefined, undefined]],
        [{ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, [undefined, undefined]],
      ] as const) {
        next = give as typeof next;
        await c.listKeys();
        assert.deepEqual(seen.pop(), want);
      }
    } finally {
      srv.close();
    }
  });
});
