"""The two install routes agree, and CI runs the README's test command."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", req.strip()).groups()
    return name.lower().replace("_", "-") + spec.replace(" ", "")


def _environment_yml_requirements() -> set[str]:
    reqs, section = set(), None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"^\w", line):
            section = line.split(":")[0]
        if section != "dependencies":
            continue
        m = re.match(r"^\s+-\s+(.+?)\s*$", line)
        if not m or m.group(1).endswith(":") or m.group(1).startswith("-e"):
            continue
        reqs.add(_norm(m.group(1)))
    return reqs - {"pip"}


def test_environment_yml_matches_pyproject():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in proj["dependencies"]}
    for extra in proj["optional-dependencies"].values():
        wanted |= {_norm(r) for r in extra}
    wanted.add(_norm("python" + proj["requires-python"]))
    assert _environment_yml_requirements() == wanted


def test_torch_requirement_is_a_range_admitting_cpu_and_gpu_builds():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (torch_req,) = [r for r in proj["dependencies"] if r.startswith("torch")]
    assert "==" not in torch_req and ">=" in torch_req and "<" in torch_req
    lo = re.search(r">=\s*([\d.]+)", torch_req).group(1)
    hi = re.search(r"<\s*([\d.]+)", torch_req).group(1)
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    for v in ("2.11", "2.13.0"):  # the GPU machine's torch and the CPU wheel
        assert as_tuple(lo) <= as_tuple(v) < as_tuple(hi)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    head = readme[:1500]
    assert "make check" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()
