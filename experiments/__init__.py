"""Experiment scripts (run as ``python experiments/<name>.py``); a package so that tests import
them."""
