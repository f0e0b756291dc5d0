"""Messages to customers, the pure part: what kinds of message exist and what triggers them
(:mod:`kinds`), whom a message may reach (:mod:`consent`), and how it reads (:mod:`render`).
No store, no SMTP, no HTTP here (gateway/services and gateway/tasks feed and send them)."""
