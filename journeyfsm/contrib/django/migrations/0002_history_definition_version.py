"""Schema 3: ``history.definition_version``, the definition version each move was
decided by (tables created by 0001 with an older journeyfsm are upgraded; NULL in the
rows written before)."""

from django.db import migrations

from journeyfsm.contrib.django._schema import UpgradeJourneyTables


class Migration(migrations.Migration):
    dependencies = [("journeyfsm", "0001_initial")]

    operations = [UpgradeJourneyTables()]
