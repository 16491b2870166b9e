"""``prepare``: make a dataset's splits ready to load (extract archives on disk, or download),
and record each split's manifest (:mod:`neuro.data.manifest`) once its files pass their format checks.

``where``: the folders and files a dataset uses under a root.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataMissingError
from .files import archive_path, dataset_folder, extract, extracted_paths, is_extracted, missing_message, resolve_root
from .specs import get_spec


def prepare(name: str, root: str | Path | None = None, split: str | None = None, download: bool = False, check_md5: bool = True) -> dict[str, str]:
    """Extract (or with ``download=True`` download and extract) each split; return ``{split: what was done}``.

    Archives on disk are md5-checked against tonic's sums unless ``check_md5=False``.
    Missing archives without ``download`` raise :class:`DataMissingError` listing them all.
    A split extracted here, or extracted before but without a manifest, has every file read
    and checked and its manifest recorded; a file that fails is a :class:`DataCorruptError`.
    """
    from .load import _tonic_download
    from .manifest import read_manifest
    from .verify import record_manifest

    spec = get_spec(name)
    root = resolve_root(root)
    splits = [split] if split is not None else [s.name for s in spec.splits]
    for sp in splits:
        spec.split(sp)
    missing = [sp for sp in splits if not is_extracted(spec, sp, root) and not archive_path(spec, sp, root).is_file()]
    if missing and not download:
        raise DataMissingError(missing_message(spec, missing, root))
    done: dict[str, str] = {}
    for sp in splits:
        if is_extracted(spec, sp, root):
            done[sp] = "already extracted"
            if sp in ((read_manifest(spec, root) or {}).get("splits") or {}):
                continue
        elif archive_path(spec, sp, root).is_file():
            extract(spec, sp, root, check_md5=check_md5)
            done[sp] = f"extracted {archive_path(spec, sp, root).name}"
        else:
            _tonic_download(spec, sp, root)
            done[sp] = "downloaded and extracted by tonic"
        n = len(record_manifest(spec.name, sp, root)["files"])
        done[sp] += f"; manifest recorded ({n} files)"
    return done


def where(name: str, root: str | Path | None = None) -> dict:
    """The folder, archives (with URL and md5), extracted paths and manifest file of dataset ``name``."""
    from .manifest import manifest_path

    spec = get_spec(name)
    root = resolve_root(root)
    return {
        "dataset": spec.name,
        "title": spec.title,
        "folder": str(dataset_folder(spec, root)),
        "splits": {
            s.name: {
                "archive": str(archive_path(spec, s.name, root)),
                "url": spec.url(s.name),
                "md5": spec.md5(s.name),
                "extracted": [str(p) for p in extracted_paths(spec, s.name, root)],
                "ready": is_extracted(spec, s.name, root),
            }
            for s in spec.splits
        },
        "manifest": str(manifest_path(spec, root)),
        "card": f"datasets/{spec.card}",
    }
