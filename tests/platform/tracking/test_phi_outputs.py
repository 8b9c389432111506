"""Issue 28: no DICOM identifier anywhere a real sweep writes, compressed files included.

Before, the privacy tests searched MLflow and the cache for credentials and a few
planted values. Here a real tiny sweep (Ray, MLflow, figures) runs on a synthetic cohort
whose DICOM headers carry identifiers (names, IDs, dates, institution, UIDs:
:func:`data_pipeline.synthetic.generator.phi_values`), and every one of them is searched
for in: the console, the MLflow store and its artifacts, Ray Tune's results and
checkpoints, and the Ray session's logs of that driver; inside PNG text chunks (zTXt and
iTXt decompressed), ``.npz``/``.zip`` members and ``.gz`` files; as UTF-8, UTF-16 and
UTF-32 (NumPy's string arrays). A first test proves the search finds a value planted in
each kind of container, so a pass means something.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from data_pipeline.synthetic.generator import phi_values
from tests.platform.sweep.harness import TINY_SWEEP, SweepProcess, isolation_overrides

_ENCODINGS = ("utf-8", "utf-16-le", "utf-32-le")


def _png_texts(data: bytes) -> Iterator[bytes]:
    """The text of every tEXt, zTXt and iTXt chunk of a PNG, decompressed."""
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"tEXt":
            yield body
        elif kind == b"zTXt":
            keyword, _, rest = body.partition(b"\0")
            yield keyword + b"\0" + zlib.decompress(rest[1:])
        elif kind == b"iTXt":
            keyword, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _, _, rest = rest.partition(b"\0")  # language tag
            _, _, text = rest.partition(b"\0")  # translated keyword
            yield keyword + b"\0" + (zlib.decompress(text) if compressed else text)
        at += 12 + length


def contents(name: str, data: bytes) -> Iterator[bytes]:
    """``data`` and whatever it holds compressed (gz, zip/npz members, PNG text)."""
    yield data
    lower = name.lower()
    try:
        if lower.endswith(".gz") or data[:2] == b"\x1f\x8b":
            inner = gzip.decompress(data)
            yield from contents(lower[:-3], inner)
        elif zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    yield from contents(member, archive.read(member))
        elif data[:8] == b"\x89PNG\r\n\x1a\n":
            yield from _png_texts(data)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile):
        return


def _pattern(values: Iterable[str]) -> re.Pattern[bytes]:
    """Any value, in any encoding, not inside a longer word or number."""
    alternatives = [re.escape(v.encode(e)) for v in values for e in _ENCODINGS]
    return re.compile(rb"(?<![0-9A-Za-z])(?:" + b"|".join(alternatives) + rb")(?![0-9A-Za-z])")


def leaks(roots: Iterable[Path], values: set[str], texts: Iterable[str] = ()) -> list[str]:
    """``where: value`` for every identifier found under ``roots`` or in ``texts``."""
    pattern = _pattern(sorted(values, key=len, reverse=True))
    found = []
    blobs = [(f"text {i}", t.encode()) for i, t in enumerate(texts)]
    for root in roots:
        blobs += [(str(p), p.read_bytes()) for p in root.rglob("*") if p.is_file()]
    for where, data in blobs:
        for blob in contents(where, data):
            found += [f"{where}: {m.group().decode('latin-1')!r}" for m in pattern.finditer(blob)]
    return found


def test_the_search_finds_a_value_in_every_kind_of_container(tmp_path: Path) -> None:
    secret = "DOE^PLANTED"
    (tmp_path / "log.txt").write_text(f"read {secret} ok")
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(f'{{"name": "{secret}"}}'.encode()))
    np.savez_compressed(tmp_path / "arrays.npz", names=np.array(["x", secret]))
    png = b"\x89PNG\r\n\x1a\n"
    for kind, body in ((b"zTXt", b"Comment\0\0" + zlib.compress(secret.encode())),
                       (b"iTXt", b"Title\0\1\0\0\0" + zlib.compress(secret.encode("utf-8")))):
        png += struct.pack(">I4s", len(body), kind) + body + b"\0\0\0\0"
    (tmp_path / "figure.png").write_bytes(png)
    found = leaks([tmp_path], {secret}, texts=[f"console {secret}"])
    where = sorted({line.split(":")[0].rsplit("/", 1)[-1] for line in found})
    assert where == ["a.json.gz", "arrays.npz", "figure.png", "log.txt", "text 0"], found
    assert leaks([tmp_path], {"DOE^PLANTE"}) == []  # a prefix of a longer word is no hit


@pytest.mark.slow
def test_no_identifier_in_anything_a_real_sweep_writes(
        tmp_path: Path, sweep_cache: Path, mlflow_sqlite_uri: str) -> None:
    log = tmp_path / "sweep.log"
    args = [TINY_SWEEP, "eval.figure_patients=1",
            *isolation_overrides(tmp_path, sweep_cache, mlflow_sqlite_uri)]
    with SweepProcess(args, cwd=tmp_path, log=log) as sweep:
        assert sweep.wait(600) == 0, sweep.log_tail()
        driver = sweep.pid
    sessions = [p for p in Path("/tmp/ray").glob(f"session_*_{driver}") if p.is_dir()]
    assert sessions, "the sweep's Ray session folder was not found"
    cohort = next(sweep_cache.rglob("cohort.yaml")).parent
    values = {v for v in phi_values(cohort) if len(v) >= 4}
    assert len(values) > 100  # names, IDs, dates, institutions, UIDs of every slice
    stores = [Path(mlflow_sqlite_uri[len("sqlite:///"):]).parent, tmp_path / "ray"]
    assert list(stores[0].rglob("*.png")) and list((tmp_path / "ray").rglob("result.json"))
    found = leaks([*stores, *sessions], values, texts=[log.read_text(errors="replace")])
    assert not found, found[:20]
