"""The datasets depend on the data stage only, so that the library above them can import them, never the reverse."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_builders_import_nothing_of_retina_tf_but_its_data_stage():
    modules = [path for path in ROOT.rglob("*.py") if not path.name.endswith("_test.py")]
    assert len(modules) >= 6
    for path in modules:
        outside = sorted(name for name in _imports(path)
                         if name.startswith("retina_tf") and not name.startswith("retina_tf.data."))
        assert not outside, f"{path.relative_to(ROOT)} imports {outside}"
