"""DCP checkpoints that are committed atomically, resumable in any parallel layout.

A save goes to `checkpoints/step-000100.tmp`; every rank writes its shards there with
`torch.distributed.checkpoint`, then rank 0 adds `meta.json` (step, data position, LR
schedule, model config, layout), renames the folder to `step-000100` and only then writes
the `COMMITTED` marker. Only folders with the marker count as checkpoints, so a save killed
at any point is never picked as the latest. Model and optimizer state go through
`get_state_dict`/`set_state_dict` with flattened, layout-free parameter names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import shutil
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from lm_core import InputError
from lm_dist.config import CheckpointConfig
from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf

logger = logging.getLogger(__name__)

COMMITTED = "COMMITTED"
META = "meta.json"
_STEP_RE = re.compile(r"^step-(\d+)$")
_OPTIM_OPTIONS = StateDictOptions(flatten_optimizer_state_dict=True)


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


@contextlib.contextmanager
def _single_process_ok():
    """DCP warns that it assumes one process when there is no process group: that is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def committed_checkpoints(directory: str | Path) -> list[Path]:
    """Committed `step-N` folders under `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        m = _STEP_RE.match(child.name)
        if m and (child / COMMITTED).is_file():
            found.append((int(m.group(1)), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = committed_checkpoints(directory)
    return found[-1] if found else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A committed step folder from itself, a `checkpoints` folder or a run directory."""
    path = Path(path)
    if (path / COMMITTED).is_file():
        return path
    for candidate in (path, path / "checkpoints"):
        latest = latest_checkpoint(candidate)
        if latest is not None:
            return latest
    if path.is_dir() and _STEP_RE.match(path.name):
        raise FileNotFoundError(f"{path} has no {COMMITTED} marker: the save did not finish")
    raise FileNotFoundError(f"no committed checkpoint in {path}")


def _dtype_names() -> frozenset[str]:
    return frozenset(name for name, value in vars(torch).items() if isinstance(value, torch.dtype))


class _SafeUnpickler(pickle.Unpickler):
    """DCP's `.metadata` file is a pickle: resolve only the globals a DCP checkpoint holds.

    The pairs are the ones every layout lm-dist saves (one process, FSDP, HSDP, TP DTensors,
    pipeline stages; weights, AdamW state and per-rank RNG state; fp32, fp64 and bf16 runs)
    asks for. Matching exact (module, name) pairs matters: a module prefix lets a dotted
    name walk to any attribute (`torch.distributed.checkpoint.filesystem` + `os.system`),
    and private torch helpers such as `torch._utils._import_dotted_name` import anything.
    """

    _ALLOWED = frozenset({
        *(("torch.distributed.checkpoint.metadata", name) for name in (
            "Metadata", "StorageMeta", "MetadataIndex", "TensorStorageMetadata",
            "BytesStorageMetadata", "ChunkStorageMetadata", "TensorProperties",
            "_MEM_FORMAT_ENCODING")),
        ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
        # TensorProperties pickles its layout as _get_layout("torch.strided"): a dict lookup.
        ("torch.serialization", "_get_layout"),
        ("torch", "Size"),
        *(("torch", name) for name in _dtype_names()),
        # StorageMeta.checkpoint_id: the folder the checkpoint was saved to.
        *(("pathlib", name) for name in ("PosixPath", "PurePosixPath", "WindowsPath",
                                         "PureWindowsPath")),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a DCP checkpoint "
                                         "never holds; refusing to load it")
        return super().find_class(module, name)


class SafeFileSystemReader(FileSystemReader):
    """FileSystemReader whose metadata is unpickled with an allow-list (tensors already load
    with `weights_only=True`)."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        path = self._get_metadata_path(kwargs.get("rank"))
        with self.fs.create_stream(path, "rb") as f:
            try:
                metadata = _SafeUnpickler(f).load()
            except Exception as e:  # a truncated or foreign file fails in many ways
                raise pickle.UnpicklingError(f"{path}: not a DCP checkpoint's metadata: {e}") from e
        if not isinstance(metadata, Metadata):
            raise pickle.UnpicklingError(f"{path}: holds a {type(metadata).__name__}, "
                                         "not a DCP checkpoint's metadata")
        if metadata.storage_meta is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


def read_meta(path: Path) -> dict[str, Any]:
    """A committed checkpoint's `meta.json`; a broken one is an InputError naming the file."""
    meta_path = path / META
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{meta_path} not found: not a checkpoint lm-dist wrote") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{meta_path}: not valid JSON: {e}") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
        raise InputError(f"{meta_path}: expected a JSON object with an integer 'step'")
    return meta


