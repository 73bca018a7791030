"""Mail-merge templates: Jinja's SandboxedEnvironment with strict undefined, so an unknown
variable is an error named before sending, never a blank in 10,000 emails, and a template
cannot reach Python's internals."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    meta,
    nodes,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from dashboard.mail import syntax_errors
from dashboard.mail.plain_merge import PlainMerge, layout_of
from dashboard.mail.sentences import N_, english

# Why a template is refused, as msgids (the pages say them in the reader's language).
TOO_MANY_TOKENS = N_(
    "line %(line)s: an expression of more than %(count)s names, operators and values is too "
    "long for mail merge"
)
NUMBER_TOO_LONG = N_(
    "line %(line)s: a number of more than %(count)s digits is too long for mail merge"
)
NESTED_TOO_DEEP = N_(
    "line %(line)s: more than %(count)s levels of nesting is too deep for mail merge"
)
TOO_MANY_REFERENCES = N_(
    "line %(line)s: more than %(count)s variables and filters in one template is too many for "
    "mail merge"
)
UNKNOWN_FILTER = N_(
    "line %(line)s: the filter |%(filter)s is not available in mail merge (these are: %(allowed)s)"
)
FILTER_ARGUMENTS = N_("line %(line)s: the filter |%(filter)s takes no arguments here")
NOT_IN_MERGE = N_(
    "line %(line)s: mail merge has no %(what)s; use {{ column }}, filters like {{ name|title }} "
    "and {%% if column %%}...{%% endif %%}"
)
SYNTAX = N_("line %(line)s: %(problem)s")
TOO_COMPLEX = N_("the template is too complex for mail merge (%(error)s)")
TOO_LARGE = N_(
    "the message would be larger than %(limit)s bytes for this recipient (the limit is "
    "MERGE_MAX_RENDERED_BYTES); shorten the template or the values it repeats"
)
SANDBOX = N_("refused by the sandbox: %(error)s")
UNDEFINED = N_("the variable %(name)s is not defined")
NO_COLUMN = N_(
    "the template uses {{ %(name)s }} but the file has no column '%(column)s' (its columns: "
    "%(columns)s)"
)
NO_COLUMNS = N_("none")

# What ends a line for someone (CR LF, the other ASCII breaks, NEL, the Unicode separators).
_SUBJECT_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")

# Variables every merge offers besides the file's columns.
BUILTIN_VARIABLES = frozenset({"email", "unsubscribe_url"})
# A value no filter changes and no text holds (a private-use character): where it shows, the
# value was printed as it is.
_MARKER = "\ue000"

# A merge template is values, filters and conditions: its cost is linear in its own length.
# Loops, calls, arithmetic and sized filters could make one template cost hours or gigabytes
# for every recipient (`{% for %}` in `{% for %}`, `'x' * 10**9`, `|center(10**9)`).
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Concat,
    nodes.Keyword,
    # Arithmetic that cannot grow a string: + and - join or subtract, / and // divide.
    nodes.Add,
    nodes.Sub,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Neg,
    nodes.Pos,
)
_PLAIN_FILTERS = frozenset(
    {
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "striptags",
        "e",
        "int",
        "float",
        "abs",
        "length",
    }
)
_FILTERS_WITH_ARGUMENTS = frozenset({"default", "d", "escape"})
# What mail merge has not; the prose ones are msgids (one with a % sign cannot be).
_NODE_WORDS = {
    nodes.For: "{% for %} loops",
    nodes.Call: N_("calls like range() or .format()"),
    nodes.Mul: N_("the * operator"),
    nodes.Pow: N_("the ** operator"),
    nodes.Mod: "the % operator",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Extends: "{% extends %}",
    nodes.Macro: "{% macro %}",
    nodes.Assign: "{% set %}",
}

# For `stored_texts.translated`: the general "line N: problem" after the particular ones, then
# the syntax errors it holds (which start with a value, and would take "line N: " for theirs).
SENTENCES = (
    TOO_MANY_TOKENS,
    NUMBER_TOO_LONG,
    NESTED_TOO_DEEP,
    TOO_MANY_REFERENCES,
    UNKNOWN_FILTER,
    FILTER_ARGUMENTS,
    NOT_IN_MERGE,
    TOO_COMPLEX,
    TOO_LARGE,
    SANDBOX,
    UNDEFINED,
    NO_COLUMN,
    NO_COLUMNS,
    *(words for words in _NODE_WORDS.values() if "%" not in words),
    SYNTAX,
    *syntax_errors.SENTENCES,
)


# What one message may render to (subject and bodies together) unless the caller says otherwise;
# the app passes MERGE_MAX_RENDERED_BYTES. Rendering stops as soon as the output passes it.
DEFAULT_MAX_RENDERED_BYTES = 1024 * 1024

# A template's shape is bounded before Jinja parses it: Jinja's parser and code generator recurse
# once per nesting level (500 nested parentheses, 200 nested {% if %} or a 20,000-term `+` chain
# exhaust Python's stack or its 100 levels of indentation), and a 5,000-digit number passes
# Python's limit on converting digits to an int. Past these a template is refused by name.
MAX_NUMBER_DIGITS = 20
MAX_NESTING = 16  # {% if %} inside {% if %}, or ( [ { inside one another, within a tag
MAX_TAG_TOKENS = 100  # names, operators and values inside one {{ }} or {% %}
MAX_REFERENCES = 2000  # names (variables, filters, tests) in one field
_BLOCK_OPENERS = frozenset(
    {"if", "for", "macro", "call", "filter", "block", "with", "autoescape", "trans"}
)
_BRACKETS = {"(": ")", "[": "]", "{": "}"}


class _MergeSandbox(SandboxedEnvironment):
    """The sandbox, and no methods: `{{ email.format }}` or `{{ name['upper'] }}` is a refusal,
    not a function's repr with its memory address. A merge needs values, never their methods."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._value_only(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._value_only(obj, str(argument), super().getitem(obj, argument))

    def _value_only(self, obj: Any, name: str, value: Any) -> Any:
        if callable(value) and not isinstance(value, Undefined):
            return self.unsafe_undefined(obj, name)
        return value


