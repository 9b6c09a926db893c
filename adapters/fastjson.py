"""The library's JSON transcoder, encoding with orjson: the same bytes, several times
faster (the store's write path encodes every event once).

orjson writes a UUID or a datetime as a plain string where the library's transcoder
writes its registered `{"_type_": ..., "_data_": ...}` form, and it spells some floats
differently; so the state is first rewritten into plain JSON types with the
transcoder's own registered transcodings, and anything outside the types both encoders
write alike (floats, integers beyond 64 bits, non-string keys, unregistered types) is
left to the library's encoder. tests/unit/test_fastjson.py pins byte identity against
the installed `eventsourcing`.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder


class _Differs(Exception):
    """The state holds a value the two encoders may write differently."""


_PLAIN = frozenset({str, int, bool, type(None)})


class FastJSONTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._plain(obj))
        except (_Differs, orjson.JSONEncodeError):
            return super().encode(obj)

    def _plain(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict:  # keys: orjson refuses what is not a str, then the library encodes
            return {k: v if type(v) in _PLAIN else self._plain(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [v if type(v) in _PLAIN else self._plain(v) for v in value]
        transcoding = self.types.get(kind)
        if transcoding is not None:
            data = transcoding.encode(value)
            return {"_type_": transcoding.name,
                    "_data_": data if type(data) in _PLAIN else self._plain(data)}
        return self._subclass(value)

    def _subclass(self, value: Any) -> Any:
        """What the library's encoder writes for a subclass of a JSON type (a StrEnum
        writes its value)."""
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, dict | list | tuple):
            return self._plain(dict(value) if isinstance(value, dict) else list(value))
        raise _Differs
