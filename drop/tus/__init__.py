"""Resumable uploads (tus 1.0): the upload records and the bytes received so far."""
