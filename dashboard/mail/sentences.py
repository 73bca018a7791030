"""The mail layer's sentences (why an address or a header value is refused) as msgids with
named placeholders, written in English: this layer knows no Flask and no reader. The layers
above show them in the reader's language (`sending.stored_texts.translated`)."""

from __future__ import annotations


def N_(msgid: str) -> str:
    """Marks a msgid for the catalogue (`pybabel extract`) without translating it."""
    return msgid


def english(msgid: str, **values: object) -> str:
    """The sentence in English, its placeholders filled."""
    return msgid % values if values else msgid


NOT_OF_THE_FORM = N_("'%(text)s' is not of the form Name <address@example.com>")
NOT_A_VALID_ADDRESS = N_("'%(address)s' is not a valid address: %(reason)s")
RECIPIENT_PROBLEM = N_("recipient %(position)s: %(problem)s")
THE_ADDRESS, THE_NAME = N_("the address"), N_("the name")
EMPTY_ADDRESS = N_("the email address is empty")
BIDI_CONTROL = N_(
    "%(field)s contains the bidirectional control character %(char)s, which changes the order "
    "in which the text is shown (a name or file name could pass for another); remove it"
)
NOT_ONE_LINE = N_("%(field)s must be a single line; it contains %(what)s")
CR, LF, NUL = N_("a carriage return (CR)"), N_("a line feed (LF)"), N_("a NUL byte")
CONTROL_CHARACTER = N_(
    "%(field)s must be a single line of text; it contains the control or line-separator "
    "character %(char)s"
)
TOO_LONG = N_("%(field)s is %(length)s characters long; the limit is %(limit)s")

# The address checker's (email_validator's) most common reasons, which it writes in English.
_ADDRESS_REASONS = (
    N_("An email address must have an @-sign."),
    N_("There must be something before the @-sign."),
    N_("There must be something after the @-sign."),
    N_("An email address cannot have two periods in a row."),
    N_("An email address cannot start with a period."),
    N_("An email address cannot end with a period."),
    N_("An email address cannot have a period immediately before the @-sign."),
    N_("An email address cannot have a period immediately after the @-sign."),
    N_("The part after the @-sign is not valid. It should have a period."),
    N_("The part after the @-sign is not valid. It is not within a valid top-level domain."),
    N_("The email address contains invalid characters before the @-sign."),
    N_("The email address contains an invalid character."),
    N_("There can't be anything after the email address."),
    N_("An email address cannot have a hyphen immediately after the @-sign."),
    N_("An email address cannot end with a hyphen."),
    N_("An email address cannot have a period and a hyphen next to each other."),
    N_("The part after the @-sign contains invalid characters: %(characters)s."),
    N_("The email address contains invalid characters before the @-sign: %(characters)s."),
    N_("Internationalized characters before the @-sign are not supported: %(characters)s."),
    N_("The email address contains unsafe characters: %(characters)s."),
    N_('The email address has the "small commercial at" character instead of a regular at-sign.'),
    N_("Quoting the part before the @-sign is not allowed here."),
    N_("A bracketed IP address after the @-sign is not allowed here."),
    # Its lengths, as the checker words them: "(1 character too many)", "(2 characters ...)".
    N_(
        "After the @-sign, periods cannot be separated by so many characters (%(count)s "
        "characters too many)."
    ),
    N_(
        "After the @-sign, periods cannot be separated by so many characters (%(count)s "
        "character too many)."
    ),
    N_("The email address is too long (%(count)s characters too many)."),
    N_("The email address is too long (%(count)s character too many)."),
    N_("The email address is too long before the @-sign (%(count)s characters too many)."),
    N_("The email address is too long before the @-sign (%(count)s character too many)."),
    N_("The email address is too long after the @-sign (%(count)s characters too many)."),
    N_("The email address is too long after the @-sign (%(count)s character too many)."),
)

SENTENCES = (
    NOT_OF_THE_FORM,
    NOT_A_VALID_ADDRESS,
    RECIPIENT_PROBLEM,
    THE_ADDRESS,
    THE_NAME,
    EMPTY_ADDRESS,
    BIDI_CONTROL,
    NOT_ONE_LINE,
    CR,
    LF,
    NUL,
    CONTROL_CHARACTER,
    TOO_LONG,
    *_ADDRESS_REASONS,
)
