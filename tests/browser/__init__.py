"""Browser tests: a real Chromium driven by Playwright through the whole store."""
