"""The command-line grammar of the GPT side (issue 13 items 4 and 5): ``convexlab train``,
``convexlab experiment``, ``convexlab plot`` and ``convexlab bench gpt``.

* the same run spelled ``--key value``, ``--key=value`` or ``--key_name`` parses to the same config;
* yes/no fields: ``--flag``, ``--no-flag``, ``--flag=true|false``, ``--flag VALUE``;
* every option of the four parsers has help text and every usage line starts with ``convexlab``;
* a bad option or value is one line on stderr and exit status 2;
* the interrupt message's resume command still parses when the run was started with the space form;
* the training console shows the validation loss at every evaluation and a final summary whose
  numbers are those of ``summary.json``.
"""

from __future__ import annotations

import json
import shlex

import pytest

from convexlab import _cli
from convexlab.llm import bench, experiments, plots
from convexlab.llm import train as T

# ---------------------------------------------------------------------------------------------
# convexlab train: spellings
# ---------------------------------------------------------------------------------------------
SPACE = ["--config", "toy_cpu", "--max-steps", "7", "--lr", "3e-3", "--threads", "2", "--run-name", "x",
         "--opt-kwargs", '{"betas": [0.8, 0.9]}', "--no-progress", "--tie-embeddings", "--resume-allow", "lr,seed"]
EQUALS = ["--config=toy_cpu", "--max-steps=7", "--lr=3e-3", "--threads=2", "--run-name=x",
          '--opt-kwargs={"betas": [0.8, 0.9]}', "--progress=false", "--tie-embeddings=true", "--resume-allow=lr,seed"]
UNDERSCORE = ["--config", "toy_cpu", "--max_steps", "7", "--lr=0.003", "--num_threads=2", "--run_name", "x",
              '--opt_kwargs={"betas": [0.8, 0.9]}', "--progress", "no", "--tie_embeddings=yes",
              "--resume_allow", "lr,seed"]
MIXED = ["--max_steps=7", "--num-threads", "2", "--config", "toy_cpu", "--lr", "0.003", "--run_name=x",
         "--opt-kwargs", '{"betas": [0.8, 0.9]}', "--progress=0", "--tie-embeddings", "on", "--resume-allow=lr,seed"]


def _one(argv):
    configs, want_help = T.parse_args(argv)
    assert not want_help and len(configs) == 1
    return configs[0]


def test_the_same_run_from_every_spelling_gives_identical_configs():
    ref = _one(SPACE)
    assert (ref.max_steps, ref.lr, ref.num_threads, ref.run_name, ref.progress, ref.tie_embeddings) == \
        (7, 3e-3, 2, "x", False, True)
    assert ref.opt_kwargs == {"betas": [0.8, 0.9]} and ref.resume_allow == "lr,seed"
    assert ref.weight_decay == 0.1 and ref.warmup_steps == 20  # the preset's values under the command line's
    for argv in (EQUALS, UNDERSCORE, MIXED):
        assert _one(argv) == ref, argv
    # the explicit overrides (what --resume applies on top of the saved config) are the same fields
    fields = [set(T._parse(a)[2]) for a in (SPACE, EQUALS, UNDERSCORE, MIXED)]
    assert all(f == fields[0] for f in fields)
    assert fields[0] == {"max_steps", "lr", "num_threads", "run_name", "opt_kwargs", "progress", "tie_embeddings",
                         "resume_allow"}


@pytest.mark.parametrize("argv, value", [
    (["--resume"], True), (["--no-resume"], False), (["--resume=true"], True), (["--resume=false"], False),
    (["--resume", "false"], False), (["--resume", "yes"], True), (["--resume", "--max-steps", "3"], True),
    (["--resume", "--no-resume"], False), (["--no-resume", "--resume=1"], True),
])
def test_bool_forms(argv, value):
    assert _one(argv).resume is value


def test_optional_bool_and_none():
    assert _one(["--tie-embeddings=none"]).tie_embeddings is None
    assert _one(["--no-tie-embeddings"]).tie_embeddings is False
    assert _one(["--n-embd", "none"]).n_embd is None
    assert _one(["--dropout", "0.25"]).dropout == 0.25


def test_negative_values_are_values_and_are_checked():
    with pytest.raises(ValueError, match=r"lr must be a finite number >= 0, got -1\.0"):
        _one(["--lr", "-1"])


