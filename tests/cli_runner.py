"""Running the `stylelens` CLI in-process from tests: a success's JSON, or a failure's one stderr line."""
from __future__ import annotations

import json

from ui.cli import main


def cli_json(capsys, *args: str):  # noqa: ANN001, ANN201 - pytest's capsys; any JSON value
    """Run `stylelens ARGS --json`, require exit 0, return the parsed output."""
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def cli_error(capsys, *args: str) -> str:  # noqa: ANN001
    """Run `stylelens ARGS`, require exit 1 with one `stylelens: error:` line and no traceback; return stderr."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("stylelens: error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err
