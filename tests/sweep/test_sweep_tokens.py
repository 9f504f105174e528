"""A sweep's check of every cell before compute (validate_cells, the Ray launcher's hook) takes data.path as
data=tokens does: a file, a folder or a glob of token files."""
import numpy as np
import pytest

from conftest import TINY, compose
from orchestrator.config import ConfigError
from orchestrator.sweep.cells import validate_cells


def test_a_glob_of_token_files_passes_and_an_empty_glob_is_named(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    np.random.default_rng(0).integers(0, 500, 6000, dtype=np.uint16).tofile(data / "part-0.bin")
    np.random.default_rng(1).integers(0, 500, 6000, dtype=np.uint16).tofile(data / "part-1.bin")
    (data / "tokens.json").write_text('{"dtype": "uint16", "vocab_size": 500}')
    cells = lambda path: [compose(TINY + ["data=tokens", f"data.path={path}", "pruning=geometric",  # noqa: E731
                                          f"pruning.sparsity={s}", f"results_dir={tmp_path / 'store'}"])
                          for s in (0.3, 0.6)]
    validate_cells(cells(f"{data}/part-*.bin"))
    with pytest.raises(ConfigError, match=r"cell #0 .*no files match"):
        validate_cells(cells(f"{data}/nothing-*.bin"))
    assert not (tmp_path / "store").exists()
