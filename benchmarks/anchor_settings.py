"""The app's settings, serving in addition the anchor routes of benchmarks/anchor_urls.py.

usage_bench.py starts gunicorn with DJANGO_SETTINGS_MODULE=benchmarks.anchor_settings (billing/wsgi.py
only sets a default), so that the anchor and the API run in the same server, workers and settings.
"""

from billing.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.anchor_urls"
