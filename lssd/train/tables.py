"""Shot tables at the paper's scale (millions of rows) in bounded memory.

Most columns of a shot index describe a *title* (its path, languages, streams, track kinds...), so
millions of rows hold a few thousand distinct values. ``pyarrow``'s ``to_pandas`` would make one numpy
array per row and list cell (5 million shots x 6 list columns: ~30 million objects, several GB and tens
of seconds) and keep every row's string bytes. :func:`read_frame` reads a parquet file one column at a
time (the Arrow copy of the whole table never exists at once) and builds each distinct list and string
once: every row that holds it points at the same Python object.

Those lists are shared: code that changes a row's tracks builds new lists (as
:func:`lssd.train.sampler.drop_pseudo` and :func:`lssd.train.controls.use_control` do), never mutates
them in place. :func:`per_distinct` applies a function once per distinct object the same way, and
:class:`Codes` keeps a repeated column as small integer codes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd


def read_frame(source: str | IO[bytes], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A parquet file (path or binary file object) as a DataFrame: list columns as shared Python lists,
    string columns as shared Python strings (object dtype), other columns as numpy arrays (not copied
    into one block). ``columns`` (default: all) must exist."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = pq.ParquetFile(source)
    schema = plain.schema_arrow
    names = list(columns) if columns is not None else schema.names
    strings = {name for name in names if _has_strings(schema.field(name).type)}
    leaves = (plain.schema.column(i) for i in range(len(plain.schema)))  # writers name list items apart
    dictionaries = [leaf.path for leaf in leaves
                    if leaf.path.split(".")[0] in strings and leaf.physical_type == "BYTE_ARRAY"]
    file = pq.ParquetFile(source, read_dictionary=dictionaries)
    data = {}
    for name in names:  # a column at a time, a row group at a time: never the whole table in Arrow
        parts = []
        for group in range(file.num_row_groups):
            try:
                chunk = file.read_row_group(group, columns=[name]).column(0)
            except NotImplementedError:  # nested dictionaries Arrow cannot return: read the strings
                chunk = plain.read_row_group(group, columns=[name]).column(0)
            parts += [_convert(piece) for piece in chunk.chunks]
            del chunk
            pa.default_memory_pool().release_unused()  # the Arrow copy is gone: give its pages back
        data[name] = _join(parts, schema.field(name).type)
    return pd.DataFrame(data, index=pd.RangeIndex(file.metadata.num_rows), copy=False)


def frame_of_table(table: Any) -> pd.DataFrame:
    """An Arrow table in memory as :func:`read_frame` gives a file: shared lists and strings, numeric
    columns as numpy arrays."""
    data = {name: _join([_convert(piece) for piece in table.column(name).chunks], table.schema.field(name).type)
            for name in table.column_names}
    return pd.DataFrame(data, index=pd.RangeIndex(table.num_rows), copy=False)


def _has_strings(kind: Any) -> bool:
    """A string column, or a list column of strings (both read as dictionaries)."""
    import pyarrow as pa

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _convert(array: Any) -> np.ndarray:
    import pyarrow as pa

    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return shared_lists(array)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return shared_strings(array)
    return array.to_numpy(zero_copy_only=False)


def _join(parts: list[np.ndarray], kind: Any) -> Any:
    if not parts:
        return pd.Series([], dtype=object if kind.num_fields or "string" in str(kind) else kind.to_pandas_dtype())
    joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return pd.Series(joined, dtype=object) if joined.dtype == object else joined


def shared_strings(array: Any) -> np.ndarray:
    """An object array of Python strings (None for nulls), one object per distinct value of a string
    or dictionary array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    distinct = np.empty(len(encoded.dictionary) + 1, dtype=object)  # the last one: null
    distinct[:-1] = encoded.dictionary.to_pylist()
    return distinct[encoded.indices.fill_null(len(distinct) - 1).to_numpy()]


def shared_lists(array: Any) -> np.ndarray:
    """An object array of Python lists (None for nulls), one list object per distinct value of a list
    array. Rows equal to the row before (a title's shots, stored together) are found without building
    a Python list per row; only the first row of each run is converted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(array)
    if n == 0:
        return np.empty(0, dtype=object)
    lengths = pc.list_value_length(array).fill_null(-1).to_numpy().astype(np.int64)
    items = pc.list_flatten(array)
    if pa.types.is_dictionary(items.type):
        items = items.indices
    elif not (pa.types.is_integer(items.type) or pa.types.is_boolean(items.type)):
        items = pc.dictionary_encode(items).indices
    valid = items.is_valid().to_numpy(zero_copy_only=False)
    flat = pc.cast(items, pa.int64()).fill_null(0).to_numpy()
    sizes = np.maximum(lengths, 0)
    row = np.repeat(np.arange(n), sizes)
    # an item differs from the same place in the row before (meaningful where the lengths agree)
    back = np.maximum(np.arange(len(flat)) - sizes[row], 0)
    changed = (flat != flat[back]) | (valid != valid[back])
    differs = np.bincount(row[changed], minlength=n)
    same = np.zeros(n, dtype=bool)
    same[1:] = (lengths[1:] == lengths[:-1]) & (differs[1:] == 0)
    starts = np.flatnonzero(~same)
    run = np.cumsum(~same) - 1
    seen: dict[Any, int] = {}
    distinct: list[Any] = []
    code = np.empty(len(starts), dtype=np.int64)
    for i, value in enumerate(array.take(pa.array(starts)).to_pylist()):
        key = None if value is None else tuple(value)
        if key not in seen:
            seen[key] = len(distinct)
            distinct.append(value)
        code[i] = seen[key]
    return spread(distinct, code[run])


def per_distinct(fn: Callable[..., Any], *columns: Sequence[Any]) -> np.ndarray:
    """``[fn(*values) for values in zip(*columns)]`` as an object array, computed once per distinct
    tuple of objects (by identity: shared lists make that a handful of calls for millions of rows)."""
    codes, first = distinct_rows(*columns)
    cols = [np.asarray(col, dtype=object) for col in columns]
    return spread([fn(*(col[row] for col in cols)) for row in first], codes)


def distinct_rows(*columns: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code among the distinct tuples of objects (by identity) of ``columns``, and the first
    row of each code: ``codes`` are 0..k-1 and ``first[codes[row]]`` holds the same objects as ``row``."""
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:  # codes stay below the row count: no overflow however many columns
        values = np.asarray(col, dtype=object)
        ids, uniques = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
        codes, _ = pd.factorize(codes * len(uniques) + ids)
    return codes, np.unique(codes, return_index=True)[1]


def spread(values: Sequence[Any], codes: np.ndarray) -> np.ndarray:
    """``values[code]`` for every code, as an object array whose rows share the values' objects."""
    shared = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):  # one by one: numpy would read a list of lists as 2-D
        shared[i] = value
    return shared[codes]


class Codes:
    """A column of repeated values (titles, paths, languages) as integer codes and its distinct values:
    ``codes[row]`` reads like a list, at 1-4 bytes a row (the smallest type that holds the codes)
    instead of an 8-byte reference each."""

    def __init__(self, column: Sequence[Any]) -> None:
        codes, uniques = pd.factorize(pd.Series(column), use_na_sentinel=False)
        self.codes = codes.astype(np.min_scalar_type(max(len(uniques) - 1, 0)))
        self.values = list(uniques)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, row: int) -> Any:
        return self.values[self.codes[row]]
