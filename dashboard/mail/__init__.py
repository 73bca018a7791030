"""Building and sending mail: plain Python, no Flask and no database, so it is testable
against an SMTP server alone."""
