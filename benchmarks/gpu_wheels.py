"""Download the wheels that ``gpu_check.py`` needs on the GPU machine and check that they fit.

The GPU machine lent to this project reaches no package registry. Its ``python3`` is
Python 3.12 with torch 2.11 (CUDA 13) and its dependencies, numpy, scipy, pandas, pyarrow,
pytest, rich, tqdm, pyyaml, matplotlib and filelock (:data:`MACHINE_MODULES`); everything
else travels inside the device call as cp312 manylinux wheels, at most 64 MiB per call
together with the working tree. The check runs as two calls (:data:`CALLS`;
``docs/performance.md`` holds them), each installing its own set:

- ``core``: ``gpu_check.py --part core`` (the CUDA tests that need no TorchIO, every
  training-step row with MONAI's BasicUNet as the anchor, tiled inference against MONAI);
- ``torchio``: ``gpu_check.py --part torchio`` (the CUDA tests that need TorchIO, the
  patch loader, the real training run, tiled inference against TorchIO).

Each set is complete on its own, so either call works on a bare machine (a machine stays
warm only 30 s after a call, and a cold one keeps nothing): both hold the pydantic stack
(the part registry), cc3d (the preprocessing of the synthetic cases) and psutil (the CUDA
tests' conftest). SimpleITK's wheel is 50.3 MiB as PyPI deflates it, so the torchio set
(61.7 MiB) and the working tree would not fit; a wheel over :data:`PACK_OVER` bytes is
therefore rewritten with LZMA (:func:`pack`: the same files and RECORD, pip installs it as
it is; SimpleITK's becomes 27.4 MiB). Wheels go to ``.whl/<set>/`` (git-ignored); a wheel
there that is not pinned below is removed, since two versions of one package stop the
install on the machine. Every package is pinned to the version the test suite runs here
and named one by one (``--no-deps``), with the bytes its cp312 wheel travels as: a new
dependency of a pinned package must be added here, and ``tests/benchmarks/test_gpu_check.py``
runs each part with every module outside the machine's packages and its set blocked, so a
missing one fails there.

For each call it prints what travels (the set, the working tree: tracked and untracked,
not-ignored files and ``shared/``, and the files the call also carries) and the room left
under 64 MiB. Exit status 1 when a call does not fit or a pinned wheel could not be had.

Usage::

    python benchmarks/gpu_wheels.py                       # both sets, cp312, into .whl/
    python benchmarks/gpu_wheels.py --set core            # one set
    python benchmarks/gpu_wheels.py --sizes-only          # sizes of what is there, no download
    python benchmarks/gpu_wheels.py --recorded            # the pins' recorded sizes, no files
    python benchmarks/gpu_wheels.py --python-version 3.11 --dest /tmp/whl311  # a local proof
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 64.0
MIB = 2**20
PACK_OVER = 8 * MIB
"""A wheel larger than this travels rewritten with LZMA (:func:`pack`): only SimpleITK's."""
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


@dataclass(frozen=True)
class Pin:
    """One wheel: distribution, exact version, the bytes its cp312 wheel travels as (after
    :func:`pack`, measured 2026-12-06), the modules it installs and who needs it."""

    dist: str
    version: str
    carried: int
    modules: tuple[str, ...]
    why: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


PYDANTIC = (
    Pin("pydantic", "2.14.4", 494_865, ("pydantic",), "the part registry (models, data_pipeline)"),
    Pin("pydantic-core", "2.50.5", 2_264_846, ("pydantic_core",), "pydantic"),
    Pin("typing-extensions", "4.16.0", 45_571, ("typing_extensions",),
        "pydantic (torch's may be older)"),
    Pin("annotated-types", "0.8.0", 13_427, ("annotated_types",), "pydantic"),
    Pin("typing-inspection", "0.4.5", 14_874, ("typing_inspection",), "pydantic"),
)
PREPROCESS = (
    Pin("connected-components-3d", "4.1.1", 4_935_517, ("cc3d",),
        "skull removal (synthetic cases)"),
)
TEST_DEPS = (
    Pin("psutil", "7.2.2", 155_560, ("psutil",), "tests/platform/conftest.py (CUDA tests)"),
)
MONAI = (
    Pin("monai", "1.6.1", 1_677_458, ("monai",), "BasicUNet and sliding-window anchors"),
)
TORCHIO = (
    Pin("torchio", "1.2.1", 203_555, ("torchio",), "the patch loader, the TorchIO anchor"),
    # 52,772,324 bytes as downloaded, 273,755,159 unpacked
    Pin("simpleitk", "2.5.7", 28_758_267, ("SimpleITK",), "torchio (imported with it)"),
    Pin("nibabel", "5.4.2", 3_300_985, ("nibabel",), "torchio (imported with it)"),
    Pin("deprecated", "1.3.1", 11_298, ("deprecated",), "torchio"),
    Pin("wrapt", "2.5.2", 250_614, ("wrapt",), "deprecated"),
    Pin("humanize", "4.17.0", 133_715, ("humanize",), "torchio"),
    Pin("einops", "0.8.2", 65_638, ("einops",), "torchio"),
    Pin("jaxtyping", "0.3.11", 56_593, ("jaxtyping",), "torchio"),
    Pin("wadler-lindig", "0.1.8", 20_840, ("wadler_lindig",), "jaxtyping"),
)
SETS: dict[str, tuple[Pin, ...]] = {
    "core": PYDANTIC + PREPROCESS + TEST_DEPS + MONAI,
    "torchio": PYDANTIC + PREPROCESS + TEST_DEPS + TORCHIO,
}
"""The wheel set of each ``gpu_check.py --part``."""

