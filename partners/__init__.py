"""The partner SDK that a merchant installs: the API client (``partners.client``, built on
``partners.sdk``) and the webhook signature verifier (``partners.webhooks``). It imports nothing of
the server (gateway/, network/, coalition/, loyalty/) and installs on its own (partners/pyproject.toml)."""
