/**
 * Calls made at the same moment travel together. An app with many users in
 * flight verifies a cookie per request (and, at a login peak, creates a
 * session per request); each call alone is one HTTP round trip, whose fixed
 * cost (headers, parsing, a promise chain in this process; a request, an
 * API-key check and a Redis round trip in sessiond) is most of the price. A
 * Coalescer queues the calls of one turn of the event loop and sends them at
 * its end (setImmediate) as one batch call (`POST /v1/sessions/verify-batch`,
 * `POST /v1/sessions/create-batch`), whose results are exactly what each call
 * would have answered. A call alone in its turn goes as a plain call.
 *
 * One request's bad input never fails another's: a batch refused as a whole
 * for its body (400, 413) is sent again item by item, and a sessiond that
 * has no batch route (404, an older version) gets single calls from then on.
 */
import { SessiondError } from './errors.js';

/** The most items a batch carries (the route's limit). */
export const MAX_BATCH = 100;

interface Pending<Req, Res> {
  req: Req;
  resolve(v: Res): void;
  reject(err: unknown): void;
}

/** One item's result in a batch's answer: the status and body the call alone would have had. */
export interface BatchResult {
  status: number;
  body: { [key: string]: unknown };
}

export interface BatchCalls<Req, Res> {
  /** One call. */
  single(req: Req): Promise<Res>;
  /** One batch; rejects with the SessiondError of a call refused as a whole. */
  batch(items: Req[]): Promise<BatchResult[]>;
  /** The success status of the call alone (200 for verify, 201 for create). */
  ok: number;
  /** The error a result that is not a success stands for. */
  refused(result: BatchResult): SessiondError;
}

/** Coalescer gathers concurrent calls of one kind into batches. */
export class Coalescer<Req, Res> {
  readonly #calls: BatchCalls<Req, Res>;
  #queue: Pending<Req, Res>[] = [];
  #scheduled = false;
  /** False once sessiond answered that it has no batch route. */
  #batches = true;
  /** Counters for tests and stats: batches sent, the calls they carried, calls sent alone. */
  sent = { batches: 0, batched: 0, single: 0 };

  constructor(calls: BatchCalls<Req, Res>) {
    this.#calls = calls;
  }

  call(req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ req, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length; i += MAX_BATCH) {
      const part = queue.length <= MAX_BATCH ? queue : queue.slice(i, i + MAX_BATCH);
      if (part.length === 1 || !this.#batches) this.#singly(part);
      else void this.#send(part);
    }
  };

  #singly(part: Pending<Req, Res>[]): void {
    for (const p of part) {
      this.sent.single++;
      this.#calls.single(p.req).then(p.resolve, p.reject);
    }
  }

  async #send(part: Pending<Req, Res>[]): Promise<void> {
    let results: BatchResult[];
    try {
      this.sent.batches++;
      this.sent.batched += part.length;
      results = await this.#calls.batch(part.map((p) => p.req));
    } catch (err) {
      if (err instanceof SessiondError && (err.httpStatus === 404 || err.httpStatus === 405)) this.#batches = false;
      if (err instanceof SessiondError && [400, 404, 405, 413].includes(err.httpStatus)) return this.#singly(part);
      for (const p of part) p.reject(err);
      return;
    }
    if (results.length !== part.length) {
      const err = new SessiondError({ code: 'internal', httpStatus: 200, message: `sessiond answered ${results.length} results for ${part.length} calls` });
      for (const p of part) p.reject(err);
      return;
    }
    for (let i = 0; i < part.length; i++) {
      const r = results[i]!;
      if (r.status === this.#calls.ok) part[i]!.resolve(r.body as Res);
      else part[i]!.reject(this.#calls.refused(r));
    }
  }
}
