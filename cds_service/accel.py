"""Optional compiled build of the CQL engine's hot modules (Cython), used only when it matches the source.

The engine is plain Python and always runs as such. `cds-service accel build` compiles the modules listed in
`MODULES` with Cython, unchanged (no Cython-specific code, Python semantics kept: annotations are not used
as C types), into a folder named by a digest of their source text and of the interpreter's ABI. At start-up
`install()` puts a finder in front of the normal import system that loads a compiled module only from the
folder whose digest matches the source on disk: editing any of the modules makes the build invisible until it
is rebuilt, so a stale build can never run. Where there is no matching build, the pure-Python modules load
as usual.

`CDS_CQL_ACCEL` chooses: `auto` (default: compiled when a matching build exists), `off` (always pure Python),
`require` (fail at start-up without a matching build: for deployments and benchmarks that must measure it).
`CDS_CQL_ACCEL_DIR` is where builds live (default `$XDG_CACHE_HOME/cds-service/accel`, else
`~/.cache/cds-service/accel`). Builds hold compiled code only, no patient data.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE_ROOT = Path(__file__).resolve().parent
# The hot path of a hook call: the engine's compiled closures, queries, operators, values and model, the
# indexed record, prefetch handling and the vertebral service's own Python (orders, findings). Modules that
# parse CQL (pyparsing), define the pickled AST, or declare pydantic models stay pure Python; a compiled
# module must not locate files through `__file__` (its file is the build's, not the package's).
MODULES: tuple[str, ...] = (
    "cds_service.cql.compiler",
    "cds_service.cql.library",
    "cds_service.cql.fhirmodel",
    "cds_service.cql.query",
    "cds_service.cql.functions",
    "cds_service.cql.dispatch",
    "cds_service.cql.logic",
    "cds_service.cql.operators.aggregate",
    "cds_service.cql.operators.arithmetic",
    "cds_service.cql.operators.comparison",
    "cds_service.cql.operators.conversion",
    "cds_service.cql.operators.intervals",
    "cds_service.cql.operators.list",
    "cds_service.cql.operators.nullological",
    "cds_service.cql.operators.string",
    "cds_service.cql.operators.temporal",
    "cds_service.cql.types.equality",
    "cds_service.cql.types.guard",
    "cds_service.cql.types.ucum",
    "cds_service.cql.types.uncertainty",
    "cds_service.cql.types.values",
    "cds_service.fhir.record",
    "cds_service.fhir.client",
    "cds_service.hooks.invoke",
    "cds_service.hooks.prefetch",
    "cds_service.services.vertebral.cards",
    "cds_service.services.vertebral.engine",
    "cds_service.services.vertebral.findings",
    "cds_service.services.vertebral.logic",
    "cds_service.services.vertebral.orders",
)
MODES = ("auto", "off", "require")
MANIFEST = "manifest.json"


class AccelError(RuntimeError):
    """The compiled build is required but missing, or cannot be built."""


def source_path(module: str) -> Path:
    parts = module.split(".")
    assert parts[0] == "cds_service"
    return PACKAGE_ROOT.joinpath(*parts[1:]).with_suffix(".py")


def digest() -> str:
    """Digest of the compiled modules' source text and of the interpreter ABI the build is for."""
    h = hashlib.sha256()
    h.update(sys.implementation.cache_tag.encode())
    h.update(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    for module in MODULES:
        h.update(module.encode())
        h.update(source_path(module).read_bytes())
    return h.hexdigest()[:20]


def accel_root() -> Path:
    configured = os.environ.get("CDS_CQL_ACCEL_DIR", "").strip()
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cds-service" / "accel"


def build_folder() -> Path:
    return accel_root() / digest()


def mode() -> str:
    value = os.environ.get("CDS_CQL_ACCEL", "auto").strip().lower() or "auto"
    if value not in MODES:
        raise AccelError(f"CDS_CQL_ACCEL must be one of {', '.join(MODES)}, not {value!r}")
    return value


def _matching_build() -> dict[str, Path] | None:
    """module -> compiled file of the build that matches the current source, or None."""
    folder = build_folder()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("digest") != folder.name or sorted(manifest.get("modules", {})) != sorted(MODULES):
        return None
    paths = {m: folder / rel for m, rel in manifest["modules"].items()}
    return paths if all(p.is_file() for p in paths.values()) else None


class _CompiledFinder(importlib.abc.MetaPathFinder):
    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        compiled = self.paths.get(fullname)
        if compiled is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(compiled))
        return importlib.util.spec_from_file_location(fullname, str(compiled), loader=loader)


_STATUS: dict[str, str] = {"state": "not installed"}


