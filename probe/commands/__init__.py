"""One module per ``fewdims`` subcommand: ``add_parser(subparsers)`` sets ``handler``."""
