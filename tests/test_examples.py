"""Every example in examples/ runs and prints what it is meant to show."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def unconfigured_structlog() -> Iterator[None]:
    """Run as a fresh process does, with structlog unconfigured.

    ``structlog.testing.capture_logs()`` in any earlier test of this worker marks structlog
    as configured for good, and then machines without a logger print every event.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def run_example(name: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_every_example_script_is_tested() -> None:
    # examples/test_*.py are pytest modules: the suite collects and runs them itself
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("test_"))
    assert scripts == ["abandoned_cart.py", "custom_stages.py", "quickstart.py"]


def test_abandoned_cart_nudges_then_writes_off_at_the_due_times(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_example("abandoned_cart.py", capsys) == [
        "09:30 due: []",
        "10:00 nudge email to ann [shop:ann:2:send_nudge]",
        "10:00 nudge email to bob [shop:bob:2:send_nudge]",
        "abandon -> abandoned at 03-03 09:00",
        "abandoned purchased None",
    ]


def test_quickstart_sends_one_thank_you_email(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_example("quickstart.py", capsys)
    assert lines == [
        "duplicate",
        "<Outcome blocked 'customer-42' 'order_paid' in 'cart' failed_guards=['payment_captured']>",
        "'order_paid' from 'cart' for journey 'customer-42': blocked",
        "  1. -> 'purchased' [FAIL]",
        "       FAIL payment_captured: the payment provider captured the money",
        "email to customer-42: thank you! (idempotency key shop:customer-42:2:send_thank_you)",
        "<Outcome moved 'customer-42' 'order_paid' 'cart' -> 'purchased'>",
        "purchased {'cart': ['mug']} ['add_to_cart', 'order_paid']",
    ]


def test_custom_stages_blocks_then_converts(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_example("custom_stages.py", capsys)
    # without a contract the first guard fails; the ones after it are not evaluated
    assert "blocked failed guards: contract_signed" in lines
    # after signing, explain() shows the one composite guard still failing
    explain = lines.index("'convert' from 'trial' for journey 'acme-gmbh': blocked")
    assert lines[explain + 2].startswith("       ok   contract_signed:")
    assert lines[explain + 3].startswith("       FAIL (card_on_file | invoicing_approved):")
    assert lines[explain + 4] == "         FAIL card_on_file: a credit card is on file"
    assert (
        lines[explain + 5] == "         FAIL invoicing_approved: finance approved paying by invoice"
    )
    assert lines[explain + 6].startswith("       -    ~account_frozen:")
    assert lines[explain + 6].endswith("(not evaluated)")
    # the effect runs once, after the move, with its idempotency key
    assert [ln for ln in lines if ln.startswith("provision")] == [
        "provision 25 seats for acme-gmbh [b2b-subscription:acme-gmbh:4:provision_seats]"
    ]
    assert "-- convert: moved trial -> paid" in lines
    history = lines[lines.index("-- history:") + 1 :][:4]
    assert history == [
        "  1. 2026-01-01 start_trial: lead -> trial",
        "  2. 2026-01-04 sign_contract: trial -> trial",
        "  3. 2026-01-04 add_payment_method: trial -> trial",
        "  4. 2026-01-05 convert: trial -> paid",
    ]
    assert "-- dict round trip equal: True" in lines
    assert "-- snapshot round trip equal: True" in lines


def test_custom_stages_definition_uses_every_guard_operator() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "custom_stages.py"), run_name="not_main")
    definition = namespace["subscription"]
    refs = [g.to_ref() for t in definition.transitions for g in t.guards]
    text = repr(refs)
    assert "'all'" in text
    assert "'any'" in text
    assert "'not'" in text
    assert [to.trigger for to in definition.timeouts] == ["trial_expired"]
