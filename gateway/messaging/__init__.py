"""The channels the coalition talks to its customers through: email over SMTP (smtp.py), SMS and
push through a provider's HTTP API (sms.py), and, for local mode, the demo and the tests, an
embedded SMTP server (smtp_server.py) and an embedded SMS provider (sms_server.py)."""
