"""A person's data across every domain: export it (GDPR access) and erase it, with nothing forgotten.

Each domain that keeps anything about a person declares it in ``server/<domain>/privacy.py`` as
``PRIVACY = DomainData(...)``: the tables it owns, how to export them and how to erase them. The
registry finds those modules itself, and a test fails when any table is declared by no domain.
"""