def _environment(*, html: bool) -> SandboxedEnvironment:
    # HTML bodies escape the values put into them: a name cannot inject markup.
    environment = _MergeSandbox(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True
    )
    environment.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict
    return environment


def _refuse_complex_shape(environment: SandboxedEnvironment, source: str, field: str) -> None:
    """TemplateProblem, naming the line, for a template too deep, too long or too big for Jinja's
    recursive parser; one pass over the lexer's tokens, which uses no recursion."""
    blocks = 0
    brackets: list[str] = []
    tag_tokens = references = 0
    tag_start: str | None = None
    for lineno, kind, value in environment.lexer.tokeniter(source, None):
        if kind in ("variable_begin", "block_begin"):
            tag_tokens, tag_start, brackets = 0, None, []
            continue
        if kind in ("variable_end", "block_end", "whitespace", "data"):
            continue
        tag_tokens += 1
        if tag_tokens > MAX_TAG_TOKENS:
            raise TemplateProblem(
                field, english(TOO_MANY_TOKENS, line=lineno, count=MAX_TAG_TOKENS)
            )
        if kind in ("integer", "float") and len(value) > MAX_NUMBER_DIGITS:
            raise TemplateProblem(
                field, english(NUMBER_TOO_LONG, line=lineno, count=MAX_NUMBER_DIGITS)
            )
        if kind == "operator" and value in _BRACKETS:
            brackets.append(value)
        elif kind == "operator" and brackets and value == _BRACKETS[brackets[-1]]:
            brackets.pop()
        elif kind == "name":
            references += 1
            if tag_start is None:  # the tag's first word: if, endif, for...
                tag_start = value
                if value in _BLOCK_OPENERS or value == "set":
                    blocks += 1
                elif value.startswith("end"):
                    blocks -= 1
        if kind == "operator" and value == "=" and tag_start == "set":
            blocks -= 1  # `{% set x = 1 %}` opens no block, `{% set x %}...{% endset %}` does
            tag_start = "set="
        if blocks > MAX_NESTING or len(brackets) > MAX_NESTING:
            raise TemplateProblem(field, english(NESTED_TOO_DEEP, line=lineno, count=MAX_NESTING))
        if references > MAX_REFERENCES:
            raise TemplateProblem(
                field, english(TOO_MANY_REFERENCES, line=lineno, count=f"{MAX_REFERENCES:,}")
            )


