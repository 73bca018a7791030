"""The command line in the shell's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext
reads them): the verbs' help, their prompts, and click's own words (Usage, Options, errors).

Click turns an option's help into a plain string when the option is declared, at import, before
any language is known: `option` keeps the English msgid and translates it when help is shown.
Click words its own texts with the standard library's gettext in the default domain, which
`speak_shell_language` points at this project's catalogues.

Flask's own commands (run, shell, routes) and Flask-Migrate's `db` group are the libraries'
objects: `translate_library_commands` gives the texts `flask --help` and `flask db --help` list
(whose msgids are the libraries' own words) the same treatment. `flask run --help` and the like
stay English: Flask shows them without loading the app, so no code of this project runs first.
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import click
from flask.cli import routes_command, run_command, shell_command
from flask_babel import gettext
from flask_babel.speaklater import LazyString

from dashboard.mail.sentences import N_

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

# Click's own words that a person meets in `--help`, prompts and usage errors (its msgids).
CLICK_WORDS = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Show this message and exit."),
    N_("required"),
    N_("default: {default}"),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Missing option"),
    N_("Missing argument"),
    N_("Missing parameter"),
    N_("No such command {name!r}."),
    N_("No such option {name!r}."),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"),
    N_("Repeat for confirmation"),
    N_("Error: The two entered values do not match."),
    N_("Aborted!"),
    N_("{value!r} is not a valid {number_type}."),
)


# The one-line helps `flask --help` lists for Flask's commands, and `flask db --help` for
# Flask-Migrate's (their own texts, spaces collapsed; a text a new version changes is English).
LIBRARY_WORDS = (
    N_("Run a development server."),
    N_("Run a shell in the app context."),
    N_("Show the routes for the app."),
    N_("Perform database migrations."),
    N_('Migration script directory (default is "migrations")'),
    N_("Additional arguments consumed by custom env.py scripts"),
    N_("Show current branch points"),
    N_("Check if there are any new operations to migrate"),
    N_("Display the current revision for each database."),
    N_("Revert to a previous version"),
    N_("Edit a revision file"),
    N_("Show current available heads in the script directory"),
    N_("List changeset scripts in chronological order."),
    N_("Creates a new migration repository."),
    N_("List available templates."),
    N_("Merge two revisions together, creating a new revision file"),
    N_("Autogenerate a new revision file (Alias for 'revision --autogenerate')"),
    N_("Create a new revision file."),
    N_("Show the revision denoted by the given symbol."),
    N_("'stamp' the revision table with the given revision; don't run any migrations"),
    N_("Upgrade to a later version"),
)


def speak_shell_language() -> None:
    """Let click (and argparse) find their words in this project's catalogues."""
    stdlib_gettext.bindtextdomain("messages", str(TRANSLATIONS))


class TranslatedOption(click.Option):
    """An option whose help is a msgid, translated each time the help is shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        msgid = self.help
        self.help = gettext(msgid) if msgid else msgid
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = msgid


def option(*names: str, **attrs: Any) -> Callable[[Any], Any]:
    """`click.option` whose `help` (a msgid) is shown in the shell's language."""
    return click.option(*names, cls=TranslatedOption, **attrs)


_ENGLISH_HELP: WeakKeyDictionary[click.Parameter, str] = WeakKeyDictionary()


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def english_help(parameter: click.Parameter) -> str | None:
    """A library option's help as the library wrote it (before `translate_library_commands`)."""
    return _ENGLISH_HELP.get(parameter, getattr(parameter, "help", None))


def _in_shell_language(text: str | LazyString) -> LazyString:
    """`text` (spaces collapsed) as a msgid, translated when shown, without an app context."""
    if isinstance(text, LazyString):
        return text  # this process translated it already (a second app, a test)
    return LazyString(stdlib_gettext.gettext, _collapsed(text))


def translate_library_commands(cli: click.Group) -> None:
    """Flask's run, shell and routes and Flask-Migrate's `db` group (if `cli` has it): their
    helps as `flask --help` and `flask db --help` list them, in the shell's language."""
    for command in (run_command, shell_command, routes_command):
        if command.short_help:
            command.short_help = _in_shell_language(command.short_help)
    migrations = cli.commands.get("db")
    if not isinstance(migrations, click.Group):
        return
    for command in (migrations, *migrations.commands.values()):
        if command.help:
            command.help = _in_shell_language(command.help)
    # An option's help must be a real str (click measures it with a regular expression): it is
    # translated now, in this process's language, from the English kept aside.
    for parameter in migrations.params:
        if isinstance(parameter, click.Option) and parameter.help:
            english = _ENGLISH_HELP.setdefault(parameter, parameter.help)
            msgid = _collapsed(english)
            parameter.help = stdlib_gettext.gettext(msgid)
