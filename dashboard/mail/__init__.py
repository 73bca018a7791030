"""Building and sending mail: plain Python, no Flask and no database, testable against an SMTP server alone."""
