"""Helpers shared by the command-line apps."""

import functools
import logging
import re
import sys

_PROMPT_ARG = re.compile(r"^(\+{0,2}prompt)=(.*)$", re.DOTALL)


def quote_prompt_args(argv: list[str]) -> list[str]:
    """Quote `prompt=...` arguments so Hydra takes them verbatim (`prompt=12+34=` is not valid Hydra syntax).

    Values already quoted, or lists (`prompt=[a,b]`), are left for Hydra to parse.
    """
    out = []
    for arg in argv:
        m = _PROMPT_ARG.match(arg)
        if m and not re.match(r"^\s*['\"\[]", m.group(2)):
            # Hydra's quoted strings: escape quotes, and double backslashes only where they precede a quote
            value = re.sub(r"(\\*)'", lambda q: q.group(1) * 2 + "\\'", m.group(2))
            value = re.sub(r"(\\+)$", lambda q: q.group(1) * 2, value)
            arg = f"{m.group(1)}='{value}'"
        out.append(arg)
    return out


def fix_argv() -> None:
    sys.argv[1:] = quote_prompt_args(sys.argv[1:])


def exit_on_config_error(app):
    """An app's body: a ConfigError (bad input, named with its fix) is logged and exits with code 2, no traceback."""
    from mlm_lab.errors import ConfigError

    @functools.wraps(app)
    def body(cfg):
        try:
            return app(cfg)
        except ConfigError as e:
            logging.getLogger(app.__module__).error("%s", e)
            sys.exit(2)

    return body
