"""Background work on RQ: the worker, the scheduler and the jobs they run."""
