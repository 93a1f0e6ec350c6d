/**
 * The client's transport: node:http(s) over one keep-alive Agent per client.
 *
 * Why not the global fetch: per call it allocates an AbortSignal and its
 * timer, a Request, a Headers object and a body stream, and its pool
 * (undici's) is shared with everything else in the process. Here a call is
 * one http.request on a pooled socket: the timeout is the socket's own idle
 * timeout, set once when the socket is made (the Agent's `timeout` option)
 * and refreshed by Node on every read and write, so no timer is made per
 * call; an idle pooled socket past it is closed by the Agent.
 */
import http from 'node:http';
import https from 'node:https';

/** A response as the client needs it: status, the few headers it reads, the body as text. */
export interface RawResponse {
  status: number;
  header(name: string): string | undefined;
  body: string;
}

export interface TransportOptions {
  url: URL;
  timeoutMs: number;
  /** Sockets per client (default 64: more than enough for one process's concurrency). */
  maxSockets?: number;
}

/** Transport sends requests to one sessiond over pooled keep-alive connections. */
export class Transport {
  readonly #mod: typeof http | typeof https;
  readonly #agent: http.Agent;
  readonly #host: string;
  readonly #port: number;
  readonly #basePath: string;
  readonly #timeoutMs: number;

  constructor(o: TransportOptions) {
    const tls = o.url.protocol === 'https:';
    this.#mod = tls ? https : http;
    const agentOpts: http.AgentOptions = {
      keepAlive: true,
      maxSockets: o.maxSockets ?? 64,
      maxFreeSockets: o.maxSockets ?? 64,
      scheduling: 'lifo', // reuse the warmest socket; let the others idle out
      timeout: o.timeoutMs,
    };
    this.#agent = tls ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.#host = o.url.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(o.url.port) || (tls ? 443 : 80);
    this.#basePath = o.url.pathname.replace(/\/+$/, '');
    this.#timeoutMs = o.timeoutMs;
  }

  /**
   * request sends one request. It rejects on a network error or a timeout
   * (no response within timeoutMs of silence). A request that fails on a
   * reused keep-alive socket before any response (the server closed it while
   * idle) is retried once on a fresh one, as Node's documentation advises.
   */
  async request(method: string, path: string, headers: http.OutgoingHttpHeaders, body: string | undefined): Promise<RawResponse> {
    try {
      return await this.#once(method, path, headers, body);
    } catch (err) {
      if (!(err as { retryable?: boolean }).retryable) throw err;
      return this.#once(method, path, headers, body);
    }
  }

  #once(method: string, path: string, headers: http.OutgoingHttpHeaders, body: string | undefined): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = this.#mod.request({
        agent: this.#agent,
        host: this.#host,
        port: this.#port,
        method,
        path: this.#basePath + path,
        headers,
      });
      let responded = false;
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', (err: Error & { retryable?: boolean; code?: string }) => {
        if (!responded && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) err.retryable = true;
        reject(err);
      });
      req.on('response', (res) => {
        responded = true;
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', reject);
        res.on('end', () => {
          const h = res.headers;
          resolve({
            status: res.statusCode ?? 0,
            header: (name) => {
              const v = h[name];
              return Array.isArray(v) ? v[0] : v;
            },
            body: text,
          });
        });
      });
      req.end(body);
    });
  }

  /** close ends the pooled connections (the client stays usable: new calls open new ones). */
  close(): void {
    this.#agent.destroy();
  }
}