@pytest.mark.parametrize("argv, fragment", [
    (["--lrr", "1"], "unknown config field 'lrr' (option --lrr); did you mean --lr?"),
    (["--learning_rate=1"], "unknown config field 'learning_rate'"),
    (["lr=1"], "arguments must look like --key value or --key=value, got 'lr=1'"),
    (["--lr", "fast"], "lr must be float, got 'fast'"),
    (["--max-steps"], "argument --max-steps: expected one argument"),
    (["--max-steps", "0"], "max_steps must be an integer >= 1, got 0"),
    (["--progress", "maybe"], "progress must be bool, got 'maybe'"),
    (["--no-progress=false"], "--no-progress takes no value, got 'false'"),
    (["--threads", "-2"], "num_threads must be an integer >= 0, got -2"),
    (["--config", "toy_cpu", "--run"], "argument --run: expected at least one argument"),
    (["--config", "fp8_cpu", "--run", ","], "run must name at least one run of the preset, got none"),
    (["--config", "fp8_cpu", "--run", "adamw", "nope"], "run must name runs of the preset"),
])
def test_bad_train_arguments_are_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(ValueError) as err:
        T.parse_args(argv)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert T.main(argv) == 2
    out, errout = capsys.readouterr()
    assert out == "" and errout.count("\n") == 1, errout
    assert errout.startswith("convexlab train: error: ") and fragment in errout, errout
    assert errout.rstrip().endswith("(see `convexlab train --help`)")


def test_multi_run_picks_with_commas_or_spaces():
    a, _ = T.parse_args(["--config", "fp8_cpu", "--run", "adamw,stosignsgd", "--max-steps", "3"])
    b, _ = T.parse_args(["--config", "fp8_cpu", "--run", "adamw", "stosignsgd", "--max_steps=3"])
    c, _ = T.parse_args(["--config=fp8_cpu", "--run=adamw", "--run", "stosignsgd", "--max-steps=3"])
    assert [x.run_name for x in a] == ["adamw", "stosignsgd"] and a == b == c
    assert all(x.max_steps == 3 for x in a)


def test_train_help_lists_every_field_with_its_hyphen_option(capsys):
    assert T.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: convexlab train ")
    for name in T.field_names():
        opt = "--threads" if name == "num_threads" else "--" + name.replace("_", "-")
        assert opt in out, opt
    assert "--no-progress" in out and "--num-threads" in out and "--config" in out and "--run" in out
    assert "(--out_dir=runs is\n--out-dir runs)" in out  # the description: the underscore spelling is the same option


# ---------------------------------------------------------------------------------------------
# every parser: help on every option, usage lines, one-line errors
# ---------------------------------------------------------------------------------------------
PARSERS = {"train": T.build_parser, "experiment": experiments.build_parser, "plot": plots.build_parser,
           "bench gpt": bench.build_parser}


@pytest.mark.parametrize("sub", sorted(PARSERS))
def test_every_option_has_help_and_usage_starts_with_convexlab(sub):
    p = PARSERS[sub]()
    assert _cli.undocumented_options(p) == []
    assert p.prog == f"convexlab {sub}"
    assert p.format_usage().startswith(f"usage: convexlab {sub} ")
    assert p.format_help().startswith(f"usage: convexlab {sub} ")
    options = [s for a in p._actions for s in a.option_strings if s.startswith("--")]
    assert all("_" not in s for s in options), options  # hyphen spelling only


