"""Settings of the shop.  Everything a deployment changes comes from the environment:

- ``SHOP_DB``: the SQLite file (default ``db.sqlite3`` beside manage.py);
  ``SHOP_PG_DSN``: a PostgreSQL DSN instead (``postgresql://user:pw@host/db``);
- ``SHOP_SMTP_PORT`` (and ``SHOP_SMTP_HOST``, default 127.0.0.1): send mail over SMTP;
  without it, mails are printed on the console.
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "dev-only-not-secret")
DEBUG = os.environ.get("SHOP_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "journeyfsm.contrib.django",  # the journeys' tables, admin pages, manage.py journeyfsm
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "shop_project.urls"
WSGI_APPLICATION = "shop_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("SHOP_PG_DSN"):
    import psycopg

    _pg = psycopg.conninfo.conninfo_to_dict(os.environ["SHOP_PG_DSN"])
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _pg.get("dbname", ""),
            "USER": _pg.get("user", ""),
            "PASSWORD": _pg.get("password", ""),
            "HOST": _pg.get("host", ""),
            "PORT": _pg.get("port", ""),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"timeout": 30},  # WAL mode: shop/apps.py
        }
    }

    if django.VERSION >= (5, 1):
        # a journey move reads, then writes: take SQLite's write lock at BEGIN, so a
        # concurrent request waits for it instead of failing ("database is locked");
        # older Django has no such option (manage.py check warns: journeyfsm.W001)
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

JOURNEYFSM = {"MACHINES": ["shop.journey:machine"]}

if os.environ.get("SHOP_SMTP_PORT"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ.get("SHOP_SMTP_HOST", "127.0.0.1")
    EMAIL_PORT = int(os.environ["SHOP_SMTP_PORT"])
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@example.com"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