def install() -> str:
    """Load the compiled modules (when a matching build exists and the mode allows); returns a status line.

    Must run before any of `MODULES` is imported (cds_service/__init__.py calls it). Never raises: a
    required build that is missing is reported by `check_required()`, called where the service starts."""
    if any(isinstance(f, _CompiledFinder) for f in sys.meta_path):
        return _STATUS["state"]
    try:
        chosen = mode()
    except AccelError as exc:
        _STATUS["state"], _STATUS["error"] = "pure Python (invalid CDS_CQL_ACCEL)", str(exc)
        return _STATUS["state"]
    if chosen == "off":
        _STATUS["state"] = "off (CDS_CQL_ACCEL=off): pure Python"
        return _STATUS["state"]
    paths = _matching_build()
    if paths is None:
        if chosen == "require":
            _STATUS["error"] = (f"CDS_CQL_ACCEL=require but there is no compiled engine for this source in "
                                f"{build_folder()}: run `cds-service accel build`")
        _STATUS["state"] = "no matching build: pure Python (`cds-service accel build` compiles the engine)"
        return _STATUS["state"]
    already = [m for m in MODULES if m in sys.modules]
    if already:
        # Too late to swap them: keep pure Python rather than mixing two copies of a module's classes.
        if chosen == "require":
            _STATUS["error"] = f"compiled engine requested after {already[0]} was imported"
        _STATUS["state"] = "pure Python (engine imported before the compiled build was installed)"
        return _STATUS["state"]
    sys.meta_path.insert(0, _CompiledFinder(paths))
    _STATUS["state"] = f"compiled ({len(paths)} modules, build {build_folder().name})"
    return _STATUS["state"]


def status() -> str:
    return _STATUS["state"]


def check_required() -> None:
    """Raise AccelError when CDS_CQL_ACCEL is invalid, or is `require` and the compiled engine is not in use."""
    if "error" in _STATUS:
        raise AccelError(_STATUS["error"])


def active() -> bool:
    """True when the engine's modules in use are the compiled ones."""
    compiler = sys.modules.get("cds_service.cql.compiler")
    return compiler is not None and isinstance(getattr(compiler, "__loader__", None),
                                               importlib.machinery.ExtensionFileLoader)


def build(*, jobs: int | None = None, quiet: bool = True) -> Path:
    """Compile `MODULES` with Cython into the folder for the current digest (idempotent, atomic)."""
    target = build_folder()
    if _matching_build() is not None:
        return target
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension  # type: ignore[import-untyped]
    except ImportError as exc:
        raise AccelError("building the compiled engine needs Cython and setuptools: "
                         "pip install 'cds-service[accel]'") from exc
    jobs = jobs or os.cpu_count() or 1
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cds-accel-") as tmp:
        work = Path(tmp)
        src = work / "src"
        # The sources with their package folders (and __init__.py), so Cython names each module by its full
        # dotted name; the package itself is not copied beyond what is compiled.
        for module in MODULES:
            parts = module.split(".")
            for depth in range(1, len(parts)):
                init = src.joinpath(*parts[:depth], "__init__.py")
                init.parent.mkdir(parents=True, exist_ok=True)
                init.touch()
            dest = src.joinpath(*parts).with_suffix(".py")
            shutil.copyfile(source_path(module), dest)
        # -w: the generated C draws gcc's array-bounds warnings on CPython's own inline helpers; they are noise.
        extensions = [Extension(m, [str(src.joinpath(*m.split(".")).with_suffix(".py"))], extra_compile_args=["-w"])
                      for m in MODULES]
        previous = os.getcwd()
        os.chdir(src)
        try:
            compiled = cythonize(  # type: ignore[no-untyped-call]
                extensions, nthreads=jobs, quiet=quiet, build_dir=str(work / "c"),
                compiler_directives={"language_level": 3, "binding": True, "annotation_typing": False,
                                     "embedsignature": False},
            )
            dist = Distribution({"ext_modules": compiled, "script_name": "cds-service-accel"})
            cmd = dist.get_command_obj("build_ext")
            out = work / "out"
            cmd.build_lib = str(out)
            cmd.build_temp = str(work / "tmp")
            cmd.parallel = jobs
            cmd.ensure_finalized()
            cmd.run()
        finally:
            os.chdir(previous)
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        modules: dict[str, str] = {}
        for module in MODULES:
            rel = Path(*module.split(".")).with_name(module.split(".")[-1] + suffix)
            if not (out / rel).is_file():
                raise AccelError(f"the build produced no {rel}")
            modules[module] = str(rel)
        (out / MANIFEST).write_text(json.dumps({"digest": target.name, "modules": modules}, indent=1),
                                    encoding="utf-8")
        staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(out, staging)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another build won the race: theirs is identical
    return target


# -- command line: `cds-service accel {build,status}` ------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build", "status"),
                        help="build: compile the engine for this source (idempotent); status: what would load")
    parser.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: CPUs)")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        try:
            folder = build(jobs=args.jobs, quiet=True)
        except AccelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"compiled engine ready: {folder}")
        return 0
    matching = _matching_build() is not None
    print(f"mode: {mode()}; build for this source: {'present' if matching else 'absent'} ({build_folder()}); "
          f"this process: {status()}")
    return 0
