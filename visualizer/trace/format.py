"""The byte layout of a trace: a header, then length-prefixed msgpack batches.

```
magic    8 bytes   b"LOOPVIZ\\0"
version  u16 LE    FORMAT_VERSION
hlen     u32 LE    length of the header
header   msgpack   a map: python version, pid, argv, wall-clock start, clock name
batch*   u32 LE length, then a msgpack array [source, kind, fields..., kind, fields...]
```

Standard library and msgspec only: the recorder imports this inside the observed program.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from .schema import FORMAT_VERSION, MAGIC

PREFIX = struct.Struct("<8sHI")
LENGTH = struct.Struct("<I")
# A batch is at most a few MB in practice; anything far bigger is corruption, not data.
MAX_BATCH = 256 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()


def encode_header(meta: dict[str, Any]) -> bytes:
    """The bytes that open a trace: magic, version and the header map."""
    body = _encoder.encode(meta)
    return PREFIX.pack(MAGIC, FORMAT_VERSION, len(body)) + body


def encode_batch(items: list[Any]) -> bytes:
    """One framed batch; `items` is ``[source, kind, fields..., ...]``."""
    body = _encoder.encode(items)
    return LENGTH.pack(len(body)) + body
