r"""The GPT training loop (convexlab.llm.train): typed config, presets, routing, schedules, logging,
schedule-free evaluation at x, precision modes, the non-finite stop.

Runs are tiny (the toy preset at context 32, 4 sequences, ≤ 12 steps, one thread) so the whole
file takes a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from convexlab.llm import checkpoint as ck
from convexlab.llm.schedules import constant, make_schedule, warmup_cosine, wsd
from convexlab.llm.train import (CONFIG_DIR, NonFiniteLossError, TrainConfig, apply_overrides, build_optimizer,
                                 evaluate, main, model_config, parse_args, read_log, train)

TINY = dict(device="cpu", num_threads=1, progress=False, model="toy", block_size=32, batch_size=4, max_steps=10,
            eval_every=5, eval_batches=2)


def _cfg(tmp_path, **kw) -> TrainConfig:
    return apply_overrides(None, {"out_dir": str(tmp_path), **TINY, **kw})


# ---------------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------------
def test_overrides_are_parsed_by_field_type():
    cfg = apply_overrides(None, {"lr": "3e-4", "max_steps": "7", "progress": "false", "n_embd": "none",
                                 "opt_kwargs": '{"betas": [0.9, 0.95]}', "peak_flops": "1e12"})
    assert cfg.lr == 3e-4 and cfg.max_steps == 7 and cfg.progress is False and cfg.n_embd is None
    assert cfg.opt_kwargs == {"betas": [0.9, 0.95]} and cfg.peak_flops == 1e12
    assert cfg.run_name == "AdamW-toy-s1337"  # derived, and re-derived after an override
    assert apply_overrides(cfg, {"optimizer": "Muon"}).run_name == "Muon-toy-s1337"


@pytest.mark.parametrize("key, value, fragment", [
    ("optimizer", "Adam", "optimizer must be one of"),
    ("schedule", "linear", "schedule must be one of ('auto', 'cosine', 'wsd', 'constant')"),
    ("precision", "fp16", "precision must be one of ('fp32', 'bf16', 'fp8')"),
    ("max_steps", "0", "max_steps must be an integer >= 1"),
    ("max_steps", "1.5", "max_steps must be int"),
    ("lr", "fast", "lr must be float"),
    ("lr", "nan", "lr must be finite"),
    ("val_fraction", "1.0", "val_fraction must be a number in (0, 1)"),
    ("progress", "maybe", "progress must be bool"),
    ("opt_kwargs", "[1]", "opt_kwargs must be a JSON object"),
    ("device", "tpu", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ("model", "gigantic", "model must be one of"),
])
def test_bad_values_name_the_field_and_what_it_allows(key, value, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as err:
        apply_overrides(None, {key: value})
    assert repr(value) in str(err.value) or value in str(err.value)


def test_unknown_field_lists_the_allowed_fields():
    with pytest.raises(ValueError, match="unknown config field 'learning_rate'; allowed fields: .*lr"):
        apply_overrides(None, {"learning_rate": "1"})
    with pytest.raises(ValueError, match="unknown config field 'lrr'"):
        parse_args(["--lrr=1"])
    with pytest.raises(ValueError, match="--key=value"):
        parse_args(["lr=1"])
    assert main(["--lr=oops"]) == 2


def test_every_preset_loads_and_validates():
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    for need in ("toy_cpu", "fp8_cpu", "fp8_gpu", "anytime_cpu", "anytime_gpu", "softstar_cpu", "softstar_gpu"):
        assert need in names
    for name in names:
        configs, _ = parse_args(["--config", name])
        assert configs and all(isinstance(c, TrainConfig) for c in configs)
        assert len({c.run_name for c in configs}) == len(configs), name
        for c in configs:  # the routing and kwargs of every run build on the real model
            model_config(c)
    cpu, _ = parse_args(["--config", "fp8_cpu", "--run=adamw,stosignsgd", "--max_steps=3"])
    assert [c.run_name for c in cpu] == ["adamw", "stosignsgd"] and all(c.max_steps == 3 for c in cpu)
    with pytest.raises(ValueError, match="run must name runs of the preset"):
        parse_args(["--config", "fp8_cpu", "--run=nope"])


# ---------------------------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------------------------
def test_schedules():
    T = 100
    cos = [warmup_cosine(t, T, 10, 0.1) for t in range(T)]
    assert cos[0] == pytest.approx(0.1) and cos[9] == 1.0 and cos[10] == 1.0 and cos[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(cos[10:], cos[11:]))  # monotone decay after warmup
    mid = warmup_cosine(10 + (T - 11) // 2, T, 10, 0.0)
    assert abs(mid - 0.5) < 0.02  # half-way through the cosine: about the mid value
    w = [wsd(t, T, 5, 0.0, 0.2) for t in range(T)]
    assert w[4] == 1.0 and w[79] == 1.0 and w[80] < 1.0 and w[-1] == 0.0
    assert [constant(t, T, 4) for t in (0, 3, 50)] == [0.25, 1.0, 1.0]
    for bad in (dict(total=0), dict(warmup=200), dict(min_ratio=1.5)):
        args = dict(name="cosine", total=T, warmup=0, min_ratio=0.0) | bad
        with pytest.raises(ValueError, match=next(iter(bad))):
            make_schedule(**args)
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("step", 10)


# ---------------------------------------------------------------------------------------------
# routing
# ---------------------------------------------------------------------------------------------
def test_routing_matrix_and_plain_optimizers(tmp_path):
    from convexlab.llm.model import GPT
    from convexlab.optim import MatrixAndAdamW, Muon, split_params

    torch.manual_seed(0)
    model = GPT(model_config(_cfg(tmp_path)))
    every = {id(p) for p in model.parameters()}
    opt = build_optimizer(model, _cfg(tmp_path, optimizer="Muon", lr=0.02, aux_lr=1e-3,
                                      opt_kwargs={"ns_dtype": "float32"}))
    assert isinstance(opt, MatrixAndAdamW) and isinstance(opt.matrix, Muon)
    names = [g["name"] for g in opt.param_groups]
    assert names[0] == "matrix" and set(names[1:]) <= {"adamw"}
    routed = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(routed) == sorted(every) and len(routed) == len(set(routed))  # each parameter exactly once
    mat, _ = split_params(model)
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in mat}
    assert opt.param_groups[0]["ns_dtype"] is torch.float32 and opt.param_groups[0]["lr"] == 0.02
    assert all(g["lr"] == 1e-3 for g in opt.param_groups[1:])
    plain = build_optimizer(model, _cfg(tmp_path, optimizer="Signum", weight_decay=0.1))
    assert sorted(id(p) for g in plain.param_groups for p in g["params"]) == sorted(every)
    for g in plain.param_groups:
        assert g["weight_decay"] == (0.1 if g["name"] == "decay" else 0.0)
        assert all((p.ndim >= 2) == (g["name"] == "decay") for p in g["params"])
    with pytest.raises(ValueError, match="opt_kwargs\\['ns_dtype'\\] must name a torch dtype"):
        build_optimizer(model, _cfg(tmp_path, optimizer="Muon", opt_kwargs={"ns_dtype": "float99"}))


#: the toy GPT's hidden matrices in registration order (the matrix optimizer's group)
_HIDDEN = [f"blocks.{i}.{m}.weight" for i in range(2) for m in ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.up",
                                                                   "mlp.down")]


@pytest.mark.parametrize("tie", [True, False])
def test_gpt_param_groups_are_those_of_split_params(tmp_path, tie, recwarn):
    """Training routes the GPT with convexlab.optim.split_params (no guess: the head is named lm_head)
    into the same groups, in the same order, as before routing was shared: the hidden matrices to
    the matrix optimizer, the embedding and an untied head to AdamW (a tied head once, as the
    embedding); a plain optimizer gets nanoGPT's decay (≥ 2-D) / no-decay groups."""
    from convexlab.llm.model import GPT
    from convexlab.optim import split_params

    torch.manual_seed(0)
    model = GPT(model_config(_cfg(tmp_path, tie_embeddings=tie)))
    named = {}
    for n, p in model.named_parameters():
        named.setdefault(id(p), n)
    others = ["embed.weight"] + ([] if tie else ["lm_head.weight"])
    for name in ("Muon", "NorMuon", "SoftMuon", "SFNorMuon"):
        opt = build_optimizer(model, _cfg(tmp_path, optimizer=name, tie_embeddings=tie, max_steps=100))
        groups = [(g["name"], [named[id(p)] for p in g["params"]], g["param_names"]) for g in opt.param_groups]
        assert groups == [("matrix", _HIDDEN, _HIDDEN), ("adamw", others, others)], name
        mat, other = split_params(model, names=True)
        assert [n for n, _ in mat] == _HIDDEN and [n for n, _ in other] == others
    plain = build_optimizer(model, _cfg(tmp_path, optimizer="AdamW", tie_embeddings=tie))
    decay = ["embed.weight"] + _HIDDEN + ([] if tie else ["lm_head.weight"])
    assert [(g["name"], g["param_names"]) for g in plain.param_groups] == [("decay", decay)]
    assert [named[id(p)] for p in plain.param_groups[0]["params"]] == decay
    assert not [w for w in recwarn if "split_params" in str(w.message)]  # the head was not guessed


