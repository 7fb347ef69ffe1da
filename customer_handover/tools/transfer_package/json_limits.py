"""Parsing untrusted JSON within limits: its size, its depth, the length of its numbers; no key given twice."""

import json
import re

from .problems import Refused

_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]|[-+0-9.eE]+')


def parse_json(data, member, limits):
    """Parse untrusted JSON after checking its size, depth and number lengths; refuse duplicate keys."""
    if len(data) > limits.max_json_bytes:
        raise Refused("json_too_large", member, limit=limits.max_json_bytes)
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        first = token.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > limits.max_json_depth:
                raise Refused("json_too_deep", member, limit=limits.max_json_depth)
        elif first in (b"]", b"}"):
            depth -= 1
        elif first != b'"' and len(token.group()) > limits.max_number_chars:
            raise Refused("json_number", member, limit=limits.max_number_chars)
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise Refused("json_invalid", member, detail=str(error)[:200]) from error


def _unique_keys(pairs):
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")
