"""Schema 4 -> 5: ``journeys.goals``, the journeys' goal clocks (``UpgradeJourneyTables5``).

A database 0001 created with this journeyfsm is at schema 5 already: the operation runs
only on a database at schema 4.
"""

from django.db import migrations, models

from journeyfsm.contrib.django._schema import UpgradeJourneyTables5


class Migration(migrations.Migration):
    dependencies = [("journeyfsm", "0003_frequency_caps")]

    operations = [
        UpgradeJourneyTables5(),
        migrations.AddField(
            model_name="journey",
            name="goals",
            field=models.JSONField(help_text="the goal clocks of the current run", null=True),
        ),
    ]