# ---------------------------------------------------------------------------------------------
# a run: log, run directory, MFU, accumulation
# ---------------------------------------------------------------------------------------------
def test_run_directory_and_log(tmp_path):
    rc = main([f"--out_dir={tmp_path}", "--run_name=r", "--device=cpu", "--num_threads=1", "--progress=false",
               "--block_size=32", "--batch_size=4", "--max_steps=10", "--eval_every=5", "--eval_batches=2",
               "--warmup_steps=2", "--lr=3e-3", "--peak_flops=1e12", "--log_every=2"])
    assert rc == 0
    run = tmp_path / "r"
    for f in ("config.json", "meta.json", "log.jsonl", "ckpt.pt", "summary.json"):
        assert (run / f).is_file(), f
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["schedule_resolved"] == "cosine" and cfg["tokens_per_step"] == 4 * 32
    meta = json.loads((run / "meta.json").read_text())
    assert meta["versions"]["torch"] == torch.__version__.split("+")[0] or meta["versions"]["torch"]
    assert "git_commit" in meta
    recs = read_log(run)
    assert [r["step"] for r in recs] == list(range(11))
    assert [r["step"] for r in recs if r.get("val_loss") is not None] == [0, 5, 10]
    steps = recs[1:]
    for r in steps:
        for key in ("loss", "lr", "tokens", "tokens_per_s", "mfu", "grad_norm", "update_rms"):
            assert key in r
        assert math.isfinite(r["loss"]) and r["grad_norm"] > 0
        # MFU = flops/token × tokens/s ÷ peak
        assert r["mfu"] == pytest.approx(cfg["flops_per_token"] * r["tokens_per_s"] / 1e12)
        assert (r["update_rms"] is not None) == (r["step"] % 2 == 0 or r["step"] == 10)
    assert steps[0]["lr"] == pytest.approx(1.5e-3) and steps[1]["lr"] == pytest.approx(3e-3)  # warmup
    assert steps[-1]["lr"] == pytest.approx(3e-4)  # cosine floor 0.1·lr
    assert steps[-1]["tokens"] == 10 * 128
    assert recs[-1]["val_loss"] < recs[0]["val_loss"]  # it learns
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "done" and summary["final_val_loss"] == recs[-1]["val_loss"]
    # a second run into the same directory must not silently clobber it
    with pytest.raises(ValueError, match="already holds a run"):
        train(_cfg(tmp_path, run_name="r"))


