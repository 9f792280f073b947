"""Model manifests (models/*.toml) and text corpora (corpora/): data, shipped as package data
(installed as `embed_signoff_fixtures`). Find them with runtime.paths, never by a path of your own."""
