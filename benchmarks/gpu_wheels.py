"""Download the wheels that ``gpu_check.py`` needs on the GPU machine and check that they fit.

The GPU machine lent to this project reaches no package registry. Its ``python3`` is
Python 3.12 with torch 2.11 (CUDA 13) and its dependencies, numpy, scipy, pandas, pyarrow,
pytest, rich, tqdm, pyyaml, matplotlib and filelock (:data:`MACHINE_MODULES`); everything
else travels inside the device call as cp312 manylinux wheels, at most 64 MiB per call
together with the working tree. SimpleITK's wheel alone is 50 MiB, so there are two sets,
one per call (``docs/performance.md`` holds the calls):

- ``core``: ``gpu_check.py --part core`` (the CUDA tests that need no TorchIO, every
  training-step row with MONAI's BasicUNet as the anchor, tiled inference against MONAI);
- ``torchio``: ``gpu_check.py --part torchio`` (the CUDA tests that need TorchIO, the
  patch loader, the real training run, tiled inference against TorchIO).

Each set is complete on its own (a fresh machine can run either call): both hold the
pydantic stack (the part registry), cc3d (the preprocessing of the synthetic cases) and
psutil (the CUDA tests' conftest). Wheels go to ``.whl/<set>/`` (git-ignored); a wheel
there that is not pinned below is removed, since two versions of one package stop the
install on the machine. Every package is pinned to the version the test suite runs here
and named one by one (``--no-deps``): a new dependency of a pinned package must be added
here, and ``tests/benchmarks/test_gpu_check.py`` runs each part with every module outside
the machine's packages and its set blocked, so a missing one fails there.

Exit status 1 when a set plus the working tree that travels (tracked and untracked,
not-ignored files and ``shared/``) exceeds 64 MiB, or a pinned wheel could not be had.

Usage::

    python benchmarks/gpu_wheels.py                       # both sets, cp312, into .whl/
    python benchmarks/gpu_wheels.py --set core            # one set
    python benchmarks/gpu_wheels.py --sizes-only          # sizes of what is there, no download
    python benchmarks/gpu_wheels.py --python-version 3.11 --dest /tmp/whl311  # a local proof
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 64.0
MIB = 2**20
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


@dataclass(frozen=True)
class Pin:
    """One wheel: distribution, exact version, the modules it installs and who needs it."""

    dist: str
    version: str
    modules: tuple[str, ...]
    why: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


PYDANTIC = (
    Pin("pydantic", "2.14.4", ("pydantic",), "the part registry (models, data_pipeline)"),
    Pin("pydantic-core", "2.50.5", ("pydantic_core",), "pydantic"),
    Pin("typing-extensions", "4.16.0", ("typing_extensions",), "pydantic (torch's may be older)"),
    Pin("annotated-types", "0.8.0", ("annotated_types",), "pydantic"),
    Pin("typing-inspection", "0.4.5", ("typing_inspection",), "pydantic"),
)
PREPROCESS = (
    Pin("connected-components-3d", "4.1.1", ("cc3d",), "skull removal (synthetic cases)"),
)
TEST_DEPS = (
    Pin("psutil", "7.2.2", ("psutil",), "tests/platform/conftest.py (CUDA tests)"),
)
MONAI = (
    Pin("monai", "1.6.1", ("monai",), "BasicUNet and sliding-window anchors"),
)
TORCHIO = (
    Pin("torchio", "1.2.1", ("torchio",), "the patch loader, the TorchIO anchor"),
    Pin("simpleitk", "2.5.7", ("SimpleITK",), "torchio (imported with it)"),
    Pin("nibabel", "5.4.2", ("nibabel",), "torchio (imported with it)"),
    Pin("deprecated", "1.3.1", ("deprecated",), "torchio"),
    Pin("wrapt", "2.5.2", ("wrapt",), "deprecated"),
    Pin("humanize", "4.17.0", ("humanize",), "torchio"),
    Pin("einops", "0.8.2", ("einops",), "torchio"),
    Pin("jaxtyping", "0.3.11", ("jaxtyping",), "torchio"),
    Pin("wadler-lindig", "0.1.8", ("wadler_lindig",), "jaxtyping"),
)
SETS: dict[str, tuple[Pin, ...]] = {
    "core": PYDANTIC + PREPROCESS + TEST_DEPS + MONAI,
    "torchio": PYDANTIC + PREPROCESS + TEST_DEPS + TORCHIO,
}
"""The wheel set of each ``gpu_check.py --part``."""

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


def download(pins: tuple[Pin, ...], dest: Path, python_version: str) -> None:
    """``pip download`` every pin, no dependencies, binary wheels for the machine only."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp", *platforms,
               "--progress-bar", "off", "--disable-pip-version-check", "-d", str(dest),
               *(pin.requirement for pin in pins)]  # fmt: skip
    subprocess.run(command, check=True)


def prune(pins: tuple[Pin, ...], dest: Path) -> list[str]:
    """Remove wheels that no pin names (another version, a dropped package); their names."""
    wanted = {(normalize(pin.dist), pin.version) for pin in pins}
    removed = []
    for wheel in sorted(dest.glob("*.whl")):
        if wheel_key(wheel.name) not in wanted:
            wheel.unlink()
            removed.append(wheel.name)
    return removed


def missing(pins: tuple[Pin, ...], dest: Path) -> list[str]:
    """Pins without their wheel in ``dest``."""
    present = {wheel_key(wheel.name) for wheel in dest.glob("*.whl")}
    return [pin.requirement for pin in pins if (normalize(pin.dist), pin.version) not in present]


def report(name: str, dest: Path, tree: int) -> tuple[str, bool]:
    """Lines for one set (its wheels, largest first, and its total) and whether it fits."""
    wheels = sorted(dest.glob("*.whl"), key=lambda p: -p.stat().st_size)
    size = sum(w.stat().st_size for w in wheels)
    total = size + tree
    fits = total <= LIMIT_MIB * MIB
    lines = [f"set {name}: {len(wheels)} wheels in {dest}"]
    lines += [f"  {w.stat().st_size / MIB:8.2f} MiB  {w.name}" for w in wheels]
    lines.append(f"  set {name}: {size / MIB:.2f} MiB + working tree {tree / MIB:.2f} MiB = "
                 f"{total / MIB:.2f} MiB of {LIMIT_MIB:.0f} MiB: "
                 f"{'fits' if fits else 'OVER THE LIMIT'} ({(LIMIT_MIB * MIB - total) / MIB:+.2f})")
    return "\n".join(lines), fits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=(*SETS, "all"), default="all")
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl",
                        help="folder of the sets (one subfolder each); default .whl/")
    parser.add_argument("--python-version", default="3.12",
                        help="the GPU machine's (3.12); another only for a local proof")
    parser.add_argument("--sizes-only", action="store_true",
                        help="check and size what is downloaded, download nothing")
    args = parser.parse_args(argv)
    names = tuple(SETS) if args.set == "all" else (args.set,)
    tree = tree_bytes()
    ok = True
    for name in names:
        dest = args.dest / name
        dest.mkdir(parents=True, exist_ok=True)
        for stale in prune(SETS[name], dest):
            print(f"removed {stale} from {dest}: not pinned")
        if not args.sizes_only:
            download(SETS[name], dest, args.python_version)
        absent = missing(SETS[name], dest)
        if absent:
            print(f"set {name}: missing {', '.join(absent)}", file=sys.stderr)
            ok = False
        lines, fits = report(name, dest, tree)
        print(lines)
        ok = ok and fits
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
