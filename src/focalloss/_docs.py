"""Docstring sections shared by several losses, pasted in where a line reads ``@NAME``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_Function = TypeVar("_Function", bound=Callable[..., Any])


def shared_sections(**sections: str) -> Callable[[_Function], _Function]:
    def decorate(function: _Function) -> _Function:
        doc = function.__doc__
        if doc is None:  # python -OO strips docstrings
            return function
        for name, text in sections.items():
            doc = doc.replace(f"@{name}\n", text)
        function.__doc__ = doc
        return function

    return decorate
