"""Parameter routing (hidden matrices → matrix optimizer, the rest → AdamW) and the combined optimizer."""

import copy
import io

import pytest
import torch
from torch import nn

from convexlab.optim.general import AdamW
from convexlab.optim.routing import MatrixAndAdamW, is_matrix_param, split_params
from convexlab.optim.schedule_free import SFAdamW
from convexlab.optim.sf_normuon import SFNorMuon
from convexlab.optim.spectral import Muon, NorMuon, SoftMuon



class TinyGPT(nn.Module):
    """Embedding, two hidden linear layers, a LayerNorm and a head tied to the embedding."""

    def __init__(self, vocab=13, d=8, tied=True):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.fc_in = nn.Linear(d, 2 * d)
        self.fc_out = nn.Linear(2 * d, d, bias=False)
        self.ln = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        if tied:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        h = self.wte(idx)
        h = h + self.fc_out(torch.relu(self.fc_in(h)))
        return self.lm_head(self.ln(h))


def make_model(seed=0, tied=True):
    torch.manual_seed(seed)
    return TinyGPT(tied=tied)


def batch(t):
    gen = torch.Generator().manual_seed(500 + t)
    idx = torch.randint(0, 13, (4, 6), generator=gen)
    return idx[:, :-1], idx[:, 1:]


def train(model, opt, steps, start=0, sched=None):
    losses = []
    for t in range(start, start + steps):
        x, y = batch(t)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x).reshape(-1, 13), y.reshape(-1))
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.detach()))
    return losses


def test_split_of_a_tied_gpt_is_correct_and_disjoint():
    model = make_model()
    mat, other = split_params(model, names=True)
    assert [n for n, _ in mat] == ["fc_in.weight", "fc_out.weight"]
    assert [n for n, _ in other] == ["wte.weight", "fc_in.bias", "ln.weight", "ln.bias"]
    ids_m, ids_o = {id(p) for _, p in mat}, {id(p) for _, p in other}
    assert not ids_m & ids_o
    assert ids_m | ids_o == {id(p) for p in model.parameters()}
    assert id(model.lm_head.weight) in ids_o  # tied head = the embedding, once


def test_split_untied_head_named_embeddings_and_duplicates():
    model = make_model(tied=False)
    model.pos_embed = nn.Parameter(torch.zeros(5, 8))
    model.head = nn.Linear(8, 3)
    mat, other = split_params(model, names=True)
    assert [n for n, _ in mat] == ["fc_in.weight", "fc_out.weight"]
    assert {"lm_head.weight", "pos_embed", "head.weight", "head.bias", "wte.weight"} <= {n for n, _ in other}
    # (name, param) pairs with a tied tensor listed twice: deduplicated by identity
    tied = make_model()
    pairs = list(tied.named_parameters(remove_duplicate=False))
    assert len(pairs) == 7
    m2, o2 = split_params(pairs)
    assert len(m2) == 2 and len(o2) == 4
    # names alone decide without a module: an Embedding-like matrix named 'wte' or 'embed' is not hidden
    assert not is_matrix_param("transformer.wte.weight", torch.zeros(3, 3))
    assert not is_matrix_param("model.embed_tokens.weight", torch.zeros(3, 3))
    assert is_matrix_param("blocks.0.attn.c_attn.weight", torch.zeros(3, 3))
    assert not is_matrix_param("blocks.0.ln.weight", torch.zeros(3))


def test_split_skips_frozen_and_rejects_malformed_input():
    model = make_model()
    model.fc_out.weight.requires_grad_(False)
    mat, _ = split_params(model, names=True)
    assert [n for n, _ in mat] == ["fc_in.weight"]
    with pytest.raises(ValueError, match="named_parameters"):
        split_params([torch.zeros(2, 2)])


