"""Framework glue: journeyfsm inside Django (``journeyfsm.contrib.django``) and other hosts."""
