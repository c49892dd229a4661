"""Editing-based methods: change a few located weights instead of the whole model."""
