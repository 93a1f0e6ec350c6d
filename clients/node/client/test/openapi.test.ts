// The client against the contract: every operation it calls exists in
// api/openapi.yaml with the fields it sends and reads, and the generated
// types in src/openapi.ts are those of the current document.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { operations } from '../src/index.js';

const repo = join(import.meta.dirname, '..', '..', '..', '..', '..');
const specText = readFileSync(join(repo, 'api', 'openapi.yaml'), 'utf8');
const spec = parse(specText);

function resolve(node: any): any {
  let n = node;
  while (n && n.$ref) {
    const path = String(n.$ref).replace(/^#\//, '').split('/');
    n = path.reduce((o: any, k: string) => o?.[k], spec);
  }
  return n;
}

function properties(schema: any): Set<string> {
  const s = resolve(schema);
  const out = new Set<string>(Object.keys(s?.properties ?? {}));
  for (const part of [...(s?.allOf ?? []), ...(s?.oneOf ?? []), ...(s?.anyOf ?? [])]) for (const p of properties(part)) out.add(p);
  return out;
}

describe('the client matches api/openapi.yaml', () => {
  for (const [name, op] of Object.entries(operations)) {
    it(`${name}: ${op.method} ${op.path}`, () => {
      const item = spec.paths?.[op.path];
      assert.ok(item, `path ${op.path} is not in api/openapi.yaml`);
      const o = item[op.method.toLowerCase()];
      assert.ok(o, `${op.method} ${op.path} is not in api/openapi.yaml`);
      const response = resolve(o.responses?.[String(op.status)]);
      assert.ok(response, `${op.method} ${op.path} has no ${op.status} response`);

      const sends = 'sends' in op ? op.sends : [];
      if (sends.length > 0 || 'contentType' in op) {
        const content = resolve(o.requestBody)?.content ?? {};
        const type = 'contentType' in op ? op.contentType : 'application/json';
        assert.ok(content[type], `${op.method} ${op.path} does not accept ${type}`);
        const known = properties(content[type].schema);
        for (const f of sends) assert.ok(known.has(f), `${op.method} ${op.path}: request field ${f} is not in the schema (${[...known]})`);
      }
      const reads = 'reads' in op ? op.reads : [];
      if (reads.length > 0) {
        const known = properties(response.content?.['application/json']?.schema);
        for (const f of reads) assert.ok(known.has(f), `${op.method} ${op.path}: response field ${f} is not in the schema (${[...known]})`);
      }
      const params = [...(item.parameters ?? []), ...(o.parameters ?? [])].map(resolve);
      for (const q of 'query' in op ? op.query : []) {
        assert.ok(params.some((p: any) => p.in === 'query' && p.name === q), `${op.method} ${op.path}: no query parameter ${q}`);
      }
      for (const h of 'headers' in op ? op.headers : []) {
        assert.ok(params.some((p: any) => p.in === 'header' && p.name === h), `${op.method} ${op.path}: no header ${h}`);
      }
      for (const m of op.path.matchAll(/\{(\w+)\}/g)) {
        assert.ok(params.some((p: any) => p.in === 'path' && p.name === m[1]), `${op.method} ${op.path}: no path parameter ${m[1]}`);
      }
    });
  }

  it('src/openapi.ts is generated from the current api/openapi.yaml (else: npm run generate in clients/node)', async () => {
    // @ts-expect-error: a plain .mjs script without types
    const gen = await import('../../scripts/generate-types.mjs');
    const committed = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'openapi.ts'), 'utf8');
    assert.equal(committed, gen.generate(specText), 'src/openapi.ts is stale: run `npm run generate` in clients/node');
  });

  it('the problem codes the clients switch on exist', () => {
    const codes = new Set<string>(resolve({ $ref: '#/components/schemas/Problem' }).properties.code.enum);
    for (const c of ['unauthorized', 'forbidden', 'session_invalid', 'session_expired_idle', 'session_expired_absolute', 'binding_mismatch', 'csrf_mismatch', 'reauth_required', 'unavailable', 'rate_limited']) {
      assert.ok(codes.has(c), `problem code ${c} is gone from api/openapi.yaml`);
    }
  });
});
