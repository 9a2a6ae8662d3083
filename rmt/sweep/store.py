"""The ``<out>.cells`` directory of a sweep: manifest, lock, and one checksummed file per
finished cell, each written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rmt import results as _results

from .grid import _canonical_json

_MANIFEST = "manifest.json"
_LOCK = ".lock"
_CELL_RE = re.compile(r"^cell-(\d+)\.npz$")
_META_KEY = "__meta__"
CELLS_FORMAT = "rmt-sweep-cells"
CELLS_FORMAT_VERSION = 1


class CorruptCellError(ValueError):
    """A stored cell file that cannot be read, fails its checksum, or belongs to another sweep
    (or a sweep manifest that cannot be read)."""


class CorruptCellWarning(UserWarning):
    """A damaged cell file was deleted; its cell is computed again."""



def cells_path(out: str | os.PathLike) -> Path:
    """The directory where the cells of the sweep saved to ``out`` are stored: ``<out>.cells``."""
    out = Path(out)
    return out.with_name(out.name + ".cells")


def _checksum(outputs: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(outputs):
        a = np.array(outputs[key], dtype="<f8", order="C")
        h.update(key.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class _Store:
    """The ``<out>.cells`` directory: manifest, lock and one file per finished cell."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.dir = directory
        self.manifest = manifest
        self.spec_hash = hashlib.sha256(_canonical_json(manifest).encode()).hexdigest()
        self._lock_fh: Any = None

    # -- locking: one driver per directory; the OS drops the lock if the driver dies ----------
    def lock(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / _LOCK, "a+")  # noqa: SIM115 - held for the life of the sweep
        try:
            import fcntl  # noqa: PLC0415 - POSIX only; elsewhere, no lock

            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                raise RuntimeError(
                    f"another process is running a sweep into {self.dir} (its lock is held); "
                    "wait for it to finish or choose another out"
                ) from None
        except ImportError:
            pass
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # -- layout ----------------------------------------------------------------------------------
    def _entries(self) -> list[Path]:
        return [p for p in self.dir.iterdir() if p.name != _LOCK]

    def is_ours(self) -> bool:
        entries = self._entries()
        return not entries or (self.dir / _MANIFEST).is_file()

    def clear(self) -> None:
        for p in self._entries():
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()

    def remove_temporaries(self) -> None:
        for p in self._entries():
            if p.name.startswith(".tmp-"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()

    # -- manifest ------------------------------------------------------------------------------
    def check_or_write_manifest(self) -> None:
        path = self.dir / _MANIFEST
        if not path.exists():
            _results.write_bytes_atomic(path, (json.dumps(self.manifest, indent=1) + "\n").encode())
            return
        try:
            stored = json.loads(path.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise CorruptCellError(
                f"sweep manifest {path} cannot be read ({exc}); remove {self.dir} "
                "(or rerun with resume=False / --no-resume) to start the sweep afresh"
            ) from None
        if stored.get("format") != CELLS_FORMAT:
            raise ValueError(f"{path} is not an rmt sweep manifest (format {stored.get('format')!r})")
        diffs = [
            f"{key}: stored {stored.get(key)!r}, requested {self.manifest.get(key)!r}"
            for key in self.manifest if stored.get(key) != self.manifest.get(key)
        ]
        if diffs:
            raise ValueError(
                f"out already holds cells of a different sweep ({self.dir}); refusing to mix "
                f"them. Differences: {'; '.join(diffs)}. Choose another out, or rerun with "
                "resume=False (--no-resume) to discard the stored cells"
            )

    # -- cells -----------------------------------------------------------------------------------
    def cell_file(self, index: int) -> Path:
        return self.dir / f"cell-{index:09d}.npz"

    def stored_indices(self) -> list[int]:
        found = []
        for p in self.dir.iterdir():
            m = _CELL_RE.match(p.name)
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    def write_cell(self, index: int, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        meta = {**meta, "index": index, "spec_hash": self.spec_hash, "sha256": _checksum(outputs),
                "keys": sorted(outputs)}
        arrays = {key: np.asarray(v, dtype="<f8") for key, v in outputs.items()}
        arrays[_META_KEY] = np.array(json.dumps(meta))
        path = self.cell_file(index)
        with _results.atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def discard_cell(self, index: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.cell_file(index).unlink()

    def read_cell(self, index: int, n_cells: int) -> tuple[dict[str, np.ndarray], dict]:
        path = self.cell_file(index)

        def corrupt(reason: str) -> CorruptCellError:
            return CorruptCellError(f"cell file {path} is corrupt or not part of this sweep "
                                    f"({reason})")

        if index >= n_cells:
            raise corrupt(f"index {index} is outside the grid of {n_cells} cells")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {key: z[key] for key in z.files}
        except Exception as exc:
            raise corrupt(f"{type(exc).__name__}: {exc}") from None
        try:
            meta = json.loads(str(arrays.pop(_META_KEY)))
        except Exception:
            raise corrupt("no readable metadata") from None
        if not isinstance(meta, dict):
            raise corrupt("no readable metadata")
        if meta.get("spec_hash") != self.spec_hash:
            raise corrupt("written by a sweep with another manifest")
        if meta.get("index") != index:
            raise corrupt(f"it holds cell {meta.get('index')!r}, not cell {index}")
        if sorted(arrays) != meta.get("keys") or any(a.ndim > 1 for a in arrays.values()):
            raise corrupt("its outputs do not match its metadata")
        if _checksum(arrays) != meta.get("sha256"):
            raise corrupt("checksum mismatch")
        return arrays, meta

