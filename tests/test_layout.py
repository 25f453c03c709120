"""The house keeps its shape: layers import only downwards, no import cycles, Ray in one module, config a leaf,
one package per job, thin entrypoints.

Read from the source with ``ast`` (nothing is imported), function-local imports included: a lazy import is still
a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipeline"

# Bottom to top. A module may import from its own layer's package and from the layers below, never above.
LAYERS: list[set[str]] = [
    {"pipeline.version", "pipeline.strict"},
    {"pipeline.config"},
    {"pipeline.provenance", "pipeline.packaged", "pipeline.translate"},
    {"pipeline.encoders", "pipeline.io"},
    {"pipeline.quality"},
    {"pipeline.engine"},
    {"pipeline.jobs"},
    {"pipeline.cli", "pipeline"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PIPELINE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (``from pkg import sub`` resolved to the submodule when it is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def package_of(module: str) -> str:
    """The layered package a module belongs to: ``pipeline.engine.worker`` -> ``pipeline.engine``."""
    for layer in LAYERS:
        for package in sorted(layer, key=len, reverse=True):
            if package != "pipeline" and (module == package or module.startswith(package + ".")):
                return package
    return "pipeline"


def layer_of(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package_of(module) in layer)


def test_every_pipeline_module_has_a_layer():
    assert all(package_of(module) in set.union(*LAYERS) for module in MODULES)
    top_level = sorted(path.name for path in PIPELINE.glob("*.py"))
    assert len(top_level) <= 8, top_level


def test_layers_import_only_downwards():
    upward = []
    for module, path in MODULES.items():
        for target in imports_of(path):
            if not target.startswith("pipeline"):
                continue
            same_package = package_of(target) == package_of(module)
            if layer_of(target) > layer_of(module) or (layer_of(target) == layer_of(module) and not same_package):
                upward.append(f"{module} -> {target}")
    assert not upward, upward


def test_no_import_cycles():
    graph = {module: {t for t in imports_of(path) if t in MODULES and t != module} for module, path in MODULES.items()}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [module, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_only_the_ray_pool_imports_ray():
    users = sorted(
        module
        for module, path in MODULES.items()
        if any(name == "ray" or name.startswith("ray.") for name in imports_of(path))
    )
    assert users == ["pipeline.engine.ray_pool"]


def test_math_core_and_encoders_do_no_storage_io():
    storage = ("ray", "fsspec", "pyarrow")
    offenders = {
        module: sorted(n for n in imports_of(path) if n.split(".")[0] in storage)
        for module, path in MODULES.items()
        if package_of(module) in ("pipeline.translate", "pipeline.encoders")
    }
    # Image items may be paths or URLs, which the image decoder reads through fsspec: the one allowed read.
    offenders.pop("pipeline.encoders.images")
    assert not any(offenders.values()), offenders


def test_config_is_a_leaf_that_imports_only_the_strict_builder():
    imported = {
        target
        for module, path in MODULES.items()
        if package_of(module) == "pipeline.config"
        for target in imports_of(path)
        if target.startswith("pipeline") and not target.startswith("pipeline.config")
    }
    assert imported == {"pipeline.strict"}


def test_the_engine_imports_no_job_and_no_job_imports_the_ray_pool():
    engine_uses_jobs = sorted(
        f"{module} -> {target}"
        for module, path in MODULES.items()
        if package_of(module) == "pipeline.engine"
        for target in imports_of(path)
        if target.startswith("pipeline.jobs")
    )
    assert not engine_uses_jobs
    jobs_use_the_pool = sorted(
        module
        for module, path in MODULES.items()
        if package_of(module) == "pipeline.jobs" and "pipeline.engine.ray_pool" in imports_of(path)
    )
    assert not jobs_use_the_pool


def test_every_job_lives_in_one_package_of_its_own_name():
    from pipeline.jobs import JOBS

    packages = {path.name for path in (PIPELINE / "jobs").iterdir() if (path / "__init__.py").exists()}
    assert packages == set(JOBS)
    loose = {path.name for path in (PIPELINE / "jobs").glob("*.py")} - {"__init__.py", "entry.py"}
    assert not loose
    # A feature's code lives in its package: no module elsewhere is named after one (sync, nightly, bench, evaluat).
    strays = sorted(
        module
        for module in MODULES
        if not module.startswith("pipeline.jobs.")
        and any(word in module.rsplit(".", 1)[-1] for word in ("sync", "nightly", "bench", "evaluat"))
    )
    assert not strays


def test_job_entrypoints_are_thin_and_match_the_job_packages():
    from pipeline.jobs import JOBS

    entrypoints = {path.stem: path for path in (REPO / "jobs").glob("*.py") if path.stem != "__init__"}
    # reembed_nightly.py is the sync job's entry point under the nightly job's submitted name.
    assert set(entrypoints) == {*JOBS, "reembed_nightly"}
    for name, path in entrypoints.items():
        assert len(path.read_text().splitlines()) <= 15, path
        package = "sync" if name == "reembed_nightly" else name
        assert imports_of(path) == {"sys", f"pipeline.jobs.{package}"}, path


def test_tests_mirror_the_package_with_unique_names():
    tests = REPO / "tests"
    folders = {path.parent.relative_to(tests) for path in tests.rglob("test_*.py")}
    # tests/<package>/... holds the tests of pipeline/<package>/...; tests/support/ holds helpers, never tests.
    strays = sorted(str(folder) for folder in folders if str(folder) != "." and not (PIPELINE / folder).is_dir())
    assert not strays, f"test folders with no package of that name under pipeline/: {strays}"
    assert not list((tests / "support").glob("test_*.py"))
    names = [path.name for path in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)


def test_the_markers_make_test_fast_selects_by_are_declared_strictly():
    import tomllib

    pytest_options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = {marker.split(":")[0] for marker in pytest_options["markers"]}
    assert declared == {"ray", "pg", "real", "slow", "gpu"} and "--strict-markers" in pytest_options["addopts"]
    fast = next(line for line in (REPO / "Makefile").read_text().splitlines() if "$(XDIST) -m" in line)
    assert all(f"not {marker}" in fast for marker in declared), fast
