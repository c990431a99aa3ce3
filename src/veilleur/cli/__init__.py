"""The `veilleur` command line: `main` assembles the root command from one module per command
group (`analysis`: analyze and evaluate; `config`; `models`; `server`: serve and demo;
`journal`; `stats`; `documents`; `retention`: purge). The modules import no one but `retention`
and `journal` (shared options and the database address), so there is no cycle among them."""

from veilleur.cli.main import app

__all__ = ["app"]
