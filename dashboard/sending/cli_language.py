"""The command line in the shell's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext
reads them): the verbs' help, their prompts, and click's own words (Usage, Options, errors).

Click turns an option's help into a plain string when the option is declared, at import, before
any language is known: `option` keeps the English msgid and translates it when help is shown.
Click words its own texts with the standard library's gettext in the default domain, which
`speak_shell_language` points at this project's catalogues.
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask_babel import gettext

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
