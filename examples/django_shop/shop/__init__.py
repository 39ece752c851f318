"""The shop app: customers, orders, sent e-mails, the journey and the JSON API."""
