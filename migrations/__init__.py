"""Dated data migrations, applied by ``flask --app wsgi migrate`` (see ``app/migrations_runner.py``)."""
