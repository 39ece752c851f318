"""A B2B subscription journey defined from scratch with JourneyBuilder and guards.

lead -> trial -> paid <-> past_due -> cancelled.  Moving a trial to paid needs a signed
contract AND a payment method (a card, or approved invoicing) AND an account that is not
frozen: guards composed with ``&``, ``|`` and ``~``.  Signing the contract and adding a
payment method are internal transitions (recorded in the history, no stage change) whose
hooks write the facts the guards read.

Run it: ``python examples/custom_stages.py``.
"""

import json
from datetime import timedelta

from journeyfsm import JourneyBuilder, JourneyDefinition, JourneyMachine, ManualClock, guard


@guard
def contract_signed(ctx):
    "the customer signed the subscription contract"
    return ctx.journey.data.get("contract_signed") is True


@guard
def card_on_file(ctx):
    "a credit card is on file"
    return ctx.journey.data.get("payment_method") == "card"


@guard
def invoicing_approved(ctx):
    "finance approved paying by invoice"
    return ctx.journey.data.get("payment_method") == "invoice"


@guard
def account_frozen(ctx):
    "the account is frozen by risk review"
    return ctx.journey.data.get("frozen") is True


has_payment_method = card_on_file | invoicing_approved
# a list of guards means "all of them", checked in order: explain() shows the first that
# fails and marks the ones after it "not evaluated"
can_convert = [contract_signed, has_payment_method, ~account_frozen]
GUARDS = [contract_signed, card_on_file, invoicing_approved, account_frozen]

subscription = (
    JourneyBuilder("b2b-subscription", version=2, description="Trial to paid for B2B accounts.")
    .stage("lead", initial=True, description="a company asked for a demo")
    .stage("trial", description="14 days of free use", metadata={"kpi": "trial activation"})
    .stage("paid", description="an active subscription", metadata={"kpi": "MRR"})
    .stage("past_due", description="a payment failed; dunning runs")
    .stage("cancelled", final=True, description="the subscription ended")
    .transition("start_trial", "lead", "trial")
    .transition("sign_contract", "trial", None, description="internal: records the signature")
    .transition("add_payment_method", ["trial", "past_due"], None)
    .transition("convert", "trial", "paid", guards=can_convert)
    .transition("trial_expired", "trial", "cancelled")
    .transition("payment_failed", "paid", "past_due")
    .transition(
        "payment_recovered", "past_due", "paid", guards=has_payment_method & ~account_frozen
    )
    .transition("cancel", ["trial", "paid", "past_due"], "cancelled")
    .timeout("trial", timedelta(days=14), "trial_expired")
    .build()
)

clock = ManualClock()
machine = JourneyMachine(subscription, clock=clock)


@machine.on_transition("sign_contract")
def record_signature(ctx):
    ctx.journey.data["contract_signed"] = True
    ctx.journey.data["signed_by"] = ctx.payload["signer"]


@machine.on_transition("add_payment_method")
def record_payment_method(ctx):
    ctx.journey.data["payment_method"] = ctx.payload["type"]


@machine.effect(on_enter="paid")
def provision_seats(call):
    print(f"provision {call.payload['seats']} seats for {call.key} [{call.idempotency_key}]")


account = machine.start("acme-gmbh", {"company": "ACME GmbH"})
machine.fire(account, "start_trial")
clock.advance(timedelta(days=3))

print("-- convert without a contract:")
outcome = machine.fire(account, "convert", {"seats": 25})
print(outcome.status, "failed guards:", ", ".join(outcome.failed_guards))

machine.fire(account, "sign_contract", {"signer": "Dr. Ada Weber"})
print("-- after signing, explain() shows what is still missing:")
print(machine.explain(account, "convert", {"seats": 25}))

machine.fire(account, "add_payment_method", {"type": "invoice"})
clock.advance(timedelta(days=1))
outcome = machine.fire(account, "convert", {"seats": 25}, event_id="crm-881")
print("-- convert:", outcome.status, outcome.source, "->", outcome.dest)

print("-- history:")
for entry in account.history:
    print(f"  {entry.seq}. {entry.at:%Y-%m-%d} {entry.trigger}: {entry.source} -> {entry.dest}")

# The definition is data: to JSON and back (guards travel by name).
text = json.dumps(subscription.to_dict(), indent=2)
again = JourneyDefinition.from_dict(json.loads(text), guards=GUARDS)
print("-- dict round trip equal:", again == subscription)

# A journey is data too: snapshot, store anywhere, restore exactly.
restored = machine.restore(json.loads(json.dumps(machine.snapshot(account))))
print("-- snapshot round trip equal:", restored == account)
