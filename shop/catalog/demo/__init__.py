"""The demo pack, kept apart from the real catalog code: a synthesiser (:mod:`.synth`),
a cover painter (:mod:`.covers`, :mod:`.png`) and the pack that puts them through the
importer (:mod:`.pack`). Only ``flask catalog demo``, ``make run`` and tests use it; it is
the reason numpy and soundfile are dependencies.
"""

from shop.catalog.demo.pack import DEFAULT_SLUG, create_demo_pack, demo_settings, write_demo_albums

__all__ = ["DEFAULT_SLUG", "create_demo_pack", "demo_settings", "write_demo_albums"]
