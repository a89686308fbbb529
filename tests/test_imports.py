"""Importing the package or its NumPy layers must not import torch or any optional dependency."""

import subprocess
import sys

import pytest


def _modules_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("statement", ["import focalloss", "import focalloss.reference"])
def test_numpy_layers_do_not_import_torch(statement):
    assert "torch" not in _modules_after(statement)


def test_public_names_resolve_lazily():
    import focalloss

    for name in focalloss.__all__:
        assert getattr(focalloss, name) is not None
    assert set(focalloss.__all__) <= set(dir(focalloss))
    with pytest.raises(AttributeError, match="no_such_name"):
        focalloss.no_such_name


def test_type_checkers_see_every_public_name():
    """The ``if TYPE_CHECKING:`` imports of ``focalloss/__init__.py`` name what a type checker
    sees (the run-time names load lazily): exactly ``__all__``, no more, no fewer."""
    import ast
    import importlib

    import focalloss

    tree = ast.parse(open(focalloss.__file__).read())
    block = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = []
    for statement in block.body:
        for alias in statement.names:
            if alias.name == "*":
                seen += importlib.import_module(f"focalloss.{statement.module}").__all__
            else:
                assert alias.asname == alias.name  # the explicit re-export form
                seen.append(alias.name)
    assert sorted(seen) == sorted(focalloss.__all__)
