"""Text made of fixed literal segments with values between them: a merge template that is only
text and `{{ name }}` placeholders, which is what nearly every mail merge is. The merge fills it
with a recipient's values; the mail builder encodes its segments once (`quoted_printable`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


class Layout:
    """`literals[0]`, the value of `names[0]`, `literals[1]`, ..., `literals[-1]`.

    Compared by identity: one compiled template, one layout."""

    __slots__ = ("_format", "literals", "names", "size")

    def __init__(self, literals: Sequence[str], names: Sequence[str]) -> None:
        if len(literals) != len(names) + 1:
            raise ValueError("a layout has one literal more than it has values")
        self.literals = tuple(literals)
        self.names = tuple(names)
        self.size = sum(map(len, self.literals))  # characters
        self._format = "%s".join(literal.replace("%", "%%") for literal in self.literals)

    def fill(self, values: tuple[str, ...]) -> str:
        """The text with these values (one per name, in order) between the literals."""
        return self._format % values


class Filled:
    """A layout with one recipient's values: iterated, the pieces of the text in order."""

    __slots__ = ("layout", "values")

    def __init__(self, layout: Layout, values: tuple[str, ...]) -> None:
        self.layout = layout
        self.values = values

    def __iter__(self) -> Iterator[str]:
        literals = self.layout.literals
        yield literals[0]
        for value, literal in zip(self.values, literals[1:], strict=True):
            yield value
            yield literal

    def __str__(self) -> str:
        return self.layout.fill(self.values)
