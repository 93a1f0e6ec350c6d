/**
 * The client's transport: one undici Pool of keep-alive connections to
 * sessiond per client (undici is the HTTP client of Node's own fetch, kept by
 * the Node core team; its Pool API skips fetch's layers).
 *
 * Why not the global fetch: per call it allocates an AbortSignal and its
 * timer, a Request, a Headers object and a body stream, and its pool is
 * shared with everything else in the process. node:http with a keep-alive
 * Agent measured about 30 % more CPU per verify than Pool.request
 * (scripts/bench.d/apps/overhead.mjs). Timeouts are the Pool's headers and
 * body timeouts, run on undici's coarse shared timers: no timer is made per
 * call.
 */
import { Pool, errors } from 'undici';

/** A response as the client needs it: status, the few headers it reads, the body as text. */
export interface RawResponse {
  status: number;
  header(name: string): string | undefined;
  body: string;
}

export interface TransportOptions {
  url: URL;
  timeoutMs: number;
  /** Connections per client (default 64: more than enough for one process's concurrency). */
  maxSockets?: number;
}

/** Transport sends requests to one sessiond over pooled keep-alive connections. */
export class Transport {
  readonly #pool: Pool;
  readonly #basePath: string;

  constructor(o: TransportOptions) {
    this.#pool = new Pool(o.url.origin, {
      connections: o.maxSockets ?? 64,
      pipelining: 1,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      connect: { timeout: o.timeoutMs },
      keepAliveTimeout: 30_000,
    });
    this.#basePath = o.url.pathname.replace(/\/+$/, '');
  }

  /**
   * request sends one request; it rejects on a network error or a timeout.
   * With `retry`, a request whose connection failed (sessiond closed an idle
   * keep-alive connection as it was reused, or restarted) is sent once more:
   * only for calls that may safely run twice.
   */
  async request(method: string, path: string, headers: Record<string, string>, body: string | undefined, retry: boolean): Promise<RawResponse> {
    try {
      return await this.#once(method, path, headers, body);
    } catch (err) {
      if (!retry || !(err instanceof errors.SocketError || (err as { code?: string }).code === 'ECONNRESET')) throw err;
      return this.#once(method, path, headers, body);
    }
  }

  async #once(method: string, path: string, headers: Record<string, string>, body: string | undefined): Promise<RawResponse> {
    const res = await this.#pool.request({ method: method as 'GET', path: this.#basePath + path, headers, body });
    const text = await res.body.text();
    const h = res.headers;
    return {
      status: res.statusCode,
      header: (name) => {
        const v = h[name];
        return Array.isArray(v) ? v[0] : v;
      },
      body: text,
    };
  }

  /** close ends the pooled connections. */
  close(): void {
    void this.#pool.close().catch(() => {});
  }
}