MERGED_JSON = "runs/gpu_check_core.json"
MERGED_JSON_ALLOWANCE = MIB // 4
"""Bytes counted for the first call's JSON where it is not here yet (a small run's: 8.5 KiB)."""
CALLS: dict[str, tuple[str, ...]] = {"core": (), "torchio": (MERGED_JSON,)}
"""Each device call, ``gpu_call.sh PART``: it carries ``.whl/PART`` and these files."""

MACHINE_MODULES = frozenset({
    # torch 2.11 and what its wheel requires
    "torch", "functorch", "torchgen", "triton", "filelock", "typing_extensions", "sympy",
    "mpmath", "networkx", "jinja2", "markupsafe", "fsspec", "setuptools", "pkg_resources",
    "_distutils_hack",
    # named by issue 25, with their own requirements
    "numpy", "scipy", "pandas", "dateutil", "pytz", "tzdata", "six", "pyarrow",
    "pytest", "_pytest", "py", "pluggy", "iniconfig", "packaging",
    "rich", "markdown_it", "mdurl", "pygments", "tqdm", "yaml", "_yaml",
    "matplotlib", "mpl_toolkits", "pylab", "PIL", "contourpy", "cycler", "fontTools",
    "kiwisolver", "pyparsing",
})  # fmt: skip
"""Top-level modules of the GPU machine's ``python3`` that the check may use (issue 25)."""


def allowed_modules(part: str) -> frozenset[str]:
    """Third-party modules a ``gpu_check.py --part`` run may import: the machine's and its set's."""
    parts = tuple(SETS) if part == "all" else (part,)
    return MACHINE_MODULES | {m for name in parts for pin in SETS[name] for m in pin.modules}


def normalize(name: str) -> str:
    """A distribution name as wheel file names spell it (PEP 503, then ``_``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_key(filename: str) -> tuple[str, str]:
    """(normalized distribution, version) of a wheel file name."""
    dist, version = filename.split("-")[:2]
    return normalize(dist), version


def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of the working tree that a device call sends (tracked, untracked not ignored,
    ``shared/``); ignored paths travel only when a call carries them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    paths = {root / name for name in listed if name}
    shared = root / "shared"
    if shared.is_dir():
        paths |= {p for p in shared.rglob("*") if p.is_file()}
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``, as a call that carries it sends them."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def extra_bytes(part: str, root: Path = ROOT) -> int:
    """Bytes of the files a call carries beside its set: their size here, else the allowance."""
    paths = (root / name for name in CALLS[part])
    return sum(p.stat().st_size if p.is_file() else MERGED_JSON_ALLOWANCE for p in paths)


def download(pins: tuple[Pin, ...], dest: Path, python_version: str) -> None:
    """``pip download`` every pin, no dependencies, binary wheels for the machine only."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp", *platforms,
               "--progress-bar", "off", "--disable-pip-version-check", "-d", str(dest),
               *(pin.requirement for pin in pins)]  # fmt: skip
    subprocess.run(command, check=True)


def pack(wheel: Path, over: int = PACK_OVER) -> bool:
    """Rewrite ``wheel`` with LZMA where it is over ``over`` bytes and not yet; whether it was.

    Only the compression changes: every member keeps its name, date, mode and bytes (RECORD
    and its hashes too), so ``pip install`` installs it as it is (``zipfile`` reads LZMA;
    the machine's python3 needs its ``lzma`` module, which ``gpu_call.sh`` checks)."""
    if wheel.stat().st_size <= over:
        return False
    packed = wheel.with_name(wheel.name + ".packing")
    try:
        with zipfile.ZipFile(wheel) as source:
            members = source.infolist()
            if all(member.compress_type == zipfile.ZIP_LZMA for member in members):
                return False
            with zipfile.ZipFile(packed, "w") as target:
                for member in members:
                    copy = zipfile.ZipInfo(member.filename, member.date_time)
                    copy.external_attr, copy.compress_type = member.external_attr, zipfile.ZIP_LZMA
                    with source.open(member) as data, target.open(copy, "w") as out:
                        shutil.copyfileobj(data, out, MIB)
        os.replace(packed, wheel)
    finally:
        packed.unlink(missing_ok=True)  # an interrupted rewrite must not travel
    return True


