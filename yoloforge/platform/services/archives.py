"""Checks on an uploaded zip before a byte of it is unpacked, then the library's safe extraction.

Limits come from the zip's central directory: the entry count, the total unpacked size, and the ratio
of unpacked to packed bytes (a zip bomb inflates 1 MB into gigabytes; datasets of JPEGs and text
labels stay near 1-3x). The declared sizes cannot lie about the result: `zipfile` stops reading an
entry at its declared size and fails its CRC check otherwise. Escaping paths, links and device files
are refused by `yoloforge.data.download.extract_archive`, the library's own extraction.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from yoloforge.platform.services.errors import Invalid, TooLarge

MB = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Upload limits in bytes (and a ratio); see ServerSettings for the defaults."""

    max_bytes: int
    max_unpacked: int
    max_ratio: float
    max_entries: int


def check_zip(path: Path, limits: ArchiveLimits, filename: str) -> int:
    """Refuse a file that is not a zip or breaks a limit; returns the unpacked size in bytes.

    Raises Invalid (422, naming `filename` and the limit) or TooLarge (413) for the size caps.
    """
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise TooLarge(
            f"{filename} is {size / MB:.1f} MiB, over the {limits.max_bytes / MB:.0f} MiB limit", field="file"
        )
    if not zipfile.is_zipfile(path):
        raise Invalid(f"{filename} is not a zip archive: upload a .zip of the dataset folder", field="file")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise Invalid(f"{filename} is a corrupt zip archive ({e})", field="file") from e
    if len(infos) > limits.max_entries:
        raise Invalid(f"{filename} has {len(infos)} entries, over the limit of {limits.max_entries}", field="file")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > limits.max_unpacked:
        raise TooLarge(
            f"{filename} unpacks to {unpacked / MB:.1f} MiB, over the {limits.max_unpacked / MB:.0f} MiB limit",
            field="file",
        )
    ratio = unpacked / max(size, 1)
    if ratio > limits.max_ratio:
        raise Invalid(
            f"{filename} unpacks to {ratio:.0f}x its size (limit {limits.max_ratio:g}x): refused as a likely zip bomb",
            field="file",
        )
    return unpacked


def unpack(path: Path, dest: Path, filename: str) -> None:
    """Extract with the library's checks; an unsafe or corrupt archive is Invalid naming the entry."""
    from yoloforge.data.download import DownloadError, extract_archive

    try:
        extract_archive(path, dest)
    except DownloadError as e:
        raise Invalid(str(e).replace(path.name, filename), field="file") from e
    except (OSError, RuntimeError, NotImplementedError) as e:  # e.g. encrypted or unsupported compression
        raise Invalid(f"{filename} could not be unpacked ({e})", field="file") from e
