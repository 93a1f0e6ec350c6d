/**
 * @sessiond/testkit starts a real sessiond for the Node suites: the binary
 * from SESSIOND_BIN (scripts/test builds it once) or built here with
 * `go build ./cmd/server`, a fresh PostgreSQL database with a random name, a
 * fresh Redis key prefix and a free port. It can stop and start the server
 * (to simulate an outage) and drops the database when closed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (clients/node/testkit/dist/src → ../../../../..). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

const OPERATOR_TOKEN = `op_test_${randomBytes(24).toString('hex')}`;

/** A running (or stopped) sessiond with one tenant. */
export interface Sessiond {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly operatorToken: string;
  readonly tenantId: string;
  /** Its Redis URL and key prefix (the change stream is `<prefix>:changes:{<tenantId>}`). */
  readonly redisURL: string;
  readonly redisPrefix: string;
  /** The tenant's first API key (scopes sessions and admin): for the test's own admin calls. */
  readonly adminKey: string;
  /** Makes an API key of the tenant; returns its id and secret. */
  newAPIKey(name: string, scopes?: Array<'sessions' | 'admin'>): Promise<{ id: string; secret: string }>;
  /** Calls sessiond as the tenant admin; returns status and parsed body. */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Stops the process (SIGTERM) and waits for it: the outage. */
  stop(): Promise<void>;
  /** Starts it again on the same port, database and Redis prefix. */
  start(): Promise<void>;
  /** What the server logged (JSON lines). */
  logs(): string;
  /** Stops the server and drops its database. */
  close(): Promise<void>;
}

/** binaryPath returns SESSIOND_BIN, or builds ./cmd/server once into a temporary directory. */
export function binaryPath(): string {
  const env = process.env.SESSIOND_BIN;
  if (env) {
    if (!existsSync(env)) throw new Error(`SESSIOND_BIN=${env} does not exist`);
    return env;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sessiond-bin-'));
  const bin = join(dir, 'sessiond');
  execFileSync('go', ['build', '-o', bin, './cmd/server'], { cwd: repoRoot, stdio: 'inherit' });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return bin;
}

/** freePort asks the kernel for a port that is free right now. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? ok(addr.port) : fail(new Error('no port'))));
    });
  });
}

function pgURL(db: string): string {
  const base = new URL(process.env.SESSIOND_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable');
  base.pathname = `/${db}`;
  return base.toString();
}

function psql(sql: string): void {
  execFileSync('psql', [pgURL('postgres'), '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function redisCleanup(url: string, prefix: string): void {
  try {
    const keys = execFileSync('redis-cli', ['-u', url, '--scan', '--pattern', `${prefix}:*`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    for (let i = 0; i < keys.length; i += 500) {
      execFileSync('redis-cli', ['-u', url, 'DEL', ...keys.slice(i, i + 500)], { stdio: 'ignore' });
    }
  } catch {
    // best effort: every session key expires by itself
  }
}

/** startSessiond starts sessiond and creates a tenant. Call close() when done. */
export async function startSessiond(): Promise<Sessiond> {
  const bin = binaryPath();
  const db = `sessiond_node_${randomBytes(6).toString('hex')}`;
  const prefix = `sdnode${randomBytes(5).toString('hex')}`;
  const redisURL = process.env.SESSIOND_TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  psql(`CREATE DATABASE "${db}"`);

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SESSIOND_ADDR: `127.0.0.1:${port}`,
    DATABASE_URL: pgURL(db),
    REDIS_URL: redisURL,
    SESSIOND_REDIS_PREFIX: prefix,
    SESSIOND_OPERATOR_TOKEN: OPERATOR_TOKEN,
    SESSIOND_MASTER_KEY: randomBytes(32).toString('base64'),
    SESSIOND_LOG_LEVEL: 'info',
    SESSIOND_SHUTDOWN_TIMEOUT: '2s',
  };
  let child: ChildProcess | undefined;
  let logs = '';

  async function start(): Promise<void> {
    const p = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    p.stdout!.on('data', (b: Buffer) => (logs += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (logs += b.toString()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`sessiond exited (${p.exitCode}):\n${logs}`);
      try {
        const res = await fetch(`${url}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sessiond did not become ready in 30 s:\n${logs}`);
  }

  async function stop(): Promise<void> {
    const p = child;
    child = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async function call(token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(url + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  try {
    await start();
    const created = await call(OPERATOR_TOKEN, 'POST', '/v1/tenants', { name: `node-suite-${prefix}` });
    if (created.status !== 201) throw new Error(`POST /v1/tenants: ${created.status} ${JSON.stringify(created.body)}`);
    const adminKey: string = created.body.api_key.secret;
    const s: Sessiond = {
      url,
      operatorToken: OPERATOR_TOKEN,
      tenantId: created.body.tenant.id,
      redisURL,
      redisPrefix: prefix,
      adminKey,
      admin: (method, path, body) => call(adminKey, method, path, body),
      async newAPIKey(name, scopes = ['sessions']) {
        const r = await call(adminKey, 'POST', '/v1/api-keys', { name, scopes });
        if (r.status !== 201) throw new Error(`POST /v1/api-keys: ${r.status} ${JSON.stringify(r.body)}`);
        return { id: r.body.id, secret: r.body.secret };
      },
      stop,
      start,
      logs: () => logs,
      async close() {
        await stop();
        redisCleanup(redisURL, prefix);
        psql(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      },
    };
    return s;
  } catch (err) {
    await stop();
    psql(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    throw err;
  }
}

/** until waits, polling every 2 ms, for cond to hold, and returns the ms it took; it fails the test naming `what` after timeoutMs. */
export async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now() - t0;
}

/**
 * codeOf is the problem code a call rejected with (the error must be an
 * instance of errorClass, the client's SessiondError), or 'ok' when it
 * resolved.
 */
export async function codeOf(p: Promise<unknown>, errorClass: new (...args: never[]) => Error & { code: string }): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (!(err instanceof errorClass)) throw new Error(`not a ${errorClass.name}: ${String(err)}`);
    return err.code;
  }
}

/** eventually retries fn until it stops throwing (pub/sub changes take up to a second to reach every instance). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
