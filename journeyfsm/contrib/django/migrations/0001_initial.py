"""journeyfsm's tables, with the project's ``JOURNEYFSM['TABLE_PREFIX']``: the stores'
own statements (``CreateJourneyTables``), and the unmanaged models of the admin."""

from django.db import migrations, models

from journeyfsm.contrib.django._schema import CreateJourneyTables
from journeyfsm.contrib.django._settings import table


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        CreateJourneyTables(),
        migrations.CreateModel(
            name="Journey",
            fields=[
                ("definition", models.TextField()),
                ("key", models.TextField(primary_key=True, serialize=False)),
                ("definition_version", models.JSONField()),
                ("stage", models.TextField()),
                ("data", models.JSONField()),
                ("version", models.IntegerField(help_text="moves made (the history's last seq)")),
                (
                    "entered_at",
                    models.DateTimeField(help_text="when the journey entered its stage"),
                ),
                ("updated_at", models.DateTimeField()),
                ("started_at", models.DateTimeField()),
                ("entry_seq", models.IntegerField()),
                ("timeouts_fired", models.IntegerField()),
                (
                    "next_due",
                    models.DateTimeField(help_text="when its next timeout fires", null=True),
                ),
            ],
            options={
                "verbose_name": "journey",
                "db_table": table("journeys"),
                "ordering": ("-updated_at",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="OutboxRow",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("definition", models.TextField()),
                ("key", models.TextField()),
                ("seq", models.IntegerField()),
                ("effect", models.TextField()),
                ("idempotency_key", models.TextField(unique=True)),
                ("call", models.JSONField()),
                ("status", models.TextField()),
                ("attempts", models.IntegerField()),
                ("available_at", models.DateTimeField()),
                ("lease_owner", models.TextField(null=True)),
                ("lease_until", models.DateTimeField(null=True)),
                ("last_error", models.TextField(null=True)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "outbox row",
                "db_table": table("outbox"),
                "ordering": ("-id",),
                "managed": False,
            },
        ),
    ]