def _refuse_costly_parts(tree: nodes.Template, field: str) -> None:
    """TemplateProblem for anything beyond values, filters and conditions, naming the line."""
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Filter) and node.name not in _PLAIN_FILTERS:
            if node.name not in _FILTERS_WITH_ARGUMENTS:
                allowed = ", ".join(sorted(_PLAIN_FILTERS | _FILTERS_WITH_ARGUMENTS))
                raise TemplateProblem(
                    field,
                    english(UNKNOWN_FILTER, line=node.lineno, filter=node.name, allowed=allowed),
                )
        elif isinstance(node, nodes.Filter) and (node.args or node.kwargs):
            raise TemplateProblem(
                field, english(FILTER_ARGUMENTS, line=node.lineno, filter=node.name)
            )
        if not isinstance(node, _ALLOWED_NODES):
            words = next(
                (english(text) for kind, text in _NODE_WORDS.items() if isinstance(node, kind)),
                f"'{type(node).__name__}' expressions",
            )
            raise TemplateProblem(field, english(NOT_IN_MERGE, line=node.lineno, what=words))


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


class TemplateProblem(ValueError):
    """A template that cannot be used, with the field it is in ("subject", "text", "html")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def each(self) -> tuple[TemplateProblem, ...]:
        """Every problem this stands for, one a field."""
        return (self,)


class TemplateProblems(TemplateProblem):
    """Problems in several parts of a template, each a TemplateProblem; read alone, the first."""

    def __init__(self, problems: Sequence[TemplateProblem]) -> None:
        super().__init__(problems[0].field, str(problems[0]))
        self.problems = tuple(problems)

    def each(self) -> tuple[TemplateProblem, ...]:
        return self.problems


@dataclass(frozen=True)
class RenderedContent:
    """A recipient's subject, and each body as the pieces the template yielded: its literal
    text (one of `MergeTemplate.literals`, the same for every recipient) between the values."""

    subject: str
    text_pieces: Iterable[str]
    html_pieces: Iterable[str] | None

    @property
    def text(self) -> str:
        return "".join(self.text_pieces)

    @property
    def html(self) -> str | None:
        return None if self.html_pieces is None else "".join(self.html_pieces)


@dataclass(frozen=True)
class MergeTemplate:
    """The compiled subject and bodies of a campaign, rendered once per recipient."""

    subject: Template
    text: Template
    html: Template | None
    variables: frozenset[str]
    #: The bodies' literal text, as each rendering yields it between the values: what the mail
    #: builder can encode once for every recipient.
    literals: frozenset[str] = frozenset()
    #: For a template of nothing but text and {{ name }}: the same rendering without Jinja.
    plain: PlainMerge | None = None

    def blank_when_empty(self, variable: str) -> bool:
        """Whether an empty `variable` leaves a blank where its value goes: a part (subject,
        text, HTML) prints it as it is, with no fallback (`{{ name or 'bạn' }}`, `{% if name
        %}`) for an empty one. Told by rendering it empty and as a marker, every other variable
        filled."""
        filled = dict.fromkeys(self.variables | BUILTIN_VARIABLES, "x")
        try:
            empty = self.render({**filled, variable: ""})
            marked = self.render({**filled, variable: _MARKER})
        except TemplateProblem:
            return True  # said where the template is refused, or at the send
        shown = zip(
            (marked.subject, marked.text, marked.html or ""),
            (empty.subject, empty.text, empty.html or ""),
            strict=True,
        )
        # A part that prints it, and prints nothing else for it when it is empty.
        return any(_MARKER in part and part.replace(_MARKER, "") == bare for part, bare in shown)

    def render(
        self, values: Mapping[str, str], *, max_bytes: int = DEFAULT_MAX_RENDERED_BYTES
    ) -> RenderedContent:
        """Render for one recipient; TemplateProblem names the field and what went wrong,
        including a message that would pass `max_bytes` (UTF-8, subject and bodies together):
        rendering stops there, so a 100 KB value used 500 times never costs 50 MB."""
        if self.plain is not None:
            filled = self.plain.fill(values, max_bytes // 4)  # 4 bytes a character at most
            if filled is not None:
                subject, text, html = filled
                return RenderedContent(_SUBJECT_LINE_BREAKS.sub(" ", subject), text, html)
        budget = _Budget(max_bytes)
        parts: list[list[str] | None] = []
        for field, template in (
            ("subject", self.subject),
            ("text", self.text),
            ("html", self.html),
        ):
            if template is None:
                parts.append(None)
                continue
            try:
                parts.append(budget.render(template, values, field))
            except TemplateProblem:
                raise
            except SecurityError as error:
                raise TemplateProblem(field, english(SANDBOX, error=error)) from None
            except TemplateError as error:
                raise TemplateProblem(field, _describe(error)) from None
            except Exception as error:  # a template is code a person wrote: any error is theirs
                raise TemplateProblem(field, f"{type(error).__name__}: {error}") from None
        subject_pieces, text_pieces, html_pieces = parts
        # A value with a line break must not start a new header: each break is a space; the
        # rest (runs of spaces, tabs, spaces at the ends) is sent as the file holds it.
        subject = _SUBJECT_LINE_BREAKS.sub(" ", "".join(subject_pieces or ()))
        return RenderedContent(subject, text_pieces or [], html_pieces)


class _Budget:
    """The UTF-8 bytes one message may still render to, counted as Jinja yields each piece.

    A piece of n characters is at most 4n bytes, so while four times the characters rendered
    fit the limit nothing is encoded to count; past that point each piece is counted exactly,
    and rendering stops at the piece that passes the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chars = 0
        self.exact: int | None = None  # bytes rendered, once counted exactly
        self.done: list[list[str]] = []

    def render(self, template: Template, values: Mapping[str, str], field: str) -> list[str]:
        pieces: list[str] = []
        keep = pieces.append
        chars, safe = self.chars, self.limit // 4
        # The compiled template's own generator: `Template.generate` adds a second generator
        # around it only to rewrite tracebacks, and every error here becomes a TemplateProblem.
        # `shared`: the values are read where they are, not copied with the (empty) globals.
        context = template.new_context(values, shared=True)
        stream: Iterator[str] = template.root_render_func(context)
        try:
            for piece in stream:
                keep(piece)
                chars += len(piece)
                if chars > safe:
                    self._count_exactly(pieces, field)
            self.chars = chars
        finally:
            stream.close()  # type: ignore[attr-defined]
        self.done.append(pieces)
        return pieces

    def _count_exactly(self, pieces: list[str], field: str) -> None:
        if self.exact is None:  # the first time: everything rendered before this piece
            self.exact = sum(_utf8_size(piece) for done in self.done for piece in done)
            self.exact += sum(_utf8_size(piece) for piece in pieces[:-1])
        self.exact += _utf8_size(pieces[-1])
        if self.exact > self.limit:
            raise TemplateProblem(field, english(TOO_LARGE, limit=f"{self.limit:,}"))


