"""Schema 2 -> 3: the frequency caps' ledger of deliveries (``UpgradeJourneyTables3``).

A database 0001 created with this journeyfsm is at schema 3 already: the operation's
statements are idempotent and change nothing there.
"""

from django.db import migrations

from journeyfsm.contrib.django._schema import UpgradeJourneyTables3


class Migration(migrations.Migration):
    dependencies = [("journeyfsm", "0001_initial")]

    operations = [UpgradeJourneyTables3()]