def test_matrix_and_adamw_steps_both_parts_like_two_separate_optimizers():
    ma, mb = make_model(), make_model()
    opt = MatrixAndAdamW.from_model(ma, "Muon", matrix_kwargs=dict(lr=0.02, weight_decay=0.01))
    assert isinstance(opt.matrix, Muon) and isinstance(opt.adamw, AdamW)
    g = opt.adamw.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"]) == (3e-4, (0.9, 0.95), 1e-10, 0.0)
    mat, other = split_params(mb)
    o1 = Muon(mat, lr=0.02, weight_decay=0.01)
    o2 = AdamW(other, lr=3e-4, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.0)

    class Two:
        def zero_grad(self):
            o1.zero_grad()
            o2.zero_grad()

        def step(self):
            o1.step()
            o2.step()

    before = [p.detach().clone() for p in ma.parameters()]
    la, lb = train(ma, opt, 5), train(mb, Two(), 5)
    assert la == lb
    for p, q, b in zip(ma.parameters(), mb.parameters(), before):
        assert torch.equal(p, q) and not torch.equal(p, b)  # every parameter moved, identically
    assert len(opt.param_groups) == 2 and len(opt.state) == 6


@pytest.mark.parametrize("matrix", ["Muon", NorMuon, "SoftMuon", "SFNorMuon"])
def test_state_dict_round_trip_bit_for_bit(matrix):
    kw = dict(sign_iters=2, transition_iters=3) if matrix == "SoftMuon" else {}
    kw = dict(warmup_steps=2) if matrix == "SFNorMuon" else kw
    ma = make_model()
    a = MatrixAndAdamW.from_model(ma, matrix, matrix_kwargs=kw)
    train(ma, a, 3)
    a.eval()
    buf = io.BytesIO()
    torch.save({"model": ma.state_dict(), "opt": a.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    mb = make_model(seed=1)
    mb.load_state_dict(ck["model"])
    b = MatrixAndAdamW.from_model(mb, matrix, matrix_kwargs=kw)
    b.load_state_dict(copy.deepcopy(ck["opt"]))
    a.train()
    b.train()
    assert train(ma, a, 4, start=3) == train(mb, b, 4, start=3)
    for p, q in zip(ma.parameters(), mb.parameters()):
        assert torch.equal(p, q)


def test_lambda_lr_schedules_both_parts():
    model = make_model()
    opt = MatrixAndAdamW.from_model(model, NorMuon, matrix_kwargs=dict(lr=0.02), adamw_kwargs=dict(lr=1e-3))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e))
    train(model, opt, 3, sched=sched)
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs == pytest.approx([0.02 / 4, 1e-3 / 4])
    assert opt.matrix.param_groups[0]["lr"] == pytest.approx(0.005)  # the same group dicts
    sd = sched.state_dict()
    assert sd["last_epoch"] == 3


def test_loss_falls_on_the_toy_gpt():
    model = make_model()
    opt = MatrixAndAdamW.from_model(model, "Muon", adamw_kwargs=dict(lr=1e-2))
    x, y = batch(0)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x).reshape(-1, 13), y.reshape(-1))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_schedule_free_parts_share_the_mode_switch():
    model = make_model()
    opt = MatrixAndAdamW.from_model(model, "SFNorMuon", matrix_kwargs=dict(warmup_steps=3, lr=0.01))
    assert isinstance(opt.matrix, SFNorMuon) and isinstance(opt.adamw, SFAdamW)
    g = opt.adamw.param_groups[0]
    assert (g["lr"], g["betas"][0], g["betas"][1], g["eps"], g["weight_decay"], g["warmup_steps"]) == (
        0.008, 0.95, 0.99, 1e-8, 0.0, 3)
    train(model, opt, 4)
    y = [p.detach().clone() for p in model.parameters()]
    with opt.evaluating():
        assert not opt.training and not opt.matrix.training and not opt.adamw.training
        x = [p.detach().clone() for p in model.parameters()]
    assert opt.training
    assert all(not torch.equal(a, b) for a, b in zip(x, y))  # every tensor moved to x and back
    for p, b in zip(model.parameters(), y):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=1e-6)
    opt.eval()
    with pytest.raises(RuntimeError, match="train"):
        opt.step()
    opt.train()
    # a non-schedule-free pair: the switches are no-ops
    plain = MatrixAndAdamW.from_model(make_model(), "Muon")
    assert plain.eval() is plain and plain.training


