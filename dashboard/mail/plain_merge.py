"""Templates that are only text and `{{ name }}` placeholders (nearly every mail merge), filled
without running Jinja's generated code: each placeholder yields the value as it is, or in an
HTML body escaped, which is what that code yields for a name; nothing else differs.

Only values that are strings, all present, filling a message that cannot pass the size limit
are filled here. Anything else (a missing variable, a number, a message near the limit) is left
to Jinja, so its errors and limits stay the one way they are written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter

from jinja2 import nodes
from markupsafe import escape

from dashboard.mail.layout import Filled, Layout


def layout_of(tree: nodes.Template) -> Layout | None:
    """The template as literals and names, if it is nothing else (adjacent text, split by a
    comment, joins up as Jinja joins it)."""
    literals, names = [""], []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                literals[-1] += child.data
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                names.append(child.name)
                literals.append("")
            else:
                return None
    return Layout(literals, names)


def _values_of(names: tuple[str, ...]) -> Callable[[Mapping[str, str]], tuple[str, ...]]:
    """A function from a mapping to the values of `names`, in order, as a tuple."""
    if len(names) > 1:
        return itemgetter(*names)  # type: ignore[return-value]
    if names:
        [name] = names
        return lambda values: (values[name],)
    return lambda values: ()


class PlainMerge:
    """The subject and bodies of a template that is only text and placeholders."""

    def __init__(self, subject: Layout, text: Layout, html: Layout | None) -> None:
        self.subject, self.text, self.html = subject, text, html
        self._subject_values = _values_of(subject.names)
        self._text_values = _values_of(text.names)
        self._html_names = frozenset(html.names if html else ())
        self._html_values = _values_of(html.names if html else ())
        self._names = frozenset(subject.names + text.names) | self._html_names
        self._size = subject.size + text.size + (html.size if html else 0)

    def fill(
        self, values: Mapping[str, str], max_chars: int
    ) -> tuple[str, Filled, Filled | None] | None:
        """The subject and the bodies for these values; None where Jinja must say what happens
        (a value missing or not a string, or more than `max_chars` characters in all)."""
        for name in self._names:
            if type(values.get(name)) is not str:
                return None
        subject = self._subject_values(values)
        text = self._text_values(values)
        size = self._size + sum(map(len, subject)) + sum(map(len, text))
        html = None
        if self.html is not None:
            escaped = {name: str(escape(values[name])) for name in self._html_names}
            html = self._html_values(escaped)
            size += sum(map(len, html))
        if size > max_chars:
            return None
        return (
            self.subject.fill(subject),
            Filled(self.text, text),
            None if html is None else Filled(self.html, html),  # type: ignore[arg-type]
        )
