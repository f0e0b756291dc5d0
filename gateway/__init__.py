"""The FastAPI gateway: partner, customer and operator APIs over the coalition's store and chain."""
