"""Settings of the test project.  ``JFSM_SQLITE`` names the SQLite file of ``default``;
``JFSM_PG_*`` (HOST, PORT, USER, PASSWORD, NAME) the PostgreSQL database ``pg``, when set;
``JFSM_DB`` the alias journeyfsm uses (``default``)."""

import os

import django

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"  # (a zone here would set the TZ of the whole test process)
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "journeyfsm.contrib.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "django_project.urls"
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
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("JFSM_SQLITE", ":memory:"),
        # Django < 5.1 has no transaction_mode (and begins deferred transactions)
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30}
        if django.VERSION >= (5, 1)
        else {"timeout": 30},
    }
}
if os.environ.get("JFSM_PG_NAME"):
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["JFSM_PG_NAME"],
        "HOST": os.environ.get("JFSM_PG_HOST", ""),
        "PORT": os.environ.get("JFSM_PG_PORT", ""),
        "USER": os.environ.get("JFSM_PG_USER", ""),
        "PASSWORD": os.environ.get("JFSM_PG_PASSWORD", ""),
    }
JOURNEYFSM = {
    "MACHINES": ["django_project.journey:machine"],
    "DATABASE": os.environ.get("JFSM_DB", "default"),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
