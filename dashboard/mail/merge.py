"""Mail-merge templates: Jinja's SandboxedEnvironment with strict undefined, so an unknown
variable is an error named before sending, never a blank in 10,000 emails, and a template
cannot reach Python's internals."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

# What ends a line for someone (CR LF, the other ASCII breaks, NEL, the Unicode separators).
_SUBJECT_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")

# Variables every merge offers besides the file's columns.
BUILTIN_VARIABLES = frozenset({"email", "unsubscribe_url"})

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
_NODE_WORDS = {
    nodes.For: "{% for %} loops",
    nodes.Call: "calls like range() or .format()",
    nodes.Mul: "the * operator",
    nodes.Pow: "the ** operator",
    nodes.Mod: "the % operator",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Extends: "{% extends %}",
    nodes.Macro: "{% macro %}",
    nodes.Assign: "{% set %}",
}


def _environment(*, html: bool) -> SandboxedEnvironment:
    # HTML bodies escape the values put into them: a name cannot inject markup.
    environment = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True
    )
    environment.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict
    return environment


def _refuse_costly_parts(tree: nodes.Template, field: str) -> None:
    """TemplateProblem for anything beyond values, filters and conditions, naming the line."""
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Filter) and node.name not in _PLAIN_FILTERS:
            if node.name not in _FILTERS_WITH_ARGUMENTS:
                allowed = ", ".join(sorted(_PLAIN_FILTERS | _FILTERS_WITH_ARGUMENTS))
                raise TemplateProblem(
                    field,
                    f"line {node.lineno}: the filter |{node.name} is not available in mail "
                    f"merge (these are: {allowed})",
                )
        elif isinstance(node, nodes.Filter) and (node.args or node.kwargs):
            raise TemplateProblem(
                field, f"line {node.lineno}: the filter |{node.name} takes no arguments here"
            )
        if not isinstance(node, _ALLOWED_NODES):
            words = next(
                (text for kind, text in _NODE_WORDS.items() if isinstance(node, kind)),
                f"'{type(node).__name__}' expressions",
            )
            raise TemplateProblem(
                field,
                f"line {node.lineno}: mail merge has no {words}; use {{{{ column }}}}, "
                "filters like {{ name|title }} and {% if column %}...{% endif %}",
            )


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


class TemplateProblem(ValueError):
    """A template that cannot be used, with the field it is in ("subject", "text", "html")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RenderedContent:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class MergeTemplate:
    """The compiled subject and bodies of a campaign, rendered once per recipient."""

    subject: Template
    text: Template
    html: Template | None
    variables: frozenset[str]

    def render(self, values: Mapping[str, str]) -> RenderedContent:
        """Render for one recipient; TemplateProblem names the field and what went wrong."""
        parts = []
        for field, template in (
            ("subject", self.subject),
            ("text", self.text),
            ("html", self.html),
        ):
            if template is None:
                parts.append(None)
                continue
            try:
                parts.append(template.render(values))
            except SecurityError as error:
                raise TemplateProblem(field, f"refused by the sandbox: {error}") from None
            except TemplateError as error:
                raise TemplateProblem(field, _describe(error)) from None
            except Exception as error:  # a template is code a person wrote: any error is theirs
                raise TemplateProblem(field, f"{type(error).__name__}: {error}") from None
        subject, text, html = parts
        # A value with a line break must not start a new header: each break is a space; the
        # rest (runs of spaces, tabs, spaces at the ends) is sent as the file holds it.
        subject = _SUBJECT_LINE_BREAKS.sub(" ", subject)
        return RenderedContent(subject=subject, text=text, html=html)


def _describe(error: TemplateError) -> str:
    message = str(error.message if hasattr(error, "message") else error)
    if "has no attribute" in message and "'_" in message:
        return f"refused by the sandbox: {message}"
    if "is undefined" in message:
        return f"the variable {message.removesuffix(' is undefined')} is not defined"
    return message


def compile_merge(subject: str, text: str, html: str | None) -> MergeTemplate:
    """Compile the three parts; TemplateProblem for a syntax error, naming field and line."""
    compiled = []
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
            tree = env.parse(source)
            _refuse_costly_parts(tree, field)
            variables |= meta.find_undeclared_variables(tree)
            compiled.append(env.from_string(source))
        except TemplateSyntaxError as error:
            raise TemplateProblem(field, f"line {error.lineno}: {error.message}") from None
    return MergeTemplate(*compiled, variables=frozenset(variables))


def check_merge(template: MergeTemplate, columns: Iterable[str]) -> list[TemplateProblem]:
    """Problems found before any row is read: variables with no column, and what the sandbox
    refuses (tried with every column set to a sample value)."""
    available = set(columns) | BUILTIN_VARIABLES
    missing = sorted(template.variables - available)
    problems = [
        TemplateProblem(
            "template",
            f"the template uses {{{{ {name} }}}} but the file has no column '{name}' "
            f"(its columns: {', '.join(sorted(set(columns))) or 'none'})",
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
