"""The reference Django shop on journeyfsm (see README.md)."""
