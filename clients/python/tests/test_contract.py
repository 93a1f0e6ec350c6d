"""Every operation the client calls is in api/openapi.yaml, with the fields it
sends and reads. Standard library only, so the YAML is read by indentation
(the document's own block style), enough for paths, methods, statuses,
schema references and property names."""

from __future__ import annotations

import os
import re
import unittest

from sessiond import OPERATIONS
from tests.harness import REPO

SPEC = os.path.join(REPO, "api", "openapi.yaml")


class Yaml:
    """A navigable view of a block-style YAML document: child(key) finds the
    block under a key; keys() lists a block's keys; text is the block's source."""

    def __init__(self, lines):
        self.lines = lines

    def _entries(self):
        child = None
        for i, line in enumerate(self.lines):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ind = len(line) - len(line.lstrip())
            if child is None:
                child = ind
            if ind == child:
                m = re.match(r'\s*(?:"([^"]+)"|([^:\s][^:]*?))\s*:(.*)$', line)
                if m:
                    yield i, (m.group(1) or m.group(2)), m.group(3).strip()

    def keys(self):
        return [k for _, k, _ in self._entries()]

    def child(self, key):
        entries = list(self._entries())
        for n, (i, k, inline) in enumerate(entries):
            if k == key:
                end = entries[n + 1][0] if n + 1 < len(entries) else len(self.lines)
                return Yaml(self.lines[i + 1:end]), inline
        return None, None

    @property
    def text(self):
        return "\n".join(self.lines)


def load():
    with open(SPEC, encoding="utf-8") as f:
        return Yaml(f.read().splitlines())


def ref_in(text):
    m = re.search(r'\$ref:\s*"#/components/schemas/(\w+)"', text)
    return m.group(1) if m else None


def properties(doc, text_or_schema_name):
    """Property names of a schema: by name, or of the first $ref in a text."""
    name = text_or_schema_name if re.fullmatch(r"\w+", text_or_schema_name) else ref_in(text_or_schema_name)
    if name is None:
        return set()
    components, _ = doc.child("components")
    schemas, _ = components.child("schemas")
    schema, _ = schemas.child(name)
    if schema is None:
        return set()
    props, _ = schema.child("properties")
    if props is None:
        return set()
    return set(props.keys())


def parameters(doc, block) -> set:
    """(in, name) of the parameters listed in a path item's or operation's own
    `parameters`, inline or by $ref to components.parameters."""
    params, _ = block.child("parameters")
    if params is None:
        return set()
    components, _ = doc.child("components")
    shared, _ = components.child("parameters")
    out = set()
    for item in re.split(r"\n\s*- ", "\n" + params.text):
        ref = re.search(r'\$ref:\s*"#/components/parameters/(\w+)"', item)
        if ref:
            p, _ = shared.child(ref.group(1))
            item = p.text if p else ""
        name, where = re.search(r"name:\s*(\S+)", item), re.search(r"in:\s*(\w+)", item)
        if name and where:
            out.add((where.group(1), name.group(1)))
    return out


class Contract(unittest.TestCase):
    def test_every_operation_is_in_the_contract(self):
        doc = load()
        paths, _ = doc.child("paths")
        for name, op in OPERATIONS.items():
            with self.subTest(name=name, op=f"{op.method} {op.path}"):
                item, _ = paths.child(op.path)
                self.assertIsNotNone(item, f"path {op.path} is not in api/openapi.yaml")
                o, _ = item.child(op.method.lower())
                self.assertIsNotNone(o, f"{op.method} {op.path} is not in api/openapi.yaml")
                responses, _ = o.child("responses")
                self.assertIn(str(op.status), responses.keys(), f"no {op.status} response")
                if op.sends:
                    body, _ = o.child("requestBody")
                    self.assertIsNotNone(body, "no request body")
                    content, _ = body.child("content")
                    media, _ = content.child(op.content_type)
                    self.assertIsNotNone(media, f"does not accept {op.content_type}")
                    known = properties(doc, media.text)
                    for f in op.sends:
                        self.assertIn(f, known, f"request field {f}")
                if op.reads:
                    resp, _ = responses.child(str(op.status))
                    known = properties(doc, resp.text)
                    for f in op.reads:
                        self.assertIn(f, known, f"response field {f}")
                params = parameters(doc, item) | parameters(doc, o)
                for q in op.query:
                    self.assertIn(("query", q), params, f"no query parameter {q}")
                for p in re.findall(r"\{(\w+)\}", op.path):
                    self.assertIn(("path", p), params, f"no path parameter {p}")

    def test_the_problem_codes_the_clients_switch_on_exist(self):
        text = load().text
        m = re.search(r"code:\s*\n\s*type: string\s*\n\s*enum: \[([^\]]+)\]", text)
        self.assertIsNotNone(m)
        codes = {c.strip() for c in m.group(1).split(",")}
        for c in ["unauthorized", "forbidden", "session_invalid", "session_expired_idle", "session_expired_absolute",
                  "binding_mismatch", "csrf_mismatch", "reauth_required", "unavailable", "rate_limited"]:
            self.assertIn(c, codes)


if __name__ == "__main__":
    unittest.main()
