#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the repository's real examples: the
golden fixtures' canonical bodies, list queries and vendor answers, the mapping files, plus a
few hostile inputs per target. Needs Python 3 and PyYAML; run it again after adding fixtures
(`python3 fuzz/make_corpus.py`). Files are named by the SHA-1 of their content, as libFuzzer
names the inputs it adds, so a rerun rewrites the same files.

The `vendor_answer` seeds start with three selector bytes (case, status, content type) whose
tables are read from fuzz/src/lib.rs, so they stay in step with the harness.
"""

import base64
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import yaml

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
MAPPINGS = REPO / "mappings"
CORPUS = FUZZ / "corpus"


# --- YAML read the way ordergate reads it (YAML 1.2 core schema, exact numbers) -----------


class Num(str):
    """A number kept as its decimal text."""


NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


class Loader(yaml.SafeLoader):
    pass


Loader.yaml_implicit_resolvers = {}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", NUMBER, list("-0123456789")
)
Loader.add_constructor("tag:yaml.org,2002:float", lambda l, n: Num(l.construct_scalar(n)))


def dump(v):
    """JSON text with numbers written as they were in the YAML."""
    if isinstance(v, Num):
        return str(v)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def load(path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)


# --- The harness's tables --------------------------------------------------------------------

LIB = (FUZZ / "src" / "lib.rs").read_text(encoding="utf-8")


def const_block(name):
    m = re.search(r"const " + name + r": &\[[^=]*= &\[(.*?)\n\];", LIB, re.S)
    if not m:
        sys.exit(f"fuzz/src/lib.rs: no const {name}")
    return m.group(1)


def fixtures_of(name):
    return re.findall(r'fixture!\("([a-z]+)", "([^"]+)"\)', const_block(name))


ANSWER_CASES = [f for group in ("CREATE", "GET", "LIST", "CONFIRM") for f in fixtures_of(group)]
STATUSES = [int(s) for s in re.findall(r"\d+", const_block("STATUSES"))]
CONTENT_TYPES = re.findall(r'"([^"]*)"', const_block("CONTENT_TYPES"))


# --- Writing ---------------------------------------------------------------------------------

corpora = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    corpora.setdefault(target, set()).add(bytes(data))


def reply_body(reply):
    """The bytes the harness replays for a fixture reply, and its content type."""
    headers = {str(k).lower(): str(v) for k, v in (reply.get("headers") or {}).items()}
    if "body" in reply:
        return dump(reply["body"]).encode("utf-8"), headers.get("content-type", "application/json")
    return str(reply.get("body_text") or "").encode("utf-8"), headers.get("content-type", "")


def query_text(q):
    from urllib.parse import quote

    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in q.items())


def answer_case(vendor, op, name):
    """The vendor_answer case of the same vendor and operation (XML variant for mrdoc)."""
    ops = {"create_order": "create", "get_order": "get", "list_orders": "list", "confirm_order": "confirm"}
    want = ops.get(op)
    if want is None:
        return None
    best = None
    for i, (v, f) in enumerate(ANSWER_CASES):
        case = load(MAPPINGS / v / "fixtures" / f)
        if v != vendor or ops.get(case["operation"]) != want:
            continue
        if best is None or (("xml" in f) == ("xml" in name)):
            best = i
            if ("xml" in f) == ("xml" in name):
                break
    return best


def from_fixtures():
    for path in sorted(MAPPINGS.glob("*/fixtures/*.yaml")):
        vendor = path.parent.parent.name
        fx = load(path)
        req = fx.get("request") or {}
        op = fx.get("operation")
        if "body" in req:
            body = dump(req["body"])
            add("canonical_body", body)
            if op in ("create_order", "update_order"):
                add("render_request", body)
        if isinstance(req.get("query"), dict):
            add("list_query", query_text(req["query"]))
        case = answer_case(vendor, op, path.name)
        exchanges = fx.get("exchanges") or []
        for ex in exchanges:
            expect = ex.get("expect") or {}
            text = expect.get("body_text")
            if isinstance(text, str):
                if text.lstrip().startswith("<"):
                    add("decode_xml", text)
                elif "=" in text and not text.lstrip().startswith(("{", "[")):
                    add("decode_form", text)
            reply = ex.get("reply") or {}
            body, ctype = reply_body(reply)
            stripped = body.lstrip()
            if stripped.startswith((b"{", b"[")):
                add("decode_json", body)
            elif stripped.startswith(b"<"):
                add("decode_xml", body)
            elif b"=" in body:
                add("decode_form", body)
            if case is not None and "/j_spring_security_check" not in str(expect.get("path", "")) \
                    and "/auth" not in str(expect.get("path", "")):
                status = reply.get("status")
                s = STATUSES.index(status) + 1 if status in STATUSES else 0
                c = CONTENT_TYPES.index(ctype) + 1 if ctype in CONTENT_TYPES else 0
                add("vendor_answer", bytes([case, s, c]) + body)
        if path.name[:2] in ("01", "05", "20"):  # a few fixtures: YAML that is not a mapping
            add("mapping_compile", path.read_bytes())


def from_mappings():
    for path in sorted(MAPPINGS.glob("*.yaml")):
        add("mapping_compile", path.read_bytes())


# --- Hostile inputs ----------------------------------------------------------------------------

ORDER = {"customer": {"id": "C1"}, "lines": [{"sku": "A", "quantity": 1, "unit_price": 2.5}]}


def order_with(**fields):
    o = json.loads(json.dumps(ORDER))
    o.update(fields)
    return json.dumps(o)


def hostile():
    deep_json = ["[" * 10000 + "]" * 10000, '{"a":' * 10000 + "1" + "}" * 10000,
                 "[" * 65 + "]" * 65, "[" * 64 + "]" * 64]
    bodies = [
        *deep_json,
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":1e400,"unit_price":1}]}',
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":1,"unit_price":1e-400}]}',
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":"NaN","unit_price":1}]}',
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":-1,"unit_price":0}]}',
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":0,"unit_price":-0}]}',
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":1,"unit_price":'
        '123456789012345678901234567890.123456789}]}',
        '{"customer":{"id":"C1"},"lines":[{"sku":"A","quantity":79228162514264337593543950335,'
        '"unit_price":79228162514264337593543950335}]}',
        '{"customer":{"id":"C1"},"customer":{"id":"C2"},"lines":[]}',
        '{"customer":{"id":"\\ud800"},"lines":[{"sku":"\\u0000","quantity":1,"unit_price":1}]}',
        order_with(external_ref="../../admin"),
        order_with(external_ref="a/b?c=d#e\r\nX-Injected: 1"),
        order_with(external_ref=".."),
        order_with(external_ref="%2F%2e%2e"),
        order_with(external_ref="x" * 5000),
        order_with(notes="\u202e\ufeff\U0001F600" * 10, currency="€€€"),
        order_with(order_date="2026-02-30", delivery_date="9999-12-31T23:59:60+14:00"),
        order_with(vendor_fields={"a": {"b": {"c": [1, [2, [3]]]}}, "@attr": "x", "#text": "y"}),
        order_with(lines=[{"sku": str(i), "quantity": i + 1, "unit_price": "1"} for i in range(300)]),
        "[]", "null", "\"order\"", "1e400", "{}",
    ]
    for b in bodies:
        add("canonical_body", b)
        add("render_request", b)
        add("decode_json", b)
    invalid_utf8 = b'{"customer":{"id":"\xff\xfe"},"lines":[]}'
    for t in ("canonical_body", "render_request", "decode_json", "decode_xml", "decode_form",
              "mapping_compile", "list_query"):
        add(t, invalid_utf8)
    add("decode_json", b"\xef\xbb\xbf{\"a\":1}")
    add("decode_json", b"   \n\t ")
    add("decode_json", b"<html><body>502 Bad Gateway</body></html>")
    add("decode_json", b'{"a": ')

    offset = lambda n: base64.urlsafe_b64encode(f"o:{n}".encode()).decode().rstrip("=")
    for q in [
        "limit=0", "limit=1001", "limit=99999999999999999999999", "limit=-1", "limit=1.5",
        "status=weird&status=draft", "status=draft&status=draft", "colour=red",
        "cursor=garbage!", "cursor=" + offset(5), "cursor=" + offset(999999999), "limit=1&cursor=" + offset(40),
        "limit=1&cursor=" + offset(2**64 - 1), "limit=2&cursor=" + offset(2**64 - 2), "cursor=" + offset(2**64),
        "created_from=2026-13-45", "created_from=2026-11-01T25:61:61Z", "updated_to=9999-12-31T23:59:59%2B14:00",
        "customer_id=%0D%0AX:1", "external_ref=..%2F..%2Fadmin", "external_ref=" + "x" * 300,
        "%FF%FE=%FF", "&&&==&", "=", "", "external_ref=a%23b%3Fc", "customer_id=%00",
    ]:
        add("list_query", q)

    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i + 1} "' + f"&lol{i};" * 10 + '">' for i in range(9)).replace("&lol0;", "&lol;")
              + "]><lolz>&lol9;</lolz>")
    xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><root>&x;</root>'
    for x in [
        laughs, xxe,
        "<root>" + "<a>" * 10000 + "</a>" * 10000 + "</root>",
        "<root>" + "<a>" * 63 + "1" + "</a>" * 63 + "</root>",
        "<root><a>1</a>", "<root></wrong>", "<root/><second/>", "</root>", "<html><body>Bad gateway",
        "<root>&foo;</root>", "<root>&#0;&#x110000;&#xD800;</root>", "<root>&#65;&lt;&gt;&amp;&apos;&quot;</root>",
        '<root a="1" a="2"/>', '<root><products list="true"/></root>',
        '<root><products list="true"><item><q>1</q></item></products><products>x</products></root>',
        "<root><![CDATA[<not>&xml;]]></root>", '<x:root xmlns:x="urn:x"><x:a x:b="c">t</x:a></x:root>',
        "<root><?pi data?><!-- c --><a>t<b/>u</a></root>", '<?xml version="1.0" encoding="UTF-16"?><root/>',
        "<root>" + "<item/>" * 2000 + "</root>",
    ]:
        add("decode_xml", x)
    add("decode_xml", b"<root>\xff</root>")

    for f in ["a=1&a=2&a=3", "a", "=x", "%", "%zz=%", "a=%FF%FE", "+=+&+", "a=1&" * 1000,
              "orderLines=%5B%7B%22q%22%3A1%7D%5D&reference=A%26B+1", "\r\n=\r\n"]:
        add("decode_form", f)

    for y in [
        "[" * 10000 + "]" * 10000, "a:\n" + "".join("  " * i + "b:\n" for i in range(200)) + "  " * 200 + "c: 1\n",
        "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n", "vendor: !!binary aGk=\n",
        "vendor: x\noperations: {create_order: {steps: [{name: s, request: {method: POST, path: /x}}], result: $.a}}\n",
        "vendor: x\noperations: {get_order: {steps: [{name: s, request: {method: GET, path: '/o/${path.id}'}}],"
        " result: {id: {from: $.id, convert: {date: '%Y'}}}}}\n",
        "vendor: x\ntemplates: {a: {use: a}}\noperations: {}\n", "vendor: x\nvalues: {s: {a: b, c: b}}\n",
        "\t- tab", "a: 1\na: 2\n", "? [a]\n: b\n", "--- a\n--- b\n", "a: 123456789012345678901234567890.5e400\n",
        "a: '\\u0000'\nb: \"\\ud800\"\n",
    ]:
        add("mapping_compile", y)

    # Vendor answers: the hostile bodies behind each case, with a few statuses and types.
    for i in range(len(ANSWER_CASES)):
        for body, c in [(b"<html><body>502 Bad Gateway</body></html>", CONTENT_TYPES.index("text/html") + 1),
                        ('{"a":' * 100 + "1" + "}" * 100, 1), (laughs, 2), (b'{"id": ', 1), (b"", 0),
                        ('{"id": 1e400, "data": [null, {}, []]}', 1), ("\xff\xfe", 1)]:
            if isinstance(body, str):
                body = body.encode("utf-8", "surrogateescape") if body != "\xff\xfe" else b"\xff\xfe"
            add("vendor_answer", bytes([i, 0, c]) + body)
        add("vendor_answer", bytes([i, STATUSES.index(500) + 1, 1]) + b'{"error": "s3cret secret-pass gateway"}')


def main():
    from_fixtures()
    from_mappings()
    hostile()
    for target, inputs in sorted(corpora.items()):
        d = CORPUS / target
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for data in inputs:
            (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"{target}: {len(inputs)} inputs, {sum(map(len, inputs))} bytes")


if __name__ == "__main__":
    main()
