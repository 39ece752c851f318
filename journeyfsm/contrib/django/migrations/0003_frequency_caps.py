"""Schema 3 -> 4: the frequency caps' ledger of deliveries (``UpgradeJourneyTables4``).

A database 0001 created with this journeyfsm is at schema 4 already: the operation's
statements are idempotent and change nothing there.
"""

from django.db import migrations

from journeyfsm.contrib.django._schema import UpgradeJourneyTables4


class Migration(migrations.Migration):
    dependencies = [("journeyfsm", "0002_history_definition_version")]

    operations = [UpgradeJourneyTables4()]
