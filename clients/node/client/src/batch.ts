/**
 * Verifies made at the same moment travel together. An app with many users in
 * flight verifies a cookie per request; each verify alone is one HTTP round
 * trip, whose fixed cost (headers, parsing, a promise chain in this process; a
 * request, an API-key check and a Redis round trip in sessiond) is most of
 * the price. The verifier queues the verifies of one turn of the event loop
 * and sends them at its end (setImmediate) as one `POST
 * /v1/sessions/verify-batch`, whose results are exactly what each verify
 * would have answered. A verify alone in its turn goes as a plain verify.
 *
 * One request's bad input never fails another's: a batch refused as a whole
 * for its body (400, 413) is sent again item by item, and a sessiond that
 * has no batch route (404, an older version) gets single verifies from then
 * on.
 */
import type { SessionVerified, SessionVerify, SessionVerifyResult } from './openapi.js';
import { SessiondError } from './errors.js';

/** The most items a batch carries (the route's limit). */
export const MAX_BATCH = 100;

interface Pending {
  req: SessionVerify;
  resolve(v: SessionVerified): void;
  reject(err: unknown): void;
}

export interface VerifierCalls {
  /** One verify. */
  single(req: SessionVerify): Promise<SessionVerified>;
  /** One batch; rejects with the SessiondError of a call refused as a whole. */
  batch(items: SessionVerify[]): Promise<SessionVerifyResult[]>;
  /** The error a result that is not a 200 stands for. */
  refused(result: SessionVerifyResult): SessiondError;
}

/** Verifier coalesces concurrent verifies into batches. */
export class Verifier {
  readonly #calls: VerifierCalls;
  #queue: Pending[] = [];
  #scheduled = false;
  /** False once sessiond answered that it has no batch route. */
  #batches = true;
  /** Counters for tests and stats: batches sent and the verifies they carried. */
  sent = { batches: 0, batched: 0, single: 0 };

  constructor(calls: VerifierCalls) {
    this.#calls = calls;
  }

  verify(req: SessionVerify): Promise<SessionVerified> {
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

  #singly(part: Pending[]): void {
    for (const p of part) {
      this.sent.single++;
      this.#calls.single(p.req).then(p.resolve, p.reject);
    }
  }

  async #send(part: Pending[]): Promise<void> {
    let results: SessionVerifyResult[];
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
      const err = new SessiondError({ code: 'internal', httpStatus: 200, message: `sessiond answered ${results.length} results for ${part.length} verifies` });
      for (const p of part) p.reject(err);
      return;
    }
    for (let i = 0; i < part.length; i++) {
      const r = results[i]!;
      if (r.status === 200) part[i]!.resolve(r.body as unknown as SessionVerified);
      else part[i]!.reject(this.#calls.refused(r));
    }
  }
}
