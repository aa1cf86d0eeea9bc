"""The packages depend one way, in the order the data flows: a module imports its own package or a lower one.

Read from the source (every import, the late ones too), so the rule holds
for imports that only run inside a command.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Lowest first. The package root (its constants) and utils are below everything; a package may import any
# package on a lower line. evaluation (metrics in numpy) sits below tasks, whose validation computes them.
LAYERS = (
    ("retina_tf", "retina_tf.utils"),
    ("retina_tf.data",),
    ("tfds_eophtha", "retina_tf.datasets"),
    ("retina_tf.configs",),
    ("retina_tf.ops",),
    ("retina_tf.dataloaders",),
    ("retina_tf.modeling",),
    ("retina_tf.evaluation",),
    ("retina_tf.tasks", "retina_tf.registry_imports"),
    ("retina_tf.serving",),
    ("retina_tf.engine",),
    ("retina_tf.workflows",),
    ("retina_tf.commands",),
    ("retina_tf.testing",),
)
# Model Garden's rule: only what runs a task registers it (its train.py and export scripts); here the engine's
# loops, its checkpoint averaging (which builds the task's model to read checkpoints into), and the testing
# helpers that build models for tests and benchmarks.
REGISTRY_IMPORTERS = ("retina_tf.engine.train_lib", "retina_tf.engine.evaluate_lib", "retina_tf.engine.averaging",
                      "retina_tf.testing.serving")
# retina_tf.evaluation's promise: a notebook scores its own predictions without TensorFlow.
WITHOUT_TENSORFLOW = "retina_tf.evaluation"


def _module_name(path: pathlib.Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _sources() -> dict[str, pathlib.Path]:
    paths = [*ROOT.glob("retina_tf/**/*.py"), *ROOT.glob("tfds_eophtha/**/*.py")]
    return {_module_name(path): path for path in paths
            if not path.name.endswith("_test.py") and path.name != "conftest.py" and "dummy_data" not in path.parts}


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _layer(module: str) -> int | None:
    """The line of LAYERS holding the module's longest matching package, None outside the project."""
    best = None
    for index, packages in enumerate(LAYERS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                if best is None or len(package) > len(best[1]):
                    best = (index, package)
    return None if best is None else best[0]


SOURCES = _sources()
IMPORTS = {module: _imports(path) for module, path in SOURCES.items()}


def test_every_module_has_a_layer():
    assert [module for module in SOURCES if _layer(module) is None] == []


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_a_module_imports_only_its_layer_or_lower(module):
    upward = sorted(name for name in IMPORTS[module] if name in SOURCES and _layer(name) > _layer(module))
    assert upward == [], f"{module} imports from a higher layer"


def test_only_what_runs_a_task_imports_the_registry():
    importers = sorted(module for module, names in IMPORTS.items() if "retina_tf.registry_imports" in names)
    assert [module for module in importers if module not in REGISTRY_IMPORTERS] == []


def test_the_metrics_package_needs_no_tensorflow():
    reached, pending = set(), [WITHOUT_TENSORFLOW]
    while pending:
        module = pending.pop()
        if module in reached:
            continue
        reached.add(module)
        pending.extend(name for name in IMPORTS[module] if name in SOURCES)
    heavy = sorted(module for module in reached
                   if any(name.split(".")[0] in ("tensorflow", "tf_keras", "official") for name in IMPORTS[module]))
    assert heavy == [], f"{WITHOUT_TENSORFLOW} reaches TensorFlow through these"
