"""Build dlib 20.0.1 against OpenBLAS for this CPU, cache the wheel, and install it in place of
dlib-bin (``make install`` runs ``--install``; ``DLIB_BUILD=0 make install`` keeps dlib-bin).

    python deploy/build_dlib.py [--install] [--cache DIR] [--jobs N]

Why: the ``dlib-bin`` wheel has no BLAS, and dlib's ResNet does its convolutions as matrix
products, which OpenBLAS does several times faster; the same network and weights, so the vectors
agree to float noise (tests/faces/test_floor_build.py: boxes identical, every component within
1e-4; measured 3.9e-7 over the 68 faces of the test photos). On
bench/data/photo_1600.jpg (640 px, HOG with one upsampling step) the ResNet takes 20-37 ms against
dlib-bin's 104-181 ms, and the HOG detector exactly as long as dlib-bin's (best of 20 interleaved
runs: 110 vs 110-113 ms), so detect + embed is about 0.55-0.65x dlib-bin's (README, Benchmarks).

How, so that a fresh machine needs no system package beyond a C++ compiler, cmake and ninja (all
three in this machine image), and the build stays short (~6 min on 2 idle cores, once):
- OpenBLAS is the ``scipy-openblas32`` wheel's library (no apt, no root). Its symbols carry a
  ``scipy_`` prefix, so a forced-include header renames dlib's ``cblas_*`` calls; the library is
  copied into the wheel (``dlib_blas.libs/``) and found through an ``$ORIGIN`` rpath. One BLAS
  thread per process (facerec/settings.py sets ``OPENBLAS_NUM_THREADS=1``).
- LAPACK stays off (dlib's own SVD, as in dlib-bin): dlib calls LAPACK for the SVD that turns the
  HOG detector's filters into separable ones, and LAPACK's tiny rounding differences there must not
  change which filters the detector runs.
- ``-mavx2 -mfma`` where the CPU has them (cpu_flags): with dlib's AVX option alone the HOG
  detector was 2x slower than dlib-bin's, which had made an earlier BLAS build a loss overall.
- Only the parts of the Python module facerec calls (MODULE_PARTS), with ninja, no GUI, no
  GIF/WebP/JXL/SQLite/FFmpeg; Release (-O3, LTO).

The wheel is cached under ``$FACEREC_CACHE`` (default ``~/.cache/facerec``), keyed by this build's
settings and the CPU flags, so every later install (another clone, a new venv) reuses it.
``--install`` swaps it in only after a smoke test passes; where the build or the smoke test fails,
dlib-bin stays (it computes the same vectors, only slower).
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


def cpu_flags() -> list[str]:
    """Compiler flags for the instruction sets this CPU has beyond dlib's own AVX option.

    dlib's ``USE_AVX_INSTRUCTIONS`` means ``-mavx`` only: AVX1 has no 256-bit integer operations, so
    dlib's ``simd8i`` (the HOG detector's gradient and binning code) is emulated with 128-bit halves,
    which GCC 12 compiles into element-by-element inserts and extracts. That made the HOG detector
    ~2x slower than dlib-bin's (a standalone HOG run on bench/data/photo_1600.jpg with one upsampling
    step: ``-mavx`` 1,610 ms, ``-msse2`` 930 ms, ``-mavx2 -mfma`` 660-840 ms). The wheel is built on
    and for the machine that runs it, and the cache key carries these flags."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= flags else []


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
# The parts of dlib's Python module facerec calls (faces/, DeepFace's Dlib detector and recognizer):
# the HOG detector, the shape predictor, face chips, the ResNet, and the basic types they take and
# return. The other 16 source files (SVM and structural trainers, CCA, correlation tracker, the CNN
# detector, image processing bindings, ...) are two thirds of the compile time and are left out.
MODULE_PARTS = {
    "dlib": None,  # the module itself (src/dlib.cpp), which calls each part's bind_* function
    "matrix": "bind_matrix",
    "vector": "bind_vector",
    "basic": "bind_basic_types",
    "rectangles": "bind_rectangles",
    "object_detection": "bind_object_detection",
    "shape_predictor": "bind_shape_predictors",
    "face_recognition": "bind_face_recognition",
    "numpy_returns": "bind_numpy_returns",
}
# Bump when the way the wheel is made changes, so cached wheels of an older recipe are not reused.
RECIPE = "4"


def log(message: str) -> None:
    print(f"[build_dlib] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def build_key() -> str:
    options, parts = sorted(CMAKE_OPTIONS.items()), sorted(MODULE_PARTS)
    text = repr((RECIPE, DLIB_VERSION, OPENBLAS_WHEEL, options, parts, cpu_flags(), sys.version_info[:2]))
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


def trim_module(source: Path) -> Path:
    """A copy of dlib's ``tools/python`` beside it (its CMakeLists reaches dlib as ``../../dlib``)
    that builds only MODULE_PARTS."""
    python = source / "tools" / "python-facerec"
    if python.exists():
        shutil.rmtree(python)
    shutil.copytree(source / "tools" / "python", python)
    cmakelists = python / "CMakeLists.txt"
    text = cmakelists.read_text()
    start = text.index("set(python_srcs")
    end = text.index(")", start) + 1
    sources = "\n".join(f"   src/{part}.cpp" for part in MODULE_PARTS)
    text = text[:start] + f"set(python_srcs\n{sources}\n)" + text[end:]
    cmakelists.write_text(text)
    module = python / "src" / "dlib.cpp"
    lines = module.read_text().splitlines(keepends=True)
    kept = set(MODULE_PARTS.values())
    calls = [line for line in lines if line.strip().startswith("bind_") and line.strip().endswith("(m);")]
    if len(calls) < 20:
        raise RuntimeError(f"unexpected {module}: {len(calls)} bind_*(m) calls")
    module.write_text("".join(
        line for line in lines if line not in calls or line.strip().removesuffix("(m);") in kept
    ))
    return python


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
            "CMAKE_C_FLAGS": " ".join([f"-include {header}", *cpu_flags()]),
            "CMAKE_CXX_FLAGS": " ".join([f"-include {header}", *cpu_flags()]),
            "CMAKE_SKIP_RPATH": "ON",
            # \$: the link command runs in a shell, which would expand $ORIGIN to nothing.
            "CMAKE_MODULE_LINKER_FLAGS": f"-Wl,-rpath,\\$ORIGIN/{LIBS_DIR}",
            "CMAKE_SHARED_LINKER_FLAGS": f"-Wl,-rpath,\\$ORIGIN/{LIBS_DIR}",
        }
    )
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    python = trim_module(source)
    run(["cmake", "-S", str(python), "-B", str(build_dir), *generator]
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
            f"Summary: dlib {DLIB_VERSION} built with OpenBLAS ({OPENBLAS_WHEEL}) by deploy/build_dlib.py\n"
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


def installed(wheel: Path) -> bool:
    """Whether this very wheel is what ``import dlib`` loads (and dlib-bin is not installed over it)."""
    from importlib import metadata

    try:
        version = metadata.version("dlib")
    except metadata.PackageNotFoundError:
        return False
    try:
        metadata.version("dlib-bin")
    except metadata.PackageNotFoundError:
        return version == wheel.name.split("-")[1]
    return False


def install(wheel: Path) -> bool:
    if installed(wheel):
        log(f"installed: {wheel.name}")
        return True
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
