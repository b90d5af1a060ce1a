"""Small I/O helpers shared by the command-line tools."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so that an interrupted
    write never leaves a truncated file behind. The file gets the permissions a plain ``open``
    would give it (0666 less the umask), not the temporary file's private 0600."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Binary version of :func:`atomic_write` (figures, archives)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as CSV text (columns: the given order, else first-seen order of the keys)."""
    import csv
    import io

    if columns is None:
        columns = []
        for r in rows:
            columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def provenance() -> dict:
    """Where a result came from: the git commit of the package's checkout (None outside a git
    checkout) and the versions of Python, the platform and the main packages."""
    import platform
    import subprocess
    import sys
    from importlib import metadata

    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = None
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("convexlab", "torch", "numpy", "scipy", "sympy", "cvxpy", "tqdm", "schedulefree"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    import torch

    versions["torch_cuda"] = torch.version.cuda
    return {"git_commit": commit, "versions": versions}


# destinations are tried before any work, so that a bad path never loses a long run
def file_destination_error(path: str | None, flag: str) -> str | None:
    """None if ``path`` is None or a file that can be written (its missing parent folders are made
    on writing), else a one-line error."""
    if path is None:
        return None
    if os.path.isdir(path):
        return f"{flag} must be a file path, got the directory {path!r}"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{flag} must be a path under a directory, got {path!r} ({parent!r} is a file)"
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"{flag} must be a writable path, got {path!r}: permission denied"
    return None


def dir_destination_error(path: str | os.PathLike, flag: str) -> str | None:
    """None if ``path`` is (or can be made, with its parents) a directory in which a file can be
    written (a probe file is created and removed), else a one-line error naming ``flag``."""
    for parent in [Path(path), *Path(path).absolute().parents]:
        if parent.exists() and not parent.is_dir():
            return (f"{flag} must be a directory, got the existing file {str(path)!r}" if parent == Path(path)
                    else f"{flag} {str(path)!r}: {str(parent)!r} is a file, a directory is expected")
        if parent.exists():
            break
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".convexlab-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{flag} must be a writable directory, got {str(path)!r}: {exc.strerror or exc}"
    return None
