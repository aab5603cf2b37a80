"""The README's examples run as printed (issue 15.1).

Every ```console block of README.md is a session: each ``$ `` line is a command, the lines after it (up to
the next ``$ `` line or the end of the block) are what it prints, stdout and stderr together, as the user
sees them. The blocks run in order, in one empty directory, with the venv's ``bin`` first on PATH (what
``. .venv/bin/activate`` does, as the README tells the user); the first block builds ``readme.duckdb`` with
the documented deterministic ``leadstats demo`` command, and the others read it. Nothing in a command is
substituted.

What is normalised before comparing, because it cannot be made fixed:
- the time a report took: ``"elapsed_ms": N`` in JSON and the ``duckdb · N ms`` line under a table;
- trailing spaces at the end of a line (rich pads a table's title to the table's width; editors strip them).

``LEADSTATS_README_UPDATE=1 python -m pytest tests/test_readme.py`` rewrites the README's outputs from a run
(then read the diff before committing it).

The last tests check that the README's two commands are what CI runs: ``.ci/run`` runs the README's test
command, and that command installs into the same ``.venv`` the README's install command makes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)
ELAPSED_JSON = re.compile(r'"elapsed_ms": [0-9.]+')
ELAPSED_LINE = re.compile(r"^(\w+) · [0-9.]+ ms$", re.M)


@dataclass
class Example:
    command: str
    expected: str
    block: int


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    for number, match in enumerate(BLOCK.finditer(text)):
        command: str | None = None
        lines: list[str] = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                if command is not None:
                    found.append(Example(command, "\n".join(lines), number))
                command, lines = line[2:], []
            else:
                lines.append(line)
        if command is not None:
            found.append(Example(command, "\n".join(lines), number))
    return found


def normalise(text: str, like: str) -> str:
    """``text`` with the elapsed times taken from ``like`` (the README's) and no trailing spaces."""
    shown_json = ELAPSED_JSON.findall(like)
    if shown_json:
        text = ELAPSED_JSON.sub(shown_json[0], text)
    shown_line = ELAPSED_LINE.search(like)
    if shown_line:
        text = ELAPSED_LINE.sub(shown_line.group(0), text)
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


EXAMPLES = examples(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Run every example once, in order, in one fresh directory (the first builds readme.duckdb)."""
    cwd = tmp_path_factory.mktemp("readme")
    # a new user's shell: no leadstats settings, and nothing that makes rich pretend to be a terminal
    forced = {"COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTATS_") and k not in forced}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    printed = []
    for ex in EXAMPLES:
        run = subprocess.run(["bash", "-c", ex.command + " 2>&1"], cwd=cwd, env=env, capture_output=True,
                             text=True, timeout=240, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, f"$ {ex.command}\n{run.stdout}{run.stderr}"
        printed.append(run.stdout)
    if os.environ.get("LEADSTATS_README_UPDATE") == "1":
        _update(printed)
    return printed


def _update(printed: list[str]) -> None:
    text = README.read_text(encoding="utf-8")
    out = iter(zip(printed, EXAMPLES, strict=True))

    def block(match: re.Match[str]) -> str:
        body = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                got, ex = next(out)
                body += [line, *normalise(got, ex.expected).splitlines()]  # the README's elapsed times stay
        return "```console\n" + "\n".join(body) + "\n```"

    README.write_text(BLOCK.sub(block, text), encoding="utf-8")


def test_the_readme_has_examples() -> None:
    commands = [ex.command for ex in EXAMPLES]
    assert commands[0].startswith("leadstats demo --db readme.duckdb ") and "--end " in commands[0]
    assert any("--format csv" in c for c in commands) and any("--format json" in c for c in commands)
    assert all(c.startswith("leadstats ") for c in commands)  # as the user types them, in the venv


@pytest.mark.parametrize("index", range(len(EXAMPLES)), ids=[ex.command[:60] for ex in EXAMPLES])
def test_example_prints_what_the_readme_shows(outputs: list[str], index: int) -> None:
    ex = EXAMPLES[index]
    assert normalise(outputs[index], ex.expected) == normalise(ex.expected, ex.expected), f"$ {ex.command}"


def test_no_number_is_cut(outputs: list[str]) -> None:
    """Off a terminal, tables print at full width: no cell ends in an ellipsis (issue 15.3)."""
    for text in outputs:
        assert "…" not in text


def _bash_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```bash\n(.*?)^```$", text, re.S | re.M)]


def test_the_two_commands_are_what_ci_runs() -> None:
    blocks = _bash_blocks(README.read_text(encoding="utf-8"))
    install_demo = next(b for b in blocks if "leadstats demo" in b)
    tests = next(b for b in blocks if "scripts/test.sh" in b)
    install_line = next(ln for ln in install_demo.splitlines() if not ln.startswith("#"))
    test_line = next(ln for ln in tests.splitlines() if not ln.startswith("#"))
    assert install_line == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/leadstats demo"
    assert test_line == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert [ln for ln in ci if ln.strip() and not ln.startswith("#")][-1] == "exec bash scripts/test.sh"
    script = (ROOT / "scripts" / "test.sh").read_text()
    # the same venv and the same package as the README's install (plus the test extra), then the suite
    assert '"$PYTHON" -m venv .venv' in script and "PYTHON=\"${PYTHON:-python3}\"" in script
    assert ".venv/bin/python -m pip install -q -e '.[test]'" in script
    assert ".venv/bin/python -m pytest" in script
    assert 'leadstats = "leadstats.cli:main"' in (ROOT / "pyproject.toml").read_text()  # .venv/bin/leadstats
