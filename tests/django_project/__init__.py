"""A minimal Django project for tests/test_contrib_django*.py (in-process and as a
subprocess): settings from environment variables, one machine, an async view."""
