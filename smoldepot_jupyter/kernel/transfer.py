"""Decoding values pulled from the sidecar: JSON, parquet/CSV frames, .npy arrays; pickle on trust.

Nothing the sidecar sends is unpickled unless the caller asked for ``trust=True``. Frames and
arrays are measured from their metadata (parquet) or header (.npy) before they are decoded, so a
small payload that would decode to gigabytes is refused instead.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "PullRefused", "TransferError", "decode_pulled"]

#: What one pulled frame or array may take in memory once decoded, by default.
DEFAULT_MAX_DECODED_BYTES = 512 * 2**20

#: Bytes per value of each parquet physical type (byte arrays: the offset; the data is added).
_PARQUET_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}


class TransferError(Exception):
    """A value could not be moved between the host and the sidecar."""


class PullRefused(TransferError):
    """The value's type is not safe to decode without pickle; pass ``trust=True`` to allow it."""


def decode_pulled(
    name: str,
    payload: dict[str, Any],
    trust: bool,
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
) -> Any:
    """Rebuild the host value from what the sidecar's ``send`` produced. A frame or array
    that would take more than `max_decoded_bytes` decoded (None: no limit) is refused with
    `TransferError` before it is decoded."""
    kind = payload.get("kind")
    if kind == "missing":
        raise NameError(f"there is no variable named {name!r} in the sidecar")
    if kind == "refused":
        raise PullRefused(
            f"{name!r} is a {payload.get('type')}; without trust, pull() moves only JSON values, "
            f"pandas DataFrames/Series and numpy arrays. Use pull({name!r}, trust=True) to move "
            "it by pickle (unpickling runs code: only for values you trust)."
        )
    if kind == "json":
        return payload["data"]
    if kind in ("parquet", "csv"):
        frame = _decode_frame(name, kind, payload, max_decoded_bytes)
        if payload.get("series"):
            series = frame.iloc[:, 0]
            series.name = payload.get("name")
            return series
        return frame
    if kind == "npy":
        return _decode_array(name, _payload_bytes(name, payload), max_decoded_bytes)
    if kind == "pickle":
        if not trust:
            raise PullRefused("the sidecar sent a pickle, but trust=True was not given")
        import pickle

        return pickle.loads(base64.b64decode(payload["data"]))
    raise TransferError(f"the sidecar sent {name!r} in an unknown form: {kind!r}")


def _payload_bytes(name: str, payload: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(payload["data"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise TransferError(f"the sidecar sent {name!r} in a damaged form ({exc})") from None


def _too_large(name: str, size: int, sent: int, limit: int, what: str, part: str) -> TransferError:
    return TransferError(
        f"{name!r} would take about {size:,} bytes once decoded ({what}; {sent:,} bytes were "
        f"sent), over the pull limit of {limit:,} bytes. Pull a part of it (assign {part} to a "
        "new variable in the sidecar and pull that), save it to a file in the working "
        "directory, or raise the limit."
    )


def _decode_frame(name: str, kind: str, payload: dict[str, Any], limit: int | None) -> Any:
    """A DataFrame from a parquet payload (measured first) or a CSV one."""
    import pandas as pd

    if kind == "csv":
        try:
            return pd.read_csv(io.StringIO(payload["data"]), index_col=0)
        except Exception as exc:
            raise TransferError(
                f"the sidecar sent {name!r} as CSV that cannot be read: {exc}"
            ) from exc
    data = _payload_bytes(name, payload)
    if limit is not None:
        size, rows = _parquet_decoded_size(name, data)
        if size > limit:
            raise _too_large(
                name,
                size,
                len(data),
                limit,
                f"{rows:,} rows",
                "e.g. df.head(1000) or a few columns",
            )
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise TransferError(
            f"the sidecar sent {name!r} as parquet that cannot be read: {exc}"
        ) from exc


def _parquet_decoded_size(name: str, data: bytes) -> tuple[int, int]:
    """An estimate from the parquet metadata alone of the bytes the decoded table takes (each
    column's values times their width, the longest of its min/max for strings; at least the
    uncompressed size), and its number of rows."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(io.BytesIO(data)).metadata
        size = 0
        for group_number in range(metadata.num_row_groups):
            group = metadata.row_group(group_number)
            columns = sum(
                _column_size(group.column(i), metadata.schema.column(i).length)
                for i in range(group.num_columns)
            )
            size += max(columns, group.total_byte_size)
        return size, metadata.num_rows
    except Exception as exc:
        raise TransferError(
            f"the sidecar sent {name!r} as parquet that cannot be read: {exc}"
        ) from exc


def _column_size(column: Any, fixed_length: int) -> int:
    values, kind = column.num_values, column.physical_type
    if kind in _PARQUET_WIDTHS:
        width = _PARQUET_WIDTHS[kind]
    elif kind == "FIXED_LEN_BYTE_ARRAY":
        width = max(fixed_length, 1)
    else:  # BYTE_ARRAY: an offset per value, and the bytes of the value
        width = 8
        stats = column.statistics
        if stats is not None and stats.has_min_max:
            width += max(len(_raw(stats.min)), len(_raw(stats.max)))
    return max(values * width, column.total_uncompressed_size)


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")


def _decode_array(name: str, data: bytes, limit: int | None) -> Any:
    """A numpy array from .npy bytes, its header checked first: the size it claims against
    `limit`, and against the bytes that were actually sent."""
    import numpy as np
    from numpy.lib import format as npy

    buffer = io.BytesIO(data)
    try:
        version = npy.read_magic(buffer)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(buffer)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(buffer)
        else:
            shape, _, dtype = npy._read_array_header(buffer, version)
    except Exception as exc:
        raise TransferError(
            f"the sidecar sent {name!r} as a .npy that cannot be read: {exc}"
        ) from exc
    size = math.prod(shape) * dtype.itemsize
    if limit is not None and size > limit:
        raise _too_large(
            name, size, len(data), limit, f"shape {shape}, {dtype}", "a slice such as arr[:1000]"
        )
    sent = len(data) - buffer.tell()
    if size > sent:
        raise TransferError(
            f"the sidecar sent {name!r} as a .npy whose header claims {size:,} bytes of data, "
            f"but only {sent:,} bytes came: the payload is damaged; pull it again"
        )
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise TransferError(
            f"the sidecar sent {name!r} as a .npy that cannot be read: {exc}"
        ) from exc
