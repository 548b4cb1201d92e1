"""Research, not wired into ``make``: build dlib 20.0.1 against OpenBLAS, cache the wheel, and
optionally install it in place of dlib-bin.

    python -m bench.research_dlib_blas [--install] [--cache DIR] [--jobs N]

Status: a cut-down build of this recipe measured the ResNet ~4x faster (46 vs 197 ms per chip on 2
busy cores, ``OPENBLAS_NUM_THREADS=1``) but dlib's HOG detector ~2x slower (400 vs 198 ms), with
AVX on and LAPACK off, so neither of those is the cause; the full recipe below has not been built
end to end yet. Until the detector is as fast as dlib-bin's, dlib-bin stays the project's dlib.

Why: the ``dlib-bin`` wheel has no BLAS, and dlib's ResNet does its convolutions as matrix
products, which OpenBLAS does several times faster. The same network, the same weights: the
vectors agree to float noise (tests/faces/test_floor_build.py holds them to 1e-4).

How, so that a fresh machine needs no system package and the build stays short:
- OpenBLAS is the ``scipy-openblas32`` wheel's library (no apt, no root). Its symbols carry a
  ``scipy_`` prefix, so a forced-include header renames dlib's ``cblas_*`` calls; the library is
  copied into the wheel (``dlib_blas.libs/``) and found through an ``$ORIGIN`` rpath.
- LAPACK stays off (dlib's own SVD, as in dlib-bin): dlib calls LAPACK for the SVD that turns the
  HOG detector's filters into separable ones, and LAPACK's tiny rounding differences there must not
  change which filters the detector runs.
- Only the Python module target, with ninja, no GUI, no GIF/WebP/JXL/SQLite/FFmpeg.
- AVX and SSE4 forced on (dlib-bin has AVX); Release (-O3).

The wheel is cached under ``$FACEREC_CACHE`` (default ``~/.cache/facerec``), keyed by this build's
settings, so every later install (another clone, a new venv, CI on the same machine) reuses it.
``--install`` swaps it in only after a smoke test passes, and otherwise leaves dlib-bin in place.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

DLIB_VERSION = "20.0.1"
OPENBLAS_WHEEL = "scipy-openblas32==0.3.34.481.3"
LIBS_DIR = "dlib_blas.libs"
CMAKE_OPTIONS = {
    "CMAKE_BUILD_TYPE": "Release",
    "DLIB_USE_BLAS": "ON",
    "DLIB_USE_LAPACK": "OFF",
    "DLIB_USE_CUDA": "OFF",
    "DLIB_USE_FFMPEG": "OFF",
    "DLIB_USE_MKL_FFT": "OFF",
    "USE_AVX_INSTRUCTIONS": "ON",
    "USE_SSE4_INSTRUCTIONS": "ON",
    "DLIB_NO_GUI_SUPPORT": "ON",
    # JPEG and PNG stay: the module's save_face_chip / save_image link against them (with them off
    # the module builds but fails at import: undefined dlib::save_jpeg).
    "DLIB_JPEG_SUPPORT": "ON",
    "DLIB_PNG_SUPPORT": "ON",
    "DLIB_GIF_SUPPORT": "OFF",
    "DLIB_WEBP_SUPPORT": "OFF",
    "DLIB_JXL_SUPPORT": "OFF",
    "DLIB_LINK_WITH_SQLITE3": "OFF",
}
# Bump when the way the wheel is made changes, so cached wheels of an older recipe are not reused.
RECIPE = "2"


def log(message: str) -> None:
    print(f"[build_dlib] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def build_key() -> str:
    text = repr((RECIPE, DLIB_VERSION, OPENBLAS_WHEEL, sorted(CMAKE_OPTIONS.items()), sys.version_info[:2]))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def wheel_path(cache: Path) -> Path:
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return cache / f"dlib-{DLIB_VERSION}+blas.{build_key()}-{tag}-{tag}-{platform}.whl"


def fetch(work: Path) -> tuple[Path, Path]:
    """dlib's sdist (unpacked) and scipy-openblas32's library, from the package index."""
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(work)]
    sdist = work / f"dlib-{DLIB_VERSION}.tar.gz"
    if not sdist.exists():
        run(pip + ["--no-binary", ":all:", "--no-build-isolation", f"dlib=={DLIB_VERSION}"])
    source = work / f"dlib-{DLIB_VERSION}"
    if not source.exists():
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
    openblas = work / "openblas"
    library = openblas / "scipy_openblas32" / "lib" / "libscipy_openblas.so"
    if not library.exists():
        run(pip + ["--only-binary", ":all:", OPENBLAS_WHEEL])
        (wheel,) = work.glob("scipy_openblas32-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(openblas)
    return source, library


def prefix_header(library: Path, path: Path) -> Path:
    """``#define cblas_x scipy_cblas_x`` for every CBLAS function the library exports."""
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], check=True, capture_output=True, text=True)
    names = sorted({line.split()[-1] for line in symbols.stdout.splitlines() if " scipy_cblas_" in line})
    if not names:
        raise RuntimeError(f"no scipy_cblas_* symbols in {library}")
    lines = [f"#define {name.removeprefix('scipy_')} {name}" for name in names]
    path.write_text("/* scipy-openblas32 prefixes its symbols with scipy_ */\n" + "\n".join(lines) + "\n")
    return path


