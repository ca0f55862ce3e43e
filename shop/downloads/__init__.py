"""Downloads: single tracks, album and pack zips, and how often each was downloaded.

The views are thin (:mod:`.views`); the work lives in plain modules: :mod:`.resources`
(what an order may download), :mod:`.ziplayout` (the bytes of a zip),
:mod:`.streaming` (any byte range of them), :mod:`.conditional` (HTTP ranges and
validators), :mod:`shop.filenames` (safe file names) and :mod:`.counting`.
"""

from flask import Blueprint

# Imported for its side effect: the model joins the metadata db.create_all() and Alembic see.
from shop.downloads import models  # noqa: F401

bp = Blueprint("downloads", __name__)

from shop.downloads import views  # noqa: E402,F401