def _reader(path: Path) -> SafeFileSystemReader:
    """A reader for `path`, its metadata read once up front: inside `dcp.load` a bad file
    only surfaces wrapped in a CheckpointException that mixes in unrelated fallbacks."""
    reader = SafeFileSystemReader(path)
    reader.read_metadata()
    return reader


def model_state(parts: list[nn.Module]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for part in parts:
        state.update(get_model_state_dict(part))
    return state


def optimizer_state(
    parts: list[nn.Module], optimizers: list[torch.optim.Optimizer]
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for part, opt in zip(parts, optimizers, strict=True):
        state.update(get_optimizer_state_dict(part, opt, options=_OPTIM_OPTIONS))
    return state


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _saved_keys(metadata: Metadata, prefix: str) -> set[str]:
    """Names under `prefix` in a checkpoint's DCP metadata (DCP flattens nested dicts with dots)."""
    names = metadata.state_dict_metadata
    return {n.removeprefix(prefix + ".") for n in names if n.startswith(prefix + ".")}


@dataclass(frozen=True)
class _PendingSave:
    """A background save in flight: committed by `Checkpointer.wait`."""

    future: Future
    step: int
    tmp: Path
    final: Path
    meta: str


class Checkpointer:
    """Saves and restores a run's state under `<run_dir>/checkpoints`."""

    def __init__(self, cfg: CheckpointConfig, run_dir: str | Path) -> None:
        self.cfg = cfg
        self.directory = Path(run_dir) / "checkpoints"
        self._pending: _PendingSave | None = None
        # Background writes synchronise the ranks on a gloo group of their own, never on the
        # group the training step is using at the same time (torchtitan does the same).
        self._group = (dist.new_group(backend="gloo")
                       if cfg.async_save and dist.is_initialized() else None)

    def due(self, step: int, last_step: int) -> bool:
        return self.cfg.enabled and (step % self.cfg.interval == 0 or step == last_step)

    def save(self, step: int, parts: list[nn.Module], optimizers: list[torch.optim.Optimizer],
             meta: dict[str, Any]) -> Path:
        """Write this step's checkpoint (in the background with `async_save`); every rank calls
        it."""
        self.wait()
        final = self.directory / f"step-{step:06d}"
        tmp = self.directory / f"step-{step:06d}.tmp"
        if _rank() == 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        _barrier()
        state = {"model": model_state(parts), "optimizer": optimizer_state(parts, optimizers),
                 f"rng_rank{_rank()}": _rng_state()}
        world = dist.get_world_size() if dist.is_initialized() else 1
        # Serialised now: the data position and schedule move on while a background save runs.
        text = json.dumps({**meta, "step": step, "world_size": world}, indent=2)
        with _single_process_ok():
            if self.cfg.async_save:
                # The state is staged into host memory before this returns; only the writing
                # overlaps training.
                response = dcp.async_save(state, checkpoint_id=tmp, process_group=self._group,
                                          no_dist=not dist.is_initialized())
                future = getattr(response, "upload_completion", response)
                self._pending = _PendingSave(future, step, tmp, final, text)
                return final
            dcp.save(state, checkpoint_id=tmp, no_dist=not dist.is_initialized())
        self._commit(step, tmp, final, text)
        return final

    def wait(self) -> None:
        """Finish and commit the background save in flight, if any; every rank calls it."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        pending.future.result()
        self._commit(pending.step, pending.tmp, pending.final, pending.meta)

    def _commit(self, step: int, tmp: Path, final: Path, meta: str) -> None:
        """Rank 0 adds meta.json, renames tmp to final, then marks it COMMITTED."""
        if _rank() == 0:
            (tmp / META).write_text(meta)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            _write_synced(final / COMMITTED, f"{step}\n")
            self._prune()
        _barrier()
        logger.info("saved checkpoint %s", final)

    def _prune(self) -> None:
        for stale in self.directory.glob("step-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        if self.cfg.keep_last:
            for old in committed_checkpoints(self.directory)[:-self.cfg.keep_last]:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, path: str | Path, parts: list[nn.Module],
             optimizers: list[torch.optim.Optimizer] | None) -> dict[str, Any]:
        """Restore model (and optimizer, and this rank's RNG when the world size is unchanged)
        from a committed checkpoint into the current layout; return its meta.json."""
        path = resolve_checkpoint(path)
        meta = read_meta(path)
        reader = _reader(path)
        world = dist.get_world_size() if dist.is_initialized() else 1
        state: dict[str, Any] = {"model": model_state(parts)}
        if optimizers is not None:
            state["optimizer"] = optimizer_state(parts, optimizers)
        rng_key = f"rng_rank{_rank()}"
        if meta.get("world_size") == world:
            # Only the generators the checkpoint has: one written on CPU has no CUDA state.
            saved = _saved_keys(reader.read_metadata(), rng_key)
            current = {k: v for k, v in _rng_state().items() if k in saved}
            if current:
                state[rng_key] = current
        with _single_process_ok():
            dcp.load(state, storage_reader=reader, no_dist=not dist.is_initialized())
        for i, part in enumerate(parts):
            set_model_state_dict(part, state["model"], options=StateDictOptions(strict=False))
            if optimizers is not None:
                set_optimizer_state_dict(part, optimizers[i], state["optimizer"],
                                         options=_OPTIM_OPTIONS)
        if rng_key in state:
            torch.set_rng_state(state[rng_key]["cpu"])
            if "cuda" in state[rng_key] and torch.cuda.is_available():
                torch.cuda.set_rng_state(state[rng_key]["cuda"])
        logger.info("resumed from %s (step %d)", path, meta["step"])
        return meta


def export(checkpoint: str | Path, out_dir: str | Path, *, tokenizer_dir: str | Path | None = None,
           dtype: torch.dtype | None = None) -> Path:
    """Write a committed checkpoint's weights as a Hugging Face directory (`lm_model.hf`).

    Runs in one process with no process group: DCP reads every rank's shards into the full
    tensors of a freshly built model, whatever layout saved them.
    """
    return save_hf(load_model(checkpoint), out_dir, dtype=dtype, tokenizer_dir=tokenizer_dir)


def load_model(checkpoint: str | Path) -> Transformer:
    """The whole model of a committed checkpoint, in one process, whatever layout saved it."""
    path = resolve_checkpoint(checkpoint)
    meta = read_meta(path)
    if "model_config" not in meta:
        raise InputError(f"{path / META}: field 'model_config' missing")
    dtype = getattr(torch, str(meta.get("param_dtype", "float32")), None)
    if not isinstance(dtype, torch.dtype):  # meta.json is data: never getattr into torch blindly
        raise InputError(f"{path / META}: param_dtype {meta['param_dtype']!r} "
                         "is not a torch dtype")
    with torch.device("meta"):
        model = Transformer(ModelConfig.from_dict(meta["model_config"]))
    model.to_empty(device="cpu")
    state = {"model": {k: torch.empty_like(v, dtype=dtype) for k, v in model.state_dict().items()}}
    with _single_process_ok():
        dcp.load(state, storage_reader=_reader(path), no_dist=True)
    model.load_state_dict(state["model"], assign=True)
    if model.config.tie_embeddings:
        model.output.weight = model.tok_embeddings.weight
    model.init_buffers("cpu")
    return model


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


__all__ = [
    "COMMITTED",
    "Checkpointer",
    "SafeFileSystemReader",
    "committed_checkpoints",
    "export",
    "latest_checkpoint",
    "load_model",
    "read_meta",
    "resolve_checkpoint",
]
