"""The live check at plan time: real pip, a real venv, a local index that lacks what the matrix says.

- a torch build the index does not have moves the plan to the next best build the real
  planner gives once that build is excluded, with a note; nothing is installed;
- steps sharing an index are asked in one pip call;
- an index that does not answer costs one line, quickly, and the plan goes on.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from install_helpers import freeze, isolated_pip_env, make_index, make_venv, make_wheel

from loradoc.compat.load import load_matrix
from loradoc.doctor.install.env import inspect_target
from loradoc.doctor.install.live import find_missing, plan_until_it_exists
from loradoc.doctor.install.plan import plan
from loradoc.doctor.install.steps import InstallPlan, PipStep
from loradoc.doctor.install.verify import probe_target
from loradoc.doctor.install.wants import from_options
from loradoc.errors import UserError


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("live")
    m = load_matrix()
    cpu = [s for s in m.torch if "3.11" in s.python]
    newest, older = cpu[-1].versions[-1], cpu[-2].versions[-1]
    wheels = root / "wheels"
    index = make_index(root / "torch-index", [make_wheel(wheels, "torch", f"{older}+cpu")])
    other = make_index(
        root / "other-index",
        [make_wheel(root / "w2", "alpha", "1.0"), make_wheel(root / "w2", "beta", "1.0")],
    )
    venv = make_venv(root / "env")
    return {"index": index, "other": other, "venv": venv, "newest": newest, "older": older}


def _local(p: InstallPlan, index: str) -> InstallPlan:
    """The real plan, with its torch step pointed at the local stand-in for download.pytorch.org."""
    for step in p.steps:
        if step.name == "torch":
            step.index_url = index
            step.fallback_requirements = None
    return p


@pytest.mark.slow
def test_a_missing_torch_build_moves_to_the_next_best(world: dict[str, object]) -> None:
    venv = world["venv"]
    assert isinstance(venv, Path)
    target = inspect_target(str(venv))
    env = isolated_pip_env()
    before = freeze(venv, env)
    snapshot = probe_target(target)
    wants = from_options(cpu=True, minimal=True)
    m = load_matrix()
    lines: list[str] = []
    got = plan_until_it_exists(
        lambda excluded: _local(
            plan(snapshot, m, dataclasses.replace(wants, excluded=frozenset(excluded))), str(world["index"])
        ),
        target,
        env=env,
        echo=lines.append,
    )
    assert got.torch == f"{world['older']}+cpu"
    assert f"torch {world['newest']}+cpu is not on {world['index']}" in got.warnings[0]
    assert got.warnings[0].endswith("planned the next best build")
    assert any("planning the next best build" in ln for ln in lines)
    assert lines[-1].startswith("checked with pip install --dry-run: the 1 planned requirement(s) exist")
    assert freeze(venv, env) == before  # nothing installed


@pytest.mark.slow
def test_a_missing_other_requirement_is_one_line(world: dict[str, object]) -> None:
    venv = world["venv"]
    target = inspect_target(str(venv))
    env = isolated_pip_env()
    p = InstallPlan(
        steps=[PipStep("stack", ["alpha==9.9"], "no such version", index_url=str(world["other"]))]
    )
    with pytest.raises(UserError) as err:
        plan_until_it_exists(lambda _: p, target, env=env, echo=lambda _: None)
    assert err.value.message.startswith("step stack: ERROR: ")
    assert "alpha==9.9" in err.value.message and "nothing was changed" in err.value.message


@pytest.mark.slow
def test_steps_on_one_index_are_one_pip_call(world: dict[str, object]) -> None:
    target = inspect_target(str(world["venv"]))
    env = isolated_pip_env()
    index = str(world["other"])
    p = InstallPlan(
        steps=[
            PipStep("torch", [f"torch=={world['older']}+cpu"], "t", index_url=str(world["index"])),
            PipStep("a", ["alpha==1.0"], "a", index_url=index),
            PipStep("b", ["beta==1.0"], "b", index_url=index),
        ]
    )
    lines: list[str] = []
    assert find_missing(p, target, env=env, echo=lines.append) is None
    assert lines == [
        "checked with pip install --dry-run: the 3 planned requirement(s) exist for this Python and platform "
        "(2 pip calls)"
    ]
    # the same project twice on one index is asked in a second call (pip would call it a conflict)
    p.steps.append(PipStep("c", ["alpha>=1"], "c", index_url=index))
    lines.clear()
    assert find_missing(p, target, env=env, echo=lines.append) is None
    assert lines[-1].endswith("(3 pip calls)")


def test_an_unreachable_index_is_one_line_and_quick(world: dict[str, object]) -> None:
    target = inspect_target(str(world["venv"]))
    p = InstallPlan(steps=[PipStep("torch", ["torch==9.9"], "t", index_url="http://127.0.0.1:9/whl/cpu")])
    lines: list[str] = []
    start = time.monotonic()
    assert find_missing(p, target, env=isolated_pip_env(), echo=lines.append) is None
    assert time.monotonic() - start < 3.0
    assert len(lines) == 1
    assert lines[0].startswith("http://127.0.0.1:9/whl/cpu cannot be reached (")
    assert lines[0].endswith("step torch rests on the matrix alone")


@pytest.mark.slow
def test_a_pre_release_step_is_asked_with_pre(world: dict[str, object], tmp_path: Path) -> None:
    target = inspect_target(str(world["venv"]))
    nightly = make_index(
        tmp_path / "nightly",
        [
            make_wheel(tmp_path / "w", "torch", "2.17.0.dev20261201+cpu"),
            make_wheel(tmp_path / "w", "alpha", "1.0"),
        ],
    )
    step = PipStep("torch", ["torch"], "nightly", index_url=nightly, pip_args=["--pre"])
    lines: list[str] = []
    assert find_missing(InstallPlan(steps=[step]), target, env=isolated_pip_env(), echo=lines.append) is None
    assert lines[-1].startswith("checked with pip install --dry-run: the 1 planned requirement(s) exist")
    # a step with --pre is asked apart from one without on the same index (pip applies --pre to all)
    plain = PipStep("other", ["alpha==1.0"], "a release", index_url=nightly)
    lines.clear()
    assert (
        find_missing(InstallPlan(steps=[step, plain]), target, env=isolated_pip_env(), echo=lines.append)
        is None
    )
    assert lines[-1].endswith("(2 pip calls)")
