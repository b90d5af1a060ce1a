r"""Token data for the GPT harness: an offline default corpus, ``.bin`` shards, text files, deterministic batches.

Nothing is downloaded. Three sources of tokens (1-D ``np.uint16`` arrays):

- :func:`default_corpus`: the bytes of a **fixed list** of modules of Python's standard library
  (:data:`DEFAULT_CORPUS_FILES`, paths relative to ``sysconfig.get_paths()["stdlib"]``),
  concatenated in that order; byte-level tokens, vocabulary 256. The text exists on every machine
  that runs this package, but it changes between Python releases (even micro releases patch
  stdlib files), so its sha256 is recorded **per exact Python version** in
  :data:`DEFAULT_CORPUS_SHA256`, and :func:`corpus_info` reports the files, sizes and hash that a
  run used. A listed file missing from the running Python (a module removed in a later release)
  is skipped with a warning and listed under ``missing``. The list avoids modules that
  distributions patch (``site``, ``sysconfig``) and those removed in Python 3.12/3.13.
- :func:`load_bin`: token shards of the nanoGPT family: raw little-endian uint16 (nanoGPT's
  ``train.bin``), or the llm.c/modded-nanoGPT format (SF-NorMuon [SFN-DATA] [DEV]): a header of
  256 int32 (magic 20240520, version 1, token count) then uint16 tokens. Detected by the magic.
- :func:`load_text`: raw files, byte-level (no decoding, any encoding works).

:class:`TokenData` holds the tokens with a fixed validation split (the **last**
``val_fraction`` of the tokens, so the split does not depend on a seed). :func:`get_batch` draws
B windows uniformly at random from a split, x = tokens[i : i+T], y = tokens[i+1 : i+T+1], from a
``torch.Generator``: the batch is a deterministic function of the generator state, which is
what a checkpoint saves (``generator.get_state()``) for exact resume. :class:`BatchSampler` wraps
that (or a sequential, unshuffled stream as in SF-NorMuon [SFN-DATA]) with ``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import sysconfig
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from convexlab import _validation as V

#: modules of the standard library that make up the default corpus, in this order (module docstring)
DEFAULT_CORPUS_FILES: tuple[str, ...] = (
    "__future__.py", "_collections_abc.py", "_compat_pickle.py", "_compression.py", "_markupbase.py",
    "_py_abc.py", "_pydecimal.py", "_pyio.py", "_sitebuiltins.py", "_strptime.py", "_threading_local.py",
    "_weakrefset.py", "abc.py", "argparse.py", "ast.py", "base64.py", "bdb.py", "bisect.py", "bz2.py",
    "cProfile.py", "calendar.py", "cmd.py", "code.py", "codecs.py", "codeop.py", "colorsys.py", "compileall.py",
    "configparser.py", "contextlib.py", "contextvars.py", "copy.py", "copyreg.py", "csv.py", "dataclasses.py",
    "datetime.py", "decimal.py", "difflib.py", "dis.py", "doctest.py", "enum.py", "filecmp.py", "fileinput.py",
    "fnmatch.py", "fractions.py", "ftplib.py", "functools.py", "genericpath.py", "getopt.py", "getpass.py",
    "gettext.py", "glob.py", "graphlib.py", "gzip.py", "hashlib.py", "heapq.py", "hmac.py", "imaplib.py",
    "inspect.py", "io.py", "ipaddress.py", "keyword.py", "linecache.py", "locale.py", "lzma.py", "mailbox.py",
    "mimetypes.py", "modulefinder.py", "netrc.py", "ntpath.py", "nturl2path.py", "numbers.py", "opcode.py",
    "operator.py", "optparse.py", "os.py", "pdb.py", "pickle.py", "pickletools.py", "pkgutil.py", "platform.py",
    "plistlib.py", "poplib.py", "posixpath.py", "pprint.py", "profile.py", "pstats.py", "pty.py", "py_compile.py",
    "pyclbr.py", "pydoc.py", "queue.py", "quopri.py", "random.py", "reprlib.py", "rlcompleter.py", "runpy.py",
    "sched.py", "secrets.py", "selectors.py", "shelve.py", "shlex.py", "shutil.py", "signal.py", "smtplib.py",
    "socket.py", "socketserver.py", "ssl.py", "stat.py", "statistics.py", "string.py", "stringprep.py",
    "struct.py", "subprocess.py", "symtable.py", "tabnanny.py", "tarfile.py", "tempfile.py", "textwrap.py",
    "threading.py", "timeit.py", "token.py", "tokenize.py", "trace.py", "traceback.py", "tracemalloc.py",
    "tty.py", "turtle.py", "types.py", "typing.py", "uuid.py", "warnings.py", "wave.py", "weakref.py",
    "webbrowser.py", "zipapp.py", "zipfile.py", "zipimport.py",
)

#: sha256 of :func:`default_corpus` by exact Python version (measured; add a line per new version)
DEFAULT_CORPUS_SHA256: dict[str, str] = {
    "3.11.7": "72dafb14a8d05b6312309885948c21b8a889a93b578774344a250605dcf69f98",
}

#: llm.c / modded-nanoGPT shard header: 256 int32, [0] = magic, [1] = version, [2] = number of tokens
BIN_MAGIC, BIN_VERSION, BIN_HEADER_INTS = 20240520, 1, 256
SPLITS = ("train", "val")
ORDERS = ("random", "sequential")


# ---------------------------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------------------------
def _python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


@functools.lru_cache(maxsize=1)
def _read_default_corpus() -> tuple[bytes, tuple[tuple[str, int, str], ...], tuple[str, ...]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, manifest, missing = [], [], []
    for rel in DEFAULT_CORPUS_FILES:
        path = root / rel
        if not path.is_file():
            missing.append(rel)
            continue
        b = path.read_bytes()
        parts.append(b)
        manifest.append((rel, len(b), hashlib.sha256(b).hexdigest()))
    if missing:
        warnings.warn(f"default corpus: {len(missing)} of {len(DEFAULT_CORPUS_FILES)} listed stdlib files are absent "
                      f"in Python {_python_version()} ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                      "the corpus is the remaining files", stacklevel=3)
    if not parts:
        raise ValueError(f"default corpus: none of the listed files exists under the stdlib path {str(root)!r}")
    return b"".join(parts), tuple(manifest), tuple(missing)


def default_corpus() -> bytes:
    r"""The default corpus: the listed stdlib files concatenated (module docstring), byte-level tokens.

    About 4.2 MB (4,239,673 bytes in Python 3.11.7). Read once per process and cached.

    >>> len(default_corpus()) > 10**6
    True
    """
    return _read_default_corpus()[0]


def corpus_info() -> dict:
    r"""Provenance of :func:`default_corpus`: Python version, stdlib path, sha256, size, files, missing files.

    ``expected_sha256`` is the recorded hash of :data:`DEFAULT_CORPUS_SHA256` for this Python
    (None if not recorded); ``files`` lists (relative path, bytes, sha256) per file.
    """
    data, manifest, missing = _read_default_corpus()
    version = _python_version()
    return {"python": version, "stdlib": sysconfig.get_paths()["stdlib"], "n_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "expected_sha256": DEFAULT_CORPUS_SHA256.get(version),
            "files": [list(m) for m in manifest], "missing": list(missing)}


def _existing_file(name: str, path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{name} must be an existing file, got {str(p)!r}")
    return p


def load_bin(path) -> np.ndarray:
    r"""Tokens of a ``.bin`` shard as a read-only 1-D ``np.uint16`` array (memory-mapped).

    Formats (detected by the first int32): llm.c/modded-nanoGPT — 256 little-endian int32 header
    with magic 20240520, version 1 and the token count at index 2, then the tokens; otherwise raw
    uint16 (nanoGPT's ``prepare.py``). A raw file cannot be mistaken for the header format: its
    first two tokens would have to be 54600 and 308, and 54600 lies outside GPT-2's vocabulary.

    Raises:
        ValueError: not an existing file, empty, odd byte count, an unsupported header version, or
            a size that disagrees with the header's token count.
    """
    p = _existing_file("path", path)
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"path {str(p)!r} is empty: a .bin shard holds at least one uint16 token")
    head = np.fromfile(p, dtype="<i4", count=min(BIN_HEADER_INTS, size // 4))
    if len(head) >= 1 and int(head[0]) == BIN_MAGIC:
        header_bytes = 4 * BIN_HEADER_INTS
        if len(head) < 3 or size < header_bytes:
            raise ValueError(f"path {str(p)!r} starts with the magic {BIN_MAGIC} but is shorter ({size} bytes) than "
                             f"its {header_bytes}-byte header")
        if int(head[1]) != BIN_VERSION:
            raise ValueError(f"path {str(p)!r}: header version must be {BIN_VERSION} (uint16 tokens), "
                             f"got {int(head[1])}")
        n = int(head[2])
        if n < 1 or size != header_bytes + 2 * n:
            raise ValueError(f"path {str(p)!r}: header says {n} tokens, so the file must have {header_bytes + 2 * n} "
                             f"bytes, got {size}")
        return np.memmap(p, dtype="<u2", mode="r", offset=header_bytes, shape=(n,))
    if size % 2:
        raise ValueError(f"path {str(p)!r} has an odd number of bytes ({size}): a raw .bin shard is uint16 tokens")
    return np.memmap(p, dtype="<u2", mode="r", shape=(size // 2,))


def expand_paths(spec, name: str = "data") -> list[Path]:
    r"""The files a data option names: comma-separated entries, each a file, a glob pattern
    (``shards/fineweb_train_*.bin``; ``*``, ``?``, ``[...]`` and ``**``) or a directory (its ``*.bin``
    files). Patterns and directories expand in sorted order; the entries keep the order given.
    Nothing is downloaded: every file must exist on this machine.

    Raises:
        ValueError: ``spec`` not a non-empty string, an entry that is neither an existing file nor a
            pattern or directory matching at least one file, or a file named twice.
    """
    entries = [e.strip() for e in spec.split(",")] if isinstance(spec, str) else []
    if not any(entries):
        raise ValueError(f"{name} must be a non-empty string of comma-separated files, patterns or directories, "
                         f"got {spec!r}")
    out: list[Path] = []
    for entry in entries:
        if not entry:
            continue
        p = Path(entry).expanduser()
        if p.is_file():
            found = [p]
        elif p.is_dir():
            found = sorted(q for q in p.glob("*.bin") if q.is_file())
            if not found:
                raise ValueError(f"{name}: the directory {entry!r} holds no .bin shard")
        elif any(ch in entry for ch in "*?["):
            base = Path(p.anchor) if p.is_absolute() else Path(".")
            rel = str(p.relative_to(p.anchor)) if p.is_absolute() else str(p)
            found = sorted(q for q in base.glob(rel) if q.is_file())
            if not found:
                raise ValueError(f"{name}: the pattern {entry!r} matches no file")
        else:
            raise ValueError(f"{name}: {entry!r} is not an existing file, directory or glob pattern")
        out.extend(found)
    seen: set = set()
    dup = [str(q) for q in out if q.resolve() in seen or seen.add(q.resolve())]
    if dup:
        raise ValueError(f"{name} names the same file twice: {dup[0]!r}")
    return out


def load_tokens(paths) -> np.ndarray:
    r"""Tokens of a list of files: all ``.bin`` shards (:func:`load_bin`, concatenated in order; a single
    shard stays memory-mapped) or else raw text (:func:`load_text`, byte-level). Mixing shards and text
    files is refused (their token ids mean different things).

    Raises:
        ValueError: an empty list, or ``.bin`` shards mixed with other files.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths must name at least one file, got an empty list")
    bins = [p.suffix == ".bin" for p in paths]
    if all(bins):
        parts = [load_bin(p) for p in paths]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    if any(bins):
        raise ValueError(f"paths mix .bin token shards and text files: {[str(p) for p in paths]!r}; give one kind")
    return load_text(paths)


def load_text(paths) -> np.ndarray:
    r"""Byte-level tokens (``np.uint16``, values < 256) of one text file or a list of files, concatenated.

    Raises:
        ValueError: no path, a path that is not an existing file, or only empty files.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths) if isinstance(paths, Iterable) else paths
    if not isinstance(paths, list) or not paths:
        raise ValueError(f"paths must be a path or a non-empty list of paths, got {paths!r}")
    raw = b"".join(_existing_file(f"paths[{i}]", p).read_bytes() for i, p in enumerate(paths))
    if not raw:
        raise ValueError(f"paths {[str(p) for p in paths]!r} hold no bytes")
    return np.frombuffer(raw, dtype=np.uint8).astype(np.uint16)


def encode(text: str) -> np.ndarray:
    """Byte-level tokens of ``text`` (UTF-8)."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)


def decode(tokens) -> str:
    """Text of byte-level tokens (UTF-8; undecodable bytes become U+FFFD)."""
    arr = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"tokens must be byte-level ids in [0, 255], got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.uint8).tobytes().decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# splits and batches
# ---------------------------------------------------------------------------------------------
def _as_tokens(tokens) -> np.ndarray:
    if isinstance(tokens, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(tokens), dtype=np.uint8).astype(np.uint16)
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.detach().cpu().numpy()
    if not isinstance(tokens, np.ndarray):
        raise ValueError(f"tokens must be a 1-D integer np.ndarray, torch.Tensor or bytes, got {type(tokens).__name__}")
    if tokens.ndim != 1 or tokens.size < 2:
        raise ValueError(f"tokens must be 1-D with at least 2 entries, got shape {tokens.shape}")
    if tokens.dtype == np.uint16:
        return tokens  # no copy: a memory-mapped shard stays on disk
    if not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must have an integer dtype, got {tokens.dtype}")
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi > np.iinfo(np.uint16).max:
        raise ValueError(f"tokens must lie in [0, 65535] (uint16), got values in [{lo}, {hi}]")
    return tokens.astype(np.uint16)


class TokenData:
    r"""A 1-D token stream with a fixed validation split: the last ``val_fraction`` of the tokens, or
    separate validation tokens.

    n_val = max(1, round(val_fraction · N)); ``train`` = tokens[: N − n_val], ``val`` = tokens[N − n_val :]
    (views, no copies). The split depends on the data alone, never on a seed. With ``val_tokens``
    (held-out shards such as ``fineweb_val_*.bin``), ``train`` is every token of ``tokens`` and ``val``
    is ``val_tokens``; ``val_fraction`` is then unused.

    Args:
        tokens: 1-D ``np.uint16`` array (other integer arrays in [0, 65535], torch tensors and bytes
            are converted).
        val_fraction: share of the tokens held out for validation, in (0, 1).
        val_tokens: optional separate validation tokens (same types as ``tokens``).

    >>> d = TokenData(np.arange(100, dtype=np.uint16), val_fraction=0.1)
    >>> len(d.train), len(d.val), int(d.val[0])
    (90, 10, 90)
    >>> len(TokenData(np.arange(100, dtype=np.uint16), val_tokens=np.arange(7, dtype=np.uint16)).train)
    100
    """

    def __init__(self, tokens, val_fraction: float = 0.05, *, val_tokens=None) -> None:
        self.tokens = _as_tokens(tokens)
        try:
            f = float(val_fraction)
        except (TypeError, ValueError):
            f = float("nan")
        if isinstance(val_fraction, bool) or not 0.0 < f < 1.0:
            raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
        self.val_fraction = f
        self.separate_val = val_tokens is not None
        if self.separate_val:
            self.train, self.val = self.tokens, _as_tokens(val_tokens)
            return
        n = len(self.tokens)
        n_val = max(1, round(f * n))
        if n_val >= n:
            raise ValueError(f"val_fraction={val_fraction!r} leaves no training tokens out of {n}")
        self.train, self.val = self.tokens[: n - n_val], self.tokens[n - n_val:]

    def split(self, name: str) -> np.ndarray:
        """The tokens of split ``name`` ("train" or "val")."""
        V.one_of("split", name, SPLITS)
        return self.train if name == "train" else self.val

    @functools.cached_property
    def sha256(self) -> str:
        """sha256 of the tokens as little-endian uint16 (identifies the data in checkpoints and logs)."""
        h = hashlib.sha256()
        parts = (self.train, b"|val|", self.val) if self.separate_val else (self.tokens,)
        for part in parts:
            if isinstance(part, bytes):
                h.update(part)
                continue
            for i in range(0, len(part), 1 << 26):  # 128 MB at a time: a memory-mapped shard is never copied whole
                h.update(np.ascontiguousarray(part[i:i + (1 << 26)], dtype="<u2").tobytes())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.train) + len(self.val) if self.separate_val else len(self.tokens)

    def __repr__(self) -> str:
        return f"TokenData(n={len(self.tokens)}, train={len(self.train)}, val={len(self.val)})"


