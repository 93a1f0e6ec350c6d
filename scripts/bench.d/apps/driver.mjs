// scripts/bench.d/apps/driver.mjs — set-up and revocation latency for
// `scripts/bench --apps`.
//
//   node driver.mjs login APP_URL N OUT
//       N logins (users "pool-<i>") on the app; writes their sid cookies to OUT
//   node driver.mjs revocation --apps URL1,URL2 --sessiond URL --key KEY [--n 200]
//       N times: log in on the first app, read /profile on every app (twice:
//       the session is now in each one's cache), revoke the session in
//       sessiond (DELETE /v1/sessions/{id}) and, from the acknowledgement on,
//       poll /profile on every app until it answers 401. Prints the latency
//       (acknowledgement → first 401) p50/p99/max over every app and
//       revocation, as: REVOCATION n=N p50_us=N p99_us=N max_us=N
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(base, method, path, { body, headers = {} } = {}) {
  const u = new URL(path, base);
  return new Promise((ok, fail) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (data !== undefined) Object.assign(h, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
    const req = http.request({ agent, host: u.hostname, port: u.port, method, path: u.pathname, headers: h }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (t += c));
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, text: t }));
    });
    req.on('error', fail);
    req.end(data);
  });
}

async function login(app, user) {
  const r = await call(app, 'POST', '/login', { body: { username: user, password: 'pw' } });
  const c = (r.headers['set-cookie'] ?? []).find((x) => x.startsWith('sid='));
  if (r.status !== 200 || !c) throw new Error(`login on ${app}: ${r.status} ${r.text}`);
  return c.slice(4, c.indexOf(';'));
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'login') {
  const [app, n, out] = rest;
  const cookies = [];
  const next = { i: 0 };
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next.i < Number(n)) cookies.push(await login(app, `pool-${next.i++}`));
  }));
  writeFileSync(out, cookies.join('\n') + '\n');
} else if (cmd === 'revocation') {
  const { values: a } = parseArgs({ args: rest, options: { apps: { type: 'string' }, sessiond: { type: 'string' }, key: { type: 'string' }, n: { type: 'string', default: '200' } } });
  const apps = a.apps.split(',');
  const lat = [];
  let stale = 0;
  for (let i = 0; i < Number(a.n); i++) {
    const sid = await login(apps[0], `rev-${process.pid}-${i}`);
    const cookie = { Cookie: `sid=${sid}` };
    let id;
    for (const app of apps) {
      for (let k = 0; k < 2; k++) {
        const r = await call(app, 'GET', '/profile', { headers: cookie });
        if (r.status !== 200) throw new Error(`profile on ${app}: ${r.status}`);
        id = JSON.parse(r.text).id;
      }
    }
    const del = await call(a.sessiond, 'DELETE', `/v1/sessions/${id}`, { headers: { Authorization: `Bearer ${a.key}` } });
    if (del.status !== 204) throw new Error(`revoke: ${del.status} ${del.text}`);
    const acked = process.hrtime.bigint();
    await Promise.all(apps.map(async (app) => {
      for (;;) {
        const r = await call(app, 'GET', '/profile', { headers: cookie });
        if (r.status === 401) break;
        if (r.status !== 200) throw new Error(`profile on ${app} after revoke: ${r.status}`);
        stale++;
      }
      lat.push(Number(process.hrtime.bigint() - acked) / 1000);
    }));
  }
  lat.sort((x, y) => x - y);
  const q = (p) => Math.round(lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)]);
  console.log(`REVOCATION n=${lat.length} p50_us=${q(50)} p99_us=${q(99)} max_us=${Math.round(lat.at(-1))} accepted_before_delivery=${stale}`);
} else {
  console.error('usage: driver.mjs login APP N OUT | revocation --apps A,B --sessiond URL --key KEY [--n N]');
  process.exit(2);
}
agent.destroy();
