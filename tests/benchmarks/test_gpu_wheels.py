"""The GPU machine's wheel sets: one pinned version of each package, stale wheels removed, and
the size check against the 64 MiB a device call carries (no download here)."""

from __future__ import annotations

from pathlib import Path

import gpu_wheels
import pytest
from gpu_wheels import MIB, SETS, Pin, allowed_modules, missing, prune, report, wheel_key


def _wheel(folder: Path, name: str, size: int = 10) -> Path:
    path = folder / name
    path.write_bytes(b"\0" * size)
    return path


def test_each_set_pins_one_exact_version_of_each_package() -> None:
    for name, pins in SETS.items():
        dists = [gpu_wheels.normalize(pin.dist) for pin in pins]
        assert len(dists) == len(set(dists)), name
        assert all(pin.version and pin.version[0].isdigit() for pin in pins)
    core, torchio = ({m for pin in SETS[s] for m in pin.modules} for s in ("core", "torchio"))
    shared = {"pydantic", "pydantic_core", "cc3d", "psutil"}  # each call may find a bare machine
    assert shared <= core and shared <= torchio
    assert "monai" in core and not {"torchio", "SimpleITK", "nibabel"} & core
    assert {"torchio", "SimpleITK", "nibabel"} <= torchio and "monai" not in torchio


def test_neither_part_may_import_ray_or_mlflow() -> None:
    for part in ("core", "torchio", "all"):
        assert not {"ray", "mlflow", "pydicom"} & allowed_modules(part)
    assert "torch" in allowed_modules("core") and "torchio" not in allowed_modules("core")


def test_wheel_names_are_read_like_pip() -> None:
    assert wheel_key("pydantic_core-2.50.5-cp312-cp312-manylinux_2_17_x86_64.whl") == \
        ("pydantic_core", "2.50.5")
    assert wheel_key("simpleitk-2.5.7-cp311-abi3-manylinux2014_x86_64.whl") == \
        ("simpleitk", "2.5.7")
    assert gpu_wheels.normalize("connected-components-3d") == "connected_components_3d"


def test_stale_wheels_are_pruned_and_missing_pins_named(tmp_path) -> None:
    pins = (Pin("pydantic-core", "2.50.5", ("pydantic_core",), ""),
            Pin("monai", "1.6.1", ("monai",), ""))
    _wheel(tmp_path, "pydantic_core-2.50.5-cp312-cp312-manylinux_2_17_x86_64.whl")
    _wheel(tmp_path, "pydantic_core-2.41.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    _wheel(tmp_path, "ray-2.40.0-cp312-cp312-manylinux2014_x86_64.whl")
    assert prune(pins, tmp_path) == ["pydantic_core-2.41.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                                     "ray-2.40.0-cp312-cp312-manylinux2014_x86_64.whl"]
    assert missing(pins, tmp_path) == ["monai==1.6.1"]


@pytest.mark.parametrize(("wheel_mib", "fits"), [(60, True), (63, False)])
def test_a_set_plus_the_working_tree_must_fit_in_64_mib(tmp_path, wheel_mib, fits) -> None:
    _wheel(tmp_path, "simpleitk-2.5.7-cp311-abi3-manylinux2014_x86_64.whl", wheel_mib * MIB)
    lines, ok = report("torchio", tmp_path, tree=int(1.5 * MIB))
    assert ok is fits
    assert ("OVER THE LIMIT" in lines) is not fits and f"{wheel_mib:.2f} MiB" in lines


def test_the_working_tree_is_measured_from_git() -> None:
    tree = gpu_wheels.tree_bytes()
    readme = (gpu_wheels.ROOT / "README.md").stat().st_size
    assert readme < tree < 64 * MIB  # .whl/ and .venv/ are ignored, so not counted


def _tiny_wheel(folder: Path) -> None:
    """A valid wheel of one module, ``gpu_call_probe``, as pip installs it with --target."""
    import zipfile

    folder.mkdir(parents=True)
    info = "gpu_call_probe-0.1.dist-info"
    files = {"gpu_call_probe.py": "VALUE = 1\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: gpu-call-probe\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / "gpu_call_probe-0.1-py3-none-any.whl", "w") as whl:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            whl.writestr(name, text)


def test_the_device_call_script_installs_the_set_and_starts_the_check(tmp_path) -> None:
    """``gpu_call.sh core --help``: the set installed with the documented line, gpu_check.py
    started from the repository root with it on PYTHONPATH, the log written into OUT."""
    import os
    import subprocess
    import sys

    _tiny_wheel(tmp_path / "wheels" / "core")
    env = {**os.environ, "WHEELS": str(tmp_path / "wheels"), "SITE": str(tmp_path / "site"),
           "OUT": str(tmp_path / "out"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    done = subprocess.run(["bash", str(gpu_wheels.ROOT / "benchmarks" / "gpu_call.sh"), "core",
                           "--help"], cwd=gpu_wheels.ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "site" / "gpu_call_probe.py").exists()
    assert "--part" in (tmp_path / "out" / "gpu_check_core.log").read_text()
    assert done.stdout.startswith("python ") and "torch" in done.stdout
    wrong = subprocess.run(["bash", str(gpu_wheels.ROOT / "benchmarks" / "gpu_call.sh"), "all"],
                           cwd=gpu_wheels.ROOT, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "core or torchio" in wrong.stderr
