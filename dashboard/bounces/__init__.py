"""Bounces and complaints read back after the send: the reports parsed (DSN, the common
non-standard formats, ARF), the three ways they come in (the built-in SMTP receiver, an IMAP
mailbox polled by beat, Amazon SES notifications through SNS), and what one does to its
message, its address and its campaign (`record_bounce`).

May import: `dashboard.sending` and everything below it (`mail/`, the models). The pages, the
API, the SMTP receiver (`ops/`) and the beat task call in from above.
"""
