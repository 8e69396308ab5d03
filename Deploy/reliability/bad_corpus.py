#!/usr/bin/env python3
"""A corpus of broken payments events, each with the dead-letter reason
Osprey must give it (Topics/dead-letter.md).

    bad_corpus.py [--seed S] [--write FILE.jsonl] [--max-bytes N]

Imported by bad_input.py, which mixes the corpus into a stream and posts it to
the HTTP port; `--write` stores it as JSON lines ({"category", "reason",
"base64"}) for the decoder test (Tests/Fixtures/bad-events/corpus.jsonl),
leaving out entries larger than --max-bytes (default 64 KiB).
"""
import argparse
import base64
import json
import random

BASE_MS = 1_795_380_000_000
MiB = 1 << 20


def good(rng, i):
    return {"event_id": f"bad-{i}", "event_time": BASE_MS + i * 1000, "card_id": f"c-{rng.randrange(5000):06d}",
            "merchant_id": f"m-{rng.randrange(500):05d}", "amount": round(rng.uniform(1, 500), 2), "currency": "USD",
            "country": "US", "mcc": 5411, "channel": "web"}


def text(event):
    return json.dumps(event, separators=(",", ":")).encode()


def corpus(seed=11):
    """Yields (category, expected reason, bytes)."""
    rng = random.Random(seed)
    n = 0

    def base():
        nonlocal n
        n += 1
        return good(rng, n)

    # Truncated JSON, at many points.
    for cut in (1, 2, 10, 30, 60, 100, -2, -1):
        raw = text(base())
        yield "truncated", "invalid_json", raw[:cut]
    # Invalid JSON.
    for raw in (b"{'event_id': 'x'}", b'{"event_id":"x",}', b'{event_id:"x"}', b'{"event_id" "x"}', b'{"a":1}{"b":2}',
                b'{"event_id":"x","amount":01}', b'{"event_id":"x","amount":1.}', b'{"event_id":"x","amount":.5}',
                b'{"event_id":"x","amount":+1}', b'{"event_id":"x\x01"}', b'\xef\xbb\xbf' + text(base()),
                b'{"event_id":"x\\q"}', b'{"event_id":"\\u12"}', b'{"amount":1e}', b"<xml/>", b"null,", b"{" * 3):
        yield "invalid JSON", "invalid_json", raw
    # Invalid UTF-8 in a field Osprey reads and in one it ignores.
    for bad in (b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"):
        e = base()
        raw = text(e)
        yield "invalid UTF-8", "invalid_utf8", raw.replace(e["card_id"].encode(), e["card_id"].encode() + bad)
        yield "invalid UTF-8", "invalid_utf8", raw.replace(b'"currency":"USD"', b'"currency":"US' + bad + b'"')
    # Wrong types.
    for field, value in (("amount", "12.5"), ("amount", True), ("amount", [1]), ("amount", {"v": 1}), ("card_id", 123), ("card_id", ["c"]),
                         ("mcc", 54.5), ("mcc", "5411"), ("event_time", "yesterday"), ("event_time", 1.5), ("event_time", True),
                         ("event_id", {"id": 1}), ("channel", 7), ("merchant_id", False)):
        e = base()
        e[field] = value
        reason = "invalid_timestamp" if field == "event_time" and isinstance(value, (str, float)) else "wrong_type"
        yield "wrong type", reason, text(e)
    # NaN, Infinity and numbers out of range.
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf"):
        yield "NaN/Infinity", "invalid_json", text(base()).replace(b'"amount":', b'"amount":' + literal + b',"x":')
    for literal in (b"1e999", b"-1e400"):
        yield "out of range", "non_finite_number", text(base()).replace(b'"amount":', b'"amount":' + literal + b',"x":')
    # Missing or null required fields; an empty id.
    for field in ("event_id", "event_time", "card_id", "merchant_id", "amount", "channel"):
        e = base()
        del e[field]
        yield "missing field", "missing_field", text(e)
        e = base()
        e[field] = None
        yield "null field", "missing_field", text(e)
    e = base()
    e["event_id"] = ""
    yield "empty id", "missing_field", text(e)
    # Events of other types (a click, a refund) on the payments topic.
    yield "unknown event type", "missing_field", text({"event_id": "k-1", "event_time": BASE_MS, "user_id": "u-1", "session_id": "s-1",
                                                      "item_id": "i-1", "action": "click"})
    yield "unknown event type", "missing_field", text({"type": "refund", "event_id": "r-1", "event_time": BASE_MS, "refund_of": "p-1"})
    # Not an object.
    for raw in (b"[1,2,3]", b'"payment"', b"42", b"null", b"true"):
        yield "not an object", "not_an_object", raw
    # Duplicate keys Osprey reads.
    for field in ("amount", "card_id", "event_time"):
        raw = text(base())
        yield "duplicate key", "duplicate_field", raw[:-1] + b',"' + field.encode() + b'":' + (b"1" if field != "card_id" else b'"c-x"') + b"}"
    # Deep nesting.
    for depth in (65, 1000, 100_000):
        yield "deep nesting", "too_deep", text(base())[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    # Empty and blank messages.
    yield "empty", "empty", b""
    for raw in (b" ", b"\n", b"\t\r\n "):
        yield "blank", "empty", raw
    # Very long strings: as a key (too_long) and as an ignored field (the event grows past max_event_bytes).
    e = base()
    e["card_id"] = "c" * 300
    yield "long key", "too_long", text(e)
    e = base()
    e["event_id"] = "e" * (MiB // 2)
    yield "1 MB string", "too_long", text(e)
    e = base()
    e["note"] = "n" * MiB
    yield "1 MB string", "too_large", text(e)
    # Huge messages.
    yield "huge message", "too_large", text(base())[:-1] + b',"pad":"' + b"p" * (3 * MiB) + b'"}'
    yield "huge message", "too_large", b"[" + b"0," * (MiB // 2 + 10) + b"0]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--write")
    ap.add_argument("--max-bytes", type=int, default=64 * 1024)
    args = ap.parse_args()
    entries = list(corpus(args.seed))
    counts = {}
    for category, _, _ in entries:
        counts[category] = counts.get(category, 0) + 1
    print(f"{len(entries)} broken events: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    if args.write:
        with open(args.write, "w") as f:
            for category, reason, raw in entries:
                if len(raw) <= args.max_bytes:
                    f.write(json.dumps({"category": category, "reason": reason, "base64": base64.b64encode(raw).decode()}) + "\n")


if __name__ == "__main__":
    main()