def test_gradient_accumulation_sees_the_same_batches(tmp_path):
    one = read_log(train(_cfg(tmp_path, run_name="a1", batch_size=8, max_steps=3)))
    acc = read_log(train(_cfg(tmp_path, run_name="a2", batch_size=4, grad_accum=2, max_steps=3)))
    # the same 8 sequences per step, averaged in two halves: equal up to float32 summation order
    for r1, r2 in zip(one[1:], acc[1:]):
        assert r2["loss"] == pytest.approx(r1["loss"], rel=1e-5)
        assert r2["tokens"] == r1["tokens"]


# ---------------------------------------------------------------------------------------------
# schedule-free runs are evaluated at x
# ---------------------------------------------------------------------------------------------
def test_schedule_free_validation_is_at_x(tmp_path):
    from convexlab.llm.data import default_corpus  # noqa: F401  (the data module is importable)
    from convexlab.llm.model import GPT
    from convexlab.llm.train import _Dist, _load_tokens

    cfg = _cfg(tmp_path, optimizer="SFAdamW", lr=3e-3, warmup_steps=3, max_steps=8, eval_every=0)
    run = train(cfg)
    assert json.loads((run / "config.json").read_text())["schedule_resolved"] == "constant"
    logged = read_log(run)[-1]["val_loss"]
    state = ck.load_checkpoint(ck.checkpoint_path(run))
    model = GPT(model_config(cfg))
    model.load_state_dict(state["model"])
    opt = build_optimizer(model, cfg)
    opt.load_state_dict(state["optimizer"])
    data, _ = _load_tokens(cfg)
    at_y = evaluate(model, data, cfg, _Dist(), torch.device("cpu"))
    with opt.evaluating():
        at_x = evaluate(model, data, cfg, _Dist(), torch.device("cpu"))
    assert at_x == logged  # the logged validation loss is the one at x ...
    assert at_y != at_x  # ... which differs from the training iterate y
    # evaluating (y → x → y) leaves the training trajectory untouched
    often = read_log(train(apply_overrides(cfg, {"run_name": "often", "eval_every": 1})))
    assert [r["loss"] for r in often[1:]] == [r["loss"] for r in read_log(run)[1:]]


