"""OpenVINO behind the small part of onnxruntime's session API the ONNX detectors use
(`get_inputs`, `get_outputs`, `run`), so that `OnnxDetector` and its backends run on either.

Why OpenVINO: on this project's reference CPU (AVX-512 with BF16 and VNNI) it runs YOLOX-nano
in bf16 on one thread for about a third less CPU than onnxruntime fp32 (`bench/peer_cost.py
--micro`); in f32 it costs the same per inference and a little more in the whole pipeline, so
`runtime_for("auto")` takes it only where it runs bf16. It is an optional dependency
(`pip install veilleur[openvino]`); without it `auto` is onnxruntime.

Shapes: a relaxed (any height and width) model is compiled once with dynamic height and width,
and the first `STATIC_SHAPES` input shapes met twice get a model compiled for that exact shape:
the whole frame's shape comes back at every frame, and a static model runs it about 10 % faster
than the dynamic one; crops around motion, whose shapes rarely repeat, run on the dynamic one
(compiling costs about 0.25 s of CPU, more than a one-off crop would ever save).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import openvino as ov

Runtime = Literal["auto", "onnxruntime", "openvino"]
Precision = Literal["auto", "f32", "bf16"]

#: How many distinct input shapes get a model compiled for their exact shape.
STATIC_SHAPES = 2


def available() -> bool:
    """Whether the `openvino` package is installed (without importing it: that costs ~0.3 s)."""
    return importlib.util.find_spec("openvino") is not None


def runtime_for(requested: str, precision: str = "auto") -> Literal["onnxruntime", "openvino"]:
    """The inference runtime to use for a configured one. `auto` is OpenVINO when it is
    installed and runs in bf16 (`precision` resolves to bf16: asked for, or `auto` on a CPU
    that computes bf16 natively), else onnxruntime: measured in the whole pipeline on PETS,
    OpenVINO in f32 costs 5-10 % more CPU than onnxruntime fp32, in bf16 about 10 % less
    (docs/pipeline.md). Asking for `openvino` when it is not installed is an error: a
    configuration that names a runtime must not silently run another."""
    key = requested.strip().lower()
    if key == "auto":
        if not available():
            return "onnxruntime"
        return "openvino" if precision_for(precision) == "bf16" else "onnxruntime"
    if key == "onnxruntime":
        return "onnxruntime"
    if key == "openvino":
        if not available():
            raise RuntimeError(
                "runtime 'openvino' is configured but the openvino package is not installed "
                "(pip install 'veilleur[openvino]'), or set the runtime to 'auto'"
            )
        return "openvino"
    raise ValueError(f"unknown inference runtime {requested!r}: auto, onnxruntime or openvino")


@functools.cache
def core() -> ov.Core:
    """One OpenVINO core per process: it holds the plugin and its caches."""
    import openvino as ov

    return ov.Core()


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX512_BF16 or AMX), as OpenVINO reports it."""
    return "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def precision_for(requested: str) -> Literal["f32", "bf16"]:
    """`auto` is bf16 where the CPU computes it natively, else f32."""
    key = requested.strip().lower()
    if key == "auto":
        return "bf16" if cpu_has_bf16() else "f32"
    if key in ("f32", "bf16"):
        return key  # type: ignore[return-value]
    raise ValueError(f"unknown inference precision {requested!r}: auto, f32 or bf16")


@dataclass(frozen=True)
class Port:
    """An input or output as onnxruntime describes it: name and shape (ints where static,
    names where dynamic)."""

    name: str
    shape: list[int | str]


def _ports(ports: Any) -> list[Port]:
    out = []
    for i, port in enumerate(ports):
        dims: list[int | str] = [
            d.get_length() if d.is_static else f"d{j}" for j, d in enumerate(port.partial_shape)
        ]
        name = port.any_name if port.names else f"port{i}"
        out.append(Port(name, dims))
    return out


class OpenVinoSession:
    """An ONNX model compiled by OpenVINO for the CPU, used like an onnxruntime session.

    `threads` > 0 sets the inference threads (0: OpenVINO's default, every core). Threads are
    never pinned to cores: many camera processes share few cores, and pinning would stack them
    on the same ones. `flexible` makes the input's height and width dynamic.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int = 0,
        precision: str = "auto",
        flexible: bool = False,
    ) -> None:
        self.precision = precision_for(precision)
        self.threads = threads
        self._model = core().read_model(os.fspath(path))
        if flexible:
            ps = self._model.inputs[0].partial_shape
            if len(ps) != 4:
                raise ValueError(f"{path}: a flexible input needs a 4-D input, got {ps}")
            self._model.reshape({self._model.inputs[0]: [ps[0], ps[1], -1, -1]})
        self._inputs = _ports(self._model.inputs)
        self._outputs = _ports(self._model.outputs)
        self._dynamic = self._compile(self._model)
        self._static: dict[tuple[int, ...], Any] = {}
        self._seen: set[tuple[int, ...]] = set()
        self._flexible = flexible

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "ENABLE_CPU_PINNING": False,
        }
        if self.threads > 0:
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config

    def _compile(self, model: Any) -> Any:
        return core().compile_model(model, "CPU", self._config()).create_infer_request()

    def _request_for(self, shape: tuple[int, ...]) -> Any:
        if not self._flexible:
            return self._dynamic
        request = self._static.get(shape)
        if request is None and shape not in self._seen:
            self._seen.add(shape)
        elif request is None and len(self._static) < STATIC_SHAPES:
            model = self._model.clone()
            model.reshape({model.inputs[0]: list(shape)})
            request = self._static[shape] = self._compile(model)
        return request if request is not None else self._dynamic

    def get_inputs(self) -> list[Port]:
        return self._inputs

    def get_outputs(self) -> list[Port]:
        return self._outputs

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs (all, or those named, in that order) for one set of inputs."""
        if len(feeds) != 1:
            raise ValueError("OpenVinoSession runs single-input models only")
        (tensor,) = feeds.values()
        request = self._request_for(tuple(tensor.shape))
        # Shared: the tensor is used in place instead of being copied into the request.
        request.infer({0: tensor}, share_inputs=True)
        # Copied: the request reuses its output buffers at the next inference.
        results = [np.array(request.get_output_tensor(i).data) for i in range(len(self._outputs))]
        if output_names is None:
            return results
        index = {p.name: i for i, p in enumerate(self._outputs)}
        return [results[index[n]] for n in output_names]
