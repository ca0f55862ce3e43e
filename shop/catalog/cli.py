"""``flask catalog ...``: operator commands for the catalog."""

import click
from flask.cli import AppGroup

catalog_cli = AppGroup("catalog", help="Import albums, create the demo pack, list packs.")
