"""The yoloforge platform server: accounts, API keys, projects, datasets and models over a JSON API.

Install it with `pip install yoloforge[platform]` and start it with `yoloforge server`. The library never
imports this package; the `yoloforge` command reaches it through `yoloforge.cli`'s command table.

Layout: `settings.py` (typed settings), `app.py` (`create_app`), `db/` (tables, sessions, Alembic
migrations), `schemas/` (request and response models), `services/` (the rules; routes stay thin),
`api/` (dependencies and one router per resource), `cli.py` (`yoloforge server ...`).
"""
