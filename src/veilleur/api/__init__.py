"""The REST API under /api and the live signal stream (SPEC §3 S3–S5, S9, S11): thin routes over
`veilleur.service`. `veilleur.app.create_app` mounts it beside the console (`veilleur.web`)."""
