"""Docstring sections shared by several losses, pasted in where a line reads ``@NAME``."""


def shared_sections(**sections):
    def decorate(function):
        doc = function.__doc__
        if doc is None:  # python -OO strips docstrings
            return function
        for name, text in sections.items():
            doc = doc.replace(f"@{name}\n", text)
        function.__doc__ = doc
        return function

    return decorate