def _utf8_size(piece: str) -> int:
    return len(piece) if piece.isascii() else len(piece.encode("utf-8"))


def _describe(error: TemplateError) -> str:
    message = str(error.message if hasattr(error, "message") else error)
    if "has no attribute" in message and "'_" in message:
        return english(SANDBOX, error=message)
    if "is undefined" in message:
        return english(UNDEFINED, name=message.removesuffix(" is undefined"))
    return message


def compile_merge(subject: str, text: str, html: str | None) -> MergeTemplate:
    """Compile the three parts; TemplateProblem for a syntax error, naming field and line
    (TemplateProblems when more than one part has one)."""
    problems: list[TemplateProblem] = []
    compiled = []
    layouts = []
    variables: set[str] = set()
    for field, source, env in (
        ("subject", subject, _TEXT),
        ("text", text, _TEXT),
        ("html", html, _HTML),
    ):
        if source is None:
            compiled.append(None)
            continue
        try:
            _refuse_complex_shape(env, source, field)
            tree = env.parse(source)
            _refuse_costly_parts(tree, field)
            variables |= meta.find_undeclared_variables(tree)
            compiled.append(env.from_string(source))
            layouts.append(layout_of(tree))
        except TemplateSyntaxError as error:
            reworded = syntax_errors.reworded(error.message)
            problems.append(
                TemplateProblem(field, english(SYNTAX, line=error.lineno, problem=reworded))
            )
        except TemplateProblem as problem:
            problems.append(problem)
        except (RecursionError, SyntaxError, ValueError) as error:
            # The shape check above should catch these first; a shape it missed is still the
            # template's problem, never a 500.
            problems.append(
                TemplateProblem(field, english(TOO_COMPLEX, error=type(error).__name__))
            )
    if problems:
        raise problems[0] if len(problems) == 1 else TemplateProblems(problems)
    subject_template, text_template, html_template = compiled
    subject_layout, text_layout, *html_layout = layouts
    plain = None
    if subject_layout and text_layout and (html is None or html_layout[0]):
        plain = PlainMerge(subject_layout, text_layout, html_layout[0] if html_layout else None)
    return MergeTemplate(
        subject_template,
        text_template,
        html_template,
        variables=frozenset(variables),
        literals=_literals(text_template) | _literals(html_template),
        plain=plain,
    )


