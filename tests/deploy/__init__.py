"""Checks of the deployment files under deploy/."""
