"""The README's two commands are exactly what CI runs, and what they install is what the tests need."""

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    section = REPO.joinpath("README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_ci_runs_the_readme_commands_verbatim_in_order():
    commands = quickstart_commands()
    assert len(commands) == 2
    ci_lines = [line.strip() for line in REPO.joinpath(".ci/run").read_text().splitlines()]
    positions = [ci_lines.index(command) for command in commands]
    assert positions == sorted(positions)
    pip_installs = [line for line in ci_lines if "pip install" in line and not line.startswith("#")]
    assert pip_installs == [commands[0]], "CI installs something the README does not"


def test_the_test_extra_holds_every_plugin_the_tests_drive():
    extras = tomllib.loads(REPO.joinpath("pyproject.toml").read_text())["project"]["optional-dependencies"]
    test = " ".join(extras["test"])
    for needed in ("bigquery", "cluster"):
        assert needed in test
    assert any("snakemake-executor-plugin-slurm" in dep for dep in extras["cluster"])
    assert '".[test]"' in quickstart_commands()[0]
