"""gpunet.onnx: importing works; exporting and every other name raise NotImplementedError naming the API."""
import pytest

import gpunet
import gpunet.nn as nn


def test_import_works_and_export_is_refused(tmp_path):
    import gpunet.onnx as onnx
    assert onnx is gpunet.onnx
    model = nn.Linear(2, 2)
    with pytest.raises(NotImplementedError) as err:
        onnx.export(model, (gpunet.ones(1, 2),), str(tmp_path / "m.onnx"), input_names=["x"])
    message = "torch.onnx.export is not supported by gpunet: gpunet has no ONNX exporter"
    assert str(err.value).startswith(message)
    assert not (tmp_path / "m.onnx").exists()


def test_every_other_name_is_refused():
    for name in ("dynamo_export", "TrainingMode", "register_custom_op_symbolic", "utils"):
        with pytest.raises(NotImplementedError, match=f"torch.onnx.{name} is not supported by gpunet"):
            getattr(gpunet.onnx, name)
    assert not hasattr(gpunet.onnx, "dynamo_export")


def test_model_code_question_answers_false():
    assert gpunet.onnx.is_in_onnx_export() is False
    torch = pytest.importorskip("torch")
    assert torch.onnx.is_in_onnx_export() is False