def _check_batch_args(data, split: str, batch_size: int, block_size: int) -> np.ndarray:
    if not isinstance(data, TokenData):
        raise ValueError(f"data must be a TokenData, got {type(data).__name__}")
    toks = data.split(split)
    for name, v in (("batch_size", batch_size), ("block_size", block_size)):
        V.integer(name, v, 1)
    if len(toks) < block_size + 1:
        raise ValueError(f"block_size={block_size} needs at least block_size + 1 = {block_size + 1} tokens in the "
                         f"{split!r} split, which has {len(toks)}")
    return toks


def _windows(toks: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = toks[starts[:, None] + np.arange(block_size + 1)].astype(np.int64)  # (B, T + 1)
    xy = torch.from_numpy(rows)
    return xy[:, :-1].contiguous(), xy[:, 1:].contiguous()  # x, y: (B, T) int64


def get_batch(data: TokenData, split: str, batch_size: int, block_size: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    r"""B random windows of a split: x = tokens[i : i+T], y = tokens[i+1 : i+T+1], (B, T) int64 on the CPU.

    The starts i are ``torch.randint(len(split) − T, (B,), generator=generator)`` — uniform over
    every full window, drawn with replacement — so the batch is a deterministic function of the
    generator's state and advances it by one draw of B numbers.

    Raises:
        ValueError: ``data`` not a TokenData, an unknown split, sizes < 1, a split shorter than
            T + 1 tokens, or a generator that is not a CPU ``torch.Generator``.
    """
    toks = _check_batch_args(data, split, batch_size, block_size)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got {generator!r}")
    starts = torch.randint(len(toks) - block_size, (batch_size,), generator=generator).numpy()
    return _windows(toks, starts, block_size)


class BatchSampler:
    r"""An endless stream of (x, y) batches of one split with an exact-resume state.

    ``order="random"``: :func:`get_batch` with a generator seeded by ``seed``.
    ``order="sequential"``: consecutive non-overlapping windows, no shuffling (the streaming loader
    of SF-NorMuon [SFN-DATA] [DEV]): batch k takes rows starting at p, p+T, …, p+(B−1)T and moves
    p by B·T; when a full batch no longer fits, p returns to 0. The seed is unused there.

    ``state_dict()`` holds the generator state or the position, the batch count and the data's
    sha256; ``load_state_dict`` restores it, after which the next batch is the one the saved
    sampler would have produced.

    >>> d = TokenData(np.arange(1000, dtype=np.uint16))
    >>> s = BatchSampler(d, "train", 2, 8, seed=0); _ = next(s); state = s.state_dict(); x, _ = next(s)
    >>> t = BatchSampler(d, "train", 2, 8, seed=99); t.load_state_dict(state); torch.equal(next(t)[0], x)
    True
    """

    def __init__(self, data: TokenData, split: str, batch_size: int, block_size: int, *, seed: int = 0,
                 order: str = "random") -> None:
        self._toks = _check_batch_args(data, split, batch_size, block_size)
        V.one_of("order", order, ORDERS)
        V.integer("seed", seed, None)
        if order == "sequential" and len(self._toks) < batch_size * block_size + 1:
            raise ValueError(f"order='sequential' needs batch_size·block_size + 1 = {batch_size * block_size + 1} "
                             f"tokens in the {split!r} split, which has {len(self._toks)}")
        self.data, self.split, self.batch_size, self.block_size, self.order = data, split, batch_size, block_size, order
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.position = 0
        self.batches = 0

    def __iter__(self) -> "BatchSampler":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        B, T = self.batch_size, self.block_size
        if self.order == "random":
            out = get_batch(self.data, self.split, B, T, self.generator)
        else:
            if self.position + B * T + 1 > len(self._toks):
                self.position = 0
            out = _windows(self._toks, self.position + T * np.arange(B), T)
            self.position += B * T
        self.batches += 1
        return out

    def state_dict(self) -> dict:
        return {"split": self.split, "batch_size": self.batch_size, "block_size": self.block_size,
                "order": self.order, "seed": self.seed, "generator": self.generator.get_state(),
                "position": self.position, "batches": self.batches, "data_sha256": self.data.sha256}

    def load_state_dict(self, state: dict) -> None:
        r"""Restore a :meth:`state_dict`; ``ValueError`` if it belongs to other data or batch shapes."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from BatchSampler.state_dict(), got {type(state).__name__}")
        for key in ("split", "batch_size", "block_size", "order", "data_sha256"):
            mine = self.data.sha256 if key == "data_sha256" else getattr(self, key)
            if state.get(key) != mine:
                raise ValueError(f"state[{key!r}] = {state.get(key)!r} does not match this sampler's {mine!r}")
        self.generator.set_state(state["generator"])
        self.seed, self.position, self.batches = int(state["seed"]), int(state["position"]), int(state["batches"])