# ---------------------------------------------------------------------------------------------
# precision
# ---------------------------------------------------------------------------------------------
def test_bf16_autocast_runs_on_cpu(tmp_path):
    recs = read_log(train(_cfg(tmp_path, precision="bf16", max_steps=4)))
    assert all(math.isfinite(r["loss"]) for r in recs[1:])


def test_fp8_recipe_states_grads_and_master_weights(tmp_path):
    from convexlab.precision import to_fp8

    cfg = _cfg(tmp_path, precision="fp8", optimizer="AdamW", lr=1e-3, max_steps=6, stats_step=5,
               opt_kwargs={"betas": [0.9, 0.95], "eps": 1e-8})
    run = train(cfg)
    state = ck.load_checkpoint(ck.checkpoint_path(run))
    for name, w in state["model"].items():  # bf16 master weights
        assert torch.equal(w, w.to(torch.bfloat16).to(w.dtype)), name
    moments = [v for st in state["optimizer"]["state"].values() for k, v in st.items()
               if k in ("exp_avg", "exp_avg_sq")]
    assert moments
    for v in moments:  # optimizer states stored as E4M3
        assert torch.equal(v, to_fp8(v, "e4m3"))
    t12 = json.loads((run / "table12_step5.json").read_text())
    assert t12["step"] == 5 and t12["rows"]
    emb = next(r for r in t12["rows"] if "emb" in r["param"] or "wte" in r["param"])
    for key in ("v_zeros", "m_zeros", "max_abs_grad", "max_grad_sq"):
        assert key in emb
    rec = next(r for r in read_log(run) if r["step"] == 5)
    assert set(rec["state_stats"]) == {"v_zeros", "m_zeros"}