def test_a_parameter_in_both_or_neither_part_raises():
    model = make_model()
    mat, other = split_params(model)
    with pytest.raises(ValueError, match="both"):
        MatrixAndAdamW(mat, other + [mat[0]], "Muon")
    with pytest.raises(ValueError, match="both"):  # the dev-code pitfall: the tied embedding/head twice
        MatrixAndAdamW(mat + [model.lm_head.weight], other, "Muon")
    with pytest.raises(ValueError, match="neither"):
        MatrixAndAdamW(mat, other[1:], "Muon", all_params=model.parameters())
    with pytest.raises(ValueError, match="route"):  # a 1-D parameter given to the matrix optimizer
        MatrixAndAdamW(mat + [model.ln.weight], other[:2] + other[3:], "Muon")


@pytest.mark.parametrize("bad", ["AdamW", "Adam", AdamW, torch.optim.SGD, 3])
def test_matrix_must_be_a_matrix_only_optimizer(bad):
    model = make_model()
    with pytest.raises(ValueError, match="matrix"):
        MatrixAndAdamW.from_model(model, bad)


def test_aux_choice_and_other_errors():
    model = make_model()
    with pytest.raises(ValueError, match="aux"):
        MatrixAndAdamW.from_model(model, "Muon", aux="SGD")
    opt = MatrixAndAdamW.from_model(model, SoftMuon, aux="SFAdamW", adamw_kwargs=dict(warmup_steps=1))
    assert isinstance(opt.adamw, SFAdamW)
    with pytest.raises(ValueError, match="matrix"):
        opt.load_state_dict({"adamw": None})
    with pytest.raises(ValueError, match="opt.matrix"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, 2))]})
    only = MatrixAndAdamW([model.fc_in.weight], [], "Muon")  # nothing for AdamW
    assert only.adamw is None and len(only.param_groups) == 1
    assert "MatrixAndAdamW" in repr(only)



def test_a_raising_step_leaves_both_parts_untouched():
    from convexlab.optim import MatrixAndAdamW

    gen = torch.Generator().manual_seed(0)
    W = torch.nn.Parameter(torch.randn(6, 4, generator=gen))
    b = torch.nn.Parameter(torch.randn(4, generator=gen))
    opt = MatrixAndAdamW([W], [b], "Muon", matrix_kwargs=dict(lr=0.02))
    for _ in range(2):
        W.grad, b.grad = torch.randn(6, 4, generator=gen), torch.randn(4, generator=gen)
        opt.step()
    before = [W.detach().clone(), b.detach().clone()]
    buf = opt.matrix.state[W]["momentum_buffer"].clone()
    W.grad = torch.randn(6, 4, generator=gen)
    b.grad = torch.full((4,), float("nan"))
    with pytest.raises(ValueError, match="non-finite gradient"):
        opt.step()
    assert torch.equal(W.detach(), before[0]) and torch.equal(b.detach(), before[1])
    assert torch.equal(opt.matrix.state[W]["momentum_buffer"], buf)


def test_split_params_finds_the_output_layer_of_a_plain_mlp_and_says_so():
    from torch import nn

    from convexlab.optim import split_params

    mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    with pytest.warns(UserWarning, match=r"the last nn.Linear, '4' \(weight \(3, 16\)\)"):
        mat, other = split_params(mlp, names=True)
    assert [n for n, _ in mat] == ["0.weight", "2.weight"]
    assert [n for n, _ in other] == ["0.bias", "2.bias", "4.weight", "4.bias"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit choice, or a conventionally named head: no warning
        assert [n for n, _ in split_params(mlp, names=True, head="4")[1]] == ["0.bias", "2.bias", "4.weight", "4.bias"]
        assert [n for n, _ in split_params(mlp, names=True, head=mlp[4])[1]][-2:] == ["4.weight", "4.bias"]
        assert [n for n, _ in split_params(mlp, names=True, head=False)[0]] == ["0.weight", "2.weight", "4.weight"]
        named = nn.ModuleDict({"body": nn.Linear(4, 4), "head": nn.Linear(4, 2)})
        assert [n for n, _ in split_params(named, names=True)[0]] == ["body.weight"]
    with pytest.raises(ValueError, match="head must name a submodule"):
        split_params(mlp, head="decoder")
    with pytest.raises(ValueError, match="head must be 'auto'"):
        split_params(mlp, head=3)