def prune(pins: tuple[Pin, ...], dest: Path) -> list[str]:
    """Remove wheels that no pin names (another version, a dropped package); their names."""
    wanted = {(normalize(pin.dist), pin.version) for pin in pins}
    removed = []
    for wheel in sorted(dest.glob("*.whl")):
        if wheel_key(wheel.name) not in wanted:
            wheel.unlink()
            removed.append(wheel.name)
    return removed


def missing(pins: tuple[Pin, ...], dest: Path) -> tuple[Pin, ...]:
    """Pins without their wheel in ``dest``."""
    present = {wheel_key(wheel.name) for wheel in dest.glob("*.whl")}
    return tuple(pin for pin in pins if (normalize(pin.dist), pin.version) not in present)


def unlike_recorded(pins: tuple[Pin, ...], dest: Path) -> list[str]:
    """Pins whose wheel in ``dest`` is not the size recorded in :attr:`Pin.carried`."""
    sizes = {wheel_key(wheel.name): wheel.stat().st_size for wheel in dest.glob("*.whl")}
    found = ((pin, sizes.get((normalize(pin.dist), pin.version))) for pin in pins)
    return [f"{pin.requirement}: {size:,} bytes here, {pin.carried:,} recorded"
            for pin, size in found if size is not None and size != pin.carried]


def listing(name: str, dest: Path) -> str:
    """The wheels of one set, largest first."""
    wheels = sorted(dest.glob("*.whl"), key=lambda p: -p.stat().st_size)
    lines = [f"set {name}: {len(wheels)} wheels in {dest}"]
    lines += [f"  {w.stat().st_size / MIB:8.2f} MiB  {w.name}" for w in wheels]
    return "\n".join(lines)


def call_fit(part: str, wheels: int, tree: int, extra: int) -> tuple[str, bool]:
    """One line for the device call of ``part`` (what it carries, the room left) and whether
    it fits in the 64 MiB a call may carry."""
    total = wheels + tree + extra
    room = LIMIT_MIB * MIB - total
    carried = f" + {', '.join(CALLS[part])} {extra / MIB:.2f}" if CALLS[part] else ""
    return (f"call {part}: set {wheels / MIB:.2f} MiB + working tree {tree / MIB:.2f}{carried}"
            f" = {total / MIB:.2f} MiB of {LIMIT_MIB:.0f} MiB: "
            + (f"fits, {room / MIB:.2f} MiB left" if room >= 0
               else f"OVER THE LIMIT by {-room / MIB:.2f} MiB")), room >= 0


def prepare(name: str, dest: Path, python_version: str, fetch: bool) -> tuple[int, bool]:
    """Prune, download what is missing (``fetch``) and pack one set; its bytes and whether
    every pin is there."""
    pins = SETS[name]
    dest.mkdir(parents=True, exist_ok=True)
    for stale in prune(pins, dest):
        print(f"removed {stale} from {dest}: not pinned")
    if fetch and missing(pins, dest):
        download(missing(pins, dest), dest, python_version)
    for wheel in sorted(dest.glob("*.whl")):
        if pack(wheel):
            print(f"packed {wheel.name} with LZMA: {wheel.stat().st_size / MIB:.2f} MiB")
    absent = missing(pins, dest)
    if absent:
        print(f"set {name}: missing {', '.join(p.requirement for p in absent)}", file=sys.stderr)
    print(listing(name, dest))
    if python_version == "3.12":  # the recorded sizes are cp312's
        for line in unlike_recorded(pins, dest):
            print(f"  note: {line}: update the pin in benchmarks/gpu_wheels.py")
    return folder_bytes(dest), not absent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=(*SETS, "all"), default="all")
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl",
                        help="folder of the sets (one subfolder each); default .whl/")
    parser.add_argument("--python-version", default="3.12",
                        help="the GPU machine's (3.12); another only for a local proof")
    parser.add_argument("--sizes-only", action="store_true",
                        help="check and size what is downloaded, download nothing")
    parser.add_argument("--recorded", action="store_true",
                        help="size each call from the pins' recorded cp312 sizes; no files")
    args = parser.parse_args(argv)
    names = tuple(SETS) if args.set == "all" else (args.set,)
    tree = tree_bytes()
    ok = True
    for name in names:
        if args.recorded:
            wheels, complete = sum(pin.carried for pin in SETS[name]), True
        else:
            wheels, complete = prepare(name, args.dest / name, args.python_version,
                                       fetch=not args.sizes_only)
        line, fits = call_fit(name, wheels, tree, extra_bytes(name))
        print(line)
        ok = ok and complete and fits
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
