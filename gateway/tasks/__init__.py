"""Celery tasks on Redis: the earn pipeline, the indexer, reward redemption, settlement,
reconciliation and webhook delivery. ``gateway.tasks.app:celery_app`` is the Celery app."""