# ---------------------------------------------------------------------------------------------
# a non-finite loss stops the run and keeps the last good checkpoint
# ---------------------------------------------------------------------------------------------
def test_nonfinite_loss_stops_and_keeps_the_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, run_name="nan", max_steps=4, checkpoint_every=2, lr=1e-3)
    run = train(cfg)
    path = ck.checkpoint_path(run)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # continue with an absurd learning rate: the weights explode, the loss becomes NaN
    bad = apply_overrides(cfg, {"resume": True, "max_steps": 12, "lr": 1e30, "schedule": "constant"})
    with pytest.raises(ValueError, match=r"resume: lr \(saved 0.001, now 1e\+30\), schedule .* --resume-allow lr,schedule"):
        train(bad)  # a changed lr on resume needs the explicit allowance
    bad = apply_overrides(bad, {"resume_allow": "lr,schedule"})
    with pytest.raises(NonFiniteLossError) as err:
        train(bad)
    e = err.value
    assert 4 < e.step <= 12 and f"at step {e.step}" in str(e)
    assert e.groups and "group 'decay'" in str(e)  # the group holding the non-finite values
    assert "last good checkpoint (step 4)" in str(e)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest and ck.checkpoint_step(run) == 4
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "nonfinite" and summary["step"] == e.step
    assert read_log(run)[-1]["event"] == "nonfinite"
    assert main([f"--out_dir={tmp_path}", "--run_name=nan", "--resume", "--max_steps=12", "--lr=1e30",
                 "--schedule=constant", "--resume_allow=lr,schedule",
                 *[f"--{k}={v}" for k, v in TINY.items() if k != "max_steps"]]) == 1


# ---------------------------------------------------------------------------------------------
# per-step cost: copies and read-backs only at logging steps; the applied lr is logged
# ---------------------------------------------------------------------------------------------
class _PlainSGD(torch.optim.SGD):
    """torch's SGD without momentum: an optimizer that itself copies nothing and reads nothing back,
    so the counts below are the loop's own."""

    def __init__(self, params, lr=1e-3, seed=None, **kw):
        super().__init__(params, lr=lr, foreach=True)


def test_default_log_every_is_ten():
    assert TrainConfig().log_every == 10


@pytest.mark.parametrize("grad_clip", [0.0, 0.5])
def test_non_logging_steps_copy_nothing_and_read_back_once(tmp_path, monkeypatch, grad_clip):
    r"""Counts every tensor copy (``clone``) and every read-back to Python (``item``, ``tolist``,
    ``float``/``int``/``bool`` of a tensor: a host synchronisation on a GPU) between the ends of two
    steps. A non-logging step does no copy and exactly one read-back (loss and gradient norm
    together); a logging step copies each parameter once and adds one read-back (the update RMS)."""
    from convexlab import optim

    monkeypatch.setitem(optim.REGISTRY, "PlainSGD", _PlainSGD)
    counts = {"copy": 0, "read": 0}

    def counting(method, kind):
        def wrapper(*a, **kw):
            counts[kind] += 1
            return method(*a, **kw)
        return wrapper

    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, counting(getattr(torch.Tensor, name), "read"))
    monkeypatch.setattr(torch.Tensor, "clone", counting(torch.Tensor.clone, "copy"))
    monkeypatch.setattr(torch, "clone", counting(torch.clone, "copy"))
    seen = {}

    def on_step(step, rec):
        seen[step] = (dict(counts), rec["update_rms"])

    cfg = _cfg(tmp_path, optimizer="PlainSGD", lr=0.05, max_steps=6, log_every=3, eval_every=0,
               grad_clip=grad_clip)
    train(cfg, on_step=on_step)
    n_params = sum(1 for _ in _model_of(cfg).parameters())
    for step in (2, 4, 5):  # non-logging steps (no evaluation, no checkpoint either)
        prev, now = seen[step - 1][0], seen[step][0]
        assert now["copy"] - prev["copy"] == 0, step
        assert now["read"] - prev["read"] == 1, step
        assert seen[step][1] is None
    prev, now = seen[2][0], seen[3][0]  # a logging step
    assert now["copy"] - prev["copy"] == n_params and now["read"] - prev["read"] == 2
    assert seen[3][1] > 0


