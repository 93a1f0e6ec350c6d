import type { IncomingMessage, ServerResponse } from 'node:http';

/** Cookie settings of the session cookie. */
export interface CookieOptions {
  /** Cookie name (default `sid`). A `__Host-` name needs `secure: true` and path `/`. */
  name?: string;
  /** Send only over HTTPS (default: true when NODE_ENV is `production`). */
  secure?: boolean;
  /** SameSite (default `Lax`). */
  sameSite?: 'Lax' | 'Strict' | 'None';
  /** Path (default `/`). */
  path?: string;
  /** Domain (default none: host-only, the safest). */
  domain?: string;
}

/** ResolvedCookie is CookieOptions with every default filled in. */
export type ResolvedCookie = Required<Omit<CookieOptions, 'domain'>> & { domain: string | undefined };

export function resolveCookie(o: CookieOptions = {}): ResolvedCookie {
  const c: ResolvedCookie = {
    name: o.name ?? 'sid',
    secure: o.secure ?? process.env.NODE_ENV === 'production',
    sameSite: o.sameSite ?? 'Lax',
    path: o.path ?? '/',
    domain: o.domain,
  };
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(c.name)) throw new TypeError(`cookie name ${JSON.stringify(c.name)} is not a valid token`);
  if (c.sameSite === 'None' && !c.secure) throw new TypeError('SameSite=None cookies must be Secure');
  return c;
}

/**
 * readCookie returns the named cookie's value from the request, or
 * undefined. It runs on every request: it walks the header without
 * splitting it and decodes only a value holding a `%`.
 */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (let at = 0; at < header.length; ) {
    let end = header.indexOf(';', at);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', at);
    if (eq >= 0 && eq < end && header.slice(at, eq).trim() === name) {
      let v = header.slice(eq + 1, end).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (!v.includes('%')) return v;
      try {
        return decodeURIComponent(v);
      } catch {
        return v;
      }
    }
    at = end + 1;
  }
  return undefined;
}

/** writeCookie sets (value, expiry) or clears (value undefined) the cookie, replacing any earlier Set-Cookie for it in this response. */
export function writeCookie(res: ServerResponse, c: ResolvedCookie, value: string | undefined, expires?: Date): void {
  const attrs = [`${c.name}=${value === undefined ? '' : encodeURIComponent(value)}`, `Path=${c.path}`];
  if (c.domain) attrs.push(`Domain=${c.domain}`);
  if (value === undefined) {
    attrs.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'Max-Age=0');
  } else if (expires) {
    attrs.push(`Expires=${expires.toUTCString()}`);
  }
  attrs.push('HttpOnly', `SameSite=${c.sameSite}`);
  if (c.secure) attrs.push('Secure');

  const prev = res.getHeader('Set-Cookie');
  const list = (prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)]).filter((h) => !h.startsWith(`${c.name}=`));
  list.push(attrs.join('; '));
  res.setHeader('Set-Cookie', list);
}
