"""The GPU machine's wheel sets: one pinned version of each package, stale wheels removed, the
big wheel rewritten with LZMA and still installed by pip, and the size check against the
64 MiB a device call carries (no download here: the pins' recorded sizes)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import gpu_wheels
import pytest
from gpu_wheels import (
    CALLS,
    LIMIT_MIB,
    MERGED_JSON_ALLOWANCE,
    MIB,
    SETS,
    Pin,
    allowed_modules,
    call_fit,
    extra_bytes,
    missing,
    pack,
    prune,
    unlike_recorded,
    wheel_key,
)


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
    pins = (Pin("pydantic-core", "2.50.5", 10, ("pydantic_core",), ""),
            Pin("monai", "1.6.1", 10, ("monai",), ""))
    _wheel(tmp_path, "pydantic_core-2.50.5-cp312-cp312-manylinux_2_17_x86_64.whl")
    _wheel(tmp_path, "pydantic_core-2.41.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    _wheel(tmp_path, "ray-2.40.0-cp312-cp312-manylinux2014_x86_64.whl")
    assert prune(pins, tmp_path) == ["pydantic_core-2.41.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                                     "ray-2.40.0-cp312-cp312-manylinux2014_x86_64.whl"]
    assert [pin.requirement for pin in missing(pins, tmp_path)] == ["monai==1.6.1"]


@pytest.mark.parametrize(("wheel_mib", "fits"), [(60, True), (63, False)])
def test_a_call_must_fit_in_64_mib_with_the_tree_and_what_it_carries(wheel_mib, fits) -> None:
    line, ok = call_fit("torchio", wheel_mib * MIB, int(1.5 * MIB), MIB // 2)
    assert ok is fits
    assert f"set {wheel_mib:.2f} MiB + working tree 1.50 + runs/gpu_check_core.json 0.50" in line
    total = wheel_mib + 2.0
    expected = (f"fits, {LIMIT_MIB - total:.2f} MiB left" if fits
                else f"OVER THE LIMIT by {total - LIMIT_MIB:.2f} MiB")
    assert line.endswith(f"= {total:.2f} MiB of 64 MiB: {expected}")


def test_each_call_fits_with_the_current_tree() -> None:
    """The recorded cp312 sizes (SimpleITK's packed) plus today's working tree and the
    carried JSON: both calls fit, so neither depends on the other's warm machine."""
    tree = gpu_wheels.tree_bytes()
    for part in CALLS:
        wheels = sum(pin.carried for pin in SETS[part])
        line, fits = call_fit(part, wheels, tree, extra_bytes(part))
        assert fits, line
    simpleitk = next(pin for pin in SETS["torchio"] if pin.dist == "simpleitk")
    assert simpleitk.carried > gpu_wheels.PACK_OVER  # recorded packed: 27.4 MiB, not 50.3


def test_the_carried_json_counts_its_size_or_the_allowance(tmp_path) -> None:
    assert extra_bytes("core", tmp_path) == 0
    assert extra_bytes("torchio", tmp_path) == MERGED_JSON_ALLOWANCE
    (tmp_path / "runs").mkdir()
    (tmp_path / gpu_wheels.MERGED_JSON).write_text("{}")
    assert extra_bytes("torchio", tmp_path) == 2


def test_a_wheel_unlike_its_recorded_size_is_named(tmp_path) -> None:
    pins = (Pin("monai", "1.6.1", 10, ("monai",), ""), Pin("psutil", "7.2.2", 5, ("psutil",), ""))
    _wheel(tmp_path, "monai-1.6.1-py3-none-any.whl", 10)
    _wheel(tmp_path, "psutil-7.2.2-cp36-abi3-manylinux2014_x86_64.whl", 7)
    assert unlike_recorded(pins, tmp_path) == ["psutil==7.2.2: 7 bytes here, 5 recorded"]


def test_the_working_tree_is_measured_from_git() -> None:
    tree = gpu_wheels.tree_bytes()
    readme = (gpu_wheels.ROOT / "README.md").stat().st_size
    assert readme < tree < 64 * MIB  # .whl/ and .venv/ are ignored, so not counted


def _tiny_wheel(folder: Path) -> Path:
    """A valid wheel of one module, ``gpu_call_probe``, as pip installs it with --target."""
    folder.mkdir(parents=True)
    info = "gpu_call_probe-0.1.dist-info"
    files = {"gpu_call_probe.py": "VALUE = 1\n" + "# padding, compressible\n" * 4000,
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: gpu-call-probe\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    path = folder / "gpu_call_probe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            whl.writestr(name, text)
    return path


def _members(wheel: Path) -> dict[str, tuple[bytes, int, int]]:
    with zipfile.ZipFile(wheel) as whl:
        return {i.filename: (whl.read(i), i.compress_type, i.external_attr) for i in whl.infolist()}


def test_a_big_wheel_is_rewritten_with_lzma_keeping_every_member(tmp_path) -> None:
    wheel = _tiny_wheel(tmp_path / "set")
    before, size = _members(wheel), wheel.stat().st_size
    assert pack(wheel, over=size) is False and wheel.stat().st_size == size  # not over: as is
    assert pack(wheel, over=size - 1) is True
    after = _members(wheel)
    assert {name: (data, attr) for name, (data, _, attr) in after.items()} == \
        {name: (data, attr) for name, (data, _, attr) in before.items()}
    assert {kind for _, kind, _ in after.values()} == {zipfile.ZIP_LZMA}
    assert pack(wheel, over=0) is False  # packed already
    assert [p.name for p in wheel.parent.iterdir()] == [wheel.name]  # no leftover


def test_the_device_call_script_installs_the_set_and_starts_the_check(tmp_path) -> None:
    """``gpu_call.sh core --help``: the set (its wheel packed with LZMA, as SimpleITK's
    travels) installed with the documented line into SITE/core, gpu_check.py started from
    the repository root with it on PYTHONPATH, the log written into OUT."""
    pack(_tiny_wheel(tmp_path / "wheels" / "core"), over=0)
    env = {**os.environ, "WHEELS": str(tmp_path / "wheels"), "SITE": str(tmp_path / "site"),
           "OUT": str(tmp_path / "out"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    done = subprocess.run(["bash", str(gpu_wheels.ROOT / "benchmarks" / "gpu_call.sh"), "core",
                           "--help"], cwd=gpu_wheels.ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    installed = tmp_path / "site" / "core" / "gpu_call_probe.py"
    assert installed.read_text().startswith("VALUE = 1\n")
    assert "--part" in (tmp_path / "out" / "gpu_check_core.log").read_text()
    assert done.stdout.startswith("python ") and "torch" in done.stdout
    wrong = subprocess.run(["bash", str(gpu_wheels.ROOT / "benchmarks" / "gpu_call.sh"), "all"],
                           cwd=gpu_wheels.ROOT, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "core or torchio" in wrong.stderr


def test_the_device_call_script_says_so_when_python3_lacks_lzma(tmp_path) -> None:
    """The packed wheel needs python3's lzma module: without it, one line and exit 3, before
    pip (which would fail deep in a traceback) installs anything."""
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nif [ "$2" = "import lzma" ]; then echo "No module named _lzma" >&2;'
                    f' exit 1; fi\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "WHEELS": str(tmp_path / "wheels"), "SITE": str(tmp_path / "site"),
           "OUT": str(tmp_path / "out"), "PATH": os.pathsep.join([str(fake.parent),
                                                                 os.environ["PATH"]])}
    done = subprocess.run(["bash", str(gpu_wheels.ROOT / "benchmarks" / "gpu_call.sh"),
                           "torchio"], cwd=gpu_wheels.ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3
    assert "python3 has no lzma module, which the LZMA-packed wheels in" in done.stderr
    assert not (tmp_path / "site").exists()
