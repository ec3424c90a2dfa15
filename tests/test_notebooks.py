"""Every numbered notebook executes at the smoke profile (into a scratch folder)."""

import pytest

from cvgl_core import runner

BOOKS = runner.find_notebooks()


@pytest.mark.notebook
@pytest.mark.parametrize("book", BOOKS, ids=[b.stem for b in BOOKS])
def test_notebook_executes_at_smoke(book):
    results_dir, data_dir = runner.default_dirs("smoke")
    run = runner.run_notebook(book, "smoke", results_dir, data_dir)
    assert run.status == "ok", f"{book.name}: {run.status} (executed copy: {run.output})"
