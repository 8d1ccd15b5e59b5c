"""Downloading dataset files: MD5-verified, atomic, resumable.

A file is fetched into ``<name>.part`` next to its destination; an interrupted transfer (dropped
connection, killed process) leaves the ``.part`` behind and the next attempt asks the server for
the rest with an HTTP ``Range`` request (starting over when the server ignores it). Only a file
whose MD5 matches the published one is renamed into place (``os.replace``, atomic), so a reader
never sees a half-written or corrupt file under the real name.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ChecksumError, DatasetFormatError, DownloadError

__all__ = ["check_integrity", "download_url", "extract_gzip", "md5sum"]

USER_AGENT = "LayerForge/0.1 (engine.data)"
CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def md5sum(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file (for integrity, not security: it is what the datasets publish)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def check_integrity(path: str | Path, md5: str | None = None) -> bool:
    """True when ``path`` exists (and has MD5 ``md5``, when given)."""
    path = Path(path)
    if not path.is_file():
        return False
    return md5 is None or md5sum(path) == md5


class _Interrupted(Exception):
    """The transfer stopped early; the ``.part`` file keeps what arrived."""


def _fetch_into(part: Path, url: str, opener: Any, timeout: float,
                progress: Callable[[int, int | None], None] | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing past what we hold: the .part is complete
            return
        raise
    with resp:
        status = getattr(resp, "status", None) or resp.getcode()
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        total = None
        if have and status == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                part.unlink(missing_ok=True)  # a range we didn't ask for: start over
                raise _Interrupted(f"server answered with range "
                                   f"{resp.headers.get('Content-Range')!r} to a request for "
                                   f"bytes {have}-")
            mode = "ab"
            total = None if match.group(3) == "*" else int(match.group(3))
        else:
            mode, have = "wb", 0  # the server ignored Range (or there was none)
            total = expected
        got = 0
        with open(part, mode) as f:
            while True:
                try:
                    block = resp.read(CHUNK)
                except (http.client.IncompleteRead, OSError) as exc:
                    f.flush()
                    raise _Interrupted(f"connection lost after {have + got} bytes ({exc})") \
                        from exc
                if not block:
                    break
                f.write(block)
                got += len(block)
                if progress is not None:
                    progress(have + got, total)
            f.flush()
            os.fsync(f.fileno())
        if expected is not None and got < expected:
            raise _Interrupted(f"connection closed after {got} of {expected} bytes")


def download_url(url: str, path: str | Path, md5: str | None = None, *, retries: int = 3,
                 timeout: float = 30.0, opener: Any = None,
                 progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download ``url`` to ``path`` (skipped when a file with the right MD5 is already there).

    Args:
        url: where to fetch from.
        path: the destination file; its folder is created.
        md5: the published MD5; a mismatch removes the download and raises ``ChecksumError``.
        retries: further attempts after an interrupted transfer, each resuming the ``.part``.
        timeout: seconds without data before a connection counts as lost.
        opener: a ``urllib.request`` opener (tests pass their own; default: a plain one).
        progress: called as ``progress(bytes_so_far, total_or_None)``.

    Raises:
        DownloadError: every attempt failed (offline, HTTP error); the ``.part`` file is kept so
            a later call resumes.
        ChecksumError: the file arrived whole but its MD5 is wrong.
    """
    path = Path(path)
    if path.exists() and (md5 is None or md5sum(path) == md5):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    opener = opener or urllib.request.build_opener()
    last: Exception | None = None
    for _attempt in range(retries + 1):
        try:
            _fetch_into(part, url, opener, timeout, progress)
            break
        except urllib.error.HTTPError as exc:
            if exc.code < 500:  # 404 and friends won't fix themselves
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            last = exc
        except (_Interrupted, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last = exc
            if isinstance(exc, urllib.error.URLError) and not part.exists():
                # Not even connected (offline, DNS, refused): retrying right away won't help.
                host = urllib.parse.urlsplit(url).hostname or url
                raise DownloadError(
                    f"cannot reach {host} to download {path.name} "
                    f"({_reason_text(getattr(exc, 'reason', exc))}): this machine looks "
                    f"offline. Connect it and try again, or download {url} on another "
                    f"machine and put it into {path.parent}") from exc
    else:
        kept = (f"; the {part.stat().st_size} bytes received are kept in {part} and the next "
                f"download resumes from there" if part.exists() else "")
        raise DownloadError(f"{url}: {last} (gave up after {retries + 1} attempts{kept})")
    if not part.exists():
        raise DownloadError(f"{url}: the server sent nothing")
    if md5 is not None:
        got = md5sum(part)
        if got != md5:
            part.unlink()
            raise ChecksumError(
                f"{url}: the downloaded file has MD5 {got} but {md5} was expected (corrupted in "
                f"transit, or the mirror serves another file). It was deleted; try again or use "
                f"another mirror")
    os.replace(part, path)
    return path


def extract_gzip(src: str | Path, dest: str | Path) -> Path:
    """Decompress ``src`` into ``dest`` atomically (a ``.part`` file renamed when complete)."""
    src, dest = Path(src), Path(dest)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK * 16)
    except (OSError, EOFError, zlib.error) as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetFormatError(f"{src}: corrupt or truncated gzip file ({exc}). Delete it and "
                                 f"download it again") from exc
    os.replace(tmp, dest)
    return dest


def _reason_text(reason: object) -> str:
    """``[Errno -2] Name or service not known`` -> ``name or service not known``."""
    text = getattr(reason, "strerror", None) or str(reason)
    return text[:1].lower() + text[1:] if text else "no answer"
