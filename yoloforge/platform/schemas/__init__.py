"""Request and response models: `XCreate` (POST body), `XUpdate` (PATCH body), `XPublic` (what is returned).

Every body model carries an example: the docs show it and the isolation test sends it.
"""
