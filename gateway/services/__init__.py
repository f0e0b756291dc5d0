"""Domain logic of the gateway: plain functions with keyword-only arguments that raise domain errors."""
