import io
import zipfile

import pytest

from mlproject import features
from mlproject.model_io import ModelFileError, canonical_skops, load_model, registered_packages, save_model
from mlproject.train import fit


def test_the_same_fit_gives_the_same_bytes(tmp_path, synthetic_splits, params, schema):
    first, second = tmp_path / "a.skops", tmp_path / "b.skops"
    save_model(fit(synthetic_splits[0], params, schema), first)
    save_model(fit(synthetic_splits[0], params, schema), second)
    assert first.read_bytes() == second.read_bytes()


def test_loading_refuses_types_that_are_neither_scikit_learns_nor_the_feature_modules(tmp_path, monkeypatch, fitted):
    path = tmp_path / "model.skops"
    save_model(fitted, path)
    monkeypatch.setattr("mlproject.model_io.TRUSTED_PREFIXES", ())
    with pytest.raises(ModelFileError, match=r"sklearn.tree._tree.Tree"):
        load_model(path)


def test_an_archive_of_an_unknown_layout_is_refused_in_one_line():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("something.json", "{}")
    with pytest.raises(ModelFileError, match="an archive of a layout this template does not know"):
        canonical_skops(buffer.getvalue())


def test_registering_a_converter_for_a_class_trusts_its_package(tmp_path, monkeypatch, fitted):
    path = tmp_path / "model.skops"
    save_model(fitted, path)
    monkeypatch.setattr("mlproject.model_io.TRUSTED_PREFIXES", ())
    registered = {type(fitted[-1]): (None, None)}  # the package of the class is what counts, not the converter
    monkeypatch.setattr(features, "ONNX_CONVERTERS", registered)
    assert registered_packages() == ("sklearn.",)
    assert type(load_model(path)[-1]) is type(fitted[-1])
