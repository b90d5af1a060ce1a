"""Every citation in the repository resolves inside it (issue 14, item 3).

The statements convexlab implements or checks are listed once, with stable ids, in
``docs/statements.md``. Docstrings, check sources and descriptions, notebooks, configs, the docs and
the README cite them by id (``[SSG-T4]``), by link (``docs/statements.md#ssg-t4``) and by
provenance tags (``[P]``, ``[DER]``, ``[S/R]``, ``[P header, R body]``, …) whose legend is in the same
file. This test scans those sources (not ``results/``, the generated outputs, nor ``.venv``) and fails
on a citation that resolves nowhere:

* a reference to the specification files that live outside the repository ("spec §3.2",
  "spec Q6", "the spec's table", "as in the specs", ``sf_normuon.md``) or a bare open-question
  number ("Q9");
* a statement id or a ``docs/statements.md#anchor`` link that ``docs/statements.md`` does not define;
* a bracket provenance tag that the legend does not explain;
* a relative Markdown link in the README or in ``docs/`` to a file that does not exist;
* a check name cited in ``docs/statements.md`` that the ``convexlab.theory`` registry does not have.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATEMENTS = ROOT / "docs" / "statements.md"

#: a statement id: paper prefix, then upper-case words joined by "-" (SSG-T4, SS-Q6, SSG-FP8-PLAN)
ID_RE = re.compile(r"(?<![\w-])((?:SSG|SS|SFN|EXT)-[A-Z0-9]+(?:-[A-Z0-9]+)*)(?![\w-])")
LINK_RE = re.compile(r"docs/statements\.md#([A-Za-z0-9_-]+)")
#: references to the specification files outside the repository
SPEC_RE = re.compile(r"(?i)(?<![\w.`{])specs?(?:'s)?(?![\w`(=])|\b(?:stosignsgd|softsign|sf_normuon)\.md\b"
                     r"|\bdesign (?:guide|\.md)\b|\bdesign\.md\b")
#: an open-question number that is not part of a statement id ("Q9", "Q12–Q14")
BARE_Q_RE = re.compile(r"(?<![\w\-/#])Q\d{1,2}(?![\w-])")
#: a bracket whose first word looks like a provenance tag: [P], [DER], [S/R], [P header, R body]
TAG = r"(?:[A-Z][A-Z0-9]{0,4}|3P)(?:/(?:[A-Z][A-Z0-9]{0,4}|3P))*"
BRACKET_RE = re.compile(r"(?<![\w\])])\[(" + TAG + r")((?:[\s,;:][^\[\]\n]{0,160})?)\]")
SEGMENT_TAG_RE = re.compile(r"[,;]\s*(" + TAG + r")(?=$|[\s,;:])")
MD_LINK_RE = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def _sources() -> list[Path]:
    out = []
    for top in ("convexlab", "notebooks", "configs", "proofs_checks", "docs"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".ipynb", ".json", ".md", ".toml", ".yaml", ".yml"} \
                    and "__pycache__" not in p.parts:
                out.append(p)
    out.append(ROOT / "README.md")
    return out


def _py_prose(src: str) -> list[tuple[int, str]]:
    """(line, text) of the comments and string literals of Python source (code is not prose)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type in (tokenize.COMMENT, tokenize.STRING) or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                out.append((tok.start[0], tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = [(i + 1, line) for i, line in enumerate(src.splitlines()) if "#" in line]
    return out


def _md_prose(src: str) -> list[tuple[int, str]]:
    """(line, text) of Markdown outside fenced code blocks, with inline code spans removed."""
    out, fenced = [], False
    for i, line in enumerate(src.splitlines()):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((i + 1, re.sub(r"`[^`]*`", "``", line)))
    return out


def _prose(path: Path) -> list[tuple[str, str]]:
    """(where, text) pieces of prose in one source file: what a reader reads as citations."""
    rel = path.relative_to(ROOT).as_posix()
    src = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return [(f"{rel}:{n}", t) for n, t in _py_prose(src)]
    if path.suffix == ".md":
        return [(f"{rel}:{n}", t) for n, t in _md_prose(src)]
    if path.suffix == ".ipynb":
        out = []
        for k, cell in enumerate(json.loads(src)["cells"]):
            text = "".join(cell["source"])
            pieces = _md_prose(text) if cell["cell_type"] == "markdown" else _py_prose(text)
            out += [(f"{rel} cell {k} line {n}", t) for n, t in pieces]
        return out
    if path.suffix == ".json":
        strings = []

        def walk(o):
            if isinstance(o, str):
                strings.append(o)
            elif isinstance(o, list):
                for x in o:
                    walk(x)
            elif isinstance(o, dict):
                for k, v in o.items():
                    walk(k)
                    walk(v)

        walk(json.loads(src))
        return [(rel, s) for s in strings]
    return [(f"{rel}:{i + 1}", line) for i, line in enumerate(src.splitlines())]


PROSE = [(path, where, text) for path in _sources() for where, text in _prose(path)]
STATEMENTS_TEXT = STATEMENTS.read_text(encoding="utf-8")


def _anchors() -> set[str]:
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', STATEMENTS_TEXT))
    for heading in re.findall(r"^#{1,6}\s+(.+)$", STATEMENTS_TEXT, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


ANCHORS = _anchors()
IDS = {a.upper() for a in ANCHORS if ID_RE.fullmatch(a.upper())}


def _legend() -> set[str]:
    """The tags the provenance legend explains (first column of its tables)."""
    section = STATEMENTS_TEXT.split("## Provenance legend", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([^`]+)`\s*\|", section, flags=re.M))


LEGEND = _legend()


def _report(bad: list[str]) -> str:
    return f"{len(bad)} unresolved:\n" + "\n".join(bad[:80])


def test_statements_define_ids_and_legend():
    assert len(IDS) > 50 and {"SSG-T4", "SSG-T1", "SS-R1", "SFN-L32", "SSG-Q3"} <= IDS
    # every id is an explicit anchor, so that docs/statements.md#ssg-t1 resolves on any renderer
    explicit = set(re.findall(r'<a id="([^"]+)"></a>', STATEMENTS_TEXT))
    for m in re.finditer(r"^#### ((?:SSG|SS|SFN|EXT)-[A-Z0-9-]+) ·", STATEMENTS_TEXT, flags=re.M):
        assert m.group(1).lower() in explicit, m.group(1)
    assert {"P", "R", "D", "I", "T", "S/R", "DEV"} <= LEGEND


def test_statement_entries_are_complete():
    """Each statement (not an open question) gives where, provenance, statement and coverage."""
    blocks = re.split(r'\n<a id="', STATEMENTS_TEXT)[1:]
    incomplete = []
    for block in blocks:
        name = block.split('"', 1)[0]
        if re.fullmatch(r"(ssg|ss|sfn)-q\d+", name):
            assert len(block.strip().splitlines()) >= 3, name
            continue
        for field in ("- Where:", "Provenance:", "- Statement:", "- Covered by:"):
            if field not in block:
                incomplete.append(f"{name}: {field}")
    assert not incomplete, incomplete


def test_registry_tags_are_in_the_legend():
    from convexlab.theory.registry import PROVENANCE

    assert set(PROVENANCE) <= LEGEND, sorted(set(PROVENANCE) - LEGEND)


def test_no_reference_to_files_outside_the_repository():
    bad = [f"{where}: {m.group(0)!r} in {text.strip()[:120]!r}"
           for _, where, text in PROSE for m in SPEC_RE.finditer(text)]
    assert not bad, _report(bad)


def test_no_bare_open_question_numbers():
    bad = [f"{where}: {m.group(0)!r} in {text.strip()[:120]!r}"
           for path, where, text in PROSE if path != STATEMENTS for m in BARE_Q_RE.finditer(text)]
    assert not bad, _report(bad)


def test_statement_ids_resolve():
    bad = [f"{where}: {m.group(1)}" for _, where, text in PROSE for m in ID_RE.finditer(text)
           if m.group(1) not in IDS]
    assert not bad, _report(bad)


def test_statement_links_resolve():
    bad = [f"{where}: #{m.group(1)}" for _, where, text in PROSE for m in LINK_RE.finditer(text)
           if m.group(1) not in ANCHORS]
    # links inside statements.md itself: (#anchor)
    bad += [f"docs/statements.md: #{a}" for a in re.findall(r"\]\(#([^)]+)\)", STATEMENTS_TEXT) if a not in ANCHORS]
    assert not bad, _report(bad)


#: bracketed capitals that are not provenance tags: an argparse metavar
NOT_TAGS = {"BOOL"}


def _explained(tag: str) -> bool:
    """A tag is explained when the legend has it, or has every part of a slash combination."""
    return tag in LEGEND or all(part in LEGEND for part in tag.split("/"))


def _is_provenance(m: re.Match) -> bool:
    """Tell a provenance bracket from block-matrix notation such as [U; V] or [E V; Eᵀ U]: after its
    first word a provenance bracket ends, or goes on with lower-case words or another known tag."""
    first, rest = m.group(1), m.group(2)
    if first in NOT_TAGS:
        return False
    if not rest or _explained(first):
        return True
    nxt = re.match(r"[\s,;:]+(\S+)", rest)
    return bool(nxt) and (nxt.group(1)[0].islower() or nxt.group(1).rstrip(",;:") in LEGEND)


def test_provenance_tags_are_explained():
    bad = []
    for _, where, text in PROSE:
        for m in BRACKET_RE.finditer(text):
            if not _is_provenance(m):
                continue
            tags = [m.group(1)] + SEGMENT_TAG_RE.findall(m.group(2))
            bad += [f"{where}: [{t}] in {m.group(0)!r}" for t in tags if not _explained(t)]
    assert not bad, _report(bad)


def test_tag_detection_is_not_blind():
    """The detector sees unknown tags in the forms the repository uses, and skips matrix notation."""
    def unknown(text):
        return [t for m in BRACKET_RE.finditer(text) if _is_provenance(m)
                for t in [m.group(1)] + SEGMENT_TAG_RE.findall(m.group(2)) if not _explained(t)]

    assert unknown("a bound [Q]") == ["Q"]
    assert unknown("a bound [XY, constants P]") == ["XY"]
    assert unknown("a bound [P header, ZZ body]") == ["ZZ"]
    assert unknown("a bound [P/QQ]") == ["P/QQ"]
    assert unknown("the stacked [U; V] and [E V; Eᵀ U]; Alg. 1 [R, both constants P] [3P/DER: forms]") == []


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "notebooks").glob("*.md"))]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_markdown_links_exist(path):
    bad = []
    for n, line in _md_prose(path.read_text(encoding="utf-8")):
        for target in MD_LINK_RE.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve()
            if not resolved.exists():
                bad.append(f"{path.relative_to(ROOT)}:{n}: {target}")
            elif anchor and resolved == STATEMENTS and anchor not in ANCHORS:
                bad.append(f"{path.relative_to(ROOT)}:{n}: {target} (no such anchor)")
    assert not bad, _report(bad)


def test_covered_by_files_exist():
    """The tests, configs and notebooks named under "Covered by" exist."""
    paths = set(re.findall(r"\b((?:tests|configs)/[\w./-]+\.(?:py|json))", STATEMENTS_TEXT))
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    numbers = set()
    for m in re.finditer(r"notebooks? ((?:\d\d(?:, )?)+)", STATEMENTS_TEXT):
        numbers |= set(re.findall(r"\d\d", m.group(1)))
    have = {p.name[:2] for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert len(paths) > 20 and numbers
    assert not missing and numbers <= have, (missing, sorted(numbers - have))


def test_checks_cited_in_statements_exist():
    from convexlab.theory import REGISTRY

    cited = set(re.findall(r"`((?:stosignsgd|crosscheck|geometry|newton_schulz|proofs|sf_normuon|softsign|spectral|"
                           r"stochastic_sign)\.[\w.]+(?:\[[^\]`]*\])?)`", STATEMENTS_TEXT))
    assert len(cited) > 30
    missing = []
    for name in sorted(cited):
        if name.endswith("[*]"):
            if not any(n.startswith(name[:-2]) for n in REGISTRY):
                missing.append(name)
        elif name not in REGISTRY:
            missing.append(name)
    assert not missing, missing


def test_reference_detectors_are_not_blind():
    """The outside-file and bare-question detectors see the forms they must reject, and not code names."""
    for text in ("see spec §3.2", "Spec §4.4 table", "the spec's §5", "(spec Q6)", "spec D1", "as in the specs",
                 "spec ``sf_normuon.md`` §5.1", "specs/softsign.md", "(design guide §3)", "see design.md"):
        assert SPEC_RE.search(text), text
    for text in ("importlib.util.find_spec", "ModuleSpec", "`spec`", "{spec}", "spec=1", "[SS-Q6]", "specification"):
        assert not SPEC_RE.search(text), text
    assert [m.group(0) for m in BARE_Q_RE.finditer("Q9 and Q12–Q14, not [SSG-Q9] nor #q1")] == ["Q9", "Q12", "Q14"]
    assert [m.group(1) for m in ID_RE.finditer("[SSG-T4, SSG-FP8-PLAN] SF-NorMuon SS-Q6.")] == \
        ["SSG-T4", "SSG-FP8-PLAN", "SS-Q6"]
