"""Browser tests: the dashboard driven through headless Chromium with Playwright."""
