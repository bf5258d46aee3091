#!/usr/bin/env python3
"""Checks one reply of kvant serve to a request with format "json" (or OpenAI's
response_format json_object), independently of kvant's own JSON code.

usage: json_reply.py API FILE
  API   ollama-generate | ollama-chat | openai-chat | openai-complete
  FILE  the response body: one JSON object, NDJSON lines (Ollama streaming) or
        server-sent events (OpenAI streaming)

The rule: a reply that ended with "stop" is exactly one JSON object (leading
whitespace allowed, nothing after the closing brace); a reply cut by the token
limit ("length") is not yet whole but is the start of one: some short suffix
makes it parse as an object. Prints "<reason> <chunks> <text as JSON>" and exits
0, or prints what is wrong and exits 1.
"""
import itertools
import json
import sys


def read_reply(api, body):
    """Returns (text, finish reason, number of chunks)."""
    body = body.strip()
    if body.startswith("data:"):  # OpenAI server-sent events
        text, reason, chunks = "", None, 0
        for line in body.splitlines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            ev = json.loads(line[5:])
            for ch in ev.get("choices", []):
                chunks += 1
                text += (ch.get("delta") or {}).get("content") or ch.get("text") or ""
                reason = ch.get("finish_reason") or reason
        return text, reason, chunks
    lines = [json.loads(x) for x in body.splitlines() if x.strip()]
    if api.startswith("openai"):
        ch = lines[0]["choices"][0]
        text = ch["message"]["content"] if api == "openai-chat" else ch["text"]
        return text, ch["finish_reason"], 1
    text = "".join(x["message"]["content"] if api == "ollama-chat" else x["response"]
                   for x in lines)
    return text, lines[-1].get("done_reason"), len(lines)


def closes(text):
    """A suffix of at most 6 bytes from a small alphabet that makes text an object."""
    for n in range(1, 7):
        for tail in itertools.product('"}]:0n', repeat=n):
            try:
                if isinstance(json.loads(text + "".join(tail)), dict):
                    return "".join(tail)
            except ValueError:
                pass
    return None


def main():
    api, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        body = f.read()
    try:
        text, reason, chunks = read_reply(api, body)
    except (ValueError, KeyError, IndexError) as e:
        print(f"unreadable reply ({e}): {body[:500]}")
        return 1
    if reason == "stop":
        try:
            value = json.loads(text)
        except ValueError as e:
            print(f"stopped but not JSON ({e}): {text!r}")
            return 1
        if not isinstance(value, dict) or not text.endswith("}"):
            print(f"stopped but not one object ending the text: {text!r}")
            return 1
    elif reason == "length":
        try:
            json.loads(text)
            print(f"whole JSON yet cut by the length limit: {text!r}")
            return 1
        except ValueError:
            pass
        if closes(text) is None:
            print(f"cut reply is not the start of a JSON object: {text!r}")
            return 1
    else:
        print(f"unexpected finish reason {reason!r}: {body[:500]}")
        return 1
    print(reason, chunks, json.dumps(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
