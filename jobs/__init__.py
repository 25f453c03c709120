"""Thin Ray job entrypoints: argv -> config -> run -> summary. Each module has a ``main(argv) -> int``."""