def build(cache: Path, jobs: int) -> Path:
    work = cache / "build-dlib"
    work.mkdir(parents=True, exist_ok=True)
    source, library = fetch(work)
    header = prefix_header(library, work / "scipy_cblas_prefix.h")
    build_dir = work / f"build-{build_key()}"
    out = build_dir / "out"
    options = dict(CMAKE_OPTIONS)
    options.update(
        {
            "PYTHON_EXECUTABLE": sys.executable,
            "CMAKE_LIBRARY_OUTPUT_DIRECTORY": str(out),
            "cblas_lib": str(library),  # find_blas.cmake's OpenBLAS search, answered in advance
            # C too: find_blas.cmake's check for cblas_ddot is a C program.
            "CMAKE_C_FLAGS": f"-include {header}",
            "CMAKE_CXX_FLAGS": f"-include {header}",
            "CMAKE_SKIP_RPATH": "ON",
            # \$: the link command runs in a shell, which would expand $ORIGIN to nothing.
            "CMAKE_MODULE_LINKER_FLAGS": f"-Wl,-rpath,\\$ORIGIN/{LIBS_DIR}",
            "CMAKE_SHARED_LINKER_FLAGS": f"-Wl,-rpath,\\$ORIGIN/{LIBS_DIR}",
        }
    )
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", str(source / "tools" / "python"), "-B", str(build_dir), *generator]
        + [f"-D{key}={value}" for key, value in options.items()])
    cmakecache = (build_dir / "CMakeCache.txt").read_text()
    if "DLIB_USE_BLAS:STRING=ON" not in cmakecache and "DLIB_USE_BLAS:BOOL=ON" not in cmakecache:
        raise RuntimeError("cmake did not enable BLAS (see the cmake output above)")
    run(["cmake", "--build", str(build_dir), "--target", "_dlib_pybind11", "--parallel", str(jobs)])
    (module,) = out.glob("_dlib_pybind11*.so")
    return pack(module, out / "dlib" / "__init__.py", library, wheel_path(cache))


def pack(module: Path, init: Path, library: Path, target: Path) -> Path:
    """A wheel named ``dlib`` with the module, dlib/__init__.py and OpenBLAS beside them."""
    name, version = "dlib", target.name.split("-")[1]
    dist_info = f"{name}-{version}.dist-info"
    tag = target.name.removesuffix(".whl").split("-", 2)[2]
    files = {
        module.name: module.read_bytes(),
        "dlib/__init__.py": init.read_bytes(),
        f"{LIBS_DIR}/{library.name}": library.read_bytes(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: dlib {DLIB_VERSION} built with OpenBLAS ({OPENBLAS_WHEEL}) by bench/research_dlib_blas.py\n"
        ).encode(),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: facerec\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
        f"{dist_info}/top_level.txt": b"_dlib_pybind11\ndlib\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    partial.replace(target)
    log(f"wheel: {target}")
    return target


SMOKE = (
    "import dlib, numpy as np; assert dlib.DLIB_USE_BLAS, 'no BLAS';"
    "d = dlib.get_frontal_face_detector(); d(np.zeros((80, 80, 3), np.uint8), 1); print(dlib.__file__)"
)


def install(wheel: Path) -> bool:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    run([sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", "dlib-bin"])
    try:
        run(pip + ["--force-reinstall", str(wheel)])
        run([sys.executable, "-c", SMOKE])
        return True
    except subprocess.CalledProcessError:
        log("the BLAS build does not work here: back to dlib-bin")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", "dlib"], check=False)
        run(pip + ["--force-reinstall", "-c", "constraints.txt", "dlib-bin"])
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("FACEREC_CACHE", Path.home() / ".cache" / "facerec")))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--install", action="store_true", help="install the wheel in place of dlib-bin")
    args = parser.parse_args()
    wheel = wheel_path(args.cache)
    if wheel.exists():
        log(f"cached: {wheel}")
    else:
        try:
            wheel = build(args.cache, args.jobs)
        except (OSError, RuntimeError, subprocess.CalledProcessError, ValueError) as error:
            log(f"build failed ({error}); keeping dlib-bin")
            return 0 if args.install else 1
    if args.install:
        install(wheel)
    else:
        print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
