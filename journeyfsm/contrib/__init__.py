"""Framework glue: journeyfsm inside the frameworks shops are built on.

Each subpackage imports its framework and hands the framework's own connection and
transaction to the stores everyone uses (``journeyfsm.stores``); nothing in journeyfsm
imports them, and this package imports no framework itself.

- ``journeyfsm.contrib.sqlalchemy`` (``pip install 'journeyfsm[sqlalchemy]'``): the tables
  on a SQLAlchemy ``MetaData`` (``create_all``, Alembic) and stores bound to a
  ``Session`` / ``AsyncSession``.
- ``journeyfsm.contrib.django`` (``pip install 'journeyfsm[django]'``): an app for
  ``INSTALLED_APPS`` with migrations, a store on Django's connection that joins
  ``transaction.atomic()``, the admin and ``manage.py journeyfsm``.

>>> from journeyfsm import contrib
>>> contrib.__all__
[]
"""

__all__: list[str] = []
