"""The Spark recipe of docs/replay.md ("Beyond one process"), run as written on a local
Spark (2 cores, loopback only): the log split by journey key through
``groupBy(...).applyInPandas``, each part replayed in a pandas UDF, merged on the driver,
equals one replay of the whole log. Needs a Java runtime (``make java`` installs Debian's)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from journeyfsm import templates
from journeyfsm.analytics import LogMapping, ReplayResult, funnel, replay

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "data"
END = datetime(2026, 7, 10, tzinfo=timezone.utc)
# PySpark 4 warns that it does not fully support pandas 3 (the recipe uses none of what
# it lists); anything else it warns of still fails the test
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


def recipe() -> str:
    """The recipe's code block in docs/replay.md."""
    text = (ROOT / "docs" / "replay.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```text\n(.*?)^```\n", text, re.S | re.M)
    (found,) = [b for b in blocks if "applyInPandas" in b]
    return found


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.fail("no Java runtime: `make java` installs Debian's default-jre-headless")
    from pyspark.sql import SparkSession

    # the workers run this interpreter (its venv has journeyfsm and pandas), on loopback
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("journeyfsm-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def figures(result: ReplayResult) -> dict[str, Any]:
    """What a merge must reproduce: every count of the summary and the stages."""
    s = result.summary.to_dict()
    for k in ("source", "seconds", "warnings", "bad_rows", "engine_note", "partitions"):
        del s[k]
    return {"summary": s, "stages": result.stage_counts()}


def test_the_spark_recipe_equals_one_replay_of_the_whole_log(spark: Any) -> None:
    definition = templates.five_stages()
    mapping = LogMapping.load(EXAMPLES / "shop_events.map.json")
    log = EXAMPLES / "shop_events.csv"
    events = spark.read.csv(str(log), header=True, inferSchema=False)
    namespace: dict[str, Any] = {
        "definition": definition,
        "mapping": mapping,
        "end": END,
        "events": events,
    }
    exec(compile(recipe(), "docs/replay.md (Spark recipe)", "exec"), namespace)
    merged: ReplayResult = namespace["merged"]
    whole = replay(definition, log, mapping, end=END)
    assert figures(merged) == figures(whole)
    assert merged.summary.journeys == 298 and merged.summary.bad_row_count == 6
    assert funnel(merged.journeys.values(), definition) == funnel(
        whole.journeys.values(), definition
    )
    # every journey, whole: stage, data, history (the order of journeys may differ)
    assert sorted(merged.journeys) == sorted(whole.journeys)
    for key, journey in whole.journeys.items():
        other = merged.journeys[key]
        assert (other.stage, other.data, other.history) == (
            journey.stage,
            journey.data,
            journey.history,
        )
