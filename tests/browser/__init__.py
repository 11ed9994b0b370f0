"""Tests that load the HTML change report in headless Chromium."""
