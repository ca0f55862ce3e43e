"""The catalog: importing albums into packs, the demo pack, listing."""
