"""The lock writers, ``loradoc.lockfile.compile_lock`` and ``plan_lock`` (doctor install --lock):
real pip-compile against a local index of tiny wheels, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from install_helpers import isolated_pip_env, make_index, make_wheel, sha256

from loradoc.doctor.install.lock import plan_lock
from loradoc.doctor.install.steps import InstallPlan, PipStep
from loradoc.errors import UserError
from loradoc.lockfile import compile_lock, sources_give_hashes


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Path]]:
    root = tmp_path_factory.mktemp("index")
    wheels = {
        "alpha": make_wheel(root / "files", "alpha", "1.0", ["beta>=1"]),
        "beta1": make_wheel(root / "files", "beta", "1.0"),
        "beta2": make_wheel(root / "files", "beta", "2.0"),
        "torch": make_wheel(root / "files", "torch", "1.0+cpu"),
    }
    return make_index(root, list(wheels.values())), wheels


def test_sources_give_hashes() -> None:
    assert sources_give_hashes(["https://pypi.org/simple", "file:///opt/wheels", "/opt/wheels"])
    assert not sources_give_hashes(["https://download.pytorch.org/whl/cu124"])


@pytest.mark.slow
def test_compile_lock_pins_hashes_and_index(tmp_path: Path, index: tuple[str, dict[str, Path]]) -> None:
    url, wheels = index
    out = tmp_path / "stack.lock.txt"
    env = isolated_pip_env()
    result = compile_lock(
        ["alpha", "torch==1.0+cpu"],
        out,
        index_url=url,
        header=["made by a test"],
        compile_command="loradoc doctor install --lock stack.lock.txt",
        env=env,
    )
    text = out.read_text()
    assert result.hashed
    assert text.startswith("# made by a test\n")
    assert "loradoc doctor install --lock stack.lock.txt" in text  # pip-compile's own header, our command
    assert f"--index-url {url}" in text
    assert "alpha==1.0" in text and "beta==2.0" in text and "torch==1.0+cpu" in text
    for key in ("alpha", "beta2", "torch"):
        assert f"--hash=sha256:{sha256(wheels[key])}" in text
    assert f"sha256:{sha256(wheels['beta1'])}" not in text  # only the pinned version's files
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temporary file left


@pytest.mark.slow
def test_plan_lock_keeps_variant_index_and_lists_source_builds(
    tmp_path: Path, index: tuple[str, dict[str, Path]]
) -> None:
    url, wheels = index
    variant_url = make_index(tmp_path / "variant", [wheels["torch"]])  # the "PyTorch index": torch only
    plan = InstallPlan(
        python="3.11",
        platform="Linux x86_64",
        variant="cpu",
        torch="1.0+cpu",
        steps=[
            PipStep(
                "torch",
                ["torch==1.0+cpu"],
                "the build",
                index_url=variant_url,
                fallback_requirements=["torch==1.0"],
            ),
            PipStep("stack", ["alpha"], "the rest"),
            PipStep(
                "xformers",
                ["xformers @ git+https://github.com/facebookresearch/xformers.git@" + "a" * 40],
                "source build",
                pip_args=["--no-build-isolation", "-v"],
                env={"TORCH_CUDA_ARCH_LIST": "8.0"},
            ),
        ],
    )
    out = tmp_path / "plan.lock.txt"
    # the rest of the plan comes from "pip's configured sources": here the same local index
    result = plan_lock(plan, out, env=isolated_pip_env(PIP_INDEX_URL=url), python_version="3.11.7")
    text = out.read_text()
    assert f"--index-url {url}" in text and f"--extra-index-url {variant_url}" in text
    assert "torch==1.0+cpu" in text and "alpha==1.0" in text
    assert "torch 1.0+cpu (cpu) for Python 3.11.7 on Linux x86_64" in text
    assert "# built from source after this lock is installed" in text
    assert "TORCH_CUDA_ARCH_LIST=8.0" in text and "xformers.git@" + "a" * 40 in text
    assert result.hashed  # a file:// index hands its files over: hashes are cheap


@pytest.mark.slow
def test_unreachable_variant_index_uses_fallback_requirements(
    tmp_path: Path, index: tuple[str, dict[str, Path]]
) -> None:
    url, _ = index
    gone = "https://download.pytorch.org/whl/cpu"
    plan = InstallPlan(
        python="3.11",
        torch="1.0+cpu",
        variant="cpu",
        steps=[
            PipStep(
                "torch", ["torch==1.0+cpu"], "b", index_url=gone, fallback_requirements=["torch==1.0+cpu"]
            )
        ],
    )
    out = tmp_path / "fb.lock.txt"
    plan_lock(
        plan, out, unreachable={gone: "Name or service not known"}, env=isolated_pip_env(PIP_INDEX_URL=url)
    )
    text = out.read_text()
    assert f"{gone} could not be reached" in text
    assert "--extra-index-url https://download.pytorch.org" not in text
    assert "torch==1.0+cpu" in text


def test_unreachable_index_without_fallback_is_a_user_error(tmp_path: Path) -> None:
    gone = "https://download.pytorch.org/whl/cu126"
    plan = InstallPlan(
        torch="2.14.1+cu126", steps=[PipStep("torch", ["torch==2.14.1+cu126"], "b", index_url=gone)]
    )
    with pytest.raises(UserError, match="cannot be reached"):
        plan_lock(plan, tmp_path / "x.txt", unreachable={gone: "timed out"})
    assert not (tmp_path / "x.txt").exists()


def test_pip_compile_failure_is_one_line_and_writes_nothing(
    tmp_path: Path, index: tuple[str, dict[str, Path]]
) -> None:
    url, _ = index
    out = tmp_path / "bad.txt"
    with pytest.raises(UserError) as err:
        compile_lock(["no-such-project==9"], out, index_url=url, env=isolated_pip_env())
    assert "pip-compile failed" in err.value.message and "\n" not in err.value.message
    assert not out.exists()
