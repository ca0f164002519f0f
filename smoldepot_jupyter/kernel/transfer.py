"""Decoding values pulled from the sidecar: JSON, parquet/CSV frames, .npy arrays; pickle on trust.

Nothing the sidecar sends is unpickled unless the caller asked for ``trust=True``.
"""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["PullRefused", "TransferError", "decode_pulled"]


class TransferError(Exception):
    """A value could not be moved between the host and the sidecar."""


class PullRefused(TransferError):
    """The value's type is not safe to decode without pickle; pass ``trust=True`` to allow it."""


def decode_pulled(name: str, payload: dict[str, Any], trust: bool) -> Any:
    """Rebuild the host value from what the sidecar's ``send`` produced."""
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
        import pandas as pd

        if kind == "parquet":
            frame = pd.read_parquet(io.BytesIO(base64.b64decode(payload["data"])))
        else:
            frame = pd.read_csv(io.StringIO(payload["data"]), index_col=0)
        if payload.get("series"):
            series = frame.iloc[:, 0]
            series.name = payload.get("name")
            return series
        return frame
    if kind == "npy":
        import numpy as np

        return np.load(io.BytesIO(base64.b64decode(payload["data"])), allow_pickle=False)
    if kind == "pickle":
        if not trust:
            raise PullRefused("the sidecar sent a pickle, but trust=True was not given")
        import pickle

        return pickle.loads(base64.b64decode(payload["data"]))
    raise TransferError(f"the sidecar sent {name!r} in an unknown form: {kind!r}")