@pytest.mark.parametrize("main, argv, fragment", [
    (experiments.main, ["fp8", "--scale", "0"], "--scale must be a finite number > 0, got '0'"),
    (experiments.main, ["fp8", "--preset", "tpu"], "argument --preset: invalid choice: 'tpu'"),
    (experiments.main, ["fp8", "--threads", "x"], "argument --threads: must be an integer >= 0, got 'x'"),
    (plots.main, ["somewhere", "--dpi", "10"], "--dpi must be an integer >= 50, got 10"),
    (plots.main, ["somewhere", "--format", "gif"], "argument --format: invalid choice: 'gif'"),
    (bench.main, ["--optimizers", "AdamW,Bogus"], "--optimizers: unknown name(s) Bogus; allowed: "),
    (bench.main, ["--steps", "0"], "--steps must be an integer >= 1, got 0"),
    (bench.main, ["--threads=0"], "argument --threads: must be an integer >= 1, got 0"),
    (bench.main, ["--model", "huge"], "argument --model: invalid choice: 'huge'"),
    (bench.main, ["--peak_flops", "-1"], "--peak-flops must be a finite number > 0, got '-1'"),
])
def test_bad_arguments_of_the_other_commands_are_one_line_and_exit_2(main, argv, fragment, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("convexlab ") and fragment in err, err


def test_run_time_errors_of_experiment_and_plot_are_one_line(tmp_path, capsys):
    assert experiments.main(["fp8", "--bogus", "1"]) == 2
    assert experiments.main(["fp8", "--run", "nope"]) == 2
    assert plots.main([str(tmp_path / "missing")]) == 2
    f = tmp_path / "a_file"
    f.write_text("")
    assert plots.main([str(tmp_path), "--out", str(f)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and all(e.startswith(("convexlab experiment: error: ", "convexlab plot: error: "))
                                 for e in err), err
    assert "unknown config field 'bogus'" in err[0] and "run must name runs of the preset" in err[1]
    assert "--out must be a directory" in err[3]


def test_experiment_passes_train_options_in_every_spelling():
    parse = experiments.build_parser().parse_known_args
    spaced = ["fp8", "--out", "o", "--max-steps", "4", "--run", "adamw", "lion", "--no-progress", "--device", "cpu",
              "--threads", "1"]
    equals = ["fp8", "--out=o", "--max_steps=4", "--run=adamw,lion", "--progress=false", "--device=cpu",
              "--num_threads=1"]
    configs = []
    for argv in (spaced, equals):
        args, rest = parse(argv)
        over = list(rest) + ([f"--threads={args.threads}"] if args.threads is not None else [])
        configs.append(experiments.preset_configs(args.kind, args.preset, args.config, args.out, args.run, over,
                                                  args.scale))
    assert configs[0] == configs[1]
    assert [c.run_name for c in configs[0]] == ["adamw", "lion"]
    assert all((c.max_steps, c.progress, c.device, c.num_threads, c.out_dir) == (4, False, "cpu", 1, "o")
               for c in configs[0])


def test_bench_gpt_optimizer_lists():
    parse = bench.build_parser().parse_args
    assert parse([]).optimizers == list(bench.DEFAULT_OPTIMIZERS)
    for argv in (["--optimizers", "AdamW,Muon"], ["--optimizers", "AdamW", "Muon"], ["--optimizers=AdamW,Muon"],
                 ["--optimizers", "AdamW,", "Muon"], ["--optimizers", "AdamW", "--optimizers", "Muon"]):
        assert parse(argv).optimizers == ["AdamW", "Muon"], argv
    a = parse(["--batch_size", "4", "--block-size=8", "--compile", "--peak-flops", "1e12", "--threads", "1"])
    assert (a.batch_size, a.block_size, a.compile, a.peak_flops, a.threads) == (4, 8, True, 1e12, 1)
    assert parse(["--no-compile"]).compile is False


# ---------------------------------------------------------------------------------------------
# the interrupt message's resume command, from a space-form command line
# ---------------------------------------------------------------------------------------------
def test_the_resume_command_drops_run_resume_and_overwrite_in_every_form(tmp_path):
    argv = ["--config", "fp8_cpu", "--run", "adamw", "lion", "--overwrite", "true", "--max-steps", "9",
            "--out-dir", str(tmp_path), "--resume", "--no-overwrite", "--lr", "-0", "--run=stosignsgd",
            "--resume=false", "--progress", "false"]
    cfg = _one(["--config", "fp8_cpu", "--run", "lion", "--max-steps", "9", "--out-dir", str(tmp_path)])
    msg = T._interrupt_message(cfg, argv, multi=True)
    assert msg.startswith(f"interrupted: no checkpoint was written in {tmp_path / 'lion'}; resume with: ")
    cmd = shlex.split(msg.split("resume with: ", 1)[1].removesuffix(" (starts again from step 0)"))
    assert cmd[:2] == ["convexlab", "train"]
    assert cmd[2:] == ["--config", "fp8_cpu", "--max-steps", "9", "--out-dir", str(tmp_path), "--lr", "-0",
                       "--progress", "false", "--run", "lion", "--resume"]
    again = _one(cmd[2:])  # the command parses: the one run, resumed, with the same fields
    assert again.resume and again.run_name == "lion" and again.max_steps == 9 and again.progress is False
    single = T._interrupt_message(_one(["--run-name", "c", "--out-dir", str(tmp_path)]),
                                  ["--run-name", "c", "--resume", "yes"], multi=False)
    assert single.endswith("resume with: convexlab train --run-name c --resume (starts again from step 0)")


# ---------------------------------------------------------------------------------------------
# the training console (issue 13 item 5)
# ---------------------------------------------------------------------------------------------
TINY = ["--config", "toy_cpu", "--max-steps", "6", "--eval-every", "3", "--eval-batches", "1", "--batch-size", "2",
        "--block-size", "16", "--warmup-steps", "1", "--checkpoint-every", "0", "--threads", "1"]


@pytest.mark.parametrize("progress", ["--no-progress", "--progress"])
def test_console_shows_val_loss_and_a_final_summary_equal_to_summary_json(tmp_path, capsys, progress):
    assert T.main([*TINY, "--out-dir", str(tmp_path), progress]) == 0
    out, err = capsys.readouterr()
    run = tmp_path / "adamw"
    s = json.loads((run / "summary.json").read_text())
    recs = T.read_log(run)
    vals = [(r["step"], r["val_loss"], r.get("loss")) for r in recs if r.get("val_loss") is not None]
    assert [v[0] for v in vals] == [0, 3, 6]
    lines = out.splitlines()
    # one line per evaluation, on stdout, with or without the bar (the bar goes to stderr)
    val_lines = [ln for ln in lines if ln.startswith("step ")]
    assert val_lines == [f"step 0/6: val_loss {vals[0][1]:.4f} (initialization)"] + [
        f"step {st}/6: val_loss {v:.4f} (train loss {lo:.4f})" for st, v, lo in vals[1:]]
    assert ("it/s" in err or "step/s" in err) == (progress == "--progress")
    # the summary: its numbers are summary.json's
    assert s["status"] == "done" and s["steps"] == 6 and s["tokens"] == 6 * 2 * 16
    assert s["final_val_loss"] == vals[-1][1] and s["final_loss"] == recs[-1]["loss"]
    best = min(vals, key=lambda v: v[1])
    assert (s["best_val_loss"], s["best_val_step"]) == (best[1], best[0])
    assert s["session_steps"] == 6 and s["resumed_from"] is None
    assert 0 < s["train_time_s"] <= s["wall_time_s"]
    assert s["tokens_per_s"] == pytest.approx(s["tokens"] / s["train_time_s"], rel=1e-12)
    tail = lines[lines.index(f"run adamw: {run}") + 1:]
    assert tail == [
        f"  steps      6 ({s['tokens']:,} tokens)",
        f"  loss       train {s['final_loss']:.4f} (last step); val {s['final_val_loss']:.4f} (final), "
        f"best {s['best_val_loss']:.4f} at step {s['best_val_step']}",
        f"  time       {s['wall_time_s']:.1f} s wall, {s['train_time_s']:.1f} s training "
        f"({s['tokens_per_s']:,.0f} tokens/s)",
        f"  run dir    {run}",
        f"  files      {run / 'log.jsonl'}, {run / 'ckpt.pt'}, {run / 'summary.json'}"]


def test_console_summary_of_a_resumed_run(tmp_path, capsys):
    assert T.main([*TINY, "--out-dir", str(tmp_path), "--no-progress", "--max-steps", "3"]) == 0
    capsys.readouterr()
    assert T.main([*TINY, "--out-dir", str(tmp_path), "--no-progress", "--resume"]) == 0
    out = capsys.readouterr().out
    s = json.loads((tmp_path / "adamw" / "summary.json").read_text())
    assert (s["steps"], s["resumed_from"], s["session_steps"]) == (6, 3, 3)
    assert s["tokens_per_s"] == pytest.approx(3 * 2 * 16 / s["train_time_s"], rel=1e-12)
    assert [ln for ln in out.splitlines() if ln.startswith("step ")] == [
        f"step 6/6: val_loss {s['final_val_loss']:.4f} (train loss {s['final_loss']:.4f})"]  # no step-0 line
    assert f"  steps      6 ({s['tokens']:,} tokens, resumed at step 3)" in out
