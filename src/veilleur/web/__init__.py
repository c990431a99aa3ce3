"""The operator console: server-rendered pages (Jinja2 + htmx) and a small canvas script for
zones, lines and directions. Everything it needs is served by Veilleur itself (no CDN)."""