def _model_of(cfg):
    from convexlab.llm.model import GPT

    return GPT(model_config(cfg))


def test_update_rms_is_the_rms_of_the_parameter_change():
    from convexlab.llm.train import _update_rms

    g = torch.Generator().manual_seed(0)
    before = [torch.randn(5, 3, generator=g), torch.randn(7, generator=g)]
    after = [b + 0.01 * torch.randn(b.shape, generator=g) for b in before]
    want = math.sqrt(sum(float(((a.double() - b.double()) ** 2).sum()) for a, b in zip(after, before)) / 22)
    assert _update_rms(after, before) == pytest.approx(want, rel=1e-6)


def test_logged_lr_is_the_applied_one(tmp_path):
    """A schedule-free optimizer warms up inside the optimizer (group["scheduled_lr"]); the log shows
    that step size, not the constant group["lr"]; every group's step size is logged by group name."""
    recs = read_log(train(_cfg(tmp_path, run_name="sf", optimizer="SFAdamW", lr=4e-3, warmup_steps=4,
                               max_steps=6, eval_every=0)))[1:]
    assert [r["lr"] for r in recs] == pytest.approx([1e-3, 2e-3, 3e-3, 4e-3, 4e-3, 4e-3])
    assert all(r["lrs"] == {"decay": r["lr"]} for r in recs)
    recs = read_log(train(_cfg(tmp_path, run_name="mu", optimizer="Muon", lr=0.02, aux_lr=1e-3, max_steps=2,
                               schedule="constant", eval_every=0, opt_kwargs={"ns_dtype": "float32"})))[1:]
    for r in recs:
        assert r["lr"] == 0.02 and r["lrs"] == {"matrix": 0.02, "adamw": 1e-3}


# -- issue 13: user errors of `convexlab train` are one line and exit 2 ---------------------------
def _main(args):
    from convexlab.llm.train import main

    return main([str(a) for a in args])


