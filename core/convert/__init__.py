"""Conversion: request, plan, job, presets."""