def _literals(template: Template | None) -> frozenset[str]:
    """The strings a compiled template yields as they are: Jinja compiles each run of literal
    text to one constant of its render function. (Other constants, variable names for one, are
    never yielded and cost nothing: the builder only looks strings up.)"""
    if template is None:
        return frozenset()
    constants = template.root_render_func.__code__.co_consts
    return frozenset(constant for constant in constants if isinstance(constant, str))


def check_merge(template: MergeTemplate, columns: Iterable[str]) -> list[TemplateProblem]:
    """Problems found before any row is read: variables with no column, and what the sandbox
    refuses (tried with every column set to a sample value)."""
    available = set(columns) | BUILTIN_VARIABLES
    missing = sorted(template.variables - available)
    problems = [
        TemplateProblem(
            "template",
            english(
                NO_COLUMN,
                name=name,
                column=name,
                columns=", ".join(sorted(set(columns))) or english(NO_COLUMNS),
            ),
        )
        for name in missing
    ]
    if problems:
        return problems
    try:
        template.render({name: "sample" for name in available})
    except TemplateProblem as problem:
        if "refused by the sandbox" in str(problem) or "not defined" in str(problem):
            problems.append(problem)
    return problems


def uses_merge_syntax(*sources: str | None) -> bool:
    """Whether any of the texts holds Jinja markup (then it is a template, not plain text)."""
    return any(source and ("{{" in source or "{%" in source) for source in sources)


_PLACEHOLDER = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_STATEMENT = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def readable_template(source: str) -> str:
    """A template as a title people read: each `{{ name }}` as the name in single angle
    quotation marks, statements and comments left out. For lists of campaigns, not sending."""
    return " ".join(_PLACEHOLDER.sub("\u2039\\1\u203a", _STATEMENT.sub("", source)).split())
