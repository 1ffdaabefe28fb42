"""Fixtures of the calibration tests (helpers in calibration_data.py)."""