@pytest.mark.parametrize("extra, fragment", [
    ([], "already holds a run; pass --resume"),
    (["--data=/nonexistent/file.txt"], "data: '/nonexistent/file.txt' is not an existing file, directory or glob"),
    (["--data=/nonexistent/train_*.bin"], "data: the pattern '/nonexistent/train_*.bin' matches no file"),
    (["--val_data=/nonexistent/val.bin"], "val_data: '/nonexistent/val.bin' is not an existing file"),
    (["--data={short}"], "needs at least block_size + 1 = 17 tokens"),
    (["--vocab_size=10"], "vocab_size must exceed the largest token id"),
    (["--n_head=3"], "n_embd must be divisible by n_head=3"),
    (["--opt_kwargs={\"momentum\": 0.9}"], "opt_kwargs has an unknown key 'momentum' for optimizer AdamW"),
    (["--optimizer=Muon", "--aux_kwargs={\"foo\": 1}"], "aux_kwargs has an unknown key 'foo'"),
])
def test_cli_user_errors_are_one_line(tmp_path, capsys, extra, fragment):
    short = tmp_path / "short.txt"
    short.write_bytes(b"abc")
    common = ["--device=cpu", "--num_threads=1", "--progress=false", "--block_size=16", "--batch_size=2",
              "--max_steps=1", "--eval_batches=1", f"--out_dir={tmp_path}"]
    assert _main(common + ["--run_name=exists"]) == 0
    capsys.readouterr()
    name = "exists" if not extra else "new"
    assert _main(common + [f"--run_name={name}"] + [e.replace("{short}", str(short)) for e in extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    assert _main(["--device=cuda", "--progress=false", f"--out_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err == "error: device must be 'cpu' or 'auto' on a machine without CUDA, got 'cuda'\n"


def test_toy_model_defaults_to_one_thread_on_cpu(tmp_path):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run = train(_cfg(tmp_path, run_name="t", max_steps=1, num_threads=0))
        assert torch.get_num_threads() == 1
        assert json.loads((run / "meta.json").read_text())["num_threads"] == 1
        torch.set_num_threads(2)
        run = train(_cfg(tmp_path, run_name="u", max_steps=1, num_threads=2))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_warmup_longer_than_half_the_run_is_warned():
    import warnings

    from convexlab.llm.train import warn_long_warmup

    w = torch.nn.Parameter(torch.zeros(4, 4))
    from convexlab.optim import SFNorMuon

    opt = SFNorMuon([w])  # its default warmup: 2000 steps
    with pytest.warns(UserWarning, match=r"warmup_steps=2000 is 667% of max_steps=300"):
        warn_long_warmup(opt, 0, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_long_warmup(opt, 0, 4000)  # half of the run or less: silent
        warn_long_warmup(torch.optim.SGD([w], lr=0.1), 10, 300)
    with pytest.warns(UserWarning, match=r"warmup_steps=200 is 67% of max_steps=300"):
        warn_long_warmup(torch.optim.SGD([w], lr=0.1), 200, 300)


# ---------------------------------------------------------------------------------------------
# optimizer errors are matched by type; kwargs are checked against the class before construction
# ---------------------------------------------------------------------------------------------
def test_an_fp8_overflow_stops_as_a_nonfinite_gradient(tmp_path):
    cfg = _cfg(tmp_path, run_name="overflow", precision="fp8", fp8_saturate=False, optimizer="SignSGD", lr=1e6,
               max_steps=6)
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient \(non-finite gradient for parameter"):
        train(cfg)
    assert read_log(tmp_path / "overflow")[-1]["event"] == "nonfinite"


def test_accepted_kwargs_and_the_check_before_construction():
    from convexlab.llm.build import check_kwargs
    from convexlab.llm.config import accepted_kwargs
    from convexlab.optim import REGISTRY, SFAdamW

    names = accepted_kwargs(REGISTRY["AdamW"])
    assert {"betas", "eps", "lr", "weight_decay"} <= names and "momentum" not in names
    with pytest.raises(ValueError, match="aux_kwargs has an unknown key 'foo'"):
        check_kwargs(SFAdamW, "aux_kwargs", {"foo": 1}, "SFNorMuon")
    check_kwargs(SFAdamW, "aux_kwargs", {"warmup_steps": 3}, "SFNorMuon")  # accepted: no error


def test_switching_the_presets_optimizer_leaves_out_its_opt_kwargs(recwarn):
    from convexlab.llm.config import _parse

    configs, _, _ = _parse(["--config", "toy_cpu", "--optimizer", "Muon"])
    assert configs[0].optimizer == "Muon" and "betas" not in configs[0].opt_kwargs
    assert any("opt_kwargs betas, eps (for AdamW) are left out" in str(w.message) for w in recwarn.list)
    configs, _, _ = _parse(["--config", "toy_cpu", "--optimizer", "Muon", "--opt-kwargs", '{"momentum": 0.9}'])
    assert configs[0].opt_kwargs == {"momentum": 0.9}
    configs, _, _ = _parse(["--config", "toy_cpu"])  # the preset's own optimizer keeps them
    assert configs[0].opt_kwargs["betas"] == [0.9, 0.95]


def test_only_rank_zero_prints_the_closing_summary(tmp_path, capsys, monkeypatch):
    common = ["--device=cpu", "--num_threads=1", "--progress=false", "--block_size=16", "--batch_size=2",
              "--max_steps=1", "--eval_batches=1", "--checkpoint_every=0", f"--out_dir={tmp_path}"]
    assert _main(common + ["--run_name=r0"]) == 0
    assert "run r0:" in capsys.readouterr().out
    monkeypatch.setenv("RANK", "1")  # what torchrun sets on the other processes
    assert _main(common + ["--run_name=r1"]) == 0
    out = capsys.readouterr().out
    assert "run r1:" not in out and "steps" not in out
