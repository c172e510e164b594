"""Job functions. Each takes ids and plain values, and is declared in ``app.tasks.JOBS``."""
