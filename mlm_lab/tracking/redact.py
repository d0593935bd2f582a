"""Keep credentials out of what a run logs: params, config.yaml, overrides, the command tag, checkpoints.

A setting is a credential when its key looks like one (`password`, `secret`, `credential`, a key
ending in `token` or `key` such as `hf_token` or `api_key`; `max_tokens` is not one) or when its value
comes from an environment variable that does (`${oc.env:HF_TOKEN}`). Its logged value is the
interpolation it was written as, which holds no secret and resolves again on resume, or `***` when
it was written out literally.
"""

import re

REDACTED = "***"
SECRET_KEY = re.compile(r"password|passwd|secret|credential|(^|[_.\-])(token|key|apikey)$", re.IGNORECASE)
SECRET_ENV = re.compile(r"\$\{oc\.env:[^}]*(password|passwd|secret|credential|token|key)", re.IGNORECASE)


def is_secret(key: str, raw=None) -> bool:
    """Whether a setting named `key` (written as `raw` before interpolation) holds a credential."""
    return bool(SECRET_KEY.search(key)) or (isinstance(raw, str) and bool(SECRET_ENV.search(raw)))


def _hidden(raw):
    return raw if isinstance(raw, str) and raw.strip().startswith("${") else REDACTED


def redact_config(resolved, raw):
    """`resolved` (a config as plain containers) with every credential replaced by its interpolation or `***`.

    `raw` is the same config before interpolations were resolved (`OmegaConf.to_container(cfg, resolve=False)`).
    """
    if isinstance(resolved, dict):
        raw = raw if isinstance(raw, dict) else {}
        out = {}
        for key, value in resolved.items():
            if value is not None and not isinstance(value, dict) and is_secret(str(key), raw.get(key)):
                out[key] = _hidden(raw.get(key))
            else:
                out[key] = redact_config(value, raw.get(key))
        return out
    if isinstance(resolved, list):
        raw = raw if isinstance(raw, list) and len(raw) == len(resolved) else [None] * len(resolved)
        return [redact_config(v, r) for v, r in zip(resolved, raw)]
    return resolved


def redact_overrides(overrides: list[str]) -> list[str]:
    """Command-line overrides (or argv) with the value of every credential-looking `key=value` replaced."""
    out = []
    for item in overrides:
        key, sep, value = item.partition("=")
        out.append(f"{key}={_hidden(value)}" if sep and is_secret(key.lstrip("+~"), value) else item)
    return out
