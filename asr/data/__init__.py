"""Speech data: manifests, audio I/O, checks, loaders for user corpora and the built-in corpora."""
