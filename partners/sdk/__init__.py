"""The partner SDK (see partners/client.py for the guide): calls.py builds every request once,
sync.py and aio.py run them, models.py types the answers, errors.py the failures."""
