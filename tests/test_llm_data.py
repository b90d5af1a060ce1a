r"""Token data of convexlab.llm.data: the default corpus and its hash, loaders, the split, deterministic batches,
exact resume, input validation."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from convexlab.llm import data as D
from convexlab.llm.data import (BIN_MAGIC, DEFAULT_CORPUS_FILES, DEFAULT_CORPUS_SHA256, BatchSampler, TokenData,
                                corpus_info, decode, default_corpus, encode, get_batch, load_bin, load_text)


def _data(n: int = 5000, seed: int = 0, val_fraction: float = 0.1) -> TokenData:
    rng = np.random.default_rng(seed)
    return TokenData(rng.integers(0, 50304, n).astype(np.uint16), val_fraction=val_fraction)


# ---------------------------------------------------------------------------------------------
# default corpus
# ---------------------------------------------------------------------------------------------
def test_default_corpus_hash_is_recorded_and_stable():
    info = corpus_info()
    raw = default_corpus()
    assert isinstance(raw, bytes) and len(raw) == info["n_bytes"] > 10 ** 6
    assert hashlib.sha256(raw).hexdigest() == info["sha256"]
    # the hash follows from the file manifest: files concatenated in the listed order
    assert [f[0] for f in info["files"]] == [f for f in DEFAULT_CORPUS_FILES if f not in info["missing"]]
    assert sum(f[1] for f in info["files"]) == len(raw)
    # stable: a second read from disk (cache cleared) gives the same bytes
    D._read_default_corpus.cache_clear()
    assert hashlib.sha256(default_corpus()).hexdigest() == info["sha256"]
    if info["python"] not in DEFAULT_CORPUS_SHA256:
        pytest.skip(f"no recorded corpus hash for Python {info['python']}: add {info['sha256']!r} to "
                    "DEFAULT_CORPUS_SHA256")
    assert info["sha256"] == info["expected_sha256"] == DEFAULT_CORPUS_SHA256[info["python"]]
    assert info["missing"] == []


def test_default_corpus_is_byte_level_text():
    data = TokenData(default_corpus())
    assert data.tokens.dtype == np.uint16 and int(data.tokens.max()) < 256
    assert "def " in decode(data.tokens[:20000])
    assert len(data.val) == round(0.05 * len(data))


# ---------------------------------------------------------------------------------------------
# loaders
# ---------------------------------------------------------------------------------------------
def test_load_bin_raw_uint16(tmp_path):
    toks = np.array([0, 1, 65535, 50256, 7], dtype=np.uint16)
    path = tmp_path / "train.bin"
    toks.astype("<u2").tofile(path)
    out = load_bin(path)
    assert out.dtype == np.uint16 and np.array_equal(out, toks)


def test_load_bin_header_format(tmp_path):
    toks = np.arange(300, 310, dtype=np.uint16)
    header = np.zeros(256, dtype="<i4")
    header[:3] = (BIN_MAGIC, 1, len(toks))
    path = tmp_path / "fineweb_val_000000.bin"
    path.write_bytes(header.tobytes() + toks.astype("<u2").tobytes())
    out = load_bin(str(path))
    assert np.array_equal(out, toks)  # the header is not read as tokens
    # wrong version, and a token count that disagrees with the size
    bad = header.copy()
    bad[1] = 2
    (tmp_path / "v2.bin").write_bytes(bad.tobytes() + toks.tobytes())
    with pytest.raises(ValueError, match="header version must be 1"):
        load_bin(tmp_path / "v2.bin")
    bad = header.copy()
    bad[2] = 11
    (tmp_path / "short.bin").write_bytes(bad.tobytes() + toks.tobytes())
    with pytest.raises(ValueError, match="header says 11 tokens"):
        load_bin(tmp_path / "short.bin")


def test_load_bin_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="path must be an existing file"):
        load_bin(tmp_path / "nope.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load_bin(tmp_path / "empty.bin")
    (tmp_path / "odd.bin").write_bytes(b"abc")
    with pytest.raises(ValueError, match="odd number of bytes"):
        load_bin(tmp_path / "odd.bin")
    with pytest.raises(ValueError, match="path must be a path"):
        load_bin(3)


def test_load_text(tmp_path):
    (tmp_path / "a.txt").write_text("héllo ", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"world\n")
    toks = load_text([tmp_path / "a.txt", str(tmp_path / "b.txt")])
    assert toks.dtype == np.uint16 and decode(toks) == "héllo world\n"
    assert np.array_equal(load_text(tmp_path / "b.txt"), encode("world\n"))
    with pytest.raises(ValueError, match=r"paths\[1\] must be an existing file"):
        load_text([tmp_path / "a.txt", tmp_path / "missing.txt"])
    with pytest.raises(ValueError, match="non-empty list"):
        load_text([])
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="hold no bytes"):
        load_text(tmp_path / "empty.txt")


# ---------------------------------------------------------------------------------------------
# split and batches
# ---------------------------------------------------------------------------------------------
def test_validation_split_is_the_last_part():
    toks = np.arange(1000, dtype=np.uint16)
    d = TokenData(toks, val_fraction=0.05)
    assert np.array_equal(d.train, toks[:950]) and np.array_equal(d.val, toks[950:])
    assert np.shares_memory(d.train, d.tokens)  # views, not copies
    assert TokenData(toks.astype(np.int64)).sha256 == TokenData(toks).sha256


def test_batches_are_deterministic_given_a_seed():
    d = _data()
    x1, y1 = get_batch(d, "train", 4, 16, torch.Generator().manual_seed(5))
    x2, y2 = get_batch(d, "train", 4, 16, torch.Generator().manual_seed(5))
    x3, _ = get_batch(d, "train", 4, 16, torch.Generator().manual_seed(6))
    assert x1.shape == y1.shape == (4, 16) and x1.dtype == torch.int64
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert torch.equal(x1[:, 1:], y1[:, :-1])  # y is x shifted by one
    # every window lies inside its split, including the last valid start
    train = torch.from_numpy(d.train.astype(np.int64))
    for row_x, row_y in zip(x1, y1):
        windows = np.lib.stride_tricks.sliding_window_view(d.train, 16)
        i = int(np.flatnonzero(np.all(windows == row_x.numpy(), axis=1))[0])
        assert torch.equal(train[i + 1:i + 17], row_y)
    xv, yv = get_batch(d, "val", 64, 499, torch.Generator().manual_seed(0))  # val has 500 tokens: one window
    assert torch.equal(xv[0], torch.from_numpy(d.val[:499].astype(np.int64))) and torch.equal(xv, xv[:1].expand(64, -1))


def test_sampler_resume_gives_the_identical_next_batch():
    d = _data()
    for order in ("random", "sequential"):
        s = BatchSampler(d, "train", 3, 32, seed=11, order=order)
        for _ in range(7):
            next(s)
        state = s.state_dict()
        want = [next(s) for _ in range(3)]
        r = BatchSampler(d, "train", 3, 32, seed=0, order=order)
        r.load_state_dict(state)
        got = [next(r) for _ in range(3)]
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(want, got)), order
        assert r.batches == s.batches == 10
        # non-vacuity: a fresh sampler does not produce that batch
        assert not torch.equal(next(BatchSampler(d, "train", 3, 32, seed=0, order=order))[0], want[0][0])


def test_sequential_order_walks_the_split_and_wraps():
    d = TokenData(np.arange(1000, dtype=np.uint16), val_fraction=0.1)  # train = 0 … 899
    s = BatchSampler(d, "train", 2, 100, order="sequential")
    xs = [next(s)[0] for _ in range(5)]
    assert xs[0][0, 0] == 0 and xs[0][1, 0] == 100 and xs[1][0, 0] == 200 and xs[3][1, 0] == 700
    assert xs[4][0, 0] == 0  # 800 + 200 + 1 > 900: back to the start


def test_sampler_rejects_a_foreign_state():
    d = _data()
    state = BatchSampler(d, "train", 3, 32).state_dict()
    with pytest.raises(ValueError, match="data_sha256"):
        BatchSampler(_data(seed=1), "train", 3, 32).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(d, "train", 4, 32).load_state_dict(state)
    with pytest.raises(ValueError, match="state must be a dict"):
        BatchSampler(d, "train", 3, 32).load_state_dict([1])


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(split="test"), "split must be one of ('train', 'val')"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(block_size=2.0), "block_size must be an integer >= 1"),
    (dict(block_size=500), "needs at least block_size + 1 = 501 tokens in the 'val' split"),
    (dict(generator=3), "generator must be a CPU torch.Generator"),
    (dict(data=np.arange(100)), "data must be a TokenData"),
])
def test_get_batch_bad_inputs(kwargs, fragment):
    args = dict(data=_data(), split="val", batch_size=2, block_size=8, generator=torch.Generator())
    args.update(kwargs)
    with pytest.raises(ValueError) as e:
        get_batch(**args)
    assert fragment in str(e.value)


@pytest.mark.parametrize("tokens, kwargs, fragment", [
    (np.arange(10.0), {}, "integer dtype"),
    (np.array([-1, 3]), {}, "[0, 65535]"),
    (np.array([1, 70000]), {}, "[0, 65535]"),
    (np.zeros((2, 3), dtype=np.uint16), {}, "1-D"),
    ([1, 2, 3], {}, "tokens must be"),
    (np.arange(10, dtype=np.uint16), dict(val_fraction=0.0), "val_fraction must be a number in (0, 1)"),
    (np.arange(10, dtype=np.uint16), dict(val_fraction=True), "val_fraction must be a number in (0, 1)"),
    (np.arange(2, dtype=np.uint16), dict(val_fraction=0.9), "leaves no training tokens"),
])
def test_token_data_bad_inputs(tokens, kwargs, fragment):
    with pytest.raises(ValueError) as e:
        TokenData(tokens, **kwargs)
    assert fragment in str(e.value)


def test_sampler_and_decode_bad_inputs():
    d = _data()
    with pytest.raises(ValueError, match="order must be one of"):
        BatchSampler(d, "train", 2, 8, order="shuffled")
    with pytest.raises(ValueError, match="seed must be an integer"):
        BatchSampler(d, "train", 2, 8, seed=1.5)
    with pytest.raises(ValueError, match="batch_size·block_size"):
        BatchSampler(d, "val", 100, 8, order="sequential")
    with pytest.raises(ValueError, match="byte-level ids"):
        decode(np.array([300]))


# -- issue 15 (item 6): user token shards by pattern or directory, with separate validation shards ----------------
def _shard(path, tokens, header=False):
    from convexlab.llm.data import BIN_HEADER_INTS, BIN_MAGIC, BIN_VERSION

    toks = np.asarray(tokens, dtype="<u2")
    with open(path, "wb") as fh:
        if header:
            head = np.zeros(BIN_HEADER_INTS, dtype="<i4")
            head[:3] = (BIN_MAGIC, BIN_VERSION, len(toks))
            fh.write(head.tobytes())
        fh.write(toks.tobytes())
    return path


def test_expand_paths_takes_files_patterns_and_directories(tmp_path):
    from convexlab.llm.data import expand_paths

    d = tmp_path / "shards"
    d.mkdir()
    for i in (2, 0, 1):
        _shard(d / f"train_{i:03d}.bin", np.arange(10) + 100 * i)
    _shard(d / "val_000.bin", np.arange(5))
    assert [p.name for p in expand_paths(f"{d}/train_*.bin")] == ["train_000.bin", "train_001.bin", "train_002.bin"]
    # a directory means its .bin shards; entries keep their order; empty entries are skipped
    assert [p.name for p in expand_paths(f"{d}/val_000.bin, {d}/train_00[01].bin,")] == \
        ["val_000.bin", "train_000.bin", "train_001.bin"]
    assert len(expand_paths(str(d))) == 4


@pytest.mark.parametrize("spec, fragment", [
    ("", "data must be a non-empty string"),
    (" , ", "data must be a non-empty string"),
    (None, "data must be a non-empty string"),
    ("{d}/nope_*.bin", "the pattern"),
    ("{d}/nofile.bin", "is not an existing file, directory or glob pattern"),
    ("{empty}", "holds no .bin shard"),
    ("{d}/train_000.bin,{d}/train_*.bin", "names the same file twice"),
])
def test_expand_paths_bad_inputs(tmp_path, spec, fragment):
    from convexlab.llm.data import expand_paths

    d = tmp_path / "shards"
    d.mkdir()
    (tmp_path / "empty").mkdir()
    _shard(d / "train_000.bin", np.arange(10))
    spec = spec.replace("{d}", str(d)).replace("{empty}", str(tmp_path / "empty")) if spec else spec
    with pytest.raises(ValueError, match=fragment):
        expand_paths(spec)


def test_load_tokens_concatenates_shards_in_order_and_refuses_a_mix(tmp_path):
    from convexlab.llm.data import load_tokens

    a = _shard(tmp_path / "a.bin", [1, 2, 3], header=True)
    b = _shard(tmp_path / "b.bin", [4, 5])
    assert load_tokens([a, b]).tolist() == [1, 2, 3, 4, 5]
    t = tmp_path / "t.txt"
    t.write_bytes(b"hi")
    assert load_tokens([t]).tolist() == [104, 105]
    with pytest.raises(ValueError, match="mix .bin token shards and text files"):
        load_tokens([a, t])
    with pytest.raises(ValueError, match="at least one file"):
        load_tokens([])


def test_separate_validation_tokens():
    train, val = np.arange(50, dtype=np.uint16), np.arange(200, 220, dtype=np.uint16)
    d = TokenData(train, val_tokens=val)
    assert d.train.tolist() == train.tolist() and d.val.tolist() == val.tolist() and len(d) == 70
    # the hash covers both parts, so a checkpoint cannot resume on other validation data
    assert d.sha256 != TokenData(train, val_tokens=val[:-1]).sha256 != TokenData(train).sha256
    # without separate validation tokens the hash is the one of the raw token bytes (unchanged checkpoints)
    import hashlib
    assert TokenData(train).sha256 == hashlib.sha256(train.astype("<u2").tobytes()).hexdigest()


def test_training_reads_shards_by_pattern_with_separate_validation(tmp_path):
    import json

    from convexlab.llm.config import TrainConfig
    from convexlab.llm.train import train

    rng = np.random.default_rng(0)
    d = tmp_path / "shards"
    d.mkdir()
    for i in range(2):
        _shard(d / f"fineweb_train_{i:06d}.bin", rng.integers(0, 250, 4000), header=True)
    _shard(d / "fineweb_val_000000.bin", rng.integers(0, 250, 1000), header=True)
    cfg = TrainConfig(out_dir=str(tmp_path / "runs"), run_name="shards", device="cpu", model="toy", num_threads=1,
                      progress=False, block_size=16, batch_size=2, max_steps=2, eval_every=2, eval_batches=1,
                      checkpoint_every=0, data=f"{d}/fineweb_train_*.bin", val_data=f"{d}/fineweb_val_*.bin")
    run_dir = train(cfg)
    meta = json.loads((run_dir / "config.json").read_text())
    src = json.dumps(meta)
    assert "fineweb_train_000001.bin" in src and "fineweb_val_000000.bin" in src
