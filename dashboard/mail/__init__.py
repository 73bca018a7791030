"""Building, reading and sending mail: addresses, header checks and header encoding, the one
MIME builder (the skeleton) and attachments, the merge sandbox, the SMTP session with
PIPELINING and XOAUTH2 (`oauth`: access tokens from a refresh token), the shared Redis rate
limit, and taking a message apart for display. Plain Python, no Flask and no database, so it is
testable against an SMTP server alone.

May import: nothing of the app (the standard library and mail-related libraries only).
"""
